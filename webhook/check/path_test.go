package check

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
)

// pathCase is a raw path as a proxy hands it over and what the rules must
// see; refused means CleanPath refuses it (400 BAD_REQUEST).
type pathCase struct {
	raw     string
	want    string
	refused bool
}

func pathCases() []pathCase {
	return []pathCase{
		{raw: "/api/auth/login", want: "/api/auth/login"},
		{raw: "/", want: "/"},
		{raw: "", want: "/"},
		{raw: "*", want: "/*"},
		{raw: "/api/%61uth/login", want: "/api/auth/login"},
		{raw: "/api//auth///login", want: "/api/auth/login"},
		{raw: "/api/auth/login/", want: "/api/auth/login/"},
		{raw: "/api/auth/login//", want: "/api/auth/login/"},
		{raw: "/api/auth;jsessionid=1/login;x", want: "/api/auth/login"},
		{raw: "/api/auth/login;", want: "/api/auth/login"},
		{raw: "/api/auth/login%3Bx", want: "/api/auth/login;x"}, // an encoded ; is data
		{raw: "/api/auth/login%3fx", want: "/api/auth/login?x"},
		{raw: "/API/Auth/Login", want: "/API/Auth/Login"},
		{raw: "/caf%C3%A9", want: "/caf\u00e9"},
		{raw: "/a/...", want: "/a/..."},
		{raw: "/a/.x/..y", want: "/a/.x/..y"},
		// Decoded twice, these become .., / or \ : one decoding is all the
		// upstream does, and a guess either way is wrong somewhere.
		{raw: "/api/%252e%252e/admin", refused: true},
		{raw: "/api/%2561uth/login", refused: true},
		{raw: "/api/%%32%65%%32%65/admin", refused: true},
		{raw: "/api/%2e%2e/admin", refused: true},
		{raw: "/api/%2E/auth", refused: true},
		{raw: "/api/.%2e/auth/login", refused: true},
		{raw: "/api/auth%2flogin", refused: true},
		{raw: "/api%2Fauth/login", refused: true},
		{raw: "/api/auth%5clogin", refused: true},
		{raw: "/api\\auth\\login", refused: true},
		{raw: "/api/auth/login%", refused: true},
		{raw: "/api/auth/login%z", refused: true},
		{raw: "/api/x%zz", refused: true},
		{raw: "/api/auth/login%00", refused: true},
		{raw: "/api/auth/login%0a", refused: true},
		{raw: "/api/auth/login%7F", refused: true},
		// Dot segments: nginx resolves them to choose a location but hands
		// the raw path over; some upstreams resolve them, some do not.
		{raw: "/public/../api/auth/login", refused: true},
		{raw: "/api/auth/./login", refused: true},
		{raw: "/api/auth/login/.", refused: true},
		{raw: "/api/auth/login/..", refused: true},
		{raw: "/..", refused: true},
		{raw: "/public/..;/api/auth/login", refused: true}, // Tomcat resolves ..; the others do not
		{raw: "/public/..;x=1/api/auth/login", refused: true},
		{raw: "/api/.;/auth/login", refused: true},
		{raw: "/public/%2e%2e;/api/auth/login", refused: true},
	}
}

func TestCleanPath(t *testing.T) {
	for _, tc := range pathCases() {
		got, err := CleanPath(tc.raw)
		switch {
		case tc.refused && err == nil:
			t.Errorf("CleanPath(%q) = %q, want a refusal", tc.raw, got)
		case tc.refused && !errors.Is(err, ErrAmbiguousPath):
			t.Errorf("CleanPath(%q) error %v does not wrap ErrAmbiguousPath", tc.raw, err)
		case !tc.refused && (err != nil || got != tc.want):
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
}

func TestCleanPathDoesNotAllocateForACleanPath(t *testing.T) {
	p := strings.Repeat("/api/auth/login", 4)
	if n := testing.AllocsPerRun(100, func() { _, _ = CleanPath(p) }); n != 0 {
		t.Fatalf("CleanPath allocates %v times for a clean path", n)
	}
}

// FuzzCleanPath: when CleanPath accepts a raw path, the rules see what a
// standard router routes: net/http's ServeMux decodes once
// (url.PathUnescape) and cleans (path.Clean, trailing slash kept); with
// ";" parameters, Tomcat's order (drop them from the raw path, then
// decode). Decoding the result again changes nothing.
func FuzzCleanPath(f *testing.F) {
	for _, tc := range pathCases() {
		f.Add(tc.raw)
	}
	f.Add("/a;b%2f/c")
	f.Add("/%C3%A9/%3b/")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := CleanPath(raw)
		if err != nil {
			if !errors.Is(err, ErrAmbiguousPath) {
				t.Fatalf("error %v does not wrap ErrAmbiguousPath", err)
			}
			return
		}
		model := raw
		if strings.Contains(raw, ";") {
			model = stripPathParams(raw)
		}
		dec, uerr := url.PathUnescape(model)
		if uerr != nil {
			t.Fatalf("CleanPath(%q) = %q, but the path does not decode: %v", raw, got, uerr)
		}
		if want := muxClean(dec); got != want {
			t.Fatalf("CleanPath(%q) = %q, a router routes %q", raw, got, want)
		}
		if again, err := url.PathUnescape(got); err != nil || again != got {
			t.Fatalf("CleanPath(%q) = %q decodes again to %q (%v)", raw, got, again, err)
		}
		// A decoded %3B is data, not a parameter: only without one is the
		// result its own cleaning.
		if again, err := CleanPath(got); !strings.Contains(got, ";") && (err != nil || again != got) {
			t.Fatalf("CleanPath(%q) = %q is not a fixed point: %q, %v", raw, got, again, err)
		}
	})
}

// muxClean is net/http's ServeMux cleanPath.
func muxClean(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
