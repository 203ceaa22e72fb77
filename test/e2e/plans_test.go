package e2e_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/test/testenv"
)

// plansPolicy is the shipped plans sample, in namespace ns, with limits
// small enough to reach: free 2 a minute, pro 4 a minute, enterprise 50 a
// minute but 3 a month, so that a month's quota runs out in the test.
// The quota's window is the real calendar month in UTC: its refusal must
// point at the real next 1st, 00:00 UTC.
func plansPolicy(t *testing.T, ns string) *keygatev1alpha1.RateLimitPolicy {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "ratelimitpolicy-plans.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p keygatev1alpha1.RateLimitPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatal(err)
	}
	p.Namespace = ns
	limits := map[string][3]int64{"per-minute": {2, 50, 4}, "monthly": {1000, 3, 1000}} // own, enterprise, pro
	for i := range p.Spec.Rules {
		r := &p.Spec.Rules[i]
		l, ok := limits[r.Name]
		if !ok || len(r.Overrides) != 2 || r.Overrides[0].Name != "enterprise" || r.Overrides[1].Name != "pro" {
			t.Fatalf("the plans sample changed shape: rule %s", r.Name)
		}
		r.Limit, r.Overrides[0].Limit, r.Overrides[1].Limit = l[0], l[1], l[2]
	}
	return &p
}

func TestNginxPlans(t *testing.T) {
	s := getStack(t)
	up := startUpstream(t)
	ns := s.namespace(t, "e2e-plans")
	label := func(plan string) func(*keygatev1alpha1.ApiKey) {
		return func(a *keygatev1alpha1.ApiKey) { a.Labels = map[string]string{"keygate.dev/plan": plan} }
	}
	_, free := s.generatedKey(t, ns, "free", keygatev1alpha1.ApiKeySpec{Subject: "free-co"})
	_, pro := labelledKey(t, s, ns, "pro", "pro-co", label("pro"))
	ent, entKey := labelledKey(t, s, ns, "ent", "ent-co", label("enterprise"))
	s.waitPolicy(t, plansPolicy(t, ns))
	f := &nginxFixture{s: s, up: up, ns: ns, base: startNginx(t, up,
		routeSpec{Path: "/api/", Auth: s.authURL, Query: "?policy=" + ns + "/plans"})}

	t.Run("a pro key and a free key on the same route get different limits", func(t *testing.T) { testPlanLimits(t, f, free, pro) })
	t.Run("a monthly quota refuses with QUOTA_EXCEEDED until the next 1st", func(t *testing.T) { testMonthlyQuota(t, f, entKey) })
	t.Run("a label change takes effect within 2s", func(t *testing.T) {
		cur := &keygatev1alpha1.ApiKey{}
		if err := s.env.Client.Get(context.Background(), client.ObjectKeyFromObject(ent), cur); err != nil {
			t.Fatal(err)
		}
		label("pro")(cur)
		if err := s.env.Client.Update(context.Background(), cur); err != nil {
			t.Fatal(err)
		}
		testAdmittedWithin(t, f, entKey, 2*time.Second)
	})
}

// testPlanLimits: free gets the rule's own 2 a minute, pro its override's 4.
func testPlanLimits(t *testing.T, f *nginxFixture, free, pro string) {
	for range 2 {
		f.pass(t, "/api/", hdr("X-API-Key", free))
	}
	resp := f.refuse(t, "/api/", hdr("X-API-Key", free), 429, "RATE_LIMITED")
	if got := resp.Header.Get("RateLimit-Policy"); got != `"per-minute";q=2;w=60` {
		t.Errorf("free: RateLimit-Policy %q", got)
	}
	for range 4 {
		f.pass(t, "/api/", hdr("X-API-Key", pro))
	}
	resp = f.refuse(t, "/api/", hdr("X-API-Key", pro), 429, "RATE_LIMITED")
	if got := resp.Header.Get("RateLimit-Policy"); got != `"per-minute";q=4;w=60` {
		t.Errorf("pro: RateLimit-Policy %q", got)
	}
}

// testMonthlyQuota: enterprise's 3 a month run out, and the refusal points
// at the real next reset.
func testMonthlyQuota(t *testing.T, f *nginxFixture, entKey string) {
	up := f.up
	for range 3 {
		f.pass(t, "/api/", hdr("X-API-Key", entKey))
	}
	uri := uniquePath("/api/")
	resp, body := get(t, http.MethodGet, f.base+uri, hdr("X-API-Key", entKey))
	now := time.Now().UTC()
	expectRefused(t, resp, body, 429, "QUOTA_EXCEEDED")
	if !strings.Contains(body, "quota monthly exceeded (3 per month, plan enterprise)") {
		t.Errorf("body %s does not name the quota, its limit and the plan", body)
	}
	reset := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	want := int64(reset.Sub(now) / time.Second)
	got, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64)
	if err != nil || got < want-2 || got > want+2 {
		t.Errorf("Retry-After %q; want about %d s, until %s", resp.Header.Get("Retry-After"), want, reset)
	}
	window := int64(reset.Sub(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)) / time.Second)
	if p := resp.Header.Get("RateLimit-Policy"); p != `"monthly";q=3;w=`+strconv.FormatInt(window, 10) {
		t.Errorf("RateLimit-Policy %q; want the month's window of %d s", p, window)
	}
	if r := resp.Header.Get("RateLimit"); !strings.HasPrefix(r, `"monthly";r=0;t=`) {
		t.Errorf("RateLimit %q", r)
	}
	if _, ok := up.reached(uri); ok {
		t.Error("the refused request reached the upstream")
	}
}

// testAdmittedWithin: a key refused until now is admitted through nginx
// within d.
func testAdmittedWithin(t *testing.T, f *nginxFixture, key string, d time.Duration) {
	up := f.up
	start := time.Now()
	for {
		uri := uniquePath("/api/")
		resp, _ := get(t, http.MethodGet, f.base+uri, hdr("X-API-Key", key))
		if resp.StatusCode == http.StatusOK {
			if _, ok := up.reached(uri); !ok {
				t.Fatal("admitted but not at the upstream")
			}
			break
		}
		if time.Since(start) > d {
			t.Fatalf("the key moved to pro (1000 a month) but is still refused after %s", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the relabelled key was admitted %s after the update", time.Since(start).Round(time.Millisecond))
}

// labelledKey creates a generated ApiKey with labels and waits until the
// auth server accepts its key.
func labelledKey(t *testing.T, s *stack, ns, name, subject string, mut func(*keygatev1alpha1.ApiKey)) (*keygatev1alpha1.ApiKey, string) {
	t.Helper()
	ak := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: keygatev1alpha1.ApiKeySpec{Subject: subject}}
	mut(ak)
	if err := s.env.Client.Create(context.Background(), ak); err != nil {
		t.Fatal(err)
	}
	key := s.waitDelivered(t, ns, name, "")
	s.waitAccepted(t, key, nil)
	return ak, key
}
