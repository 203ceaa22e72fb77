package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// traefikScenarios run through real Traefik, once per provider: the
// ingress-nginx provider reading config/samples/ingress-nginx, and the CRD
// provider reading config/samples/traefik. The routes are the samples':
// /api/ (keys or JWTs, BreakGround limits), /api/admin/ (JWT with the admin
// scope), /api/widget/ (public keys), /api/sdk/ (credentials hidden).
var traefikScenarios = []struct {
	name string
	run  func(t *testing.T, r *traefikRun)
}{
	{"key in header reaches upstream with identity", traefikKeyInHeader},
	{"key in query", traefikKeyInQuery},
	{"unknown key is 401 with the JSON body", traefikUnknownKey},
	{"JWT in Bearer header and in cookie", traefikJWT},
	{"missing scope is 403 and admin is JWT only", traefikScopes},
	{"public key from allowed and foreign origin", traefikPublicKey},
	{"BreakGround limits are a real 429 that X-Forwarded-For cannot escape", traefikRateLimit},
	{"client cannot forge identity headers", traefikForged},
	{"rotated key works until its grace ends", traefikRotation},
	{"disabled key stops within 2s", traefikDisable},
	{"nothing gets through an auth server that is not ready", traefikNotReady},
	{"the echo upstream never sees the key", traefikHide},
}

func TestTraefik(t *testing.T) {
	start := time.Now()
	f := setupTraefik(t)
	for p, proxy := range f.proxies {
		t.Run(proxy.name, func(t *testing.T) {
			for i, sc := range traefikScenarios {
				t.Run(sc.name, func(t *testing.T) {
					r := f.runAs(proxy, f.ip(p, i, 0))
					r.other = clientFrom(f.ip(p, i, 1))
					sc.run(t, r)
				})
			}
		})
	}
	t.Logf("Traefik suite ran in %s", time.Since(start).Round(time.Millisecond))
}

func traefikKeyInHeader(t *testing.T, r *traefikRun) {
	got := r.pass(t, traefikURI("/api/events/"), hdr("X-API-Key", r.f.sdkKey))
	if got.Get("X-Auth-Subject") != "acme" || got.Get("X-Auth-Method") != "apikey" ||
		got.Get("X-Auth-Key-Type") != "secret" || got.Get("X-Auth-Key-Id") == "" {
		t.Errorf("upstream got X-Auth-Subject=%q X-Auth-Method=%q X-Auth-Key-Type=%q X-Auth-Key-Id=%q",
			got.Get("X-Auth-Subject"), got.Get("X-Auth-Method"), got.Get("X-Auth-Key-Type"), got.Get("X-Auth-Key-Id"))
	}
}

func traefikKeyInQuery(t *testing.T, r *traefikRun) {
	got := r.pass(t, traefikURI("/api/events/")+"?apiKey="+r.f.sdkKey, nil)
	if got.Get("X-Auth-Subject") != "acme" || got.Get("X-Auth-Method") != "apikey" {
		t.Errorf("upstream got X-Auth-Subject=%q X-Auth-Method=%q", got.Get("X-Auth-Subject"), got.Get("X-Auth-Method"))
	}
}

func traefikUnknownKey(t *testing.T, r *traefikRun) {
	r.refuse(t, sampleHost, traefikURI("/api/"), hdr("X-API-Key", "wfx_"+strings.Repeat("0", 64)), 401, "AUTH_FAILED")
	r.refuse(t, sampleHost, traefikURI("/api/"), nil, 401, "AUTH_FAILED")
}

func traefikJWT(t *testing.T, r *traefikRun) {
	got := r.pass(t, traefikURI("/api/admin/"), hdr("Authorization", "Bearer "+r.f.admin))
	if got.Get("X-Auth-Subject") != "dev-admin" || got.Get("X-Auth-Method") != "jwt" || got.Get("X-Auth-Issuer") == "" {
		t.Errorf("upstream got subject %q method %q issuer %q", got.Get("X-Auth-Subject"), got.Get("X-Auth-Method"), got.Get("X-Auth-Issuer"))
	}
	if got = r.pass(t, traefikURI("/api/admin/"), hdr("Cookie", "session_token="+r.f.admin)); got.Get("X-Auth-Subject") != "dev-admin" {
		t.Errorf("JWT from the cookie: upstream got subject %q", got.Get("X-Auth-Subject"))
	}
	r.refuse(t, sampleHost, traefikURI("/api/admin/"), nil, 401, "AUTH_NO_TOKEN")
	r.refuse(t, sampleHost, traefikURI("/api/admin/"), hdr("Authorization", "Bearer "+r.f.admin+"x"), 401, "AUTH_INVALID_TOKEN")
}

func traefikScopes(t *testing.T, r *traefikRun) {
	r.refuse(t, sampleHost, traefikURI("/api/admin/"), hdr("Authorization", "Bearer "+r.f.readOnly), 403, "FORBIDDEN")
	// The admin route takes JWTs only: an API key, even a valid one, is
	// not a token.
	r.refuse(t, sampleHost, traefikURI("/api/admin/"), hdr("X-API-Key", r.f.sdkKey), 401, "AUTH_NO_TOKEN")
}

