package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/app/kube"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// BenchmarkScale creates KEYGATE_SCALE_KEYS (default 5000) ApiKeys on the
// envtest API server while the controller runs, every second one in GitOps
// mode (spec.keyHashes) and the others generated, and reports:
//
//   - the time until all are Ready, and the controller's API writes per
//     ApiKey (events excluded: they go through the event broadcaster);
//   - the peak and the live heap, and the RSS, of the test process, which
//     holds the controller and the benchmark's client (the API server and
//     etcd are other processes);
//   - a restart with all of them existing: a new manager, its writes (the
//     benchmark fails unless there are none: nothing changed) and the time
//     until it has reconciled every ApiKey and its queue is empty;
//   - with KEYGATE_SCALE_RESYNC=1, a periodic resync: one more manager
//     whose cache resyncs at twice the restart's catch-up time plus 30s
//     (a shorter period would start the next resync before the last one
//     is done), and, once it has caught up, its first resync: reconciles,
//     writes (none allowed), duration and the CPU time of the process
//     meanwhile. keygate's manager keeps controller-runtime's default
//     period (10 hours).
//
// The controller runs with keygate controller's defaults (expiry warnings,
// Unused, per-ApiKey metrics, scraped once when all are Ready) and, as in
// its Deployment, a Go memory limit of 90 % of 512Mi
// (KEYGATE_SCALE_MEMORY_LIMIT, in bytes, sets another container limit; 0
// none).
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 30m ./controllers/
func BenchmarkScale(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("KEYGATE_SCALE_KEYS")); err == nil && v > 0 {
		n = v
	}
	resync := os.Getenv("KEYGATE_SCALE_RESYNC") == "1"
	// As keygate controller in its Deployment: a Go memory limit of 90 %
	// of the container's (config/manager: 512Mi).
	limit := int64(512 << 20)
	if v, err := strconv.ParseInt(os.Getenv("KEYGATE_SCALE_MEMORY_LIMIT"), 10, 64); err == nil {
		limit = v
	}
	if limit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit - limit/10))
		fmt.Printf("scale: Go memory limit %d MiB (90%% of %d MiB)\n", (limit-limit/10)>>20, limit>>20)
	}
	for i := 0; i < b.N; i++ {
		scaleRun(b, n, resync)
	}
}

// shippedOpts are managerOpts with what keygate controller turns on by
// default (app.DefaultControllerOptions, which this package cannot
// import): the ExpiringSoon and Unused lifecycle and the per-ApiKey
// metrics, here in a registry of their own per manager.
func shippedOpts(ns string) Options {
	o := managerOpts(ns)
	o.ExpiryWarnings = DefaultExpiryWarnings()
	o.UnusedAfter = DefaultUnusedAfter
	o.APIKeyMetrics = true
	o.MetricsRegistry = prometheus.NewRegistry()
	return o
}

// scrape gathers the per-ApiKey metrics once, as Prometheus would, and
// reports the series and the time it took.
func scrape(b *testing.B, reg *prometheus.Registry) {
	start := time.Now()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	if series == 0 {
		b.Fatal("a scrape of the per-ApiKey metrics found no series")
	}
	b.ReportMetric(took.Seconds()*1000, "scrape-ms")
	fmt.Printf("scale: one scrape of the per-ApiKey metrics: %d series in %v\n", series, took.Round(time.Millisecond))
}

func scaleRun(b *testing.B, n int, resync bool) {
	ns := newNamespace(b)
	writes := &counter{}
	captured.off.Store(true)
	defer captured.off.Store(false)
	runtime.GC()
	peak, stopSampling := sampleHeap()
	opts := shippedOpts(ns)
	stop := startManager(b, opts, writes)
	defer stop()

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	db0, _ := env.StorageSize(context.Background())
	reconciles := apikeyReconciles(b)
	start := time.Now()
	createMany(b, c, ns, n)
	created := time.Since(start)
	waitAllReady(b, c, ns, n, reconciles)
	elapsed := time.Since(start)
	stopSampling()
	generated := collectIssued(b, c, ns)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if f := os.Getenv("KEYGATE_SCALE_HEAPPROFILE"); f != "" {
		writeHeapProfile(b, f)
	}
	rss, hwm := processRSS(b)

	perKey := float64(writes.n.Load()) / float64(n)
	b.ReportMetric(elapsed.Seconds(), "s-until-all-ready")
	b.ReportMetric(perKey, "writes/apikey")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "live-heap-MiB")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	fmt.Printf("scale: %d ApiKeys (%d generated, %d GitOps) created in %v, all Ready after %v; %d controller writes (%.2f per ApiKey); "+
		"peak heap in use %.1f MiB, after GC %.1f MiB; RSS %.1f MiB (peak %.1f)\n",
		n, generated, n-generated, created.Round(time.Millisecond), elapsed.Round(time.Millisecond), writes.n.Load(), perKey,
		float64(peak.Load())/(1<<20), float64(ms.HeapInuse)/(1<<20), float64(rss)/(1<<20), float64(hwm)/(1<<20))
	scrape(b, opts.MetricsRegistry.(*prometheus.Registry))
	objectSizes(b, c, ns)
	if db1, err := env.StorageSize(context.Background()); err == nil && db0 > 0 {
		fmt.Printf("scale: etcd's database grew %.0f B per ApiKey (all its objects, and the revisions not yet compacted)\n", float64(db1-db0)/float64(n))
	}
	stop()
	took := restart(b, ns, n)
	if resync {
		measureResync(b, ns, n, 2*took+30*time.Second)
	}
}

