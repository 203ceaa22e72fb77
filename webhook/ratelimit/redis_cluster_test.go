package ratelimit

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// clusterClient is a cluster client of c, to look at what the limiter
// stored.
func clusterClient(tb testing.TB, c *testenv.RedisCluster) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

func headerReq(ip, tenant string) *Request {
	return &Request{Method: "GET", Path: "/", IP: ip, Header: func(name string) string {
		if name == "X-Tenant" {
			return tenant
		}
		return ""
	}}
}

// TestRedisClusterKeysOfOneValueShareASlot asks the cluster itself
// (CLUSTER KEYSLOT): every key of one counted value, whatever its rule,
// policy or kind, is in one slot, the slot of its hash tag alone; braces in
// the value (a header, a JWT's sub) never become the tag; and values spread
// over every master.
func TestRedisClusterKeysOfOneValueShareASlot(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	cc := clusterClient(t, c)
	ctx := context.Background()
	p := mustCompile(t, "p",
		record.Rule{Name: "by-ip", Limit: 5, Period: time.Minute, By: "ip"},
		record.Rule{Name: "by-tenant", Limit: 5, Period: time.Hour, By: "header:X-Tenant"},
		record.Rule{Name: "by-key", Limit: 5, Period: time.Second, By: "apiKey"})
	q := mustCompile(t, "other", record.Rule{Name: "by-sub", Limit: 5, Period: time.Minute, By: "subject"})
	for _, v := range []string{"192.0.2.1", "{evil}", "}{", "a{b}c", "{", "iss\n{sub}", ""} {
		keys := []string{redisKey(&p.rules[0], v), redisKey(&p.rules[1], v), redisKey(&p.rules[2], v), redisKey(&q.rules[0], v)}
		tag := keys[0][strings.IndexByte(keys[0], '{') : strings.IndexByte(keys[0], '}')+1]
		want, err := cc.ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 || !strings.Contains(k, tag) {
				t.Fatalf("value %q: key %q, want exactly the tag %s in braces", v, k, tag)
			}
			if got := cc.ClusterKeySlot(ctx, k).Val(); got != want {
				t.Fatalf("value %q: key %q in slot %d, its tag's slot is %d", v, k, got, want)
			}
		}
		if raw := cc.ClusterKeySlot(ctx, "x"+v).Val(); strings.Contains(v, "{") && strings.Contains(v, "}") && raw == want {
			t.Fatalf("value %q: the value's own braces chose the slot", v)
		}
	}
	// 300 clients land on all three masters, none with more than half.
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	perMaster := map[int]int{}
	for i := range 300 {
		slot := cc.ClusterKeySlot(ctx, redisKey(&p.rules[0], "10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256))).Val()
		for m, sh := range shards {
			for _, r := range sh.Slots {
				if r.Start <= slot && slot <= r.End {
					perMaster[m]++
				}
			}
		}
	}
	for port, n := range perMaster {
		if len(perMaster) != 3 || n > 150 {
			t.Fatalf("300 clients over the masters: %v (master %d has %d)", perMaster, port, n)
		}
	}
}

// TestRedisClusterTwoLimitersShareALimitExactly: two limiters (replicas)
// count three rules of one client through the cluster; the tightest is
// exact across both.
func TestRedisClusterTwoLimitersShareALimitExactly(t *testing.T) {
	const limit = 40
	c := testenv.StartRedisCluster(t, 3)
	ls := []*Limiter{
		newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true}),
		newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true, NoAutoPipeline: true}),
	}
	p := mustCompile(t, "p",
		record.Rule{Name: "second", Limit: 1000, Period: time.Second, By: "ip"},
		record.Rule{Name: "shared", Limit: limit, Period: time.Hour, By: "ip"},
		record.Rule{Name: "day", Limit: 10000, Period: 24 * time.Hour, By: "ip"})
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for range 4 {
				d, err := ls[g%2].Check(context.Background(), BeforeAuth, []*Policy{p}, headerReq("192.0.2.1", ""))
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
	if admitted.Load() != limit || refused.Load() != 128-limit {
		t.Fatalf("admitted %d and refused %d of 128, want exactly %d admitted", admitted.Load(), refused.Load(), limit)
	}
	for _, l := range ls {
		if l.FallbackActive() {
			t.Fatal("a limiter fell back during the run")
		}
	}
}

