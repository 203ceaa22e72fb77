package ratelimit

import (
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// plansPolicy: one rule by apiKey, 2 a minute, with a pro and an
// enterprise override; a key listed by both gets the first.
func plansPolicy(t testing.TB) *Policy {
	return mustCompile(t, "plans", record.Rule{
		Name: "sdk", Limit: 2, Period: time.Minute, By: "apiKey",
		Overrides: []record.Override{
			{Name: "pro", Limit: 5, APIKeys: []string{"k-pro", "k-both"}, JWTPlans: []string{"pro"}},
			{Name: "enterprise", Limit: 9, Period: time.Hour, APIKeys: []string{"k-both", "k-ent"}, JWTPlans: []string{"enterprise"}},
		},
	})
}

// admittedRun counts the requests admitted in a row and returns the
// refusal that ends the run.
func admittedRun(t *testing.T, l *Limiter, ps []*Policy, req *Request) (int, Decision) {
	t.Helper()
	for n := 0; n < 100; n++ {
		if d := check(t, l, AfterAuth, ps, req); !d.Allowed {
			return n, d
		}
	}
	t.Fatal("never refused")
	return 0, Decision{}
}

func TestOverridesFirstMatchWinsAndDefault(t *testing.T) {
	l, _ := newFakeMemory(t, 0)
	ps := []*Policy{plansPolicy(t)}
	tests := []struct {
		name     string
		req      Request
		want     int
		override string
		window   time.Duration
	}{
		{"free key: the rule's own limit", Request{APIKeyUID: "k-free", SharedSubject: "a"}, 2, "", time.Minute},
		{"pro key", Request{APIKeyUID: "k-pro"}, 5, "pro", time.Minute},
		{"listed by both: the first override", Request{APIKeyUID: "k-both"}, 5, "pro", time.Minute},
		{"enterprise key: its own period", Request{APIKeyUID: "k-ent"}, 9, "enterprise", time.Hour},
		{"JWT with plan claim enterprise", Request{Subject: "iss\nu1", Plan: "enterprise"}, 0, "", 0},
		{"JWT with an unknown plan", Request{Subject: "iss\nu2", Plan: "gold"}, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Method, tt.req.Path = "GET", "/"
			if tt.want == 0 {
				// by apiKey does not count a JWT: no rule counts it.
				if d := check(t, l, AfterAuth, ps, &tt.req); !d.Allowed || d.Counted {
					t.Fatalf("%+v", d)
				}
				return
			}
			n, d := admittedRun(t, l, ps, &tt.req)
			if n != tt.want || d.Override != tt.override || d.Limit != int64(tt.want) || d.Window != tt.window || d.Rule != "sdk" {
				t.Fatalf("admitted %d, refusal %+v; want %d under %q", n, d, tt.want, tt.override)
			}
		})
	}
}

func TestJWTPlansBySubjectRule(t *testing.T) {
	l, _ := newFakeMemory(t, 0)
	ps := []*Policy{mustCompile(t, "jwt", record.Rule{
		Name: "user", Limit: 1, Period: time.Minute, By: "subject",
		Overrides: []record.Override{{Name: "pro", Limit: 4, JWTPlans: []string{"pro"}}},
	})}
	for _, tt := range []struct {
		req  Request
		want int
	}{
		{Request{Subject: "iss\nfree-user"}, 1},
		{Request{Subject: "iss\npro-user", Plan: "pro"}, 4},
		// An ApiKey is selected by its UID only, never by a plan text.
		{Request{Subject: "acme", APIKeyUID: "k1", Plan: "pro"}, 1},
	} {
		if n, d := admittedRun(t, l, ps, &tt.req); n != tt.want {
			t.Fatalf("%+v: admitted %d (%+v), want %d", tt.req, n, d, tt.want)
		}
	}
}

func TestPlanLookupAllocatesNothing(t *testing.T) {
	l := NewMemory(MemoryOptions{SweepInterval: -1})
	defer l.Close()
	p := mustCompile(t, "plans", record.Rule{
		Name: "sdk", Limit: 1_000_000, Period: time.Hour, By: "apiKey",
		Overrides: []record.Override{{Name: "pro", Limit: 2_000_000, APIKeys: []string{"k-pro"}}},
	}, record.Rule{Name: "month", Limit: 1_000_000, Calendar: "month", By: "apiKey"})
	ps, req := []*Policy{p}, &Request{Method: "GET", Path: "/", APIKeyUID: "k-pro"}
	if n := testing.AllocsPerRun(200, func() { check(t, l, AfterAuth, ps, req) }); n != 0 {
		t.Fatalf("a check with an override and a quota allocates %v times", n)
	}
}
