package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keygate-dev/keygate/webhook/check"
)

// FuzzOriginal: any check URL and proxy headers parse without a panic, and
// a parsed path is always absolute.
func FuzzOriginal(f *testing.F) {
	f.Add("/check?auth=jwt", "https://h/api/x?apiKey=k", "POST", "/y", "1.1.1.1, 2.2.2.2")
	f.Add("/check;auth=none/a/../b", "", "", "", "")
	f.Add("/check/%2e%2e/x", "//h", "", "?", ",,,")
	f.Add("/check", "http://", "\x00", "%zz", "[::1]:80")
	f.Fuzz(func(t *testing.T, target, origURL, method, fwdURI, xff string) {
		if !strings.HasPrefix(target, "/check") {
			target = "/check" + target
		}
		r, err := http.NewRequest(http.MethodGet, "http://keygate"+target, nil)
		if err != nil {
			return // not a URL net/http would deliver
		}
		r.RemoteAddr = "10.0.0.1:1"
		r.Header["X-Original-Url"] = []string{origURL}
		r.Header["X-Original-Method"] = []string{method}
		r.Header["X-Forwarded-Uri"] = []string{fwdURI}
		r.Header["X-Forwarded-For"] = []string{xff}
		for _, mode := range []Proxy{ProxyAuto, ProxyNginx, ProxyTraefik, ProxyEnvoy} {
			tg, err := checkTarget(r, mode)
			if err != nil {
				continue
			}
			o, err := readOriginal(r, mode, tg)
			if p, perr := check.CleanPath(o.Path); err == nil && perr == nil && !strings.HasPrefix(p, "/") {
				t.Fatalf("path %q is not absolute", p)
			}
			check.ParseOptions(tg.opts)
		}
		if ip := check.ClientIP(r.Header, r.RemoteAddr, 2); ip == "" {
			t.Fatal("no client IP")
		}
	})
}

// FuzzCheck drives the whole handler with fuzzed credentials in every
// source: it must never panic, and never answer 5xx except by design.
func FuzzCheck(f *testing.F) {
	f.Add("", keySecret, "", "", "")
	f.Add("auth=apikey", "", `{"_apiKey":"`+keySecret+`"}`, "apiKey="+keyUnknown, "")
	f.Add("auth=jwt", "sk_", "{", "apiKey=%", "Bearer x.y.z")
	f.Add("keyTypes=public&scopes=a", hexKey("pub_", 'F'), "\xff\xfe", "", "Basic abc")
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, query, hdrKey, body, origQuery, authz string) {
		r := httptest.NewRequest(http.MethodPost, "/check", strings.NewReader(body))
		r.URL.RawQuery = query
		if utf8.ValidString(hdrKey) {
			r.Header["X-Api-Key"] = []string{hdrKey}
		}
		r.Header["Authorization"] = []string{authz}
		r.Header["Cookie"] = []string{authz}
		r.Header["X-Original-Url"] = []string{"https://h/p?" + origQuery}
		r.Header["Origin"] = []string{hdrKey}
		w := h.do(r)
		if w.Code >= 500 && !strings.Contains(w.Body.String(), check.CodePolicyNotFound) {
			t.Fatalf("5xx %d: %s", w.Code, w.Body)
		}
	})
}

func TestOversizedHeadersAreRefusedByTheServer(t *testing.T) {
	h := newHarness(t)
	ts := httptest.NewUnstartedServer(h.srv.Handler())
	ts.Config = newHTTPServer(h.srv.Handler())
	ts.Start()
	defer ts.Close()
	r, _ := http.NewRequest(http.MethodGet, ts.URL+"/check", nil)
	r.Header.Set("X-API-Key", strings.Repeat("a", 2*maxHeaderBytes))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// FuzzGRPCCheck sends a fuzzed request both ways Envoy can ask: as an
// ext_authz gRPC CheckRequest and, when it can be written as one, as an
// HTTP ext_authz request to /check. Neither may panic, the gRPC answer is
// always a denial or an admission, and both answers must agree.
func FuzzGRPCCheck(f *testing.F) {
	f.Add("GET", "/api/x?apiKey="+keySecret, "x-api-key", keySecret, "", "scopes", "read")
	f.Add("POST", "/k/x?next=https://a/", "x-api-key", keySecret, "", "policy", "acme/strict")
	f.Add("POST", "/api/sdk/events", "cookie", "session_token=jwt-admin", `{"_apiKey":"`+keySecret+`"}`, "auth", "any")
	f.Add("GET", "/admin/x", "authorization", "Bearer jwt-user", "", "", "")
	f.Add("", "", ":path", "\xff", "\x00", "policy", "acme/seed")
	f.Add("GET", "*", "x-forwarded-for", "1.1.1.1,,[::1]", "{", "scope", "")
	f.Fuzz(func(t *testing.T, method, path, hk, hv, body, ek, ev string) {
		ext := map[string]string{}
		if ek != "" {
			ext[ek] = ev
		}
		if ok := strings.HasPrefix(strings.ToLower(hk), "x-original-") || strings.HasPrefix(strings.ToLower(hk), "x-forwarded-uri") ||
			strings.EqualFold(hk, "x-sent-from") || strings.EqualFold(hk, "x-forwarded-for"); !ok {
			// Headers the HTTP service reads differently (another proxy's,
			// and the client IP, which the harness fixes) are not compared.
			compareWithCheck(t, false, 1, method, path, ext, []string{hk, hv}, body)
		}
		req := envoyCheck(method, path, ext, hk, hv)
		req.Attributes.Request.Http.Body = body
		resp, err := (&grpcAuthz{s: newHarness(t).srv}).Check(context.Background(), req)
		if err != nil || resp == nil {
			t.Fatalf("Check returned %v, %v", resp, err)
		}
		if resp.GetOkResponse() == nil {
			d := resp.GetDeniedResponse()
			if d == nil || resp.GetStatus().GetCode() == 0 {
				t.Fatalf("neither a denial nor an admission: %v", resp)
			}
			if c := d.GetStatus().GetCode(); c >= 500 && !strings.Contains(d.GetBody(), check.CodePolicyNotFound) {
				t.Fatalf("5xx %d: %s", c, d.GetBody())
			}
		}
	})
}
