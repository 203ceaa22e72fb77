package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/check"
)

const orig = "https://api.acme.com/api/sdk/events"

type codeCase struct {
	name  string
	query string
	url   string
	hdr   []string
	want  string // error code, "" = 200
}

func codeCases() []codeCase {
	return []codeCase{
		{"key in header", "", orig, []string{"X-API-Key", keySecret}, ""},
		{"key in query of the original URL", "", orig + "?apiKey=" + keySecret, nil, ""},
		{"no credential, auth=any", "", orig, nil, check.CodeAuthFailed},
		{"no credential, auth=apikey", "?auth=apikey", orig, nil, check.CodeAuthFailed},
		{"no token, auth=jwt", "?auth=jwt", orig, nil, check.CodeNoToken},
		{"unknown key", "", orig, []string{"X-API-Key", keyUnknown}, check.CodeAuthFailed},
		{"malformed key", "", orig, []string{"X-API-Key", "sk_nothex"}, check.CodeAuthFailed},
		{"unknown prefix", "", orig, []string{"X-API-Key", hexKey("zz_", '1')}, check.CodeAuthFailed},
		{"uppercase hex is not the key format", "", orig, []string{"X-API-Key", strings.ToUpper(keySecret)}, check.CodeAuthFailed},
		{"disabled key", "", orig, []string{"X-API-Key", keyDisabled}, check.CodeAuthFailed},
		{"bearer token", "?auth=jwt", orig, []string{"Authorization", "Bearer jwt-user"}, ""},
		{"bearer scheme is case-insensitive", "?auth=jwt", orig, []string{"Authorization", "bearer jwt-user"}, ""},
		{"session cookie", "?auth=jwt", orig, []string{"Cookie", "a=b; session_token=jwt-user; c=d"}, ""},
		{"invalid token", "?auth=jwt", orig, []string{"Authorization", "Bearer garbage"}, check.CodeInvalidToken},
		{"expired token", "", orig, []string{"Authorization", "Bearer jwt-expired"}, check.CodeInvalidToken},
		{"revoked token", "", orig, []string{"Authorization", "Bearer jwt-revoked"}, check.CodeTokenRevoked},
		{"verifier failure is a 401, not a 5xx", "", orig, []string{"Authorization", "Bearer jwt-boom"}, check.CodeInvalidToken},
		{"auth=jwt ignores keys", "?auth=jwt", orig, []string{"X-API-Key", keySecret}, check.CodeNoToken},
		{"auth=apikey ignores tokens", "?auth=apikey", orig, []string{"Authorization", "Bearer jwt-user"}, check.CodeAuthFailed},
		{"auth=none needs nothing", "?auth=none", orig, nil, ""},
		{"auth=any: invalid token, valid key", "", orig, []string{"Authorization", "Bearer jwt-expired", "X-API-Key", keySecret}, ""},
		{"auth=any: invalid token and key, key's error", "", orig, []string{"Authorization", "Bearer jwt-expired", "X-API-Key", keyUnknown}, check.CodeAuthFailed},
		{"auth=any: valid token without scope stays 403", "?scopes=admin", orig, []string{"Authorization", "Bearer jwt-user", "X-API-Key", keySecret}, check.CodeForbidden},
		{"scopes: all present", "?scopes=events:write,read", orig, []string{"X-API-Key", keySecret}, ""},
		{"scopes: one missing", "?scopes=events:write,admin", orig, []string{"X-API-Key", keySecret}, check.CodeForbidden},
		{"scopes on a JWT", "?scopes=admin", orig, []string{"Authorization", "Bearer jwt-admin"}, ""},
		{"keyTypes default refuses public", "", orig, []string{"X-API-Key", keyPublic, "Origin", "https://app.acme.com"}, check.CodeForbidden},
		{"keyTypes=public", "?keyTypes=public", orig, []string{"X-API-Key", keyPublic, "Origin", "https://app.acme.com"}, ""},
		{"keyTypes=public refuses secret", "?keyTypes=public", orig, []string{"X-API-Key", keySecret}, check.CodeForbidden},
		{"keyTypes=secret,public", "?keyTypes=secret,public", orig, []string{"X-API-Key", keySecret}, ""},
		{"namespaces: in", "?namespaces=acme,x", orig, []string{"X-API-Key", keySecret}, ""},
		{"namespaces: out", "?namespaces=other", orig, []string{"X-API-Key", keySecret}, check.CodeAuthFailed},
		{"namespaces: other prefix", "?namespaces=other", orig, []string{"X-API-Key", keyOther}, ""},
		{"policy loaded", "?policy=acme/seed", orig, []string{"X-API-Key", keySecret}, ""},
		{"policy not loaded", "?policy=acme/nope", orig, []string{"X-API-Key", keySecret}, check.CodePolicyNotFound},
		{"invalid auth", "?auth=maybe", orig, nil, check.CodeInvalidOptions},
		{"auth=none with scopes", "?auth=none&scopes=admin", orig, nil, check.CodeInvalidOptions},
		{"auth=none with namespaces", "?auth=none&namespaces=acme", orig, nil, check.CodeInvalidOptions},
		{"auth=none with keyTypes", "?auth=none&keyTypes=public", orig, nil, check.CodeInvalidOptions},
		{"empty policy", "?policy=", orig, []string{"X-API-Key", keySecret}, check.CodeInvalidOptions},
		{"empty namespaces", "?namespaces=", orig, []string{"X-API-Key", keySecret}, check.CodeInvalidOptions},
		{"empty scopes", "?scopes=", orig, []string{"X-API-Key", keySecret}, check.CodeInvalidOptions},
		{"invalid keyTypes", "?keyTypes=private", orig, nil, check.CodeInvalidOptions},
		{"invalid policy name", "?policy=nons", orig, nil, check.CodeInvalidOptions},
		{"invalid namespace", "?namespaces=Bad_NS", orig, nil, check.CodeInvalidOptions},
		{"empty scope item", "?scopes=a,,b", orig, nil, check.CodeInvalidOptions},
		{"unknown option (typo)", "?scope=admin", orig, nil, check.CodeInvalidOptions},
		{"repeated option", "?auth=jwt&auth=none", orig, nil, check.CodeInvalidOptions},
		{"invalid compat", "?compat=traefik", orig, nil, check.CodeInvalidOptions},
		{"bad query escape", "?auth=%zz", orig, nil, check.CodeInvalidOptions},
	}
}

