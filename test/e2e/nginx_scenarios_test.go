package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/devenv"
)

// nginxFixture is what the nginx scenarios share: keys, tokens, and nginx
// in front of the upstream.
type nginxFixture struct {
	s               *stack
	up              *upstream
	base            string
	sdkKey, pubKey  string
	admin, readOnly string // JWTs
	ns              string
}

func setupNginx(t *testing.T) *nginxFixture {
	s := getStack(t)
	f := &nginxFixture{s: s, up: startUpstream(t)}
	f.ns = s.namespace(t, "e2e-nginx")
	_, f.sdkKey = s.generatedKey(t, f.ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", Prefix: "wfx_", Scopes: []string{"events:write"}})
	_, f.pubKey = s.generatedKey(t, f.ns, "widget", keygatev1alpha1.ApiKeySpec{
		Subject: "acme", Type: keygatev1alpha1.KeyTypePublic, AllowedOrigins: []string{"https://app.acme.example"}})
	s.waitPolicy(t, &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tight", Namespace: f.ns},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{{
			Name: "burst", Limit: 2, Period: metav1.Duration{Duration: time.Minute}, By: "apiKey",
			Match: &keygatev1alpha1.RequestMatch{PathPrefixes: []string{"/limited/"}},
		}}},
	})
	var err error
	now := time.Now()
	if f.admin, err = devenv.SignDevJWT(s.hmac, "dev-admin", []string{"admin", "read"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.readOnly, err = devenv.SignDevJWT(s.hmac, "dev-reader", []string{"read"}, now, time.Hour); err != nil {
		t.Fatal(err)
	}
	f.base = startNginx(t, f.up,
		routeSpec{Path: "/api/", Auth: s.authURL},
		routeSpec{Path: "/admin/", Auth: s.authURL, Query: "?auth=jwt&scopes=admin"},
		routeSpec{Path: "/scoped/", Auth: s.authURL, Query: "?scopes=admin"},
		routeSpec{Path: "/widget/", Auth: s.authURL, Query: "?keyTypes=public"},
		routeSpec{Path: "/limited/", Auth: s.authURL, Query: "?policy=" + f.ns + "/tight"},
		routeSpec{Path: "/notready/", Auth: startUnreadyAuthServer(t, s)},
	)
	return f
}

// startUnreadyAuthServer runs a second auth server as a user with no
// permissions: it can never list the record Secrets, so it never becomes ready.
func startUnreadyAuthServer(t *testing.T, s *stack) string {
	kc, err := s.env.KubeconfigFor(t.TempDir(), "e2e-nobody")
	if err != nil {
		t.Fatal(err)
	}
	a, err := startAuthServer("unready auth-server", kc, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.stop() })
	return a.url
}

// pass sends a request through nginx and expects it at the upstream.
func (f *nginxFixture) pass(t *testing.T, prefix string, h http.Header) http.Header {
	t.Helper()
	return reachUpstream(t, f.base, f.up, uniquePath(prefix), h)
}

// reachUpstream expects GET base+uri answered 200 by up, which saw the
// request with uri as sent (path and query), and returns the headers up
// got.
func reachUpstream(t *testing.T, base string, up *upstream, uri string, h http.Header) http.Header {
	t.Helper()
	resp, body := get(t, http.MethodGet, base+uri, h)
	if resp.StatusCode != http.StatusOK || body != "upstream" {
		t.Fatalf("GET %s: %d %q, want 200 from the upstream", uri, resp.StatusCode, body)
	}
	got, ok := up.reached(uri)
	if !ok {
		t.Fatalf("GET %s was answered 200 but did not reach the upstream as sent", uri)
	}
	return got
}

