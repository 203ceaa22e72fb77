package webhook

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// hideCase is a request and what its answer must tell the proxy with the
// hide option: the Cookie header the upstream gets ("" for none). Each
// presents its credential as a client would.
type hideCase struct {
	name   string
	opts   string // options besides hide
	hdr    []string
	query  string // the original URL's query
	cookie string
}

func hideCases() []hideCase {
	return []hideCase{
		{"key in X-API-Key, no cookie", "", []string{"X-API-Key", keySecret}, "", ""},
		{"key in X-API-Key, other cookies kept", "", []string{"X-API-Key", keySecret, "Cookie", "a=1; b=2"}, "", "a=1; b=2"},
		{"key in the query", "", nil, "apiKey=" + keySecret, ""},
		{"bearer token, a stale session cookie", "auth=jwt", []string{"Authorization", "Bearer jwt-user", "Cookie", "session_token=old; a=1"}, "", "a=1"},
		{"session cookie, others kept", "auth=jwt", []string{"Cookie", "a=1; session_token=jwt-user; b=2"}, "", "a=1; b=2"},
		{"session cookie alone", "auth=jwt", []string{"Cookie", "session_token=jwt-user"}, "", ""},
		{"session cookie and duplicates over two headers", "auth=jwt", []string{"Cookie", "session_token=; a=1", "Cookie", "session_token=jwt-user;session_token=x"}, "", "a=1"},
		{"session cookie named with a leading space", "auth=jwt", []string{"Cookie", "a=1;  session_token=jwt-user"}, "", "a=1"},
		{"quoted session cookie", "auth=jwt", []string{"Cookie", `session_token="jwt-user"; c="x y"`}, "", `c="x y"`},
		{"auth=none", "auth=none", []string{"X-API-Key", keyUnknown, "Cookie", "session_token=t; a=1"}, "", "a=1"},
	}
}

// traefikReq builds a check request as Traefik's ForwardAuth sends it.
func traefikReq(query, uri string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/check"+query, nil)
	r.Header.Set("X-Forwarded-Uri", uri)
	r.Header.Set("X-Forwarded-Method", "GET")
	r.Header.Set("X-Forwarded-Host", "api.acme.com")
	r.RemoteAddr = "10.0.0.1:4000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func withQuery(base, q string) string {
	if q == "" {
		return base
	}
	return base + "?" + q
}

func joinOpts(opts ...string) string {
	return strings.Join(slices.DeleteFunc(opts, func(s string) bool { return s == "" }), "&")
}

// TestHideCheck: with hide, an admission through /check (ingress-nginx
// and Traefik) carries the Cookie the upstream must get and never
// X-API-Key or Authorization, so that a proxy copying those three answer
// headers replaces the client's. Without hide, none is in the answer.
func TestHideCheck(t *testing.T) {
	for _, tc := range hideCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for proxy, mk := range map[string]func(string, string, ...string) *http.Request{
				"nginx": nginxReq, "traefik": traefikReq,
			} {
				target := withQuery(orig, tc.query)
				if proxy == "traefik" {
					target = withQuery("/api/sdk/events", tc.query)
				}
				w := h.do(mk("?"+joinOpts(tc.opts, "hide=true"), target, tc.hdr...))
				if w.Code != http.StatusOK {
					t.Fatalf("%s: %d %s", proxy, w.Code, w.Body)
				}
				if got := w.Header().Values("Cookie"); !slices.Equal(got, nonEmpty(tc.cookie)) {
					t.Errorf("%s: answer Cookie %q, want %q", proxy, got, nonEmpty(tc.cookie))
				}
				for _, name := range []string{"X-Api-Key", "Authorization", "X-Envoy-Auth-Headers-To-Remove"} {
					if v := w.Header().Values(name); v != nil {
						t.Errorf("%s: answer has %s %q", proxy, name, v)
					}
				}
				w = h.do(mk(withQuery("", joinOpts(tc.opts)), target, tc.hdr...))
				if w.Code != http.StatusOK || w.Header().Values("Cookie") != nil {
					t.Errorf("%s without hide: %d, Cookie %q", proxy, w.Code, w.Header().Values("Cookie"))
				}
			}
		})
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// TestHideRefusalUnchanged: a refused request's answer is the same with
// and without hide, and carries no cookie.
func TestHideRefusalUnchanged(t *testing.T) {
	h := newHarness(t)
	hdr := []string{"X-API-Key", keyUnknown, "Cookie", "session_token=jwt-user; a=1"}
	plain, hidden := h.do(nginxReq("?auth=apikey", orig, hdr...)), h.do(nginxReq("?auth=apikey&hide=true", orig, hdr...))
	if plain.Code != http.StatusUnauthorized || hidden.Code != plain.Code || hidden.Body.String() != plain.Body.String() {
		t.Fatalf("refusal with hide: %d %s; without: %d %s", hidden.Code, hidden.Body, plain.Code, plain.Body)
	}
	if hidden.Header().Values("Cookie") != nil {
		t.Fatalf("a refusal carries Cookie %q", hidden.Header().Values("Cookie"))
	}
}

