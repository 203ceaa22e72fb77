package webhook

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate-dev/keygate/webhook/check"
)

// original is what a test expects readOriginal to find, with the path as
// the decision cleans it.
type original struct {
	method, path, rawQuery, host string
}

type readOriginalCase struct {
	name     string
	mode     Proxy
	target   string
	method   string
	hdr      []string
	want     original
	wantOpts string
	wantErr  bool
}

func readOriginalCases() []readOriginalCase {
	return []readOriginalCase{
		{name: "nginx", target: "/check?auth=jwt", hdr: []string{"X-Original-URL", "https://api.acme.com/api/x?apiKey=k#f", "X-Original-Method", "POST"},
			want: original{method: "POST", path: "/api/x", rawQuery: "apiKey=k", host: "api.acme.com"}, wantOpts: "auth=jwt"},
		{name: "traefik request with a spoofed nginx header", target: "/check", hdr: []string{"X-Original-URL", "https://h/public", "X-Original-Method", "GET",
			"X-Forwarded-Uri", "/api/auth/login", "X-Forwarded-Method", "POST"}, wantErr: true},
		{name: "traefik", target: "/check?scopes=a", hdr: []string{"X-Forwarded-Uri", "/api/y?q=1", "X-Forwarded-Method", "DELETE", "X-Forwarded-Host", "api.acme.com"},
			want: original{method: "DELETE", path: "/api/y", rawQuery: "q=1", host: "api.acme.com"}, wantOpts: "scopes=a"},
		{name: "envoy: own method and path, query is the client's", target: "/check/api/z?apiKey=k&auth=none", method: "PUT",
			want: original{method: "PUT", path: "/api/z", rawQuery: "apiKey=k&auth=none", host: "example.com"}},
		{name: "envoy options segment", target: "/check;auth=jwt&scopes=a/api/z", method: "GET",
			want: original{method: "GET", path: "/api/z", host: "example.com"}, wantOpts: "auth=jwt&scopes=a"},
		{name: "envoy options segment with an encoded policy name", target: "/check;policy=acme%2Fseed/api/%61uth", method: "GET",
			want: original{method: "GET", path: "/api/auth", host: "example.com"}, wantOpts: "policy=acme%2Fseed"},
		{name: "envoy root", target: "/check/", want: original{method: "GET", path: "/", host: "example.com"}},
		{name: "no headers", target: "/check", want: original{method: "GET", path: "/", host: "example.com"}},
		{name: "encoded path is decoded", target: "/check", hdr: []string{"X-Original-URL", "https://h/api/%61uth//login/x/"},
			want: original{method: "GET", path: "/api/auth/login/x/", host: "h"}},
		{name: "path parameters are dropped", target: "/check", hdr: []string{"X-Original-URL", "https://h/api/auth;jsessionid=1/login;x"},
			want: original{method: "GET", path: "/api/auth/login", host: "h"}},
		{name: "an invalid escape is refused", target: "/check", hdr: []string{"X-Original-URL", "https://h/api/%61uth/x%zz"}, wantErr: true},
		{name: "relative original URL", target: "/check", hdr: []string{"X-Original-URL", "/p?x"},
			want: original{method: "GET", path: "/p", rawQuery: "x"}},
		// A "://" in the path or query is no scheme: the path stays where
		// the rules see it.
		{name: "traefik URI with a URL in its query", target: "/check", hdr: []string{"X-Forwarded-Uri", "/k/x?next=https://a.example/", "X-Forwarded-Method", "GET"},
			want: original{method: "GET", path: "/k/x", rawQuery: "next=https://a.example/"}},
		{name: "traefik URI with a URL in its path", target: "/check", hdr: []string{"X-Forwarded-Uri", "/k/http://a/b"},
			want: original{method: "GET", path: "/k/http:/a/b"}},
		{name: "traefik URI that looks absolute is still a path", target: "/check", hdr: []string{"X-Forwarded-Uri", "https://h/public"},
			want: original{method: "GET", path: "/https:/h/public"}},
		{name: "nginx URL with a URL in its query", target: "/check", hdr: []string{"X-Original-URL", "https://h/k/x?r=http://e/"},
			want: original{method: "GET", path: "/k/x", rawQuery: "r=http://e/", host: "h"}},
		{name: "envoy path with a spoofed nginx header", target: "/check/api", hdr: []string{"X-Original-URL", "https://h/public"}, wantErr: true},
		{name: "pinned traefik ignores X-Original-URL", mode: ProxyTraefik, target: "/check", hdr: []string{"X-Original-URL", "https://h/public", "X-Forwarded-Uri", "/api/auth/login"},
			want: original{method: "GET", path: "/api/auth/login"}},
		{name: "pinned nginx without its header", mode: ProxyNginx, target: "/check", wantErr: true},
		// ingress-nginx writes $scheme://$http_host$request_uri, and nginx
		// drops what follows the port of Host: api.example.com:1? before it
		// matches server_name. The authority ends at the first /.
		{name: "nginx host with a ? after the port", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com:1?/api/auth/login"}, wantErr: true},
		{name: "nginx host with a # after the port", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com:1#/api/auth/login"}, wantErr: true},
		{name: "nginx host with userinfo", target: "/check", hdr: []string{"X-Original-URL", "http://a@api.example.com/api/auth/login"}, wantErr: true},
		{name: "nginx host with a space", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com /api/auth/login"}, wantErr: true},
		{name: "nginx host with a tab", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com\t/api/auth/login"}, wantErr: true},
		{name: "nginx host with a control character", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com\x01/api/auth/login"}, wantErr: true},
		{name: "nginx host with a port", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com:8080/api/auth/login?x=1"},
			want: original{method: "GET", path: "/api/auth/login", rawQuery: "x=1", host: "api.example.com:8080"}},
		{name: "nginx URL without a path", target: "/check", hdr: []string{"X-Original-URL", "http://api.example.com"},
			want: original{method: "GET", path: "/", host: "api.example.com"}},
		{name: "nginx ipv6 host", target: "/check", hdr: []string{"X-Original-URL", "http://[::1]:80/x"},
			want: original{method: "GET", path: "/x", host: "[::1]:80"}},
		// Envoy's path is decoded once: %252e is %2e to the upstream, not .
		{name: "envoy double-encoded dots", target: "/check/api/%252e%252e/admin", wantErr: true},
		{name: "envoy double-encoded letter", target: "/check/api/%2561uth/login", wantErr: true},
		{name: "envoy encoded letter", target: "/check/api/%61uth/login", want: original{method: "GET", path: "/api/auth/login", host: "example.com"}},
		{name: "envoy encoded slash", target: "/check/api%2Fauth/login", wantErr: true},
		{name: "envoy dot segment", target: "/check/public/../api/auth/login", wantErr: true},
		{name: "pinned envoy", mode: ProxyEnvoy, target: "/check/a", hdr: []string{"X-Original-URL", "https://h/b"},
			want: original{method: "GET", path: "/a", host: "example.com"}},
	}
}

func TestReadOriginal(t *testing.T) {
	for _, tc := range readOriginalCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(orDefault(tc.method, http.MethodGet), tc.target, nil)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				r.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			mode := tc.mode
			if mode == "" {
				mode = ProxyAuto
			}
			tg, err := checkTarget(r, mode)
			var got original
			if err == nil {
				var req check.Request
				req, err = readOriginal(r, mode, tg)
				got = original{method: req.Method, rawQuery: req.RawQuery, host: req.Host}
				if err == nil {
					got.path, err = check.CleanPath(req.Path)
				}
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got != tc.want || tg.opts != tc.wantOpts {
				t.Fatalf("got %+v opts %q, want %+v opts %q", got, tg.opts, tc.want, tc.wantOpts)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		name string
		hops int
		xff  []string
		want string
	}{
		{"no header: peer", 1, nil, "10.0.0.1"},
		{"one hop: rightmost", 1, []string{"1.1.1.1, 2.2.2.2"}, "2.2.2.2"},
		{"client-added entries are ignored", 1, []string{"6.6.6.6, 7.7.7.7, 9.9.9.9"}, "9.9.9.9"},
		{"two hops", 2, []string{"6.6.6.6, 1.1.1.1, 10.1.1.1"}, "1.1.1.1"},
		{"lines are one list", 2, []string{"6.6.6.6, 1.1.1.1", "10.1.1.1"}, "1.1.1.1"},
		{"shorter than hops: peer", 3, []string{"1.1.1.1, 2.2.2.2"}, "10.0.0.1"},
		{"not an IP: peer", 1, []string{"1.1.1.1, garbage"}, "10.0.0.1"},
		{"ipv6", 1, []string{"2001:db8::1"}, "2001:db8::1"},
		{"ip:port", 1, []string{"1.2.3.4:5678"}, "1.2.3.4"},
		{"empty entries skipped", 1, []string{"1.1.1.1,, ", ""}, "1.1.1.1"},
		{"hops 0: peer", 0, []string{"1.1.1.1"}, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/check", nil)
			r.RemoteAddr = "10.0.0.1:1234"
			r.Header["X-Forwarded-For"] = tc.xff
			if got := check.ClientIP(r.Header, r.RemoteAddr, tc.hops); got != tc.want {
				t.Fatalf("clientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOptionsCacheIsBounded(t *testing.T) {
	c := check.NewOptionsCache(4)
	for i := 0; i < 100; i++ {
		c.Get("scopes=s" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	if n := c.Len(); n > 4 {
		t.Fatalf("cache grew to %d", n)
	}
	if o := c.Get("auth=jwt"); o.Err() != nil || o.Auth != check.AuthJWT {
		t.Fatalf("uncached parse: %+v", o)
	}
}

// TestAmbiguousPathsAreRefused: with a policy, every proxy's path that
// upstreams read differently is refused 400 BAD_REQUEST, and an authority
// that hides the path too.
func TestAmbiguousPathsAreRefused(t *testing.T) {
	h := newHarness(t)
	const q = "?policy=acme/strict&auth=none"
	for _, r := range []*http.Request{
		nginxReq(q, "http://api.acme.com:1?/api/auth/login"),
		nginxReq(q, "http://api.acme.com/public/..;/api/auth/login"),
		nginxReq(q, "http://api.acme.com/api/%2e%2e/admin"),
		httptest.NewRequest(http.MethodGet, "/check;policy=acme%2Fstrict&auth=none/api/%252e%252e/admin", nil),
		httptest.NewRequest(http.MethodGet, "/check;policy=acme%2Fstrict&auth=none/api/auth%2Flogin", nil),
	} {
		w := h.do(r)
		if got := code(t, w); got != check.CodeBadRequest || w.Code != http.StatusBadRequest {
			t.Errorf("%s %v: %d %q, want 400 %s", r.URL, r.Header["X-Original-Url"], w.Code, got, check.CodeBadRequest)
		}
	}
	// Without a policy the path is not looked at.
	if got := code(t, h.do(nginxReq("?auth=none", "http://api.acme.com/api/%2e%2e/admin"))); got != "" {
		t.Fatalf("no policy: %q", got)
	}
}