// restart starts a new manager with every ApiKey in place and returns the
// time until it has caught up: reconciled every ApiKey, its queue empty.
// It must make no write.
func restart(b *testing.B, ns string, n int) time.Duration {
	writes := &counter{}
	before := apikeyReconciles(b)
	start := time.Now()
	stop := startManager(b, shippedOpts(ns), writes)
	defer stop()
	caughtUp := waitReconciled(b, before, n, 10*time.Minute)
	took := time.Since(start)
	b.ReportMetric(took.Seconds(), "restart-s")
	b.ReportMetric(float64(writes.n.Load()), "restart-writes")
	fmt.Printf("scale: restart with %d ApiKeys: caught up after %v (%.0f reconciles), %d writes\n",
		n, took.Round(time.Millisecond), caughtUp-before, writes.n.Load())
	if writes.n.Load() != 0 {
		b.Fatalf("a restart with nothing changed made %d API writes, want 0", writes.n.Load())
	}
	return took
}

// measureResync starts a manager whose cache resyncs every period, waits
// until it has caught up, then measures its first resync.
func measureResync(b *testing.B, ns string, n int, period time.Duration) {
	writes := &counter{}
	before := apikeyReconciles(b)
	stop := startManager(b, shippedOpts(ns), writes, func(o *kube.ManagerOptions) { o.Cache.SyncPeriod = &period })
	defer stop()
	caughtUp := waitReconciled(b, before, n, period)
	waitReconciled(b, caughtUp, 1, period+time.Minute) // the resync begins
	start, cpu0 := time.Now(), processCPU(b)
	done := waitReconciled(b, caughtUp, n, period)
	wave, cpu := time.Since(start), processCPU(b)-cpu0
	b.ReportMetric(wave.Seconds(), "resync-s")
	fmt.Printf("scale: a resync (period %v) of %d ApiKeys: %.0f reconciles in %v, %v of CPU in the process meanwhile, %d writes\n",
		period.Round(time.Second), n, done-caughtUp, wave.Round(time.Millisecond), cpu.Round(time.Millisecond), writes.n.Load())
	if writes.n.Load() != 0 {
		b.Fatalf("a resync with nothing changed made %d API writes (a restart included), want 0", writes.n.Load())
	}
}

// collectIssued adds the keys delivered in ns to the suite's plaintext
// check, which runs after the benchmark over statuses, records and events
// (logs are not captured during the run, to keep its memory honest), and
// returns how many there are: one per generated ApiKey.
func collectIssued(b *testing.B, c client.Client, ns string) int {
	var list corev1.SecretList
	if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	got := 0
	for _, s := range list.Items {
		if k := string(s.Data[DeliveryDataKey]); k != "" {
			issued.add(k)
			got++
		}
	}
	if got == 0 {
		b.Fatal("no delivered key")
	}
	return got
}

// sampleHeap records the peak HeapInuse every 50ms until stopped.
func sampleHeap() (*atomic.Uint64, func()) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return &peak, func() { close(done); wg.Wait() }
}

// createMany creates n ApiKeys from 16 goroutines: the even ones in GitOps
// mode, with the hash of a key made here, the odd ones generated.
func createMany(b *testing.B, c client.Client, ns string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				ak := &keygatev1alpha1.ApiKey{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("key-%05d", i)},
					Spec:       keygatev1alpha1.ApiKeySpec{Subject: fmt.Sprintf("tenant-%d", i%100), Scopes: []string{"events:write"}},
				}
				if i%2 == 0 {
					ak.Spec.KeyHashes = []keygatev1alpha1.KeyHash{{SHA256: record.HashKey(fmt.Sprintf("sk_%064x", i)).String()}}
				}
				if err := c.Create(context.Background(), ak); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// waitAllReady waits until the controller has made n reconciles and its
