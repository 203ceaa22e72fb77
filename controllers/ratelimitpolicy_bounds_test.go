package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// worstPolicy is a RateLimitPolicy at every bound the CRD sets, written to
// make its record as large as it can be: 64 rules with the longest names
// and header names, 256 paths of 256 characters that JSON writes with 6
// bytes each ("<" is \u003c), and 16 overrides with 8 plans each of 64
// characters.
func worstPolicy(ns string) *keygatev1alpha1.RateLimitPolicy {
	p := &keygatev1alpha1.RateLimitPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worst"}}
	methods := []keygatev1alpha1.HTTPMethod{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
	for i := range 64 {
		r := keygatev1alpha1.RateLimitRule{
			Name:  fmt.Sprintf("r%02d-%s", i, strings.Repeat("n", 59)),
			Limit: 1_000_000_000, Period: metav1.Duration{Duration: 744 * time.Hour},
			By:    "header:" + strings.Repeat("X", 121),
			Match: &keygatev1alpha1.RequestMatch{Methods: methods},
		}
		for j := range 2 {
			r.Match.Paths = append(r.Match.Paths, fmt.Sprintf("/%s%02d%d", strings.Repeat("<", 252), i, j))
			r.Match.PathPrefixes = append(r.Match.PathPrefixes, fmt.Sprintf("/%s%02d%d", strings.Repeat("&", 252), i, j))
		}
		if i < 2 {
			r.By = "apiKey"
			for k := range 8 {
				o := keygatev1alpha1.RateLimitOverride{Name: fmt.Sprintf("o%d-%s", k, strings.Repeat("o", 60)), Limit: 1_000_000_000,
					APIKeySelector: &metav1.LabelSelector{MatchLabels: map[string]string{"plan": "x"}}}
				for m := range 8 {
					o.JWTPlans = append(o.JWTPlans, fmt.Sprintf("%d%s", m, strings.Repeat("p", 63)))
				}
				r.Overrides = append(r.Overrides, o)
			}
		}
		p.Spec.Rules = append(p.Spec.Rules, r)
	}
	return p
}

// The worst case the API server accepts compiles, with the most ApiKeys a
// policy's overrides may select, into a record below MaxPolicyRecordBytes,
// which a real API server stores as a Secret. One path more is refused by
// the API server with a message that says what to do.
func TestPolicyWorstCaseFitsASecret(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	p := worstPolicy(ns)
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatalf("the API server refused a policy at its bounds: %v", err)
	}
	keys := make([]keygatev1alpha1.ApiKey, record.MaxPlanKeys/16) // every override selects each key
	for i := range keys {
		keys[i] = keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: map[string]string{"plan": "x"},
			UID: types.UID(fmt.Sprintf("%08d-0000-4000-8000-000000000000", i))}}
	}
	rec, err := CompilePolicy(p, keys)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("worst-case record: %d bytes (bound %d, Secret limit %d)", len(data), record.MaxPolicyRecordBytes, 1<<20)
	if len(data) > record.MaxPolicyRecordBytes || len(data) < 500<<10 {
		t.Fatalf("worst-case record is %d bytes; want at most %d (and this test to reach near it)", len(data), record.MaxPolicyRecordBytes)
	}
	s, err := record.NewSecret(testenv.Namespace, record.KindRateLimitPolicy, rec.Source, rec)
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "rlp.bounds-test." + ns
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatalf("the API server refused the worst-case record Secret: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s) })

	more := worstPolicy(ns)
	more.Name = "worst-plus-one"
	more.Spec.Rules[0].Match.Paths = append(more.Spec.Rules[0].Match.Paths, "/one-more")
	err = env.Client.Create(ctx, more)
	if err == nil || !strings.Contains(err.Error(), "a policy lists at most 256 paths and pathPrefixes over all its rules") {
		t.Fatalf("one path over the bound: %v", err)
	}
	more = worstPolicy(ns)
	more.Name = "worst-plus-override"
	more.Spec.Rules[2].By = "apiKey"
	more.Spec.Rules[2].Overrides = more.Spec.Rules[0].Overrides[:1]
	err = env.Client.Create(ctx, more)
	if err == nil || !strings.Contains(err.Error(), "a policy lists at most 16 overrides over all its rules") {
		t.Fatalf("one override over the bound: %v", err)
	}
}