// TestRedisClusterMixedClientsAllOrNothing: a check whose rules count
// different clients (an IP and a tenant header: keys in two slots) stays
// all or nothing: the tenant's counter keeps only the admitted checks'
// charges, not the refused ones'.
func TestRedisClusterMixedClientsAllOrNothing(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	cc := clusterClient(t, c)
	l := newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true})
	p := mustCompile(t, "p",
		record.Rule{Name: "by-ip", Limit: 2, Period: time.Hour, By: "ip"},
		record.Rule{Name: "by-tenant", Limit: 10, Period: time.Hour, By: "header:X-Tenant"})
	ipKey, tenantKey := redisKey(&p.rules[0], "192.0.2.1"), redisKey(&p.rules[1], "acme")
	if cc.ClusterKeySlot(context.Background(), ipKey).Val() == cc.ClusterKeySlot(context.Background(), tenantKey).Val() {
		t.Fatal("the test needs the two keys in different slots")
	}
	for i := range 6 {
		d := check(t, l, BeforeAuth, []*Policy{p}, headerReq("192.0.2.1", "acme"))
		if want := i < 2; d.Allowed != want || !want && (d.Rule != "by-ip" || d.RetryAfterSeconds() != 1800) {
			t.Fatalf("check %d: %+v, want allowed=%v (then refused by by-ip, Retry-After 1800)", i+1, d, want)
		}
	}
	// Another IP of the tenant: the tenant rule has 2 charges of 10, so 8 left.
	d := check(t, l, BeforeAuth, []*Policy{p}, headerReq("192.0.2.2", "acme"))
	if !d.Allowed {
		t.Fatalf("another IP of the tenant: %+v", d)
	}
	tat, err := cc.Get(context.Background(), tenantKey).Int64()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMicro()
	// 3 charges of 6 minutes: the TAT is 18 minutes ahead (4 refunded).
	if ahead := time.Duration(tat-now) * time.Microsecond; ahead < 17*time.Minute || ahead > 18*time.Minute+time.Second {
		t.Fatalf("the tenant's TAT is %s ahead, want 18m (3 charges kept, 4 refunded)", ahead)
	}
	if l.FallbackActive() {
		t.Fatal("the limiter fell back")
	}
}

// TestRedisClusterFollowsMovedAndAsk moves a counter's slot to another
// master, first half way (the old owner answers ASK), then for good (it
// answers MOVED): the limiter follows both without an error or a fallback,
// and the count moved with the key.
func TestRedisClusterFollowsMovedAndAsk(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	l := newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true})
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: 6, Period: time.Hour, By: "ip"})
	req := headerReq("198.51.100.7", "")
	slot := c.KeySlot(redisKey(&p.rules[0], req.IP))
	other := c.Nodes[0]
	if c.Owner(slot) == other {
		other = c.Nodes[1]
	}
	remaining := func(want int64) {
		t.Helper()
		if d := check(t, l, BeforeAuth, []*Policy{p}, req); !d.Allowed || d.Remaining != want {
			t.Fatalf("%+v, want admitted with %d remaining", d, want)
		}
	}
	remaining(5)
	remaining(4)
	c.MigrateSlot(slot, other)
	remaining(3) // ASK
	c.MoveSlot(slot, other)
	remaining(2) // MOVED
	remaining(1)
	if c.Owner(slot) != other {
		t.Fatal("the slot did not move")
	}
	if l.FallbackActive() || testutil.ToFloat64(l.redis.metrics.redisErrors) != 0 {
		t.Fatalf("fallback %v, %v Redis errors: the redirects were not followed", l.FallbackActive(), testutil.ToFloat64(l.redis.metrics.redisErrors))
	}
}