// TestHideEnvoyHTTP: with Envoy's HTTP ext_authz, which copies only the
// headers an answer has, the credential headers are listed in
// x-envoy-auth-headers-to-remove, with cookie when none remains; when
// some remain, the answer's Cookie replaces the request's.
func TestHideEnvoyHTTP(t *testing.T) {
	for _, tc := range hideCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := httptest.NewRequest(http.MethodGet, "/check;"+joinOpts(tc.opts, "hide=true")+withQuery("/api/sdk/events", tc.query), nil)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				r.Header.Add(tc.hdr[i], tc.hdr[i+1])
			}
			w := h.do(r)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			removed := strings.Split(w.Header().Get("X-Envoy-Auth-Headers-To-Remove"), ",")
			for _, name := range []string{"x-api-key", "authorization"} {
				if !slices.Contains(removed, name) {
					t.Errorf("x-envoy-auth-headers-to-remove %q lacks %s", removed, name)
				}
			}
			if got := slices.Contains(removed, "cookie"); got != (tc.cookie == "") {
				t.Errorf("cookie removed: %v, with %q remaining", got, tc.cookie)
			}
			if got := w.Header().Values("Cookie"); !slices.Equal(got, nonEmpty(tc.cookie)) {
				t.Errorf("answer Cookie %q, want %q", got, nonEmpty(tc.cookie))
			}
		})
	}
}

// TestHideGRPC: over ext_authz gRPC, the credential headers are in
// headers_to_remove (cookie only when none remains, else overwritten with
// those that remain) and apiKey is in query_parameters_to_remove.
func TestHideGRPC(t *testing.T) {
	c := newHarness(t).grpc(t)
	for _, tc := range hideCases() {
		t.Run(tc.name, func(t *testing.T) {
			ext := map[string]string{"hide": "true"}
			if k, v, ok := strings.Cut(tc.opts, "="); ok {
				ext[k] = v
			}
			req := envoyCheck("GET", withQuery("/api/sdk/events", tc.query), ext, tc.hdr...)
			if countCookies(tc.hdr) > 1 {
				// Two Cookie headers: sent in the list encoding.
				setRawHeaders(req, tc.hdr)
			}
			ok := c.check(t, req).GetOkResponse()
			if ok == nil {
				t.Fatal("not admitted")
			}
			rm := ok.GetHeadersToRemove()
			if !slices.Contains(rm, "x-api-key") || !slices.Contains(rm, "authorization") {
				t.Errorf("headers_to_remove %v lacks x-api-key or authorization", rm)
			}
			if got := slices.Contains(rm, "cookie"); got != (tc.cookie == "") {
				t.Errorf("cookie removed: %v, with %q remaining", got, tc.cookie)
			}
			if got := setValues(ok, "cookie"); !slices.Equal(got, nonEmpty(tc.cookie)) {
				t.Errorf("cookie set to %q, want %q", got, nonEmpty(tc.cookie))
			}
			if q := ok.GetQueryParametersToRemove(); !slices.Equal(q, []string{"apiKey"}) {
				t.Errorf("query_parameters_to_remove %v, want apiKey", q)
			}
			delete(ext, "hide")
			plain := c.check(t, envoyCheck("GET", withQuery("/api/sdk/events", tc.query), ext, tc.hdr...)).GetOkResponse()
			if slices.Contains(plain.GetHeadersToRemove(), "x-api-key") || plain.GetQueryParametersToRemove() != nil || setValues(plain, "cookie") != nil {
				t.Errorf("without hide: %v", plain)
			}
		})
	}
}

// setValues are the values an OkHttpResponse sets for a header, each
// overwriting the request's.
func setValues(ok *authv3.OkHttpResponse, key string) []string {
	var vals []string
	for _, o := range ok.GetHeaders() {
		if o.GetHeader().GetKey() == key && o.GetAppendAction() == corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
			vals = append(vals, o.GetHeader().GetValue())
		}
	}
	return vals
}

func countCookies(hdr []string) (n int) {
	for i := 0; i < len(hdr); i += 2 {
		if hdr[i] == "Cookie" {
			n++
		}
	}
	return n
}

// setRawHeaders moves the request's headers to the list encoding
// (encode_raw_headers), where a repeated header is one entry each.
func setRawHeaders(req *authv3.CheckRequest, hdr []string) {
	h := req.GetAttributes().GetRequest().GetHttp()
	list := &corev3.HeaderMap{}
	for k, v := range h.GetHeaders() {
		if k != "cookie" {
			list.Headers = append(list.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Cookie" {
			list.Headers = append(list.Headers, &corev3.HeaderValue{Key: "cookie", RawValue: []byte(hdr[i+1])})
		}
	}
	h.Headers, h.HeaderMap = nil, list
}

// TestHideGRPCRefusalUnchanged: a refused gRPC check is the same denied
// response with and without hide.
func TestHideGRPCRefusalUnchanged(t *testing.T) {
	c := newHarness(t).grpc(t)
	hdr := []string{"X-API-Key", keyUnknown, "Cookie", "session_token=jwt-user; a=1"}
	plain := c.check(t, envoyCheck("GET", "/x", map[string]string{"auth": "apikey"}, hdr...))
	hidden := c.check(t, envoyCheck("GET", "/x", map[string]string{"auth": "apikey", "hide": "true"}, hdr...))
	if hidden.GetDeniedResponse() == nil || hidden.String() != plain.String() {
		t.Fatalf("with hide %v; without %v", hidden, plain)
	}
}
