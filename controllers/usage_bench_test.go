package controllers

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// usageWindows is how many windows BenchmarkUsageScale measures.
const usageWindows = 3

// BenchmarkUsageScale measures the status writes of last use with every
// key in use: KEYGATE_SCALE_KEYS (default 5000) GitOps ApiKeys, and two
// replicas' UsageReports naming every key, rewritten six times a window,
// for usageWindows windows. The window (the controller's
// --usage-granularity) is KEYGATE_USAGE_WINDOW (default 30s) instead of an
// hour, so that the run takes minutes: at most one write per ApiKey per
// window is the bound, so the writes per ApiKey per window are the writes
// per ApiKey per hour at a 1h granularity, and N of them an hour is N/3600
// writes a second (the target: 2/s at most for 5,000 keys). It
// also reports how long after a window begins the last ApiKey shows it.
// Run it with:
//
//	go test -run '^$' -bench BenchmarkUsageScale -benchtime 1x -timeout 30m ./controllers/
func BenchmarkUsageScale(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("KEYGATE_SCALE_KEYS")); err == nil && v > 0 {
		n = v
	}
	window := 30 * time.Second
	if v := os.Getenv("KEYGATE_USAGE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			b.Fatalf("KEYGATE_USAGE_WINDOW=%q: want a Go duration of 5s or more", v)
		}
		window = d
	}
	for i := 0; i < b.N; i++ {
		usageScaleRun(b, n, window)
	}
}

func usageScaleRun(b *testing.B, n int, window time.Duration) {
	ns := newNamespace(b)
	captured.off.Store(true)
	defer captured.off.Store(false)
	attempts := &counter{}
	opts := managerOpts(ns)
	opts.UsageGranularity = window
	defer startManager(b, opts, attempts)()
	c := uncachedClient(b)
	used := createGitOpsKeys(b, c, ns, n)
	waitAllKeyed(b, c, ns, n)

	// Report from the start of a window for usageWindows windows, counting
	// the writes that move a last use (from the API server's watch), and
	// how long after the last window begins every ApiKey shows it.
	first := time.Now().Truncate(window).Add(window)
	last := first.Add((usageWindows - 1) * window)
	time.Sleep(time.Until(first))
	writes := watchLastUseWrites(b, ns)
	before := attempts.n.Load()
	stopReports := reportUsage(b, c, used, window/6)
	defer deleteReports(c)
	time.Sleep(time.Until(last))
	lag := make(chan time.Duration, 1)
	go func() { lag <- waitAllUsedIn(b, c, ns, n, last) }()
	time.Sleep(time.Until(first.Add(usageWindows*window - window/6)))
	stopReports()
	took := <-lag
	time.Sleep(2 * time.Second) // writes in flight
	total, tried := writes(), attempts.n.Load()-before

	perWindow := float64(total) / float64(n) / usageWindows
	perSecond := perWindow * float64(n) / 3600
	b.ReportMetric(perWindow, "writes/apikey/window")
	b.ReportMetric(perSecond, "writes/s-at-1h")
	b.ReportMetric(took.Seconds(), "s-until-all-show-window")
	fmt.Printf("usage: %d ApiKeys all in use through 2 replicas, %d windows of %v (--usage-granularity shortened from 1h): %d status writes "+
		"(%d attempts, the rest lost a race and were merged again), %.3f per ApiKey per window (bound: 1); at a 1h granularity that is "+
		"%.3f writes per ApiKey per hour, %.2f writes/s for %d ApiKeys (target <= 2); the last ApiKey showed the last window %v after it began\n",
		n, usageWindows, window, total, tried, perWindow, perWindow, perSecond, n, took.Round(time.Millisecond))
	if perWindow > 1 {
		b.Fatalf("%.3f status writes per ApiKey per window, want at most 1", perWindow)
	}
}

