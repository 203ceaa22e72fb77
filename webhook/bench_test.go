package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate-dev/keygate/webhook/check"
)

// BenchmarkDecideValidKey is the decision on a valid key without HTTP:
// format check, one lookup by SHA-256, expiry, type, origin and scopes.
func BenchmarkDecideValidKey(b *testing.B) {
	h := newHarness(b)
	o := h.srv.options.Get("scopes=events:write")
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		e, rf := check.DecideKey(h.ix, keySecret, o, "", "", now)
		if rf != nil || e == nil {
			b.Fatal(rf)
		}
	}
}

func TestDecideValidKeyDoesNotAllocate(t *testing.T) {
	h := newHarness(t)
	o := h.srv.options.Get("scopes=events:write")
	if n := testing.AllocsPerRun(100, func() { _, _ = check.DecideKey(h.ix, keySecret, o, "", "", t0) }); n != 0 {
		t.Fatalf("decideKey allocates %v times per run", n)
	}
}

// BenchmarkCheckHandler is the whole /check handler for a valid key
// (ingress-nginx headers), without the network.
func BenchmarkCheckHandler(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.Handler()
	r := nginxReq("?scopes=events:write", orig, "X-API-Key", keySecret)
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		handler.ServeHTTP(&w, r)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}

// BenchmarkCheckHandlerSeedPolicy adds the seed's policy (7 rules, limits
// scaled so nothing is refused).
func BenchmarkCheckHandlerSeedPolicy(b *testing.B) {
	h := newHarness(b)
	p := seedPolicy(b, 100_000) // the seed's rules, limits scaled so nothing is refused
	h.ix.Apply(recordSecret(b, "ratelimitpolicy", "rlp.acme.seed", p))
	handler := h.srv.Handler()
	r := nginxReq("?policy=acme/seed", "https://api.acme.com/api/sdk/events", "X-API-Key", keySecret)
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		handler.ServeHTTP(&w, r)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }

var _ = httptest.NewRecorder

// BenchmarkGRPCCheck is the ext_authz gRPC Check for a valid key, from
// the decoded CheckRequest to the CheckResponse, without the network.
func BenchmarkGRPCCheck(b *testing.B) {
	h := newHarness(b)
	a := &grpcAuthz{s: h.srv}
	req := envoyCheck("POST", "/api/sdk/events", map[string]string{"scopes": "events:write"}, "X-API-Key", keySecret)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := a.Check(ctx, req)
		if resp.GetOkResponse() == nil {
			b.Fatal(resp)
		}
	}
}

// BenchmarkCheckHandlerHide is BenchmarkCheckHandler with hide=true and
// a Cookie header to filter.
func BenchmarkCheckHandlerHide(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.Handler()
	r := nginxReq("?scopes=events:write&hide=true", orig, "X-API-Key", keySecret, "Cookie", "a=1; session_token=x; b=2")
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		handler.ServeHTTP(&w, r)
		if w.code != http.StatusOK {
			b.Fatal(w.code)
		}
	}
}
