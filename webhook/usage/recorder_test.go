package usage

import (
	"sync"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/webhook/index"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestRecordStoresTheIntervalStartAndNeverMovesBack(t *testing.T) {
	r := NewRecorder(t0.Add(500 * time.Millisecond))
	e := &index.Entry{}
	r.Record(e)
	if got := e.LastUsed.Load(); got != t0.Unix() {
		t.Fatalf("LastUsed %d, want %d (the interval's start, whole seconds)", got, t0.Unix())
	}
	r.Advance(t0.Add(time.Minute))
	r.Advance(t0) // an earlier time is ignored
	r.Record(e)
	if got := e.LastUsed.Load(); got != t0.Add(time.Minute).Unix() {
		t.Fatalf("LastUsed %d after the next interval, want %d", got, t0.Add(time.Minute).Unix())
	}
	e.LastUsed.Store(t0.Add(time.Hour).Unix()) // newer than the recorder
	r.Record(e)
	if got := e.LastUsed.Load(); got != t0.Add(time.Hour).Unix() {
		t.Fatalf("Record moved LastUsed back to %d", got)
	}
	var off *Recorder
	off.Record(e) // usage reporting off
	r.Record(nil) // no API key admitted
}

// TestRecordDoesNotAllocate: the hot path's call allocates nothing,
// whether it stores (a new interval) or only loads (a hot key).
func TestRecordDoesNotAllocate(t *testing.T) {
	r := NewRecorder(t0)
	e := &index.Entry{}
	next := t0
	for name, f := range map[string]func(){
		"store": func() { next = next.Add(time.Second); r.Advance(next); r.Record(e) },
		"load":  func() { r.Record(e) },
		"off":   func() { (*Recorder)(nil).Record(e) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per Record", name, n)
		}
	}
}

// TestRecordConcurrent: many goroutines recording while intervals advance
// leave every entry at the last interval they saw, never an older one
// (run with -race).
func TestRecordConcurrent(t *testing.T) {
	r := NewRecorder(t0)
	entries := make([]*index.Entry, 4)
	for i := range entries {
		entries[i] = &index.Entry{}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.Record(entries[(w+i)%len(entries)])
			}
		}()
	}
	last := t0
	for i := 1; i <= 200; i++ {
		last = t0.Add(time.Duration(i) * time.Second)
		r.Advance(last)
	}
	close(stop)
	wg.Wait()
	for _, e := range entries {
		r.Record(e)
		if got := e.LastUsed.Load(); got != last.Unix() {
			t.Fatalf("LastUsed %d after the last interval, want %d", got, last.Unix())
		}
	}
}

// BenchmarkRecordHotKey is the hot path on one key from every core: a
// load of the recorder's time and of the entry's, no store.
func BenchmarkRecordHotKey(b *testing.B) {
	r := NewRecorder(t0)
	e := &index.Entry{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(e)
		}
	})
}