// watchLastUseWrites counts, from a watch of the API server, the updates
// of ApiKeys of ns that move status.lastUsedAt or a key's lastUsedAt,
// until the returned function is called, which returns the count.
func watchLastUseWrites(b *testing.B, ns string) func() int64 {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := wc.Watch(ctx, &keygatev1alpha1.ApiKeyList{}, client.InNamespace(ns))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]string{}
		for ev := range w.ResultChan() {
			ak, ok := ev.Object.(*keygatev1alpha1.ApiKey)
			if !ok {
				if ctx.Err() == nil {
					b.Errorf("watch: %v", ev.Object) // the count would be short
				}
				return
			}
			use := fmt.Sprint(ak.Status.LastUsedAt, ak.Status.Keys)
			if prev, known := seen[ak.Name]; known && prev != use && ev.Type == watch.Modified {
				n.Add(1)
			}
			seen[ak.Name] = use
		}
	}()
	return func() int64 { cancel(); w.Stop(); <-done; return n.Load() }
}

func uncachedClient(b *testing.B) client.Client {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// createGitOpsKeys creates n GitOps ApiKeys from 16 goroutines and
// returns each one's entry of a report.
func createGitOpsKeys(b *testing.B, c client.Client, ns string, n int) []keygatev1alpha1.APIKeyUsage {
	used := make([]keygatev1alpha1.APIKeyUsage, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				h := record.HashKey(fmt.Sprintf("sk_%064d", i))
				ak := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("key-%05d", i)},
					Spec: keygatev1alpha1.ApiKeySpec{Subject: "tenant", KeyHashes: []keygatev1alpha1.KeyHash{{SHA256: h.String()}}}}
				if err := c.Create(context.Background(), ak); err != nil {
					errs <- err
					return
				}
				used[i] = keygatev1alpha1.APIKeyUsage{Namespace: ns, Name: ak.Name, Keys: []keygatev1alpha1.KeyUsage{{KeyID: h.KeyID()}}}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return used
}

// waitAllKeyed waits until every ApiKey of ns lists its key in
// status.keys (the ApiKey controller wrote it).
func waitAllKeyed(b *testing.B, c client.Client, ns string, n int) {
	waitApiKeys(b, c, ns, n, 15*time.Minute, "in status.keys", func(st *keygatev1alpha1.ApiKeyStatus) bool { return len(st.Keys) == 1 })
}

// waitAllUsedIn waits until every ApiKey of ns shows a use in window, and
// returns how long after the window began that was.
func waitAllUsedIn(b *testing.B, c client.Client, ns string, n int, window time.Time) time.Duration {
	waitApiKeys(b, c, ns, n, 10*time.Minute, "used in the last window", func(st *keygatev1alpha1.ApiKeyStatus) bool {
		return st.LastUsedAt != nil && !st.LastUsedAt.Time.Before(window)
	})
	return time.Since(window)
}

func waitApiKeys(b *testing.B, c client.Client, ns string, n int, timeout time.Duration, what string, ok func(*keygatev1alpha1.ApiKeyStatus) bool) {
	deadline := time.Now().Add(timeout)
	for {
		var list keygatev1alpha1.ApiKeyList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		got := 0
		for i := range list.Items {
			if ok(&list.Items[i].Status) {
				got++
			}
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d ApiKeys %s after %v", got, n, what, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reportUsage rewrites two replicas' reports, naming every key as used
// now, every interval until stopped, as auth servers flushing.
func reportUsage(b *testing.B, c client.Client, used []keygatev1alpha1.APIKeyUsage, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			for i := range used {
				used[i].Keys[0].LastUsedAt = now
			}
			for _, replica := range []string{"bench-replica-a", "bench-replica-b"} {
				writeReport(b, c, replica, now, interval, used)
			}
			select {
			case <-done:
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func writeReport(b *testing.B, c client.Client, name string, now metav1.Time, interval time.Duration, used []keygatev1alpha1.APIKeyUsage) {
	ctx := context.Background()
	r := &keygatev1alpha1.UsageReport{ObjectMeta: metav1.ObjectMeta{Namespace: testenv.Namespace, Name: name}}
	err := c.Get(ctx, client.ObjectKeyFromObject(r), r)
	r.Spec = keygatev1alpha1.UsageReportSpec{FlushedAt: now, Interval: metav1.Duration{Duration: interval}, APIKeys: used}
	if err != nil {
		err = c.Create(ctx, r)
	} else {
		err = c.Update(ctx, r)
	}
	if err != nil {
		b.Error(err)
	}
}

func deleteReports(c client.Client) {
	_ = c.DeleteAllOf(context.Background(), &keygatev1alpha1.UsageReport{}, client.InNamespace(testenv.Namespace))
}
