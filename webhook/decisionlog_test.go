package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keygate-dev/keygate/webhook/check"
)

// lineSink captures the decision log's lines as the JSON objects they are.
type lineSink struct {
	mu    sync.Mutex
	raw   bytes.Buffer
	lines []map[string]any
}

func (s *lineSink) logger(t testing.TB) logr.Logger {
	return funcr.NewJSON(func(obj string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(obj), &m); err != nil {
			t.Errorf("log line is not JSON: %q", obj)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.raw.WriteString(obj + "\n")
		s.lines = append(s.lines, m)
	}, funcr.Options{})
}

// withDecisionLog gives the harness's server a decision log writing to a
// new sink.
func withDecisionLog(t testing.TB, h *harness, c DecisionLog) (*decisionLog, *lineSink) {
	s := &lineSink{}
	d := newDecisionLog(c, s.logger(t), h.srv.cfg.TrustedHops, h.srv.metrics.decisionsDropped)
	h.srv.metrics.dlog = d
	return d, s
}

// flush writes every waiting decision, as run does.
func flush(d *decisionLog) {
	for len(d.ch) > 0 {
		e := <-d.ch
		d.write(&e)
	}
}

func TestDecisionLogRefusalsByDefault(t *testing.T) {
	h := newHarness(t)
	d, sink := withDecisionLog(t, h, DecisionLog{})
	h.do(nginxReq("", orig+"?a=1", "X-API-Key", keySecret))                // admitted: not logged
	h.do(nginxReq("?scopes=admin", orig+"?a=1", "X-API-Key", keySecret))   // refused: a scope is missing
	h.do(nginxReq("", orig+"?secret=1", "X-Forwarded-For", "203.0.113.9")) // no credential
	flush(d)
	if len(sink.lines) != 2 {
		t.Fatalf("%d lines, want the 2 refusals:\n%s", len(sink.lines), sink.raw.String())
	}
	want := map[string]any{"msg": "refused", "code": check.CodeForbidden, "method": check.MethodAPIKey, "requestMethod": "GET", "path": "/api/sdk/events", "clientIP": "10.0.0.1"}
	if got := sink.lines[0]; !hasFields(got, want) || !isTime(got["decidedAt"]) {
		t.Errorf("refusal line %v, want at least %v and decidedAt", got, want)
	}
	if got := sink.lines[1]; got["code"] != check.CodeNoToken && got["code"] != check.CodeAuthFailed || got["clientIP"] != "203.0.113.9" || got["keyId"] != nil {
		t.Errorf("no-credential line %v", got)
	}
	if strings.Contains(sink.raw.String(), "?") || strings.Contains(sink.raw.String(), "secret=1") {
		t.Errorf("the query reached the log:\n%s", sink.raw.String())
	}
}

func isTime(v any) bool {
	s, _ := v.(string)
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func hasFields(got, want map[string]any) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestDecisionLogRateLimitRule(t *testing.T) {
	h := newHarness(t)
	d, sink := withDecisionLog(t, h, DecisionLog{})
	for range 2 {
		h.do(nginxReq("?policy=acme/strict", "https://api.acme.com/k/x", "X-API-Key", keySecret))
	}
	flush(d)
	if len(sink.lines) != 1 {
		t.Fatalf("%d lines, want the one rate-limited refusal:\n%s", len(sink.lines), sink.raw.String())
	}
	if got := sink.lines[0]; !hasFields(got, map[string]any{"code": check.CodeRateLimited, "policy": "acme/strict", "rule": "per-key", "name": "sdk", "keyId": "9f3b62c724c3"}) {
		t.Errorf("line %v", got)
	}
}

func TestDecisionLogAllSampled(t *testing.T) {
	h := newHarness(t)
	d, sink := withDecisionLog(t, h, DecisionLog{Mode: DecisionLogAll, Sample: 3})
	for range 9 {
		h.do(nginxReq("", orig, "X-API-Key", keySecret))
		h.do(nginxReq("", orig, "X-API-Key", keyUnknown))
	}
	flush(d)
	var ok, refused int
	for _, l := range sink.lines {
		switch l["code"] {
		case check.CodeOK:
			ok++
			if !hasFields(l, map[string]any{"msg": "allowed", "name": "sdk", "namespace": "acme", "subject": "sdk-subject"}) {
				t.Errorf("admission line %v", l)
			}
		case check.CodeAuthFailed:
			refused++
		}
	}
	if ok != 3 || refused != 9 {
		t.Fatalf("%d admissions (want 3 of 9) and %d refusals (want all 9):\n%s", ok, refused, sink.raw.String())
	}

	d, sink = withDecisionLog(t, h, DecisionLog{Mode: DecisionLogAll})
	h.do(nginxReq("", orig, "X-API-Key", keySecret))
	flush(d)
	if len(sink.lines) != 1 {
		t.Fatalf("all without a sample logged %d lines of one admission", len(sink.lines))
	}
}

func TestDecisionLogOff(t *testing.T) {
	h := newHarness(t)
	if d, _ := withDecisionLog(t, h, DecisionLog{Mode: DecisionLogOff}); d != nil {
		t.Fatal("off made a decision log")
	}
	if w := h.do(nginxReq("", orig, "X-API-Key", keyUnknown)); w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d", w.Code)
	}
}