// TestRedisClusterMasterDownFallsBackAndRecovers kills the master that
// holds a client's counter: every check is still answered, by the local
// fallback with the metric set; when the master is back the limiter
// returns to the cluster by itself.
func TestRedisClusterMasterDownFallsBackAndRecovers(t *testing.T) {
	c := testenv.StartRedisCluster(t, 3)
	l := newRedisLimiter(t, RedisOptions{URL: c.URL(), Cluster: true, ProbeInterval: 50 * time.Millisecond})
	p := mustCompile(t, "p", record.Rule{Name: "r", Limit: 3, Period: time.Hour, By: "ip"})
	req := headerReq("192.0.2.9", "")
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
		t.Fatalf("the cluster admitted %d of 5, want 3", got)
	}
	owner := c.Owner(c.KeySlot(redisKey(&p.rules[0], req.IP)))
	owner.Stop()
	if got := admitted(5); got != 3 {
		t.Fatalf("the local fallback admitted %d of 5, want 3", got)
	}
	if !l.FallbackActive() || testutil.ToFloat64(l.redis.metrics.fallback) != 1 {
		t.Fatal("fallback not reported active")
	}
	owner.Start()
	c.WaitOK(30 * time.Second)
	for deadline := time.Now().Add(15 * time.Second); l.FallbackActive(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the limiter did not switch back to the cluster")
		}
	}
	if testutil.ToFloat64(l.redis.metrics.fallback) != 0 {
		t.Fatal("fallback metric still set")
	}
	// The restarted master lost its data (no persistence): 3 again, counted
	// in the cluster.
	if got := admitted(5); got != 3 {
		t.Fatalf("the cluster after the restart admitted %d of 5, want 3", got)
	}
}

// TestRedisClusterURLs: the cluster URL is go-redis's; a database other
// than 0 is refused; a cluster URL given without Cluster is refused; no
// error shows the password.
func TestRedisClusterURLs(t *testing.T) {
	for _, tc := range []struct {
		url     string
		cluster bool
		ok      bool
	}{
		{"redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", true, true},
		{"rediss://u:pw@10.0.0.1:6379", true, true},
		{"redis://:pw@127.0.0.1:7000/0", true, true},
		{"redis://:pw@127.0.0.1:7000/3", true, false},
		{"redis://:pw@127.0.0.1:7000?addr=nohost", true, false},
		{"redis://:pw@127.0.0.1:7000?addr=127.0.0.1:7001", false, false},
		{"http://:pw@127.0.0.1:7000", true, false},
		{"redis://:pw@127.0.0.1:7000?db=2", true, false},
	} {
		err := CheckURL(tc.url, tc.cluster)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok=%v", tc.url, tc.cluster, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// BenchmarkCheckRedisCluster3Rules is BenchmarkCheckRedis3Rules against a
// real 3-master Redis Cluster: "mixed" is benchPolicy's three rules, by ip
// and by header (two hash tags: two scripts a check, concurrently);
// "one-client" is three rules by ip (one script). It reports checks per
// second.
func BenchmarkCheckRedisCluster3Rules(b *testing.B) {
	c := testenv.StartRedisCluster(b, 3)
	byIP := []*Policy{mustCompile(b, "bench",
		record.Rule{Name: "writes", Limit: 1_000_000_000, Period: time.Hour, By: "ip", Methods: []string{"GET", "POST"}},
		record.Rule{Name: "hour", Limit: 1_000_000_000, Period: time.Hour, By: "ip"},
		record.Rule{Name: "day", Limit: 1_000_000_000, Period: 24 * time.Hour, By: "ip"})}
	for _, tc := range []struct {
		name string
		ps   []*Policy
	}{{"one-client", byIP}, {"mixed", benchPolicy(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			l := newRedisLimiter(b, RedisOptions{URL: c.URL(), Cluster: true})
			ctx := context.Background()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := benchRequest()
				for pb.Next() {
					if d, err := l.Check(ctx, BeforeAuth, tc.ps, req); err != nil || !d.Allowed {
						b.Errorf("%+v %v", d, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
			if l.FallbackActive() {
				b.Fatal("the benchmark fell back to memory")
			}
		})
	}
}
