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
