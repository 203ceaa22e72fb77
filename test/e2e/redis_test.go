package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/test/testenv"
)

// TestRedisSharedAcrossReplicas runs two more keygate auth-server
// processes with --redis-url against a real redis-server: a limit of 3 a
// minute is exact across both replicas, so the 4th request is refused by
// whichever replica it reaches.
func TestRedisSharedAcrossReplicas(t *testing.T) {
	s := getStack(t)
	redis := testenv.StartRedis(t)
	ns := s.namespace(t, "redis")
	p := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: ns},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{{
			Name: "per-ip", Limit: 3, Period: metav1.Duration{Duration: time.Minute}, By: "ip",
		}}},
	}
	if err := s.env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	var replicas []*authServer
	for i := range 2 {
		a, err := startAuthServer(fmt.Sprint("redis replica ", i), s.authKubeconfig, false,
			"--redis-url", redis.URL(), "--redis-on-error", "deny")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.stop() })
		replicas = append(replicas, a)
	}
	check := func(a *authServer) *http.Response {
		h := http.Header{}
		h.Set("X-Original-URL", "https://api.acme.com/api/sdk/events")
		h.Set("X-Forwarded-For", "198.51.100.7")
		resp, _ := get(t, http.MethodGet, a.url+"/check?auth=none&policy="+ns+"/shared", h)
		return resp
	}
	for _, a := range replicas {
		if err := waitReady(a.url, 60*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, a.output())
		}
		eventually(t, 10*time.Second, "the policy loaded", func() bool {
			resp, _ := get(t, http.MethodGet, a.url+"/check?auth=none&policy="+ns+"/shared&compat=nginx", http.Header{"X-Forwarded-For": {"192.0.2.1"}})
			return resp.StatusCode != http.StatusInternalServerError
		})
	}
	for i, want := range []int{200, 200, 200, 429, 429} {
		a := replicas[i%2]
		resp := check(a)
		if resp.StatusCode != want {
			t.Fatalf("request %d through replica %d: %d, want %d (RateLimit: %q)", i+1, i%2, resp.StatusCode, want, resp.Header.Get("RateLimit"))
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("request %d: a 429 without Retry-After", i+1)
		}
	}
	// Redis gone, --redis-on-error=deny: refused with 503, never admitted.
	redis.Stop()
	eventually(t, 10*time.Second, "a refusal while Redis is down", func() bool {
		return check(replicas[0]).StatusCode == http.StatusServiceUnavailable
	})
}