// TestCodes covers every row of the contract's code table and the option
// table, with each credential source.
func TestCodes(t *testing.T) {
	for _, tc := range codeCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.do(nginxReq(tc.query, tc.url, tc.hdr...))
			if got := code(t, w); got != tc.want {
				t.Fatalf("code %q (status %d), want %q; body %s", got, w.Code, tc.want, w.Body)
			}
		})
	}
}

// TestEnvoy: options only from the ";" segment, never from the client's
// query, which is where the original apiKey is.
func TestEnvoy(t *testing.T) {
	tests := []struct {
		target string
		want   string
	}{
		{"/check/api/sdk/events?apiKey=" + keySecret, ""},
		{"/check;policy=acme%2Fseed&scopes=read/api/sdk/events?apiKey=" + keySecret, ""},
		{"/check;scopes=admin/api/x?apiKey=" + keySecret, check.CodeForbidden},
		{"/check;policy=acme%2Fmissing/api/x?apiKey=" + keySecret, check.CodePolicyNotFound},
		{"/check/api/x?auth=none", check.CodeAuthFailed}, // a client cannot turn auth off
		{"/check;auth=none/api/x", ""},
	}
	for _, tc := range tests {
		h := newHarness(t)
		r := httptest.NewRequest(http.MethodPost, tc.target, nil)
		if got := code(t, h.do(r)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestKeySourceOrder(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		body string
		url  string
		want string
	}{
		{"body _apiKey", nil, `{"events":[],"_apiKey":"` + keySecret + `"}`, orig, ""},
		{"body as sendBeacon text/plain", []string{"Content-Type", "text/plain;charset=UTF-8"}, `{"_apiKey":"` + keySecret + `"}`, orig, ""},
		{"header wins over body", []string{"X-API-Key", keyUnknown}, `{"_apiKey":"` + keySecret + `"}`, orig, check.CodeAuthFailed},
		{"body wins over query", nil, `{"_apiKey":"` + keyUnknown + `"}`, orig + "?apiKey=" + keySecret, check.CodeAuthFailed},
		{"header wins over query", []string{"X-API-Key", keyUnknown}, "", orig + "?apiKey=" + keySecret, check.CodeAuthFailed},
		{"nested _apiKey does not count", nil, `{"a":{"_apiKey":"` + keySecret + `"}}`, orig, check.CodeAuthFailed},
		{"field name is exact", nil, `{"_APIKEY":"` + keySecret + `"}`, orig, check.CodeAuthFailed},
		{"garbage JSON falls through to query", nil, `{"_apiKey": nope`, orig + "?apiKey=" + keySecret, ""},
		{"non-string _apiKey", nil, `{"_apiKey": 42}`, orig, check.CodeAuthFailed},
		{"huge body has no key", nil, `{"_apiKey":"` + keySecret + `","pad":"` + strings.Repeat("x", 70<<10) + `"}`, orig, check.CodeAuthFailed},
		{"percent-encoded query key", nil, "", orig + "?x=1&apiKey=" + strings.Replace(keySecret, "_", "%5F", 1), ""},
		{"key found in the original URL only, not the check URL", nil, "", orig, check.CodeAuthFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := nginxReq("", tc.url, tc.hdr...)
			if tc.body != "" {
				r = httptest.NewRequest(http.MethodPost, "/check", strings.NewReader(tc.body))
				r.Header = nginxReq("", tc.url, tc.hdr...).Header
			}
			if got := code(t, h.do(r)); got != tc.want {
				t.Fatalf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAllowedHeaders(t *testing.T) {
	h := newHarness(t)
	w := h.do(nginxReq("", orig, "X-API-Key", keySecret))
	want := map[string]string{"X-Auth-Subject": "sdk-subject", "X-Auth-Method": "apikey",
		"X-Auth-Key-Id": record.HashKey(keySecret).KeyID(), "X-Auth-Key-Type": "secret", "X-Auth-Scopes": "events:write read"}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	w = h.do(nginxReq("?auth=jwt", orig, "Authorization", "Bearer jwt-admin"))
	if w.Header().Get("X-Auth-Subject") != "alice" || w.Header().Get("X-Auth-Method") != "jwt" || w.Header().Get("X-Auth-Scopes") != "read admin" {
		t.Fatalf("jwt headers %v", w.Header())
	}
	if w.Header().Get("X-Auth-Key-Id") != "" {
		t.Fatal("a JWT answer has no key id")
	}
}

// TestExpiryExactToTheInstant moves an injected clock across expiresAt and
// a grace key's notAfter.
func TestExpiryExactToTheInstant(t *testing.T) {
	tests := []struct {
		key  string
		at   time.Duration
		want string
	}{
		{keyGrace, 30*time.Minute - time.Second, ""},
		{keyGrace, 30*time.Minute - time.Nanosecond, ""},
		{keyGrace, 30 * time.Minute, check.CodeAuthFailed},
		{keyExpiring, time.Hour - time.Second, ""},
		{keyExpiring, time.Hour, check.CodeAuthFailed},
		{keyExpiring, time.Hour + time.Second, check.CodeAuthFailed},
	}
	for _, tc := range tests {
		h := newHarness(t)
		h.clock.SetTime(t0.Add(tc.at))
		w := h.do(nginxReq("", orig, "X-API-Key", tc.key))
		if got := code(t, w); got != tc.want {
			t.Errorf("key %s at t0+%v: %q, want %q", tc.key[:5], tc.at, got, tc.want)
		}
	}
}

func TestOrigins(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
		want string
	}{
		{"origin matches", []string{"Origin", "https://app.acme.com"}, ""},
		{"case-insensitive", []string{"Origin", "HTTPS://APP.ACME.COM"}, ""},
		{"other origin", []string{"Origin", "https://evil.com"}, check.CodeForbidden},
		{"port differs", []string{"Origin", "https://app.acme.com:8443"}, check.CodeForbidden},
		{"referer origin", []string{"Referer", "https://app.acme.com/page?x=1"}, ""},
		{"referer other", []string{"Referer", "https://app.acme.com.evil.com/"}, check.CodeForbidden},
		{"origin null uses referer", []string{"Origin", "null", "Referer", "https://app.acme.com/"}, ""},
		{"neither header", nil, check.CodeForbidden},
		{"garbage referer", []string{"Referer", "::::"}, check.CodeForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			hdr := append([]string{"X-API-Key", keyPublic}, tc.hdr...)
			if got := code(t, h.do(nginxReq("?keyTypes=public", orig, hdr...))); got != tc.want {
				t.Fatalf("code %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	h := newHarness(t)
	h.srv.MarkSynced(func() bool { return false })
	w := h.do(nginxReq("", orig, "X-API-Key", keySecret))
	if w.Code != http.StatusServiceUnavailable || code(t, w) != check.CodeNotReady {
		t.Fatalf("before sync: %d %s", w.Code, w.Body)
	}
	if rz := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rz.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before sync: %d", rz.Code)
	}
	h.srv.MarkSynced(func() bool { return true })
	h.ver.notReady = true
	if w := h.do(nginxReq("", orig, "X-API-Key", keySecret)); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("verifier not ready: %d", w.Code)
	}
	h.ver.notReady = false
	if w := h.do(nginxReq("", orig, "X-API-Key", keySecret)); w.Code != http.StatusOK {
		t.Fatalf("ready: %d %s", w.Code, w.Body)
	}
	if rz := h.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rz.Code != http.StatusOK {
		t.Fatalf("/readyz: %d", rz.Code)
	}
	if hz := h.do(httptest.NewRequest(http.MethodGet, "/healthz", nil)); hz.Code != http.StatusOK {
		t.Fatalf("/healthz: %d", hz.Code)
	}
}
