package check

import (
	"net/http"
	"strings"
	"testing"
)

// hideCookieCases are Cookie headers as a client can send them, and what
// an upstream must receive with hide: each is read as nginx, Go's
// net/http and Envoy split cookies (at ";", regardless of quotes).
var hideCookieCases = []struct {
	name  string
	lines []string
	want  string
}{
	{"no Cookie header", nil, ""},
	{"only other cookies", []string{"a=1; b=2"}, "a=1; b=2"},
	{"only the session", []string{"session_token=jwt"}, ""},
	{"session between others", []string{"a=1; session_token=jwt; b=2"}, "a=1; b=2"},
	{"no space after ;", []string{"a=1;session_token=jwt;b=2"}, "a=1; b=2"},
	{"two Cookie headers", []string{"a=1; session_token=x", "session_token=y; b=2"}, "a=1; b=2"},
	{"duplicates", []string{"session_token=a; session_token=b"}, ""},
	{"empty duplicate before the read one", []string{"session_token=; a=1; session_token=jwt"}, "a=1"},
	{"quoted value", []string{`session_token="jwt"; c="x y"`}, `c="x y"`},
	{"leading space in the name", []string{"a=1;  session_token=jwt"}, "a=1"},
	{"tab before the name", []string{"a=1;\tsession_token=jwt"}, "a=1"},
	{"space before = (Go reads session_token)", []string{"session_token =jwt; a=1"}, "a=1"},
	{"no = at all", []string{"session_token; a=1"}, "a=1"},
	{"names are case-sensitive", []string{"Session_Token=x; SESSION_TOKEN=y"}, "Session_Token=x; SESSION_TOKEN=y"},
	{"longer names are other cookies", []string{"session_token_x=1; x_session_token=2"}, "session_token_x=1; x_session_token=2"},
	{"the name as a value", []string{"a=session_token"}, "a=session_token"},
	{"= in a value", []string{"a=b=c; session_token=t"}, "a=b=c"},
	{"; inside quotes splits", []string{`a="x; session_token=y"`}, `a="x`},
	{"headers joined with , (Envoy's CheckRequest map)", []string{"a=1; b=2,session_token=y"}, "a=1"},
	{"comma in a kept value", []string{"a=1,2; session_token=t"}, "a=1,2"},
	{"empty parts", []string{"a=1;; ; b=2;"}, "a=1; b=2"},
	{"empty line", []string{"", "a=1"}, "a=1"},
}

func TestWithoutSessionCookie(t *testing.T) {
	for _, tc := range hideCookieCases {
		t.Run(tc.name, func(t *testing.T) {
			got := WithoutSessionCookie(tc.lines)
			if got != tc.want {
				t.Fatalf("WithoutSessionCookie(%q) = %q, want %q", tc.lines, got, tc.want)
			}
			checkNoSession(t, tc.lines, got)
		})
	}
}

// checkNoSession asserts that neither keygate nor Go's net/http (as an
// upstream would) reads a session_token from the cookies that remain,
// while every cookie Go read from the request under another name is kept.
func checkNoSession(t *testing.T, lines []string, out string) {
	t.Helper()
	if v := cookieValue([]string{out}, sessionCookie); v != "" {
		t.Fatalf("keygate still reads session_token %q from %q", v, out)
	}
	upstream := &http.Request{Header: http.Header{"Cookie": {out}}}
	if c, err := upstream.Cookie(sessionCookie); err == nil {
		t.Fatalf("Go's net/http still reads session_token %q from %q", c.Value, out)
	}
	if strings.ContainsAny(out, "\r\n") {
		t.Fatalf("%q is not one header line", out)
	}
	kept := map[string]int{}
	for _, c := range upstream.Cookies() {
		kept[c.String()]++
	}
	for _, c := range (&http.Request{Header: http.Header{"Cookie": lines}}).Cookies() {
		if namesSessionCookie(c.Name + "=" + c.Value) {
			continue // session_token, or a piece of a ,-joined part is
		}
		if kept[c.String()] == 0 {
			t.Fatalf("cookie %s of %q was lost in %q", c, lines, out)
		}
		kept[c.String()]--
	}
}

// FuzzWithoutSessionCookie: whatever the Cookie headers, neither keygate
// nor Go's net/http reads a session_token from what remains, and no other
// cookie is lost.
func FuzzWithoutSessionCookie(f *testing.F) {
	for _, tc := range hideCookieCases {
		f.Add(strings.Join(tc.lines, "\n"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		for _, l := range lines {
			if strings.ContainsAny(l, "\r\x00") {
				return // not a header line any proxy forwards
			}
		}
		checkNoSession(t, lines, WithoutSessionCookie(lines))
	})
}

func TestHideOption(t *testing.T) {
	for raw, want := range map[string]bool{"": false, "hide=true": true, "hide=false": false, "auth=jwt&hide=true": true} {
		o := ParseOptions(raw)
		if o.Err() != nil || o.Hide != want {
			t.Errorf("%q: Hide=%v err=%v, want %v", raw, o.Hide, o.Err(), want)
		}
	}
	for _, raw := range []string{"hide=1", "hide=yes", "hide=True", "hide=", "hide", "hide=true&hide=true"} {
		if err := CheckOptions(raw); err == nil {
			t.Errorf("%q is accepted", raw)
		}
	}
}
