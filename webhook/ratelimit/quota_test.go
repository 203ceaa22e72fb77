package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

func TestCalendarWindows(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind, zone string
		at         time.Time
		start, end time.Time
	}{
		{"day", "", time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC),
			time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)},
		// 23:30 UTC is already the 11th in Paris.
		{"day", "Europe/Paris", time.Date(2026, 3, 10, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 3, 11, 0, 0, 0, 0, paris), time.Date(2026, 3, 12, 0, 0, 0, 0, paris)},
		// The day clocks go forward has 23 hours.
		{"day", "Europe/Paris", time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 29, 0, 0, 0, 0, paris), time.Date(2026, 3, 30, 0, 0, 0, 0, paris)},
		// Weeks start on Monday: 2026-03-15 is a Sunday.
		{"week", "", time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)},
		{"week", "", time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)},
		{"month", "", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
			time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"month", "Europe/Paris", time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC),
			time.Date(2026, 2, 1, 0, 0, 0, 0, paris), time.Date(2026, 3, 1, 0, 0, 0, 0, paris)},
	}
	for _, tt := range tests {
		c, err := newCalendar(tt.kind, tt.zone)
		if err != nil {
			t.Fatal(err)
		}
		w := c.at(tt.at.UnixNano())
		if w.start != tt.start.UnixNano() || w.end != tt.end.UnixNano() {
			t.Errorf("%s %s at %s: [%s, %s), want [%s, %s)", tt.kind, tt.zone, tt.at,
				time.Unix(0, w.start).UTC(), time.Unix(0, w.end).UTC(), tt.start.UTC(), tt.end.UTC())
		}
	}
}

