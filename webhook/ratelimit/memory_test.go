package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keygate-dev/keygate/internal/record"
)

func check(tb testing.TB, l *Limiter, stage Stage, policies []*Policy, req *Request) Decision {
	tb.Helper()
	d, err := l.Check(context.Background(), stage, policies, req)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func newFakeMemory(t *testing.T, maxEntries int) (*Limiter, *clocktesting.FakePassiveClock) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewMemory(MemoryOptions{MaxEntries: maxEntries, Clock: clk, SweepInterval: -1})
	t.Cleanup(func() { _ = l.Close() })
	return l, clk
}

func TestBurstUnderConcurrencyThenRetryAfter(t *testing.T) {
	const limit = 50
	l, clk := newFakeMemory(t, 0)
	p := mustCompile(t, "p", record.Rule{Name: "one", Limit: limit, Period: time.Minute, By: "ip"})
	req := &Request{Method: "GET", Path: "/", IP: "192.0.2.1"}

	var admitted atomic.Int64
	var retryAfter atomic.Int64 // the shortest wait told, in ns
	retryAfter.Store(int64(time.Hour))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 20 {
				d, err := l.Check(context.Background(), BeforeAuth, []*Policy{p}, req)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
					continue
				}
				if d.Rule != "one" || d.RetryAfter <= 0 {
					t.Errorf("refusal %+v", d)
				}
				for old := retryAfter.Load(); int64(d.RetryAfter) < old && !retryAfter.CompareAndSwap(old, int64(d.RetryAfter)); old = retryAfter.Load() {
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != limit {
		t.Fatalf("admitted %d of 1280 in the burst, want exactly %d", got, limit)
	}
	wait := time.Duration(retryAfter.Load())
	if wait != time.Minute/limit {
		t.Fatalf("RetryAfter = %s, want one emission interval %s", wait, time.Minute/limit)
	}
	clk.SetTime(clk.Now().Add(wait - time.Nanosecond))
	if d := check(t, l, BeforeAuth, []*Policy{p}, req); d.Allowed {
		t.Fatal("admitted before its RetryAfter")
	}
	clk.SetTime(clk.Now().Add(time.Nanosecond))
	if d := check(t, l, BeforeAuth, []*Policy{p}, req); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at its RetryAfter: %+v, want admitted with 0 left", d)
	}
	if d := check(t, l, BeforeAuth, []*Policy{p}, req); d.Allowed {
		t.Fatal("a second request was admitted on one emission interval")
	}
}

// TestSustainedRate has a greedy client send requests every 3ms, until one
// is refused, for 20 periods. After the first burst, any k periods admit at
// most k*limit, plus the one request that a fraction of the emission
// interval carried into the window can make (GCRA counts time, not
// windows); and the client does get its limit, so the bound is not met by
// refusing everything.
func TestSustainedRate(t *testing.T) {
	const limit = 7 // period/limit is not a whole number of nanoseconds
	period := time.Second
	l, clk := newFakeMemory(t, 0)
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: limit, Period: period, By: "ip"})
	req := &Request{Method: "GET", Path: "/", IP: "192.0.2.1"}
	start := clk.Now()
	var times []time.Duration
	for now := time.Duration(0); now < 20*period; now += 3 * time.Millisecond {
		clk.SetTime(start.Add(now))
		for check(t, l, BeforeAuth, []*Policy{p}, req).Allowed {
			times = append(times, now)
		}
	}
	burst := 0
	for burst < len(times) && times[burst] == 0 {
		burst++
	}
	if burst != limit {
		t.Fatalf("burst admitted %d, want %d", burst, limit)
	}
	for k := 1; k < 20; k++ {
		window := time.Duration(k) * period
		for i := burst; i < len(times); i++ {
			n := 0
			for j := i; j < len(times) && times[j] < times[i]+window; j++ {
				n++
			}
			if n > k*limit+1 {
				t.Fatalf("%d admitted in the %s from %s, more than %d+1", n, window, times[i], k*limit)
			}
		}
	}
	if total, most := len(times), limit+20*limit; total > most || total < most-2 {
		t.Fatalf("admitted %d in 20 periods, want the burst plus 20 periods' worth (%d), within 2", total, most)
	}
}

func TestAllOrNothing(t *testing.T) {
	l, _ := newFakeMemory(t, 0)
	p := mustCompile(t, "p",
		record.Rule{Name: "a", Limit: 1, Period: time.Minute, By: "ip", PathPrefixes: []string{"/a/"}},
		record.Rule{Name: "b", Limit: 5, Period: time.Minute, By: "ip"},
	)
	ps := []*Policy{p}
	ip := "198.51.100.7"
	d := check(t, l, BeforeAuth, ps, &Request{Method: "GET", Path: "/a/x", IP: ip})
	if !d.Allowed || d.Rule != "a" || d.Remaining != 0 || d.Limit != 1 || d.Window != time.Minute {
		t.Fatalf("first: %+v, want admitted reporting a (closest to its limit)", d)
	}
	for range 3 {
		if d := check(t, l, BeforeAuth, ps, &Request{Method: "GET", Path: "/a/x", IP: ip}); d.Allowed || d.Rule != "a" {
			t.Fatalf("refusal: %+v, want refused by a", d)
		}
	}
	// The refusals charged b nothing: it has counted one request of 5.
	d = check(t, l, BeforeAuth, ps, &Request{Method: "GET", Path: "/b", IP: ip})
	if !d.Allowed || d.Rule != "b" || d.Remaining != 3 {
		t.Fatalf("b after refusals: %+v, want admitted with 3 left", d)
	}
}

