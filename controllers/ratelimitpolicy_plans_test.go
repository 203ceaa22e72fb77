package controllers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

func planPolicy(ns string) *keygatev1alpha1.RateLimitPolicy {
	minute := metav1.Duration{Duration: time.Minute}
	return &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plans"},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{{
			Name: "sdk", Limit: 10, Period: minute, By: "apiKey",
			Overrides: []keygatev1alpha1.RateLimitOverride{
				{Name: "pro", Limit: 100, APIKeySelector: &metav1.LabelSelector{MatchLabels: map[string]string{"keygate.dev/plan": "pro"}},
					JWTPlans: []string{"pro"}},
				{Name: "vip", Limit: 1000, Subjects: []string{"bigcorp"}},
			},
		}}},
	}
}

func keyIn(ns, name, subject string, labels map[string]string) keygatev1alpha1.ApiKey {
	return keygatev1alpha1.ApiKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name), Labels: labels},
		Spec:       keygatev1alpha1.ApiKeySpec{Subject: subject},
	}
}

func TestCompilePolicyResolvesOverrides(t *testing.T) {
	pro := map[string]string{"keygate.dev/plan": "pro"}
	keys := []keygatev1alpha1.ApiKey{
		keyIn("acme", "b-pro", "x", pro),
		keyIn("acme", "a-pro-vip", "bigcorp", pro), // both: listed by both, pro comes first
		keyIn("acme", "vip", "bigcorp", nil),
		keyIn("acme", "free", "y", map[string]string{"keygate.dev/plan": "free"}),
		// Another namespace's tenant labels its key, or names the subject:
		// neither is selected by acme's policy.
		keyIn("evil", "pro", "bigcorp", pro),
	}
	rec, err := CompilePolicy(planPolicy("acme"), keys)
	if err != nil {
		t.Fatal(err)
	}
	o := rec.Rules[0].Overrides
	want := []record.Override{
		{Name: "pro", Limit: 100, APIKeys: []string{"acme-a-pro-vip", "acme-b-pro"}, JWTPlans: []string{"pro"}},
		{Name: "vip", Limit: 1000, APIKeys: []string{"acme-a-pro-vip", "acme-vip"}},
	}
	if len(o) != 2 || !slices.Equal(o[0].APIKeys, want[0].APIKeys) || !slices.Equal(o[1].APIKeys, want[1].APIKeys) ||
		!slices.Equal(o[0].JWTPlans, want[0].JWTPlans) || o[0].Limit != 100 || o[1].Name != "vip" {
		t.Fatalf("overrides %+v, want %+v", o, want)
	}

	bad := planPolicy("acme")
	bad.Spec.Rules[0].Overrides[0].APIKeySelector.MatchLabels = map[string]string{"not a label!": "x"}
	if _, err := CompilePolicy(bad, keys); err == nil || !strings.Contains(err.Error(), "apiKeySelector") {
		t.Fatalf("invalid selector: %v", err)
	}
	tz := planPolicy("acme")
	tz.Spec.Rules[0].Period, tz.Spec.Rules[0].Calendar, tz.Spec.Rules[0].TimeZone = metav1.Duration{}, keygatev1alpha1.CalendarMonth, "Mars/Olympus"
	if _, err := CompilePolicy(tz, nil); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Fatalf("unknown time zone: %v", err)
	}

	many := make([]keygatev1alpha1.ApiKey, record.MaxPlanKeys+1)
	for i := range many {
		many[i] = keyIn("acme", fmt.Sprintf("k%d", i), "x", pro)
	}
	if _, err := CompilePolicy(planPolicy("acme"), many); !errors.Is(err, errTooLarge) {
		t.Fatalf("%d selected keys: %v", len(many), err)
	}
}

