package controllers

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// BenchmarkScale creates KEYGATE_SCALE_KEYS (default 5000) ApiKeys on the
// envtest API server while the controller runs, and reports the time until
// all are Ready, the controller's API writes per ApiKey (events excluded:
// they go through the event broadcaster), and the peak heap of the test
// process, which holds the controller (the API server and etcd are other
// processes). Run it with:
//
//	go test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 30m ./controllers/
func BenchmarkScale(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("KEYGATE_SCALE_KEYS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		scaleRun(b, n)
	}
}

func scaleRun(b *testing.B, n int) {
	ns := newNamespace(b)
	writes := &counter{}
	captured.off.Store(true)
	defer captured.off.Store(false)
	runtime.GC()
	peak, stopSampling := sampleHeap()
	stop := startManager(b, managerOpts(ns), writes)
	defer stop()

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	createMany(b, c, ns, n)
	created := time.Since(start)
	waitAllReady(b, c, ns, n)
	elapsed := time.Since(start)
	stopSampling()
	collectIssued(b, c, ns, n)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if f := os.Getenv("KEYGATE_SCALE_HEAPPROFILE"); f != "" {
		writeHeapProfile(b, f)
	}

	perKey := float64(writes.n.Load()) / float64(n)
	b.ReportMetric(elapsed.Seconds(), "s-until-all-ready")
	b.ReportMetric(perKey, "writes/apikey")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "live-heap-MiB")
	fmt.Printf("scale: %d ApiKeys created in %v, all Ready after %v; %d controller writes (%.2f per ApiKey); peak heap in use %.1f MiB, after GC %.1f MiB\n",
		n, created.Round(time.Millisecond), elapsed.Round(time.Millisecond), writes.n.Load(), perKey, float64(peak.Load())/(1<<20), float64(ms.HeapInuse)/(1<<20))
}

// collectIssued adds the n keys delivered in ns to the suite's plaintext
// check, which runs after the benchmark over statuses, records and events
// (logs are not captured during the run, to keep its memory honest).
func collectIssued(b *testing.B, c client.Client, ns string, n int) {
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
	if got != n {
		b.Fatalf("%d delivered keys for %d ApiKeys", got, n)
	}
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

// createMany creates n ApiKeys from 16 goroutines.
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

// waitAllReady lists the namespace's ApiKeys until all n are Ready.
func waitAllReady(b *testing.B, c client.Client, ns string, n int) {
	deadline := time.Now().Add(15 * time.Minute)
	for {
		var list keygatev1alpha1.ApiKeyList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		ready := 0
		for i := range list.Items {
			if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, keygatev1alpha1.ConditionReady) && list.Items[i].Status.KeyID != "" {
				ready++
			}
		}
		if ready == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d ApiKeys Ready after 15 minutes", ready, n)
		}
		time.Sleep(2 * time.Second)
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
