package ratelimit

import (
	"reflect"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// tenantHeader is a Request.Header that has only X-Tenant, set to v.
func tenantHeader(v string) func(string) string {
	return func(name string) string {
		if name == "X-Tenant" {
			return v
		}
		return ""
	}
}

func TestMatching(t *testing.T) {
	p := mustCompile(t, "p",
		record.Rule{Name: "global", Limit: 9, Period: time.Minute, By: "ip"},
		record.Rule{Name: "auth", Limit: 9, Period: time.Minute, By: "ip", PathPrefixes: []string{"/api/auth/"}},
		record.Rule{Name: "refresh", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/api/auth/refresh"}},
		record.Rule{Name: "both", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/exact"}, PathPrefixes: []string{"/pre/"}},
		record.Rule{Name: "tenant", Limit: 9, Period: time.Minute, By: "header:X-Tenant"},
		record.Rule{Name: "sdk", Limit: 9, Period: time.Minute, By: "apiKey", PathPrefixes: []string{"/api/sdk/"}},
		record.Rule{Name: "admin-write", Limit: 9, Period: time.Minute, By: "subject", PathPrefixes: []string{"/api/admin/"}, Methods: []string{"POST", "DELETE"}},
	)
	tests := []struct {
		name  string
		stage Stage
		req   Request
		want  []string // rule:value counted
	}{
		{"global only", BeforeAuth, Request{Method: "GET", Path: "/", IP: "1.2.3.4"},
			[]string{"global:1.2.3.4", "tenant:"}},
		{"prefix", BeforeAuth, Request{Method: "POST", Path: "/api/auth/login", IP: "1.2.3.4", Header: tenantHeader("t1")},
			[]string{"global:1.2.3.4", "auth:1.2.3.4", "tenant:t1"}},
		{"exact and prefix", BeforeAuth, Request{Method: "POST", Path: "/api/auth/refresh", IP: "::1"},
			[]string{"global:::1", "auth:::1", "refresh:::1", "tenant:"}},
		{"exact is not a prefix", BeforeAuth, Request{Method: "GET", Path: "/api/auth/refresh/x", IP: "::1"},
			[]string{"global:::1", "auth:::1", "tenant:"}},
		{"prefix needs the slash", BeforeAuth, Request{Method: "GET", Path: "/api/auth", IP: "::1"},
			[]string{"global:::1", "tenant:"}},
		{"paths or prefixes", BeforeAuth, Request{Method: "GET", Path: "/exact", IP: "::1"},
			[]string{"global:::1", "both:::1", "tenant:"}},
		{"paths or prefixes 2", BeforeAuth, Request{Method: "GET", Path: "/pre/x", IP: "::1"},
			[]string{"global:::1", "both:::1", "tenant:"}},
		{"no IP counts as unknown", BeforeAuth, Request{Method: "GET", Path: "/"},
			[]string{"global:unknown", "tenant:"}},
		{"after auth: api key", AfterAuth, Request{Method: "POST", Path: "/api/sdk/events", IP: "1.2.3.4", APIKeyUID: "u1", Subject: "acme"},
			[]string{"sdk:u1"}},
		{"after auth: jwt has no api key", AfterAuth, Request{Method: "POST", Path: "/api/sdk/events", Subject: "acme"},
			nil},
		{"method matches", AfterAuth, Request{Method: "DELETE", Path: "/api/admin/users", Subject: "alice"},
			[]string{"admin-write:alice"}},
		{"method does not match", AfterAuth, Request{Method: "GET", Path: "/api/admin/users", Subject: "alice"},
			nil},
		{"methods are case-sensitive", AfterAuth, Request{Method: "post", Path: "/api/admin/users", Subject: "alice"},
			nil},
		{"no subject", AfterAuth, Request{Method: "POST", Path: "/api/admin/users"},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range collect(nil, tt.stage, []*Policy{p, nil}, &tt.req) {
				got = append(got, s.r.name+":"+s.value)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("counted %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMatchingAcrossPolicies checks that rules of every given policy count,
// each under its own key even when rule names repeat.
func TestMatchingAcrossPolicies(t *testing.T) {
	a := mustCompile(t, "a", record.Rule{Name: "global", Limit: 1, Period: time.Minute, By: "ip"})
	b := mustCompile(t, "b", record.Rule{Name: "global", Limit: 2, Period: time.Minute, By: "ip"})
	l := NewMemory(MemoryOptions{SweepInterval: -1})
	t.Cleanup(func() { _ = l.Close() })
	req := &Request{Method: "GET", Path: "/", IP: "10.0.0.1"}
	d := check(t, l, BeforeAuth, []*Policy{a, b}, req)
	if !d.Allowed || d.Policy != "acme/a" || d.Remaining != 0 {
		t.Fatalf("first: %+v, want allowed reporting acme/a with 0 left", d)
	}
	d = check(t, l, BeforeAuth, []*Policy{a, b}, req)
	if d.Allowed || d.Policy != "acme/a" {
		t.Fatalf("second: %+v, want refused by acme/a", d)
	}
	// b alone was not charged by the refusal: it still has 1 left.
	d = check(t, l, BeforeAuth, []*Policy{b}, req)
	if !d.Allowed || d.Remaining != 0 {
		t.Fatalf("b alone: %+v, want allowed with 0 left", d)
	}
}

// TestPathMatchingFitsUpstreamRouters: a trailing slash does not escape an
// exact path (routers treat /login/ as /login), and a case-insensitive
// rule matches every spelling an ASCII- or Unicode-folding router routes.
func TestPathMatchingFitsUpstreamRouters(t *testing.T) {
	p := mustCompile(t, "p",
		record.Rule{Name: "login", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/api/auth/login"}},
		record.Rule{Name: "slash", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/api/items/"}},
		record.Rule{Name: "root", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/"}},
		record.Rule{Name: "fold", Limit: 9, Period: time.Minute, By: "ip", Paths: []string{"/api/Keys/rotate"}, PathPrefixes: []string{"/api/secret/"}, CaseInsensitivePaths: true},
	)
	tests := []struct {
		path string
		want []string
	}{
		{"/api/auth/login", []string{"login"}},
		{"/api/auth/login/", []string{"login"}},
		{"/api/auth/login/x", nil},
		{"/api/auth/logi", nil},
		{"/api/auth/Login", nil}, // case-sensitive by default
		{"/api/items", []string{"slash"}},
		{"/api/items/", []string{"slash"}},
		{"/", []string{"root"}},
		{"/api/keys/rotate", []string{"fold"}},
		{"/API/KEYS/ROTATE/", []string{"fold"}},
		{"/api/secret/x", []string{"fold"}},
		{"/API/Secret/x", []string{"fold"}},
		{"/api/\u017fecret/x", []string{"fold"}},    // ſ: .NET's ToUpperInvariant makes it S
		{"/api/\u212aeys/rotate", []string{"fold"}}, // Kelvin sign folds to k
		{"/apı/keys/rotate", []string{"fold"}},      // dotless ı upper-cases to I
		{"/api/secret", nil},
		{"/api/secre", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range collect(nil, BeforeAuth, []*Policy{p}, &Request{Method: "GET", Path: tt.path, IP: "::1"}) {
			got = append(got, s.r.name)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q counted %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestCompileRefusesUncleanPaths: a rule path is compared with the path
// CleanPath gives, which is never like these, so such a rule would never
// match; a hand-made record cannot hold one either.
func TestCompileRefusesUncleanPaths(t *testing.T) {
	for _, bad := range []string{"", "api", "//api", "/api//auth", "/api/./auth", "/api/../auth", "/api/..", "/api/.",
		"/api/%61uth", "/api;x", "/api\\auth", "/api?x", "/api#x", "/api auth", "/api\tauth", "/api\x00", "/api\x7f"} {
		for _, field := range []string{"paths", "pathPrefixes"} {
			r := record.Rule{Name: "r", Limit: 1, Period: time.Minute, By: "ip"}
			if field == "paths" {
				r.Paths = []string{bad}
			} else {
				r.PathPrefixes = []string{bad}
			}
			if _, err := Compile(policyRecord("p", r)); err == nil {
				t.Errorf("%s %q compiled", field, bad)
			}
		}
	}
	for _, good := range []string{"/", "/api/", "/api/auth/login", "/a/...", "/a/.well-known/x", "/caf\u00e9", "/a:b@c!$&'()*+,="} {
		if _, err := Compile(policyRecord("p", record.Rule{Name: "r", Limit: 1, Period: time.Minute, By: "ip", Paths: []string{good}, PathPrefixes: []string{good}})); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}
