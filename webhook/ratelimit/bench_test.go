package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// benchPolicy has three rules that all match the benchmark's request: two
// by ip (one by prefix, one by method) and one by header.
func benchPolicy(tb testing.TB) []*Policy {
	return []*Policy{mustCompile(tb, "bench",
		record.Rule{Name: "global", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "ip"},
		record.Rule{Name: "auth", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "ip", PathPrefixes: []string{"/api/other/", "/api/auth/"}},
		record.Rule{Name: "tenant", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "header:X-Tenant", Methods: []string{"GET", "POST"}},
	)}
}

func benchRequest() *Request {
	return &Request{
		Method: "POST", Path: "/api/auth/login", IP: "203.0.113.9",
		Header: func(string) string { return "tenant-1" }, At: time.Now(),
	}
}

// tick moves a benchmark request's At on by a microsecond. The auth
// server reads the clock once per check, for its latency metric, and hands
// that reading to the limiter in Request.At; the benchmarks do the same
// with a clock of their own, so they measure the limiter and not the
// machine's clock (BenchmarkCheckMemoryReadsClock measures that).
func tick(req *Request) { req.At = req.At.Add(time.Microsecond) }

func BenchmarkCheckMemory3Rules(b *testing.B) {
	l := NewMemory(MemoryOptions{})
	defer l.Close()
	ps, req, ctx := benchPolicy(b), benchRequest(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tick(req)
		d, err := l.Check(ctx, BeforeAuth, ps, req)
		if err != nil || !d.Allowed || !d.Counted {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

// BenchmarkCheckMemoryReadsClock is BenchmarkCheckMemory3Rules for a
// caller that gives no time: the limiter reads the monotonic clock.
func BenchmarkCheckMemoryReadsClock(b *testing.B) {
	l := NewMemory(MemoryOptions{})
	defer l.Close()
	ps, req, ctx := benchPolicy(b), benchRequest(), context.Background()
	req.At = time.Time{}
	b.ReportAllocs()
	for b.Loop() {
		if d, err := l.Check(ctx, BeforeAuth, ps, req); err != nil || !d.Allowed || !d.Counted {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

func BenchmarkCheckMemory3RulesParallel(b *testing.B) {
	l := NewMemory(MemoryOptions{})
	defer l.Close()
	ps, ctx := benchPolicy(b), context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := benchRequest()
		for pb.Next() {
			tick(req)
			if d, err := l.Check(ctx, BeforeAuth, ps, req); err != nil || !d.Allowed {
				b.Errorf("%+v %v", d, err)
				return
			}
		}
	})
}

// BenchmarkCheckRedis3Rules runs checks of three rules against a real
// redis-server from many goroutines and reports checks per second: each
// check is one EVALSHA round trip.
func BenchmarkCheckRedis3Rules(b *testing.B) {
	srv := startRedis(b)
	l := newRedisLimiter(b, RedisOptions{URL: srv.URL()})
	ps, ctx := benchPolicy(b), context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := benchRequest()
		for pb.Next() {
			if d, err := l.Check(ctx, BeforeAuth, ps, req); err != nil || !d.Allowed {
				b.Errorf("%+v %v", d, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	if l.FallbackActive() {
		b.Fatal("the benchmark fell back to memory")
	}
}

// BenchmarkCheckRedis3RulesSerial is one caller waiting for each check: the
// latency of a check, where the parallel benchmark gives the throughput.
func BenchmarkCheckRedis3RulesSerial(b *testing.B) {
	srv := startRedis(b)
	for _, mode := range []struct {
		name string
		off  bool
	}{{"autopipeline", false}, {"plain", true}} {
		b.Run(mode.name, func(b *testing.B) {
			l := newRedisLimiter(b, RedisOptions{URL: srv.URL(), NoAutoPipeline: mode.off})
			ps, req, ctx := benchPolicy(b), benchRequest(), context.Background()
			for b.Loop() {
				if d, err := l.Check(ctx, BeforeAuth, ps, req); err != nil || !d.Allowed {
					b.Fatalf("%+v %v", d, err)
				}
			}
		})
	}
}

// benchPlans has three rules by apiKey that all match the request, one
// with overrides that select the request's key: the check finds its plan
// with one lookup in the policy.
func benchPlans(tb testing.TB) ([]*Policy, *Request) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("3f1c9e2a-5b7d-4c8e-9a0f-%012d", i) // an ApiKey's UID
	}
	p := mustCompile(tb, "plans",
		record.Rule{Name: "per-minute", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "apiKey", Overrides: []record.Override{
			{Name: "enterprise", Limit: 1_000_000_000, APIKeys: keys[:500], JWTPlans: []string{"enterprise"}},
			{Name: "pro", Limit: 900_000_000, APIKeys: keys[500:], JWTPlans: []string{"pro"}},
		}},
		record.Rule{Name: "sdk", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "apiKey", PathPrefixes: []string{"/api/sdk/"}},
		record.Rule{Name: "writes", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "subject", Methods: []string{"POST"}},
	)
	return []*Policy{p}, &Request{Method: "POST", Path: "/api/sdk/events", APIKeyUID: keys[700], Subject: "acme", At: time.Now()}
}

func BenchmarkCheckMemory3RulesOverride(b *testing.B) {
	l := NewMemory(MemoryOptions{})
	defer l.Close()
	ps, req := benchPlans(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tick(req)
		d, err := l.Check(ctx, AfterAuth, ps, req)
		if err != nil || !d.Allowed || !d.Counted {
			b.Fatalf("%+v %v", d, err)
		}
	}
}

// BenchmarkCheckMemoryOneRule compares a calendar quota with a GCRA rule:
// one rule each, the same request.
func BenchmarkCheckMemoryOneRule(b *testing.B) {
	for _, r := range []record.Rule{
		{Name: "gcra", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "apiKey"},
		{Name: "quota", Limit: 1_000_000_000, Calendar: "month", TimeZone: "Europe/Paris", By: "apiKey"},
	} {
		b.Run(r.Name, func(b *testing.B) {
			l := NewMemory(MemoryOptions{})
			defer l.Close()
			ps := []*Policy{mustCompile(b, "one", r)}
			req, ctx := &Request{Method: "GET", Path: "/", APIKeyUID: "k", At: time.Now()}, context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tick(req)
				if d, err := l.Check(ctx, AfterAuth, ps, req); err != nil || !d.Allowed {
					b.Fatalf("%+v %v", d, err)
				}
			}
		})
	}
}