// queue is empty, then lists the namespace's ApiKeys, 500 a page, until all
// n are Ready. (Listing 20,000 ApiKeys every other second would load the
// API server more than the controller does.)
func waitAllReady(b *testing.B, c client.Client, ns string, n int, from float64) {
	deadline := time.Now().Add(15 * time.Minute)
	waitReconciled(b, from, n, 15*time.Minute)
	for {
		ready := countReady(b, c, ns)
		if ready == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d ApiKeys Ready after 15 minutes", ready, n)
		}
		time.Sleep(5 * time.Second)
	}
}

// countReady counts the Ready ApiKeys of ns, listing 500 at a time.
func countReady(b *testing.B, c client.Client, ns string) int {
	ready := 0
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(500)}
	for cont := ""; ; {
		var list keygatev1alpha1.ApiKeyList
		if err := c.List(context.Background(), &list, append(opts, client.Continue(cont))...); err != nil {
			b.Fatal(err)
		}
		for i := range list.Items {
			if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, keygatev1alpha1.ConditionReady) && list.Items[i].Status.KeyID != "" {
				ready++
			}
		}
		if cont = list.Continue; cont == "" {
			return ready
		}
	}
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// queueState is the ApiKey controller's progress, from controller-runtime's
// metrics: reconciles so far (every result), and the work queued or running.
func queueState(b *testing.B) (reconciles, busy float64) {
	mfs, err := crmetrics.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case mf.GetName() == "controller_runtime_reconcile_total" && labels["controller"] == "apikey":
				reconciles += m.GetCounter().GetValue()
			case mf.GetName() == "workqueue_depth" && labels["name"] == "apikey",
				mf.GetName() == "controller_runtime_active_workers" && labels["controller"] == "apikey":
				busy += m.GetGauge().GetValue()
			}
		}
	}
	return reconciles, busy
}

func apikeyReconciles(b *testing.B) float64 {
	r, _ := queueState(b)
	return r
}

// waitReconciled waits until the ApiKey controller has made at least n
// reconciles since it had made from, and its queue is empty with no
// reconcile running (but for n == 1: the first reconcile is enough), and
// returns the reconciles made by then.
func waitReconciled(b *testing.B, from float64, n int, timeout time.Duration) float64 {
	deadline := time.Now().Add(timeout)
	for {
		r, busy := queueState(b)
		if r-from >= float64(n) && (n == 1 || busy == 0) {
			return r
		}
		if time.Now().After(deadline) {
			b.Fatalf("%.0f reconciles after %v, want %d and an empty queue", r-from, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processRSS is the test process's RSS and peak RSS, from /proc.
func processRSS(b *testing.B) (rss, peak int64) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[2] == "kB" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				rss = v << 10
			case "VmHWM:":
				peak = v << 10
			}
		}
	}
	return rss, peak
}

// processCPU is the CPU time the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// objectSizes prints what one ApiKey of each mode stores in etcd: the
// ApiKey (a custom resource, stored as JSON), its record Secret and, for a
// generated key, its delivery Secret (built-in, stored as protobuf), each
// as read back, managed fields and status included.
func objectSizes(b *testing.B, c client.Client, ns string) {
	ctx := context.Background()
	pb := protobuf.NewSerializer(env.Scheme, env.Scheme)
	size := func(o client.Object, gvk string) int {
		o.SetResourceVersion("")
		var buf bytes.Buffer
		if _, ok := o.(*corev1.Secret); ok {
			o.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			if err := pb.Encode(o, &buf); err != nil {
				b.Fatal(err)
			}
			return buf.Len()
		}
		o.GetObjectKind().SetGroupVersionKind(keygatev1alpha1.GroupVersion.WithKind(gvk))
		raw, err := json.Marshal(o)
		if err != nil {
			b.Fatal(err)
		}
		return len(raw)
	}
	for _, name := range []string{"key-00001", "key-00002"} { // generated, GitOps
		var ak keygatev1alpha1.ApiKey
		var rec, del corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &ak); err != nil {
			b.Fatal(err)
		}
		recKey := client.ObjectKey{Namespace: testenv.Namespace, Name: record.SecretName(record.KindAPIKey, ns, name)}
		if err := c.Get(ctx, recKey, &rec); err != nil {
			b.Fatal(err)
		}
		line := fmt.Sprintf("ApiKey %d B (JSON) + record Secret %d B", size(&ak, "ApiKey"), size(&rec, ""))
		mode := "GitOps"
		if len(ak.Spec.KeyHashes) == 0 {
			mode = "generated"
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &del); err != nil {
				b.Fatal(err)
			}
			line += fmt.Sprintf(" + delivery Secret %d B", size(&del, ""))
		}
		fmt.Printf("scale: etcd bytes of one %s ApiKey, as stored (protobuf for Secrets): %s\n", mode, line)
	}
}