// TestDecisionLogDoesNotAllocate: off, an admission under refusals, and a
// refusal handed over (or dropped) cost no allocation on the check's side.
func TestDecisionLogDoesNotAllocate(t *testing.T) {
	h := newHarness(t)
	req := check.Request{Method: "GET", Path: "/api/sdk/events", Peer: "10.0.0.1:4000", Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}}
	o := h.srv.options.Get("")
	allowed := h.srv.decider.Decide(context.Background(), o, &check.Request{Method: "GET", Path: "/", Peer: "10.0.0.1:1",
		Header: http.Header{"X-Api-Key": {keySecret}}})
	if !allowed.Allowed() {
		t.Fatal(allowed.Code())
	}
	refused := check.Refused(check.RefNotReady, o)
	var off *decisionLog
	refusals := newDecisionLog(DecisionLog{Buffer: 1}, logr.Discard(), 1, newDroppedCounter())
	for name, f := range map[string]func(){
		"off":                     func() { off.record(&refused, &req, t0) },
		"admission, refusals":     func() { refusals.record(&allowed, &req, t0) },
		"refusal, handed/dropped": func() { refusals.record(&refused, &req, t0) },
		"observe, off":            func() { h.srv.metrics.observe(&refused, &req, t0) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per decision", name, n)
		}
	}
}

// TestDecisionLogFlood: with a writer stuck in the logger, 100k decisions
// from 8 goroutines are neither blocked nor queued without bound: all but
// the buffer's (and the stuck write's) are dropped and counted.
func TestDecisionLogFlood(t *testing.T) {
	stuck, entered := make(chan struct{}), make(chan struct{}, 1)
	log := funcr.NewJSON(func(string) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-stuck
	}, funcr.Options{})
	const buffer, total, workers = 64, 100_000, 8
	d := newDecisionLog(DecisionLog{Buffer: buffer}, log, 1, newDroppedCounter())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer close(stuck)
	go d.run(ctx)
	v := check.Refused(check.RefNotReady, check.DefaultOptions)
	d.record(&v, nil, t0)
	<-entered // the writer holds one decision and is stuck
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range total / workers {
				d.record(&v, nil, t0)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("checks blocked on the decision log")
	}
	if dropped := testutil.ToFloat64(d.dropped); dropped != total-buffer {
		t.Fatalf("dropped %v of %d, want all but the %d buffered", dropped, total, buffer)
	}
	t.Logf("%d decisions in %v with the writer stuck", total, time.Since(start))
}