func TestRefusalNamesTheLongestWait(t *testing.T) {
	l, _ := newFakeMemory(t, 0)
	p := mustCompile(t, "p",
		record.Rule{Name: "second", Limit: 1, Period: time.Second, By: "ip"},
		record.Rule{Name: "hour", Limit: 1, Period: time.Hour, By: "ip"},
		record.Rule{Name: "minute", Limit: 1, Period: time.Minute, By: "ip"},
	)
	req := &Request{Method: "GET", Path: "/", IP: "198.51.100.7"}
	if d := check(t, l, BeforeAuth, []*Policy{p}, req); !d.Allowed {
		t.Fatalf("first: %+v", d)
	}
	d := check(t, l, BeforeAuth, []*Policy{p}, req)
	if d.Allowed || d.Rule != "hour" || d.RetryAfter != time.Hour || d.Reset != time.Hour || d.RetryAfterSeconds() != 3600 {
		t.Fatalf("refusal: %+v, want the hour rule with a wait of 1h", d)
	}
}

func TestEvictionAtTheBound(t *testing.T) {
	l, clk := newFakeMemory(t, 1)
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: 2, Period: time.Hour, By: "ip"})
	ps := []*Policy{p}
	before := testutil.ToFloat64(l.mem.metrics.evictions)
	check(t, l, BeforeAuth, ps, &Request{IP: "192.0.2.1"})
	check(t, l, BeforeAuth, ps, &Request{IP: "192.0.2.1"}) // A is at its limit
	check(t, l, BeforeAuth, ps, &Request{IP: "192.0.2.2"}) // B evicts A
	if n := l.mem.Len(); n != 1 {
		t.Fatalf("%d entries, bound is 1", n)
	}
	if got := testutil.ToFloat64(l.mem.metrics.evictions) - before; got != 1 {
		t.Fatalf("evictions went up by %v, want 1", got)
	}
	// A was evicted, so it has a fresh burst: limits err towards admitting.
	if d := check(t, l, BeforeAuth, ps, &Request{IP: "192.0.2.1"}); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("evicted client: %+v, want a fresh burst", d)
	}
	// Once recovered, an entry makes room without counting as an eviction.
	clk.SetTime(clk.Now().Add(time.Hour))
	check(t, l, BeforeAuth, ps, &Request{IP: "192.0.2.3"})
	if got := testutil.ToFloat64(l.mem.metrics.evictions) - before; got != 2 {
		t.Fatalf("evictions went up by %v, want 2 (the recovered entry is dropped, not evicted)", got)
	}
}

func TestSweepDropsRecovered(t *testing.T) {
	l, clk := newFakeMemory(t, 0)
	p := mustCompile(t, "p",
		record.Rule{Name: "short", Limit: 10, Period: time.Second, By: "ip"},
		record.Rule{Name: "long", Limit: 10, Period: time.Hour, By: "ip", Paths: []string{"/long"}},
	)
	for i := range 100 {
		check(t, l, BeforeAuth, []*Policy{p}, &Request{Path: "/", IP: string(rune('a' + i%26))})
	}
	check(t, l, BeforeAuth, []*Policy{p}, &Request{Path: "/long", IP: "z"})
	if n := l.mem.Len(); n != 27 {
		t.Fatalf("%d entries, want 26 for short and 1 for long", n)
	}
	clk.SetTime(clk.Now().Add(time.Second))
	l.mem.sweep()
	if n := l.mem.Len(); n != 1 {
		t.Fatalf("%d entries after the sweep, want only the long one", n)
	}
	if got := l.mem.metrics.trackedEntries(); got < 1 {
		t.Fatalf("tracked entries gauge = %v", got)
	}
}

// TestMetricsBelongToTheirLimiter: two limiters in one process report
// their own entries and decisions, and a policy compiled with a limiter's
// Metrics counts its decisions there, not in the other's.
func TestMetricsBelongToTheirLimiter(t *testing.T) {
	ma, mb := NewMetrics(), NewMetrics()
	a := NewMemory(MemoryOptions{Metrics: ma, SweepInterval: -1})
	b := NewMemory(MemoryOptions{Metrics: mb, SweepInterval: -1})
	t.Cleanup(func() { _, _ = a.Close(), b.Close() })
	rec := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "ns", Name: "p"},
		Rules: []record.Rule{{Name: "r", Limit: 5, Period: time.Minute, By: "ip"}}}
	p, err := ma.Compile(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		check(t, a, BeforeAuth, []*Policy{p}, &Request{IP: ip})
	}
	if got := ma.trackedEntries(); got != 3 {
		t.Fatalf("a's entries gauge = %v, want 3", got)
	}
	if got := mb.trackedEntries(); got != 0 {
		t.Fatalf("b's entries gauge = %v, want 0: it reports another limiter's entries", got)
	}
	if got := testutil.ToFloat64(ma.decisions.WithLabelValues("ns/p", "r", "allowed")); got != 3 {
		t.Fatalf("a's decisions = %v, want 3", got)
	}
	if got := testutil.CollectAndCount(mb.decisions); got != 0 {
		t.Fatalf("b has %d decision series, want none", got)
	}
}
