package ratelimit

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// startRedis starts a real redis-server for one test.
func startRedis(tb testing.TB) *testenv.Redis { return testenv.StartRedis(tb) }

// redisClient is a client of srv, to look at what the limiter stored.
func redisClient(srv *testenv.Redis) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: srv.Addr()})
}

func newRedisLimiter(tb testing.TB, opts RedisOptions) *Limiter {
	tb.Helper()
	opts.Logger = testr.NewWithInterface(tb, testr.Options{})
	l, err := NewRedis(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

func TestRedisTwoLimitersShareALimitExactly(t *testing.T) {
	const limit = 50
	srv := startRedis(t)
	// One batches checks into pipelines, the other sends them one by one.
	ls := []*Limiter{newRedisLimiter(t, RedisOptions{URL: srv.URL()}), newRedisLimiter(t, RedisOptions{URL: srv.URL(), NoAutoPipeline: true})}
	p := mustCompile(t, "p", record.Rule{Name: "shared", Limit: limit, Period: time.Hour, By: "ip"})
	req := &Request{Method: "GET", Path: "/", IP: "192.0.2.1"}
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for range 4 {
				d, err := ls[g%2].Check(context.Background(), BeforeAuth, []*Policy{p}, req)
				switch {
				case err != nil:
					t.Error(err)
				case d.Allowed:
					admitted.Add(1)
				case d.Rule == "shared" && d.RetryAfter > 0:
					refused.Add(1)
				default:
					t.Errorf("refusal %+v", d)
				}
			}
		})
	}
	wg.Wait()
	if admitted.Load() != limit || refused.Load() != 256-limit {
		t.Fatalf("admitted %d and refused %d of 256, want exactly %d admitted", admitted.Load(), refused.Load(), limit)
	}
	for _, l := range ls {
		if l.FallbackActive() {
			t.Fatal("a limiter fell back during the run")
		}
	}
}

func TestRedisAllOrNothingAndTTL(t *testing.T) {
	srv := startRedis(t)
	l := newRedisLimiter(t, RedisOptions{URL: srv.URL()})
	p := mustCompile(t, "p",
		record.Rule{Name: "a", Limit: 1, Period: time.Minute, By: "ip", PathPrefixes: []string{"/a/"}},
		record.Rule{Name: "b", Limit: 5, Period: time.Minute, By: "ip"},
	)
	ip := "198.51.100.7"
	if d := check(t, l, BeforeAuth, []*Policy{p}, &Request{Path: "/a/x", IP: ip}); !d.Allowed || d.Rule != "a" {
		t.Fatalf("first: %+v", d)
	}
	for range 3 {
		d := check(t, l, BeforeAuth, []*Policy{p}, &Request{Path: "/a/x", IP: ip})
		if d.Allowed || d.Rule != "a" || d.RetryAfterSeconds() != 60 {
			t.Fatalf("refusal: %+v, want a with Retry-After 60", d)
		}
	}
	if d := check(t, l, BeforeAuth, []*Policy{p}, &Request{Path: "/b", IP: ip}); !d.Allowed || d.Rule != "b" || d.Remaining != 3 {
		t.Fatalf("b after refusals: %+v, want 3 left (refusals charged nothing)", d)
	}
	c := redisClient(srv)
	defer c.Close()
	// b counted 2 of 5 per minute: it recovers fully in 24s, and so expires.
	ttl, err := c.PTTL(context.Background(), redisKey(&p.rules[1], ip)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 20*time.Second || ttl > 24*time.Second+time.Millisecond {
		t.Fatalf("key TTL %s, want just under 24s", ttl)
	}
}

func TestRedisRestartFallsBackLocallyAndRecovers(t *testing.T) {
	srv := startRedis(t)
	l := newRedisLimiter(t, RedisOptions{URL: srv.URL(), ProbeInterval: 50 * time.Millisecond})
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: 3, Period: time.Hour, By: "ip"})
	req := &Request{Method: "GET", Path: "/", IP: "192.0.2.1"}
	admitted := func(n int) int {
		got := 0
		for range n {
			if check(t, l, BeforeAuth, []*Policy{p}, req).Allowed {
				got++
			}
		}
		return got
	}
	if got := admitted(5); got != 3 {
		t.Fatalf("Redis admitted %d of 5, want 3", got)
	}
	errorsBefore := testutil.ToFloat64(l.redis.metrics.redisErrors)
	srv.Stop()
	// The local limiter takes over with its own count, and still limits.
	if got := admitted(5); got != 3 {
		t.Fatalf("the local fallback admitted %d of 5, want 3", got)
	}
	if !l.FallbackActive() || testutil.ToFloat64(l.redis.metrics.fallback) != 1 {
		t.Fatal("fallback not reported active")
	}
	if testutil.ToFloat64(l.redis.metrics.redisErrors) <= errorsBefore {
		t.Fatal("the Redis error was not counted")
	}
	srv.Start()
	for deadline := time.Now().Add(10 * time.Second); l.FallbackActive(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the limiter did not switch back to Redis after its restart")
		}
	}
	// The restarted Redis has no counts: its 3 come from Redis, and the key
	// is there.
	if got := admitted(5); got != 3 {
		t.Fatalf("Redis after the restart admitted %d of 5, want 3", got)
	}
	c := redisClient(srv)
	defer c.Close()
	if n, err := c.Exists(context.Background(), redisKey(&p.rules[0], req.IP)).Result(); err != nil || n != 1 {
		t.Fatalf("the counter is not in the restarted Redis: %d, %v", n, err)
	}
}

func TestRedisOnErrorDenyAndAllow(t *testing.T) {
	url := "redis://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) // nothing listens
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: 3, Period: time.Hour, By: "ip"})
	req := &Request{Method: "GET", Path: "/", IP: "192.0.2.1"}

	deny := newRedisLimiter(t, RedisOptions{URL: url, OnError: OnErrorDeny})
	if _, err := deny.Check(context.Background(), BeforeAuth, []*Policy{p}, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("deny: error %v, want ErrUnavailable", err)
	}
	allow := newRedisLimiter(t, RedisOptions{URL: url, OnError: OnErrorAllow})
	for range 5 {
		if d := check(t, allow, BeforeAuth, []*Policy{p}, req); !d.Allowed || d.Counted {
			t.Fatalf("allow: %+v, want admitted uncounted", d)
		}
	}
}

func TestNewRedisRejectsBadOptions(t *testing.T) {
	if _, err := NewRedis(RedisOptions{URL: "http://localhost:6379"}); err == nil {
		t.Error("accepted an http URL")
	}
	if _, err := NewRedis(RedisOptions{URL: "redis://localhost:6379", OnError: "panic"}); err == nil {
		t.Error("accepted OnError panic")
	}
}