// TestDecisionLogNeverShowsAKey sends keys (valid, unknown, malformed) and
// a JWT in every place a client can put them, through HTTP and gRPC, and
// scans the log for them in every encoding.
func TestDecisionLogNeverShowsAKey(t *testing.T) {
	h := newHarness(t)
	d, sink := withDecisionLog(t, h, DecisionLog{Mode: DecisionLogAll})
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1ub3QtdmFsaWQ"
	keys := []string{keySecret, keyUnknown, keyOther, jwt}
	for _, k := range keys[:3] {
		pctAll := ""
		for i := range len(k) {
			pctAll += "%" + strings.ToUpper(hex2(k[i]))
		}
		for _, r := range []*http.Request{
			nginxReq("", orig, "X-API-Key", k),
			nginxReq("", orig, "X-API-Key", k+"\x00junk"),
			nginxReq("", orig, "X-API-Key", k, "X-API-Key", keyUnknown),
			nginxReq("", orig, "Authorization", "Bearer "+k),
			nginxReq("", orig, "Authorization", k),
			nginxReq("", orig+"?apiKey="+k),
			nginxReq("", orig+"?apiKey="+url.QueryEscape(k)+"&apiKey="+k),
			nginxReq("", "https://api.acme.com/keys/"+k, "X-API-Key", keySecret),
			nginxReq("", "https://api.acme.com/keys/"+k+"/x;k="+k, "X-API-Key", keySecret),
			nginxReq("", "https://api.acme.com/keys/"+pctAll, "X-API-Key", keySecret),
			nginxReq("", "https://api.acme.com/k/x"+strings.Replace(k, "_", "%5F", 1)),
			nginxReq("", orig, "X-API-Key", keySecret, "X-Forwarded-For", k),
			methodReq(k),
			nginxReq("", orig+"%3FapiKey="+k),
		} {
			h.do(r)
		}
		body := httptest.NewRequest(http.MethodPost, "/check", strings.NewReader(`{"_apiKey":"`+k+`"}`))
		body.Header = nginxReq("", orig).Header
		h.do(body)
	}
	h.do(nginxReq("", orig, "Authorization", "Bearer "+jwt))
	h.do(nginxReq("?auth=jwt", "https://api.acme.com/t/"+jwt, "Authorization", "Bearer "+jwt))
	c := h.grpc(t)
	for _, k := range keys {
		c.check(t, envoyCheck("GET", "/api/sdk/events?apiKey="+k, nil))
		c.check(t, envoyCheck("GET", "/keys/"+k, nil, "X-API-Key", k))
		c.check(t, envoyCheck("GET", "/api/sdk/events", nil, "Authorization", "Bearer "+k))
		c.check(t, envoyCheck(k, "/api/sdk/events", nil, "X-API-Key", k))
	}
	flush(d)
	out := sink.raw.String()
	if len(sink.lines) < 50 {
		t.Fatalf("only %d lines logged", len(sink.lines))
	}
	for _, k := range keys {
		for _, form := range []string{k, k[strings.IndexByte(k, '_')+1:], url.QueryEscape(k), url.PathEscape(k),
			base64.StdEncoding.EncodeToString([]byte(k)), base64.RawURLEncoding.EncodeToString([]byte(k))} {
			if strings.Contains(out, form) {
				t.Errorf("the log holds a key (%.12s...):\n%s", form, out)
			}
		}
	}
	if !strings.Contains(out, `"path":"/keys/{redacted}"`) || !strings.Contains(out, `"requestMethod":"{redacted}"`) {
		t.Errorf("the redactions are not shown:\n%s", out)
	}
}

func methodReq(m string) *http.Request {
	r := nginxReq("", orig, "X-API-Key", keySecret)
	r.Header.Set("X-Original-Method", m)
	return r
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/api/sdk/events":                                            "/api/sdk/events",
		"/keys/" + keySecret + "/usage":                              "/keys/{redacted}/usage",
		"/keys/" + strings.ToUpper(keySecret):                        "/keys/{redacted}",
		"/blobs/sha256:" + strings.Repeat("ab", 32):                  "/blobs/{redacted}",
		"/a/" + strings.Repeat("ab", 31) + "/b":                      "/a/" + strings.Repeat("ab", 31) + "/b",
		"/a/" + strings.Repeat("%61", 64):                            "/a/{redacted}",
		"/a/" + strings.Repeat("%zz", 64):                            "/a/{redacted}",
		"/a/%zz":                                                     "/a/%zz",
		"/www.example.com/v1.2/a.b.c":                                "/www.example.com/v1.2/a.b.c",
		"/t/eyJhbGciOiJub25lIn0.e30.":                                "/t/{redacted}",
		"/t/x.eyJhbGciOiJub25lIn0.e30":                               "/t/{redacted}",
		"/a/x" + strings.Repeat("1", 40) + strings.Repeat("%32", 24): "/a/{redacted}",
	} {
		if got := redactPath(in); got != want {
			t.Errorf("redactPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDecisionLogMode(t *testing.T) {
	for in, want := range map[string]DecisionLogMode{"": DecisionLogRefusals, "off": DecisionLogOff, "refusals": DecisionLogRefusals, "all": DecisionLogAll} {
		if got, err := ParseDecisionLogMode(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	if _, err := ParseDecisionLogMode("ALL"); err == nil || !strings.Contains(err.Error(), "off, refusals or all") {
		t.Errorf("ALL: %v", err)
	}
}

// BenchmarkCheckHandlerDecisionLogAll is BenchmarkCheckHandler with every
// admission handed to the decision log (its writer discarding the lines):
// the cost a check pays with the log at its fullest.
func BenchmarkCheckHandlerDecisionLogAll(b *testing.B) {
	h := newHarness(b)
	h.srv.metrics.dlog = newDecisionLog(DecisionLog{Mode: DecisionLogAll}, logr.Discard(), 1, newDroppedCounter())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.srv.metrics.dlog.run(ctx)
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
