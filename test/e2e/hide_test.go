package e2e_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/devenv"
)

// hideRoute is the sample Ingress acme-sdk (config/samples/ingress-nginx,
// docs/credentials.md) at path: its check URL's hide option, and the auth
// response headers it copies beyond acme-api's, which nginx replaces with
// the auth answer's values, sending none when the answer has none. The
// sample's policy is left out: this suite has no BreakGround policy.
func hideRoute(t *testing.T, path, auth string) routeSpec {
	t.Helper()
	ann := sampleAnnotations(t, "acme-sdk")
	u, err := url.Parse(ann[annAuthURL])
	if err != nil || u.Query().Get("hide") != "true" {
		t.Fatalf("the sample Ingress acme-sdk checks at %q, without hide=true", ann[annAuthURL])
	}
	base := responseHeaders(sampleAnnotations(t, "acme-api"))
	var extra []string
	for _, h := range responseHeaders(ann) {
		if !slices.Contains(base, h) {
			extra = append(extra, h)
		}
	}
	if len(extra) == 0 {
		t.Fatal("the sample Ingress acme-sdk copies no credential header from the auth answer")
	}
	return routeSpec{Path: path, Auth: auth, Query: "?hide=true", ResponseHeaders: extra}
}

// hideFixture is nginx in front of an upstream with a hide route and a
// plain one, a key and a JWT.
type hideFixture struct {
	up       *upstream
	base     string
	key, tok string
}

func setupHide(t *testing.T) *hideFixture {
	s := getStack(t)
	f := &hideFixture{up: startUpstream(t)}
	ns := s.namespace(t, "e2e-hide")
	_, f.key = s.generatedKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", Prefix: "wfx_"})
	var err error
	if f.tok, err = devenv.SignDevJWT(s.hmac, "dev-reader", []string{"read"}, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	f.base = startNginx(t, f.up,
		hideRoute(t, "/hidden/", s.authURL),
		routeSpec{Path: "/plain/", Auth: s.authURL},
	)
	return f
}

// send expects the request at the upstream, with its query, and returns
// the headers the upstream got.
func (f *hideFixture) send(t *testing.T, prefix, query string, h http.Header) http.Header {
	t.Helper()
	return reachUpstream(t, f.base, f.up, uniquePath(prefix)+query, h)
}

// TestNginxHide sends credentials through real nginx, configured as
// ingress-nginx configures itself for the sample's annotations plus
// X-API-Key, Authorization and Cookie in auth-response-headers, to a route
// whose check URL has hide=true: the upstream never sees the key or the
// token, and gets every other cookie as it was sent. The same requests on
// a route without hide and without the extra headers reach the upstream
// with their credentials, so the assertions can see one that leaks.
func TestNginxHide(t *testing.T) {
	f := setupHide(t)
	key, tok := f.key, f.tok
	tests := []struct {
		name       string
		h          http.Header
		wantCookie []string // what a hide route's upstream gets
	}{
		{"key in X-API-Key, other cookies", hdr("X-API-Key", key, "Cookie", "theme=dark; lang=en"), []string{"theme=dark; lang=en"}},
		{"bearer token", hdr("Authorization", "Bearer "+tok, "Cookie", `theme="dark blue"`), []string{`theme="dark blue"`}},
		{"session cookie between others", hdr("Cookie", "a=1; session_token="+tok+"; b=2"), []string{"a=1; b=2"}},
		{"session cookie alone", hdr("Cookie", "session_token="+tok), nil},
		{"session cookie without spaces, duplicated over two headers", hdr("Cookie", "session_token=;a=1;session_token="+tok, "Cookie", "session_token="+tok+"; c=3"), []string{"a=1; c=3"}},
		{"key and token, both dropped", hdr("X-API-Key", key, "Authorization", "Bearer "+tok), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.send(t, "/hidden/", "", tc.h)
			for _, name := range []string{"X-Api-Key", "Authorization"} {
				if v := got.Values(name); v != nil {
					t.Errorf("the upstream of a hide route got %s %q", name, v)
				}
			}
			if c := got.Values("Cookie"); !slices.Equal(c, tc.wantCookie) {
				t.Errorf("the upstream of a hide route got Cookie %q, want %q", c, tc.wantCookie)
			}
			if got.Get("X-Auth-Subject") == "" {
				t.Errorf("the upstream got no X-Auth-Subject: %v", got)
			}
			plain := f.send(t, "/plain/", "", tc.h)
			for _, name := range []string{"X-Api-Key", "Authorization", "Cookie"} {
				if !slices.Equal(plain.Values(name), tc.h.Values(name)) {
					t.Errorf("without hide the upstream got %s %q, want it as sent: %q", name, plain.Values(name), tc.h.Values(name))
				}
			}
		})
	}
	t.Run("a key in the query stays: nginx cannot change the query", func(t *testing.T) {
		got := f.send(t, "/hidden/", "?apiKey="+key, hdr("Cookie", "a=1"))
		if got.Get("X-Auth-Method") != "apikey" || got.Get("Cookie") != "a=1" {
			t.Errorf("upstream got %v", got)
		}
	})
	t.Run("a refused request does not reach the upstream", func(t *testing.T) {
		uri := uniquePath("/hidden/")
		unknown := key[:len(key)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(key, "0")]
		resp, body := get(t, http.MethodGet, f.base+uri, hdr("X-API-Key", unknown, "Cookie", "a=1"))
		expectRefused(t, resp, body, http.StatusUnauthorized, "AUTH_FAILED")
		if _, ok := f.up.reached(uri); ok {
			t.Errorf("refused request %s reached the upstream", uri)
		}
	})
}
