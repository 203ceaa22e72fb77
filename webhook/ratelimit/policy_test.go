package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// policyRecord returns a valid record with the given rules.
func policyRecord(name string, rules ...record.Rule) *record.RateLimitPolicy {
	return &record.RateLimitPolicy{
		Version: record.Version,
		Source:  record.Source{Namespace: "acme", Name: name, UID: "uid-" + name},
		Rules:   rules,
	}
}

// mustCompile compiles a policy of the given rules or fails the test.
func mustCompile(tb testing.TB, name string, rules ...record.Rule) *Policy {
	tb.Helper()
	p, err := Compile(policyRecord(name, rules...))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestCompileAcceptsTheSeedTable(t *testing.T) {
	p := mustCompile(t, "breakground",
		record.Rule{Name: "global", Limit: 100, Period: time.Minute, By: "ip"},
		record.Rule{Name: "auth", Limit: 10, Period: time.Minute, By: "ip", PathPrefixes: []string{"/api/auth/"}},
		record.Rule{Name: "token-refresh", Limit: 20, Period: time.Minute, By: "ip", Paths: []string{"/api/auth/refresh"}},
		record.Rule{Name: "sdk", Limit: 600, Period: time.Minute, By: "apiKey", PathPrefixes: []string{"/api/sdk/"}},
		record.Rule{Name: "admin-read", Limit: 60, Period: time.Minute, By: "subject", PathPrefixes: []string{"/api/admin/"}, Methods: []string{"GET", "HEAD"}},
		record.Rule{Name: "admin-write", Limit: 20, Period: time.Minute, By: "subject", PathPrefixes: []string{"/api/admin/"}, Methods: []string{"POST", "PUT", "PATCH", "DELETE"}},
		record.Rule{Name: "admin-critical", Limit: 5, Period: time.Minute, By: "subject", Paths: []string{"/api/admin/keys/rotate"}},
		record.Rule{Name: "tenant", Limit: 5, Period: time.Minute, By: "header:x-tenant-id"},
	)
	if p.Name() != "acme/breakground" {
		t.Errorf("Name() = %q", p.Name())
	}
	if got := p.rules[7].header; got != "X-Tenant-Id" {
		t.Errorf("header not canonicalized: %q", got)
	}
	if p.rules[3].stage != AfterAuth || p.rules[0].stage != BeforeAuth || p.rules[7].stage != BeforeAuth {
		t.Errorf("stages: %v %v %v", p.rules[0].stage, p.rules[3].stage, p.rules[7].stage)
	}
	// 600 per minute: one request every 100ms, 600 of them at once.
	if g := p.rules[3].own.ns; g.interval != int64(100*time.Millisecond) || g.capacity != int64(time.Minute) {
		t.Errorf("sdk gcra = %+v", g)
	}
}

func TestCompileRejects(t *testing.T) {
	ok := record.Rule{Name: "global", Limit: 10, Period: time.Minute, By: "ip"}
	with := func(f func(r *record.Rule)) *record.RateLimitPolicy {
		r := ok
		f(&r)
		return policyRecord("p", r)
	}
	tests := []struct {
		name string
		rec  *record.RateLimitPolicy
		want string
	}{
		{"nil", nil, "nil record"},
		{"version", &record.RateLimitPolicy{Version: 2, Source: record.Source{Namespace: "a", Name: "b"}, Rules: []record.Rule{ok}}, "unsupported record version"},
		{"no source", &record.RateLimitPolicy{Version: record.Version, Rules: []record.Rule{ok}}, "source namespace and name"},
		{"no rules", policyRecord("p"), "needs 1 to 64 rules"},
		{"duplicate", policyRecord("p", ok, ok), "used twice"},
		{"bad name", with(func(r *record.Rule) { r.Name = "Global" }), "name must be"},
		{"zero limit", with(func(r *record.Rule) { r.Limit = 0 }), "limit 0"},
		{"huge limit", with(func(r *record.Rule) { r.Limit = 2_000_000_000 }), "limit 2000000000"},
		{"short period", with(func(r *record.Rule) { r.Period = time.Millisecond }), "period 1ms"},
		{"long period", with(func(r *record.Rule) { r.Period = 745 * time.Hour }), "period 745h"},
		// Redis counts in microseconds: a faster rule would be capped there.
		{"sub-microsecond interval", with(func(r *record.Rule) { r.Limit, r.Period = 1_000_001, time.Second }), "more than one request per microsecond"},
		{"period and calendar", with(func(r *record.Rule) { r.Calendar = "month" }), "not both"},
		{"bad calendar", with(func(r *record.Rule) { r.Period, r.Calendar = 0, "year" }), `calendar "year"`},
		{"bad zone", with(func(r *record.Rule) { r.Period, r.Calendar, r.TimeZone = 0, "day", "Mars/Olympus" }), "Mars/Olympus"},
		{"override on ip rule", with(func(r *record.Rule) { r.Overrides = []record.Override{{Name: "pro", Limit: 5}} }), "only rules by apiKey"},
		{"override too fast", with(func(r *record.Rule) {
			r.By, r.Overrides = "apiKey", []record.Override{{Name: "pro", Limit: 2_000_000, Period: time.Second}}
		}), "override pro"},
		{"override period on quota", with(func(r *record.Rule) {
			r.By, r.Period, r.Calendar, r.Overrides = "apiKey", 0, "day", []record.Override{{Name: "pro", Limit: 5, Period: time.Hour}}
		}), "has no period"},
		{"bad by", with(func(r *record.Rule) { r.By = "cookie" }), `by "cookie"`},
		{"bad header", with(func(r *record.Rule) { r.By = "header:a b" }), `by "header:a b"`},
		{"empty header", with(func(r *record.Rule) { r.By = "header:" }), `by "header:"`},
		{"relative path", with(func(r *record.Rule) { r.Paths = []string{"api"} }), "must start with /"},
		{"relative prefix", with(func(r *record.Rule) { r.PathPrefixes = []string{"api/"} }), "must start with /"},
		{"bad method", with(func(r *record.Rule) { r.Methods = []string{"get"} }), `method "get"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rec)
			if err == nil {
				t.Fatal("Compile accepted an invalid record")
			}
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidPolicy containing %q", err, tt.want)
			}
		})
	}
}