// A key's plan follows its labels: relabelling it moves it between
// overrides in the policy's record within 2 s, and a key of another
// namespace is never selected.
func TestPolicyFollowsKeyLabels(t *testing.T) {
	ns, other := newNamespace(t), newNamespace(t)
	opts := managerOpts(ns)
	opts.WatchNamespaces = append(opts.WatchNamespaces, other)
	startManager(t, opts, nil)
	ctx := context.Background()
	if err := env.Client.Create(ctx, planPolicy(ns)); err != nil {
		t.Fatal(err)
	}
	ak := createAPIKey(t, ns, "customer", keygatev1alpha1.ApiKeySpec{Subject: "customer"})
	evil := createAPIKey(t, other, "customer", keygatev1alpha1.ApiKeySpec{Subject: "bigcorp"},
		func(a *keygatev1alpha1.ApiKey) { a.Labels = map[string]string{"keygate.dev/plan": "pro"} })
	key := types.NamespacedName{Namespace: testenv.Namespace, Name: record.SecretName(record.KindRateLimitPolicy, ns, "plans")}
	selected := func() ([]string, error) {
		s, err := getSecret(ctx, env.Client, key)
		if err != nil || s == nil {
			return nil, err
		}
		rec, err := record.DecodeRateLimitPolicy(s.Data[record.DataKey])
		if err != nil {
			return nil, err
		}
		return append(append([]string{}, rec.Rules[0].Overrides[0].APIKeys...), rec.Rules[0].Overrides[1].APIKeys...), nil
	}
	eventually(t, "the policy compiled with no key selected", func() (bool, error) {
		s, err := selected()
		return s != nil && len(s) == 0, err
	})
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Labels = map[string]string{"keygate.dev/plan": "pro"} })
	start := time.Now()
	eventually(t, "the relabelled key is selected", func() (bool, error) {
		s, err := selected()
		return slices.Equal(s, []string{string(ak.UID)}), err
	})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the label change took %s to reach the record; want at most 2s", d)
	}
	t.Logf("label change reached the policy's record in %s", time.Since(start).Round(time.Millisecond))
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Labels = map[string]string{"keygate.dev/plan": "free"} })
	eventually(t, "the key is no longer selected", func() (bool, error) {
		s, err := selected()
		return s != nil && len(s) == 0, err
	})
	if s, _ := selected(); slices.Contains(s, string(evil.UID)) {
		t.Fatal("a key of another namespace was selected")
	}
}

// A policy with a calendar quota says where its counts are durable; one the
// API server cannot fully check (an unknown time zone) is not Ready.
func TestPolicyConditions(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, managerOpts(ns), nil)
	ctx := context.Background()
	quota := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "quota"},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{
			{Name: "monthly", Limit: 1000, Calendar: keygatev1alpha1.CalendarMonth, TimeZone: "Europe/Paris", By: "apiKey"},
		}},
	}
	badTZ := quota.DeepCopy()
	badTZ.Name, badTZ.Spec.Rules[0].TimeZone = "bad-tz", "Mars/Olympus"
	for _, p := range []*keygatev1alpha1.RateLimitPolicy{quota, badTZ} {
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitCond := func(p *keygatev1alpha1.RateLimitPolicy, status metav1.ConditionStatus, reason, text string) {
		t.Helper()
		eventually(t, p.Name+" is "+reason, func() (bool, error) {
			cur := &keygatev1alpha1.RateLimitPolicy{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), cur); err != nil {
				return false, err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, keygatev1alpha1.ConditionReady)
			return c != nil && c.Status == status && c.Reason == reason && strings.Contains(c.Message, text), nil
		})
	}
	waitCond(quota, metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled, "in memory (the default) each replica counts on its own")
	waitCond(badTZ, metav1.ConditionFalse, ReasonInvalidSpec, `timeZone "Mars/Olympus"`)
	if s, err := getSecret(ctx, env.Client, types.NamespacedName{Namespace: testenv.Namespace,
		Name: record.SecretName(record.KindRateLimitPolicy, ns, badTZ.Name)}); err != nil || s != nil {
		t.Fatalf("a policy that cannot be compiled got a record: %v", err)
	}
}

// The shipped plans sample compiles: free is each rule's own limit, pro
// and enterprise select ApiKeys by label and JWTs by plan claim, and the
// monthly rule is a calendar quota in UTC.
func TestPlansSampleCompiles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "ratelimitpolicy-plans.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p keygatev1alpha1.RateLimitPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatal(err)
	}
	keys := []keygatev1alpha1.ApiKey{
		keyIn("acme", "free", "free-co", nil),
		keyIn("acme", "pro", "pro-co", map[string]string{"keygate.dev/plan": "pro"}),
		keyIn("acme", "ent", "ent-co", map[string]string{"keygate.dev/plan": "enterprise"}),
	}
	rec, err := CompilePolicy(&p, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Rules) != 2 || rec.Rules[0].Period != time.Minute || rec.Rules[1].Calendar != record.CalendarMonth || rec.Rules[1].TimeZone != "" {
		t.Fatalf("rules %+v", rec.Rules)
	}
	for _, r := range rec.Rules {
		o := r.Overrides
		if len(o) != 2 || o[0].Name != "enterprise" || !slices.Equal(o[0].APIKeys, []string{"acme-ent"}) || !slices.Equal(o[0].JWTPlans, []string{"enterprise"}) ||
			o[1].Name != "pro" || !slices.Equal(o[1].APIKeys, []string{"acme-pro"}) || !slices.Equal(o[1].JWTPlans, []string{"pro"}) || o[1].Limit <= r.Limit {
			t.Fatalf("rule %s overrides %+v", r.Name, o)
		}
	}
}
