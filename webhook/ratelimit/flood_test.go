package ratelimit

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// flood sends n requests from distinct IPv4 addresses, checking the entry
// bound as it goes, and returns the heap growth it left behind.
func flood(t *testing.T, l *Limiter, n, bound int) int64 {
	p := mustCompile(t, "p", record.Rule{Name: "global", Limit: 100, Period: time.Minute, By: "ip"})
	ps := []*Policy{p}
	heapBefore := liveHeap()
	addr := netip.AddrFrom4([4]byte{10, 0, 0, 0})
	req := &Request{Method: "GET", Path: "/"}
	for i := range n {
		addr = addr.Next()
		req.IP = addr.String()
		if d := check(t, l, BeforeAuth, ps, req); !d.Allowed {
			t.Fatalf("new address %s refused: %+v", req.IP, d)
		}
		if i%(n/100) == 0 {
			if got := l.mem.Len(); got > bound {
				t.Fatalf("%d entries after %d addresses, bound is %d", got, i+1, bound)
			}
		}
	}
	if got := l.mem.Len(); got > bound {
		t.Fatalf("%d entries after the flood, bound is %d", got, bound)
	}
	runtime.KeepAlive(l)
	return liveHeap() - heapBefore
}

func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestFloodStaysWithinTheBound sends a million new IPs through a limiter
// bounded at 10,000 entries: the entries never pass the bound, and the heap
// grows by what 10,000 entries take (64 bytes each at most), not a million,
// however long the churn at the bound goes on.
func TestFloodStaysWithinTheBound(t *testing.T) {
	const bound = 10_000
	l := NewMemory(MemoryOptions{MaxEntries: bound, SweepInterval: -1})
	defer l.Close()
	grown := flood(t, l, 1_000_000, bound)
	t.Logf("heap grew by %d bytes for %d entries", grown, l.mem.Len())
	if grown > bound*64 {
		t.Fatalf("heap grew by %d bytes under a flood bounded at %d entries", grown, bound)
	}
}

// TestBytesPerEntry fills the default bound and checks the documented cost
// of an entry (doc.go: about 60 bytes at most).
func TestBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million entries")
	}
	l := NewMemory(MemoryOptions{SweepInterval: -1})
	defer l.Close()
	grown := flood(t, l, DefaultMaxEntries, DefaultMaxEntries)
	per := float64(grown) / float64(l.mem.Len())
	t.Logf("%d entries take %d bytes: %.1f bytes each", l.mem.Len(), grown, per)
	if l.mem.Len() < DefaultMaxEntries*9/10 {
		t.Fatalf("only %d entries held of %d distinct clients", l.mem.Len(), DefaultMaxEntries)
	}
	if per > 64 {
		t.Fatalf("%.1f bytes per entry, doc.go promises about 60 at most", per)
	}
}