func traefikPublicKey(t *testing.T, r *traefikRun) {
	got := r.pass(t, traefikURI("/api/widget/"), hdr("X-API-Key", r.f.pubKey, "Origin", "https://app.acme.example"))
	if got.Get("X-Auth-Key-Type") != "public" || got.Get("X-Auth-Subject") != "acme" {
		t.Errorf("upstream got X-Auth-Key-Type %q X-Auth-Subject %q", got.Get("X-Auth-Key-Type"), got.Get("X-Auth-Subject"))
	}
	r.refuse(t, sampleHost, traefikURI("/api/widget/"), hdr("X-API-Key", r.f.pubKey, "Origin", "https://evil.example"), 403, "FORBIDDEN")
	r.refuse(t, sampleHost, traefikURI("/api/widget/"), hdr("X-API-Key", r.f.pubKey), 403, "FORBIDDEN")
	// /api/ takes secret keys only.
	r.refuse(t, sampleHost, traefikURI("/api/"), hdr("X-API-Key", r.f.pubKey, "Origin", "https://app.acme.example"), 403, "FORBIDDEN")
}

// traefikRateLimit spends the BreakGround auth rule (10 a minute per IP
// address on /api/auth/login) and checks the 429 the client gets, then
// that a client's own X-Forwarded-For (or X-Real-IP) does not make it
// another address, while a request from another address is still served.
func traefikRateLimit(t *testing.T, r *traefikRun) {
	login := func() string { return "/api/auth/login?attempt=" + traefikURI("") }
	key := hdr("X-API-Key", r.f.sdkKey)
	for range 10 {
		r.pass(t, login(), key)
	}
	resp := r.refuse(t, sampleHost, login(), key, 429, "RATE_LIMITED")
	t.Logf("the 11th login: %s, Retry-After %s, RateLimit-Policy %s, RateLimit %s", resp.Status,
		resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"))
	if got := resp.Header.Get("RateLimit-Policy"); got != `"auth";q=10;w=60` {
		t.Errorf("429 with RateLimit-Policy %q, want the sample's auth rule \"auth\";q=10;w=60", got)
	}
	if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, `"auth";r=0;t=`) {
		t.Errorf("429 with RateLimit %q, want \"auth\";r=0;t=...", got)
	}
	for _, forged := range []http.Header{
		hdr("X-API-Key", r.f.sdkKey, "X-Forwarded-For", "198.51.100.7"),
		hdr("X-API-Key", r.f.sdkKey, "X-Forwarded-For", "198.51.100.7, 198.51.100.8", "X-Real-IP", "198.51.100.9"),
		hdr("X-API-Key", r.f.sdkKey, "Forwarded", "for=198.51.100.7"),
	} {
		r.refuse(t, sampleHost, login(), forged, 429, "RATE_LIMITED")
	}
	// Nor does naming another path the way ingress-nginx would: Traefik
	// passes the client's X-Original-URL on, next to its own
	// X-Forwarded-Uri, and keygate refuses the pair.
	r.refuse(t, sampleHost, login(), hdr("X-API-Key", r.f.sdkKey, "X-Original-URL", "http://"+sampleHost+"/api/events/"), 400, "BAD_REQUEST")
	r.passVia(t, r.other, login(), key)
}

func traefikForged(t *testing.T, r *traefikRun) {
	got := r.pass(t, traefikURI("/api/"), hdr("X-API-Key", r.f.sdkKey, "X-Auth-Subject", "root", "X-Auth-Key-Type", "public"))
	if v := got.Values("X-Auth-Subject"); len(v) != 1 || v[0] != "acme" {
		t.Errorf("upstream got X-Auth-Subject %v, want only acme", v)
	}
	if v := got.Values("X-Auth-Key-Type"); len(v) != 1 || v[0] != "secret" {
		t.Errorf("upstream got X-Auth-Key-Type %v, want only secret", v)
	}
	// A JWT has no key id: the client's is removed, not passed on.
	got = r.pass(t, traefikURI("/api/admin/"), hdr("Authorization", "Bearer "+r.f.admin, "X-Auth-Key-Id", "forged", "X-Auth-Scopes", "root"))
	if v := got.Values("X-Auth-Key-Id"); len(v) != 0 {
		t.Errorf("upstream got X-Auth-Key-Id %v on a JWT route, want none", v)
	}
	if v := got.Values("X-Auth-Scopes"); len(v) != 1 || strings.Contains(v[0], "root") {
		t.Errorf("upstream got X-Auth-Scopes %v, want the token's", v)
	}
}

func traefikNotReady(t *testing.T, r *traefikRun) {
	r.refuse(t, r.f.notReadyHost(), traefikURI("/api/"), hdr("X-API-Key", r.f.sdkKey), 503, "NOT_READY")
	r.refuse(t, r.f.notReadyHost(), traefikURI("/api/admin/"), hdr("Authorization", "Bearer "+r.f.admin), 503, "NOT_READY")
}
