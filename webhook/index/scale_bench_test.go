package index

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	"github.com/keygate-dev/keygate/internal/record"
)

// BenchmarkIndexScale is the simulation beyond one cluster: with no API
// server, it builds the index from record Secrets for each size of
// KEYGATE_INDEX_SIZES (default 1000,100000,1000000 keys, one key per
// ApiKey record) and reports:
//
//   - build time: Apply of every record, as the informer delivers the first
//     list (making the Secrets is not timed);
//   - bytes per key: the Go heap the index holds after a collection, over
//     the keys (the Secrets themselves are not kept);
//   - lookup p50 and p99 of one present key, each timed on its own (the
//     figures include reading the clock, some tens of ns);
//   - the cost of applying one change at that size: a record's key
//     replaced (as a rotation writes it) and a record deleted, p50 and
//     p99 of 1000 each. An index that rebuilt itself on a change would
//     show it here, growing with the size.
//
// Run it with:
//
//	go test -run '^$' -bench IndexScale -benchtime 1x ./webhook/index/
func BenchmarkIndexScale(b *testing.B) {
	sizes := []int{1000, 100_000, 1_000_000}
	if v := os.Getenv("KEYGATE_INDEX_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1000 {
				b.Fatalf("KEYGATE_INDEX_SIZES: %q is not a size of 1000 or more", f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			for range b.N {
				indexScale(b, n)
			}
		})
	}
}

func indexScale(b *testing.B, n int) {
	runtime.GC()
	before := heapAlloc()
	ix := New[*fakePolicy](compileFake, logr.Discard())
	hashes := make([]record.Hash, n)
	build := buildIndex(b, ix, hashes)
	runtime.GC()
	perKey := float64(heapAlloc()-before-uint64(n)*uint64(len(record.Hash{}))) / float64(n)
	if got := ix.Stats().Keys; got != int64(n) {
		b.Fatalf("index holds %d keys, want %d", got, n)
	}
	lookup := timeLookups(b, ix, hashes, 100_000)
	update, remove := timeChanges(b, ix, n, 1000)
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(perKey, "heap-B/key")
	b.ReportMetric(float64(pct(lookup, 99).Nanoseconds()), "lookup-p99-ns")
	b.ReportMetric(float64(pct(update, 99).Nanoseconds()), "update-p99-ns")
	b.ReportMetric(float64(pct(remove, 99).Nanoseconds()), "remove-p99-ns")
	fmt.Printf("index: %d keys built in %v (%.2f us per record); %.0f B of heap per key; lookup p50 %v p99 %v; "+
		"one record's key replaced p50 %v p99 %v; one record deleted p50 %v p99 %v\n",
		n, build.Round(time.Millisecond), float64(build.Microseconds())/float64(n), perKey,
		pct(lookup, 50), pct(lookup, 99), pct(update, 50), pct(update, 99), pct(remove, 50), pct(remove, 99))
	runtime.KeepAlive(hashes)
}

// benchRecord is the Secret of ApiKey k<i> holding the key hash h, as the
// controller writes it.
func benchRecord(b *testing.B, i int, h record.Hash) *corev1.Secret {
	rec := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: "tenants", Name: "k" + strconv.Itoa(i),
		UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}, Subject: "tenant-" + strconv.Itoa(i), Type: "secret", Prefix: "sk_",
		Scopes: []string{"events:write"}, Keys: []record.KeyHash{{SHA256: h.String()}}}
	s, err := record.NewSecret(record.DefaultNamespace, record.KindAPIKey, rec.Source, rec)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// benchHash is a distinct key hash for every (i, generation).
func benchHash(i, gen int) record.Hash {
	return record.HashKey(fmt.Sprintf("sk_%032x%032x", gen, i))
}

// buildIndex applies records 0..len(hashes)-1 in batches, timing Apply
// only, and fills hashes.
func buildIndex(b *testing.B, ix *Index[*fakePolicy], hashes []record.Hash) time.Duration {
	const batch = 10_000
	var build time.Duration
	secrets := make([]*corev1.Secret, 0, batch)
	for from := 0; from < len(hashes); from += batch {
		secrets = secrets[:0]
		for i := from; i < min(from+batch, len(hashes)); i++ {
			hashes[i] = benchHash(i, 0)
			secrets = append(secrets, benchRecord(b, i, hashes[i]))
		}
		start := time.Now()
		for _, s := range secrets {
			ix.Apply(s)
		}
		build += time.Since(start)
	}
	clear(secrets)
	return build
}

// timeLookups times m lookups of present keys spread over the index.
func timeLookups(b *testing.B, ix *Index[*fakePolicy], hashes []record.Hash, m int) []time.Duration {
	out := make([]time.Duration, m)
	step := max(1, len(hashes)/m) | 1
	for j := range out {
		h := hashes[(j*step)%len(hashes)]
		start := time.Now()
		_, ok := ix.Lookup(h)
		out[j] = time.Since(start)
		if !ok {
			b.Fatalf("key %d not found", j)
		}
	}
	return out
}

// timeChanges times m updates (a record's key replaced) and m deletions,
// each of one record, and checks that each took effect.
func timeChanges(b *testing.B, ix *Index[*fakePolicy], n, m int) (update, remove []time.Duration) {
	for j := range m {
		i := j * (n / m)
		s := benchRecord(b, i, benchHash(i, 1))
		start := time.Now()
		ix.Apply(s)
		update = append(update, time.Since(start))
		if _, ok := ix.Lookup(benchHash(i, 0)); ok {
			b.Fatalf("record %d's replaced key is still found", i)
		}
		start = time.Now()
		ix.Remove(s.Namespace, s.Name)
		remove = append(remove, time.Since(start))
		if _, ok := ix.Lookup(benchHash(i, 1)); ok {
			b.Fatalf("record %d's key is still found after its record was deleted", i)
		}
	}
	return update, remove
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func pct(v []time.Duration, p int) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