func TestQuotaInMemoryResetsAtTheWindow(t *testing.T) {
	l, clk := newFakeMemory(t, 0)
	clk.SetTime(time.Date(2026, 1, 31, 23, 58, 0, 0, time.UTC))
	ps := []*Policy{mustCompile(t, "q", record.Rule{
		Name: "monthly", Limit: 3, Calendar: "month", By: "apiKey",
		Overrides: []record.Override{{Name: "pro", Limit: 5, APIKeys: []string{"k-pro"}}},
	})}
	free := &Request{Method: "GET", Path: "/", APIKeyUID: "k-free"}
	n, d := admittedRun(t, l, ps, free)
	if n != 3 || !d.Quota || d.Calendar != "month" || d.Rule != "monthly" || d.RetryAfter != 2*time.Minute ||
		d.RetryAfterSeconds() != 120 || d.Window != 31*24*time.Hour || d.Remaining != 0 {
		t.Fatalf("admitted %d, refusal %+v", n, d)
	}
	if n, d := admittedRun(t, l, ps, &Request{Method: "GET", Path: "/", APIKeyUID: "k-pro"}); n != 5 || d.Override != "pro" || d.Limit != 5 {
		t.Fatalf("pro: admitted %d, refusal %+v", n, d)
	}
	clk.SetTime(time.Date(2026, 1, 31, 23, 59, 59, 0, time.UTC))
	if d := check(t, l, AfterAuth, ps, free); d.Allowed || d.RetryAfterSeconds() != 1 {
		t.Fatalf("a second before the reset: %+v", d)
	}
	clk.SetTime(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	d = check(t, l, AfterAuth, ps, free)
	if !d.Allowed || d.Remaining != 2 || d.Window != 28*24*time.Hour || d.Reset != 28*24*time.Hour {
		t.Fatalf("at the reset: %+v", d)
	}
}

// A quota and a rolling rule refuse all or nothing: a refusal by one
// does not charge the other.
func TestQuotaAllOrNothingWithGCRA(t *testing.T) {
	l, _ := newFakeMemory(t, 0)
	ps := []*Policy{mustCompile(t, "q",
		record.Rule{Name: "daily", Limit: 2, Calendar: "day", By: "apiKey"},
		record.Rule{Name: "burst", Limit: 10, Period: time.Hour, By: "apiKey"})}
	req := &Request{Method: "GET", Path: "/", APIKeyUID: "k"}
	for range 2 {
		check(t, l, AfterAuth, ps, req)
	}
	for range 3 {
		if d := check(t, l, AfterAuth, ps, req); d.Allowed || d.Rule != "daily" || !d.Quota {
			t.Fatalf("%+v", d)
		}
	}
	ps2 := []*Policy{mustCompile(t, "q", record.Rule{Name: "burst", Limit: 10, Period: time.Hour, By: "apiKey"})}
	if d := check(t, l, AfterAuth, ps2, req); !d.Allowed || d.Remaining != 7 {
		t.Fatalf("the burst rule was charged by refused requests: %+v", d)
	}
}

func TestQuotaInRedisIsSharedAndSurvivesRestarts(t *testing.T) {
	srv := startRedis(t)
	ps := []*Policy{mustCompile(t, "q", record.Rule{Name: "monthly", Limit: 3, Calendar: "month", By: "apiKey"},
		record.Rule{Name: "minute", Limit: 100, Period: time.Minute, By: "apiKey"})}
	req := &Request{Method: "GET", Path: "/", APIKeyUID: "k"}
	a := newRedisLimiter(t, RedisOptions{URL: srv.URL()})
	b := newRedisLimiter(t, RedisOptions{URL: srv.URL()})
	for i, l := range []*Limiter{a, b, a} {
		d, err := l.Check(context.Background(), AfterAuth, ps, req)
		if err != nil || !d.Allowed || (i == 2 && (d.Rule != "monthly" || d.Remaining != 0)) {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	_ = a.Close()
	_ = b.Close()
	c := newRedisLimiter(t, RedisOptions{URL: srv.URL()}) // a restarted replica
	d, err := c.Check(context.Background(), AfterAuth, ps, req)
	now := time.Now().UTC()
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	want := int64(next.Sub(now)/time.Second) + 1
	if err != nil || d.Allowed || !d.Quota || d.Rule != "monthly" || d.RetryAfterSeconds() < want-2 || d.RetryAfterSeconds() > want+1 {
		t.Fatalf("after a restart: %+v %v; want a refusal until the 1st (about %ds)", d, err, want)
	}
	if c.FallbackActive() {
		t.Fatal("counted in the fallback, not Redis")
	}
	// The refusal charged nothing: the minute rule saw 3 requests.
	ps2 := []*Policy{ps[0]}
	ps2[0] = mustCompile(t, "q", record.Rule{Name: "minute", Limit: 100, Period: time.Minute, By: "apiKey"})
	if d, err := c.Check(context.Background(), AfterAuth, ps2, req); err != nil || d.Remaining != 96 {
		t.Fatalf("%+v %v", d, err)
	}
}

// On Redis Cluster, a quota counted by one value and a rule by another run
// as two scripts; a refusal by the rolling rule gives the quota its charge
// back (one request, not an interval), and the quota's count and window
// come back whole after the clocks of the masters are reconciled.
func TestQuotaOnRedisClusterRefundsOneRequest(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	l := newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true})
	ps := []*Policy{mustCompile(t, "q",
		record.Rule{Name: "monthly", Limit: 5, Calendar: "month", By: "apiKey"},
		record.Rule{Name: "tenant", Limit: 1, Period: time.Hour, By: "subject"})}
	ctx := context.Background()
	d, err := l.Check(ctx, AfterAuth, ps, &Request{Method: "GET", Path: "/", APIKeyUID: "k", Subject: "t1"})
	if err != nil || !d.Allowed {
		t.Fatalf("%+v %v", d, err)
	}
	for range 3 { // refused by tenant: the quota is given its charge back
		d, err = l.Check(ctx, AfterAuth, ps, &Request{Method: "GET", Path: "/", APIKeyUID: "k", Subject: "t1"})
		if err != nil || d.Allowed || d.Rule != "tenant" {
			t.Fatalf("%+v %v", d, err)
		}
	}
	quota := []*Policy{mustCompile(t, "q", record.Rule{Name: "monthly", Limit: 5, Calendar: "month", By: "apiKey"})}
	d, err = l.Check(ctx, AfterAuth, quota, &Request{Method: "GET", Path: "/", APIKeyUID: "k"})
	if err != nil || !d.Allowed || d.Rule != "monthly" || d.Remaining != 3 || !d.Quota || d.Reset <= 0 || d.Reset > 31*24*time.Hour {
		t.Fatalf("after refunds the quota has used 2 of 5: %+v %v", d, err)
	}
	if l.FallbackActive() {
		t.Fatal("counted in the fallback")
	}
}
