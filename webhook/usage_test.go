package webhook

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// TestAdmittedKeysAreNotedForTheUsageReport: an API key admitted over
// HTTP or gRPC is noted on its index entry with the usage recorder's
// interval; a key refused (wrong scope, origin, disabled, rate limited)
// and a JWT note nothing.
func TestAdmittedKeysAreNotedForTheUsageReport(t *testing.T) {
	h := newHarness(t)
	lastUsed := func(key string) int64 {
		e, ok := h.ix.Lookup(record.HashKey(key))
		if !ok {
			t.Fatalf("key not loaded")
		}
		return e.LastUsed.Load()
	}
	allEntries := func() (n int) {
		for _, e := range h.ix.AppendEntries(nil) {
			if e.LastUsed.Load() != 0 {
				n++
			}
		}
		return n
	}
	// Refused, or no key: nothing noted.
	for _, r := range []*http.Request{
		nginxReq("?scopes=admin", orig, "X-API-Key", keySecret),    // lacks the scope
		nginxReq("?keyTypes=public", orig, "X-API-Key", keyPublic), // no Origin
		nginxReq("", orig, "X-API-Key", keyDisabled),               // disabled
		nginxReq("?auth=jwt", orig, "Authorization", "Bearer jwt-admin"),
	} {
		h.do(r)
	}
	if n := allEntries(); n != 0 {
		t.Fatalf("%d keys noted as used after refusals and a JWT", n)
	}
	// Admitted over HTTP, then over gRPC.
	if w := h.do(nginxReq("?scopes=events:write", orig, "X-API-Key", keySecret)); w.Code != http.StatusOK {
		t.Fatalf("valid key: %d", w.Code)
	}
	if got := lastUsed(keySecret); got != t0.Unix() {
		t.Fatalf("admitted key: LastUsed %d, want %d (the recorder's interval)", got, t0.Unix())
	}
	h.srv.cfg.Usage.Advance(t0.Add(time.Minute))
	resp, err := (&grpcAuthz{s: h.srv}).Check(context.Background(), envoyCheck("GET", "/x", nil, "X-API-Key", keyGrace))
	if err != nil || resp.GetOkResponse() == nil {
		t.Fatalf("gRPC check of the grace key: %v, %v", resp, err)
	}
	if got := lastUsed(keyGrace); got != t0.Add(time.Minute).Unix() {
		t.Fatalf("key admitted over gRPC: LastUsed %d, want %d", got, t0.Add(time.Minute).Unix())
	}
	// Rate limited: the per-key rule admits one request a minute on /k/.
	h.srv.cfg.Usage.Advance(t0.Add(2 * time.Minute))
	limited := func() int {
		return h.do(nginxReq("?policy=acme/strict", "https://api.acme.com/k/1", "X-API-Key", keyExpiring, "X-Forwarded-For", "192.0.2.9")).Code
	}
	if c := limited(); c != http.StatusOK {
		t.Fatalf("first request under the per-key limit: %d", c)
	}
	h.srv.cfg.Usage.Advance(t0.Add(3 * time.Minute))
	if c := limited(); c == http.StatusOK {
		t.Fatal("second request under the per-key limit was admitted")
	}
	if got := lastUsed(keyExpiring); got != t0.Add(2*time.Minute).Unix() {
		t.Fatalf("a rate-limited request moved LastUsed to %d, want %d (the admitted one's)", got, t0.Add(2*time.Minute).Unix())
	}
}

// TestCheckHandlerDoesNotAllocateWithUsage: BenchmarkCheckHandler's
// request, with the usage recorder on, allocates nothing in the handler
// (the answer's header map is reused), whether the check stores a new
// interval on the key's entry or only reads it.
func TestCheckHandlerDoesNotAllocateWithUsage(t *testing.T) {
	h := newHarness(t)
	handler := h.srv.Handler()
	r := nginxReq("?scopes=events:write", orig, "X-API-Key", keySecret)
	next := t0
	w := discardWriter{h: http.Header{}} // reused, so the answer's headers cost no map growth
	for name, advance := range map[string]bool{"hot key": false, "new interval": true} {
		n := testing.AllocsPerRun(200, func() {
			if advance {
				next = next.Add(time.Second)
				h.srv.cfg.Usage.Advance(next)
			}
			clear(w.h)
			handler.ServeHTTP(&w, r)
			if w.code != http.StatusOK {
				t.Fatal(w.code)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per check", name, n)
		}
	}
	if e, _ := h.ix.Lookup(record.HashKey(keySecret)); e.LastUsed.Load() != next.Unix() {
		t.Fatalf("LastUsed %d, want %d", e.LastUsed.Load(), next.Unix())
	}
}