// refuse sends a request through nginx, expects the refusal, and checks
// that it never reached the upstream.
func (f *nginxFixture) refuse(t *testing.T, prefix string, h http.Header, status int, code string) *http.Response {
	t.Helper()
	uri := uniquePath(prefix)
	resp, body := get(t, http.MethodGet, f.base+uri, h)
	expectRefused(t, resp, body, status, code)
	if _, ok := f.up.reached(uri); ok {
		t.Errorf("refused request %s reached the upstream", uri)
	}
	return resp
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestNginx(t *testing.T) {
	f := setupNginx(t)
	t.Run("key in header reaches upstream with identity", func(t *testing.T) {
		got := f.pass(t, "/api/sdk/", hdr("X-API-Key", f.sdkKey))
		if got.Get("X-Auth-Subject") != "acme" || got.Get("X-Auth-Method") != "apikey" || got.Get("X-Auth-Key-Type") != "secret" {
			t.Errorf("upstream got X-Auth-Subject=%q X-Auth-Method=%q X-Auth-Key-Type=%q", got.Get("X-Auth-Subject"), got.Get("X-Auth-Method"), got.Get("X-Auth-Key-Type"))
		}
	})
	t.Run("key in query", func(t *testing.T) {
		uri := uniquePath("/api/sdk/") + "?apiKey=" + f.sdkKey
		resp, _ := get(t, http.MethodGet, f.base+uri, nil)
		got, ok := f.up.reached(uri)
		if resp.StatusCode != http.StatusOK || !ok || got.Get("X-Auth-Subject") != "acme" {
			t.Fatalf("status %d, reached %v, subject %q", resp.StatusCode, ok, got.Get("X-Auth-Subject"))
		}
	})
	t.Run("client cannot forge identity headers", func(t *testing.T) {
		got := f.pass(t, "/api/", hdr("X-API-Key", f.sdkKey, "X-Auth-Subject", "root"))
		if v := got.Values("X-Auth-Subject"); len(v) != 1 || v[0] != "acme" {
			t.Errorf("upstream got X-Auth-Subject %v, want only acme", v)
		}
	})
	t.Run("invalid key is 401", func(t *testing.T) {
		f.refuse(t, "/api/", hdr("X-API-Key", "wfx_"+repeat("0", 64)), 401, "AUTH_FAILED")
		f.refuse(t, "/api/", nil, 401, "AUTH_FAILED")
	})
	t.Run("JWT in Bearer header and in cookie", func(t *testing.T) {
		got := f.pass(t, "/admin/", hdr("Authorization", "Bearer "+f.admin))
		if got.Get("X-Auth-Subject") != "dev-admin" || got.Get("X-Auth-Method") != "jwt" {
			t.Errorf("upstream got subject %q method %q", got.Get("X-Auth-Subject"), got.Get("X-Auth-Method"))
		}
		f.pass(t, "/admin/", hdr("Cookie", "session_token="+f.admin))
		f.refuse(t, "/admin/", nil, 401, "AUTH_NO_TOKEN")
		f.refuse(t, "/admin/", hdr("Authorization", "Bearer "+f.admin+"x"), 401, "AUTH_INVALID_TOKEN")
	})
	t.Run("missing scope is 403", func(t *testing.T) {
		f.refuse(t, "/admin/", hdr("Authorization", "Bearer "+f.readOnly), 403, "FORBIDDEN")
		f.refuse(t, "/scoped/", hdr("X-API-Key", f.sdkKey), 403, "FORBIDDEN")
	})
	t.Run("public key from allowed and foreign origin", func(t *testing.T) {
		got := f.pass(t, "/widget/", hdr("X-API-Key", f.pubKey, "Origin", "https://app.acme.example"))
		if got.Get("X-Auth-Key-Type") != "public" {
			t.Errorf("upstream got X-Auth-Key-Type %q", got.Get("X-Auth-Key-Type"))
		}
		f.refuse(t, "/widget/", hdr("X-API-Key", f.pubKey, "Origin", "https://evil.example"), 403, "FORBIDDEN")
		f.refuse(t, "/api/", hdr("X-API-Key", f.pubKey, "Origin", "https://app.acme.example"), 403, "FORBIDDEN")
	})
	t.Run("rate limited is a real 429 with JSON and Retry-After", func(t *testing.T) {
		for range 2 {
			f.pass(t, "/limited/", hdr("X-API-Key", f.sdkKey))
		}
		resp := f.refuse(t, "/limited/", hdr("X-API-Key", f.sdkKey), 429, "RATE_LIMITED")
		if resp.Header.Get("RateLimit-Policy") == "" || resp.Header.Get("RateLimit") == "" {
			t.Errorf("429 without RateLimit headers: %v", resp.Header)
		}
	})
	t.Run("nothing gets through an auth server that is not ready", func(t *testing.T) {
		f.refuse(t, "/notready/", hdr("X-API-Key", f.sdkKey), 503, "NOT_READY")
	})
	t.Run("rotated key works until its grace ends", func(t *testing.T) { testRotation(t, f) })
	t.Run("disabled key stops within 2s", func(t *testing.T) { testDisable(t, f) })
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func testRotation(t *testing.T, f *nginxFixture) {
	const grace = 4 * time.Second
	ak, old := f.s.generatedKey(t, f.ns, "rotating", keygatev1alpha1.ApiKeySpec{
		Subject: "acme", Rotation: &keygatev1alpha1.Rotation{Every: metav1.Duration{Duration: time.Hour}, GracePeriod: metav1.Duration{Duration: grace}}})
	patch := client.MergeFrom(ak.DeepCopy())
	ak.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: "1"}
	if err := f.s.env.Client.Patch(context.Background(), ak, patch); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	key := f.s.waitDelivered(t, f.ns, "rotating", old)
	f.pass(t, "/api/", hdr("X-API-Key", key))
	f.pass(t, "/api/", hdr("X-API-Key", old))
	eventually(t, grace+5*time.Second, "old key refused after the grace period", func() bool {
		resp, _ := get(t, http.MethodGet, f.base+uniquePath("/api/"), hdr("X-API-Key", old))
		return resp.StatusCode == http.StatusUnauthorized
	})
	if d := time.Since(rotated); d < grace-time.Second {
		t.Errorf("the old key stopped working %s after the rotation, before its grace of %s", d, grace)
	}
	f.pass(t, "/api/", hdr("X-API-Key", key))
}

func testDisable(t *testing.T, f *nginxFixture) {
	ak, key := f.s.generatedKey(t, f.ns, "to-disable", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	f.pass(t, "/api/", hdr("X-API-Key", key))
	patch := client.MergeFrom(ak.DeepCopy())
	ak.Spec.Disabled = true
	if err := f.s.env.Client.Patch(context.Background(), ak, patch); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, 2*time.Second, "disabled key refused through nginx", func() bool {
		resp, _ := get(t, http.MethodGet, f.base+uniquePath("/api/"), hdr("X-API-Key", key))
		return resp.StatusCode == http.StatusUnauthorized
	})
	t.Logf("disabled key refused %s after the patch", time.Since(start).Round(time.Millisecond))
	f.refuse(t, "/api/", hdr("X-API-Key", key), 401, "AUTH_FAILED")
}
