package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/test/testenv"
)

// clusterFixture is a 3-master Redis Cluster and two keygate auth-server
// processes counting in it: replica 0 reads the cluster URL from a file
// (a mounted Secret) and counts locally while the cluster is down; replica
// 1 takes it on the command line and refuses with 503 meanwhile.
type clusterFixture struct {
	cluster  *testenv.RedisCluster
	ns       string
	replicas []*authServer
}

func setupRedisCluster(t *testing.T) *clusterFixture {
	s := getStack(t)
	f := &clusterFixture{cluster: testenv.StartRedisCluster(t, 3), ns: s.namespace(t, "redis-cluster")}
	p := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: f.ns},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{
			{Name: "per-second", Limit: 100, Period: metav1.Duration{Duration: time.Second}, By: "ip"},
			{Name: "per-ip", Limit: 5, Period: metav1.Duration{Duration: time.Hour}, By: "ip"},
			{Name: "per-day", Limit: 1000, Period: metav1.Duration{Duration: 24 * time.Hour}, By: "ip"},
		}},
	}
	if err := s.env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	urlFile := filepath.Join(t.TempDir(), "redis-url")
	if err := os.WriteFile(urlFile, []byte(f.cluster.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, flags := range [][]string{
		{"--redis-cluster", "--redis-url-file", urlFile, "--redis-on-error", "local"},
		{"--redis-cluster", "--redis-url", f.cluster.URL(), "--redis-on-error", "deny"},
	} {
		a, err := startAuthServer(fmt.Sprint("redis cluster replica ", i), s.authKubeconfig, false, flags...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.stop() })
		f.replicas = append(f.replicas, a)
	}
	for _, a := range f.replicas {
		if err := waitReady(a.url, 60*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, a.output())
		}
		eventually(t, 10*time.Second, "the policy loaded", func() bool {
			return f.check(t, a, "192.0.2.1").StatusCode != http.StatusInternalServerError
		})
	}
	return f
}

// try asks a replica about a request from ip; an error is a lost answer
// (no response at all).
func (f *clusterFixture) try(a *authServer, ip string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, a.url+"/check?auth=none&policy="+f.ns+"/shared", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Original-URL", "https://api.acme.com/api/sdk/events")
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	return resp, nil
}

func (f *clusterFixture) check(t *testing.T, a *authServer, ip string) *http.Response {
	t.Helper()
	resp, err := f.try(a, ip)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// exact: 5 an hour from ip, through both replicas in turn: the 6th and 7th
// are refused by per-ip, whichever replica they reach.
func (f *clusterFixture) exact(t *testing.T, ip string) {
	t.Helper()
	for i, want := range []int{200, 200, 200, 200, 200, 429, 429} {
		resp := f.check(t, f.replicas[i%2], ip)
		if resp.StatusCode != want {
			t.Fatalf("%s, request %d through replica %d: %d, want %d (RateLimit: %q)", ip, i+1, i%2, resp.StatusCode, want, resp.Header.Get("RateLimit"))
		}
		if want == 429 && !strings.HasPrefix(resp.Header.Get("RateLimit"), `"per-ip";`) {
			t.Fatalf("%s, request %d: refused by %q, want per-ip", ip, i+1, resp.Header.Get("RateLimit"))
		}
	}
}

// fallbackActive reads keygate_ratelimit_redis_fallback_active from a
// replica's /metrics.
func fallbackActive(t *testing.T, a *authServer) string {
	_, body := get(t, http.MethodGet, a.url+"/metrics", nil)
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, "keygate_ratelimit_redis_fallback_active "); ok {
			return v
		}
	}
	return ""
}

// TestRedisClusterSharedAcrossReplicas: two auth-server processes share an
// exact limit through a real 3-master Redis Cluster. Then one master is
// killed and restarted while both replicas answer a steady stream of
// checks: every check is answered (200 or 429, or the deny replica's 503),
// the fallback metric says when the local count applied, and afterwards
// the replicas count in the cluster again, exactly.
func TestRedisClusterSharedAcrossReplicas(t *testing.T) {
	f := setupRedisCluster(t)
	f.exact(t, "198.51.100.7")

	var stop atomic.Bool
	var answered, lost, wrong, unavailable atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				a := f.replicas[g%2]
				resp, err := f.try(a, fmt.Sprintf("203.0.113.%d", (g*64+n)%250+1))
				switch {
				case err != nil:
					lost.Add(1)
					t.Errorf("replica %d: a check got no answer: %v", g%2, err)
				case resp.StatusCode == 200 || resp.StatusCode == 429:
					answered.Add(1)
				case resp.StatusCode == 503 && g%2 == 1:
					unavailable.Add(1)
				default:
					wrong.Add(1)
					t.Errorf("replica %d answered %d", g%2, resp.StatusCode)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	victim := f.cluster.Nodes[1]
	victim.Stop()
	f.cluster.WaitFail(f.cluster.Nodes[0], 30*time.Second)
	eventually(t, 15*time.Second, "the fallback metric set on the local replica", func() bool {
		return fallbackActive(t, f.replicas[0]) == "1"
	})
	victim.Start()
	f.cluster.WaitOK(30 * time.Second)
	for i, a := range f.replicas {
		eventually(t, 15*time.Second, fmt.Sprintf("replica %d back on the cluster", i), func() bool {
			return fallbackActive(t, a) == "0"
		})
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("during the outage: %d answered 200/429, %d refused 503 by the deny replica, %d wrong, %d lost",
		answered.Load(), unavailable.Load(), wrong.Load(), lost.Load())
	if unavailable.Load() == 0 {
		t.Error("the deny replica never answered 503: the outage was not seen")
	}
	f.exact(t, "198.51.100.8")
}
