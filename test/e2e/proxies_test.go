package e2e_test

import (
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// Traefik and Envoy are not in this system's package registry (Debian
// bookworm has neither a traefik nor an envoy package), so these tests send
// the requests that Traefik's ForwardAuth middleware and Envoy's HTTP
// ext_authz filter send, with a Go client, and check that the auth server
// answers them as those proxies pass answers on: status, headers and body
// unchanged, a 429 as a real 429.

type proxyFixture struct {
	s   *stack
	ns  string
	key string
}

func setupProxies(t *testing.T, proxiesNS string) *proxyFixture {
	s := getStack(t)
	s.namespace(t, proxiesNS)
	_, key := s.generatedKey(t, proxiesNS, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", Scopes: []string{"events:write"}})
	s.waitPolicy(t, &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tight", Namespace: proxiesNS},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{{
			Name: "sdk", Limit: 2, Period: metav1.Duration{Duration: time.Minute}, By: "apiKey",
			Match: &keygatev1alpha1.RequestMatch{PathPrefixes: []string{"/api/sdk/"}},
		}}},
	})
	return &proxyFixture{s: s, ns: proxiesNS, key: key}
}

// traefik sends what ForwardAuth sends: the client's method is kept, the
// original request is in X-Forwarded-*, and the client's headers are
// copied.
func (f *proxyFixture) traefik(t *testing.T, query, method, uri string, client http.Header) (*http.Response, string) {
	h := client.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-Method", method)
	h.Set("X-Forwarded-Proto", "https")
	h.Set("X-Forwarded-Host", "api.acme.example")
	h.Set("X-Forwarded-Uri", uri)
	h.Set("X-Forwarded-For", "203.0.113.7")
	return get(t, method, f.s.authURL+"/check"+query, h)
}

// envoy sends what ext_authz (HTTP service) sends: the original method and
// path appended to the path_prefix, the allowed client headers, and the
// address Envoy saw in X-Forwarded-For.
func (f *proxyFixture) envoy(t *testing.T, prefix, method, uri string, client http.Header) (*http.Response, string) {
	h := client.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-For", "203.0.113.8")
	h.Set("X-Envoy-Expected-Rq-Timeout-Ms", "200")
	return get(t, method, f.s.authURL+prefix+uri, h)
}

func TestTraefikForwardAuthShaped(t *testing.T) {
	f := setupProxies(t, "e2e-traefik")
	resp, body := f.traefik(t, "", http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("X-Auth-Subject") != "acme" {
		t.Fatalf("valid key: %d %q subject %q", resp.StatusCode, body, resp.Header.Get("X-Auth-Subject"))
	}
	resp, body = f.traefik(t, "", http.MethodGet, "/api/sdk/config?apiKey="+f.key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key in the query of X-Forwarded-Uri: %d %q", resp.StatusCode, body)
	}
	resp, body = f.traefik(t, "", http.MethodGet, "/api/sdk/events", hdr("X-API-Key", "sk_"+repeat("1", 64)))
	expectRefused(t, resp, body, 401, "AUTH_FAILED")
	resp, body = f.traefik(t, "?scopes=admin", http.MethodGet, "/api/", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 403, "FORBIDDEN")

	q := "?policy=" + f.ns + "/tight"
	for range 2 {
		if resp, body = f.traefik(t, q, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d %q", resp.StatusCode, body)
		}
	}
	resp, body = f.traefik(t, q, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 429, "RATE_LIMITED")
	// Another path is not matched by the rule.
	if resp, _ = f.traefik(t, q, http.MethodGet, "/api/other", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
		t.Errorf("a path outside the rule's match was refused: %d", resp.StatusCode)
	}
}

func TestEnvoyExtAuthzShaped(t *testing.T) {
	f := setupProxies(t, "e2e-envoy")
	resp, body := f.envoy(t, "/check", http.MethodPost, "/api/sdk/batch", hdr("X-API-Key", f.key))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Subject") != "acme" {
		t.Fatalf("valid key: %d %q subject %q", resp.StatusCode, body, resp.Header.Get("X-Auth-Subject"))
	}
	resp, body = f.envoy(t, "/check", http.MethodGet, "/api/sdk/config?apiKey="+f.key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key in the original query: %d %q", resp.StatusCode, body)
	}
	resp, body = f.envoy(t, "/check", http.MethodGet, "/api/sdk/events", nil)
	expectRefused(t, resp, body, 401, "AUTH_FAILED")
	resp, body = f.envoy(t, "/check;scopes=admin", http.MethodGet, "/api/", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 403, "FORBIDDEN")

	// In a path segment, the / of namespace/name is written %2F.
	prefix := "/check;policy=" + f.ns + "%2Ftight"
	for range 2 {
		if resp, body = f.envoy(t, prefix, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d %q", resp.StatusCode, body)
		}
	}
	resp, body = f.envoy(t, prefix, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 429, "RATE_LIMITED")
}
