package webhook

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate-dev/keygate/webhook/check"
)

// DecisionLogMode says which answers the decision log writes.
type DecisionLogMode string

// Decision log modes. Refusals is the default: a refusal is what an
// operator looks for (who is being refused, and why), refusals are few
// in normal traffic, and a flood of them is bounded by the log's buffer;
// logging every admission doubles the log volume of a busy gateway, so
// it is asked for with all, and thinned with a sample.
const (
	DecisionLogOff      DecisionLogMode = "off"
	DecisionLogRefusals DecisionLogMode = "refusals"
	DecisionLogAll      DecisionLogMode = "all"
)

// DefaultDecisionLog is the mode of an empty DecisionLogMode.
const DefaultDecisionLog = DecisionLogRefusals

// DefaultDecisionLogBuffer is how many decisions wait for the log's writer
// before new ones are dropped (and counted).
const DefaultDecisionLogBuffer = 4096

// ParseDecisionLogMode reads off, refusals or all; "" is the default.
func ParseDecisionLogMode(s string) (DecisionLogMode, error) {
	switch m := DecisionLogMode(s); m {
	case "":
		return DefaultDecisionLog, nil
	case DecisionLogOff, DecisionLogRefusals, DecisionLogAll:
		return m, nil
	}
	return "", fmt.Errorf("%q is not a decision log mode: off, refusals or all", s)
}

// DecisionLog configures the decision log.
type DecisionLog struct {
	// Mode: off, refusals or all; "" means DefaultDecisionLog.
	Mode DecisionLogMode
	// Sample, under all, writes one admission in Sample (every refusal is
	// written); 0 or 1 means every admission.
	Sample uint64
	// Buffer is the number of decisions waiting for the writer; 0 means
	// DefaultDecisionLogBuffer.
	Buffer int
}

// decisionLog writes one JSON line per decision through the logger. A
// check only copies the decision's fields into a fixed-size channel, which
// one goroutine (run) drains: a check never waits for the logger, and
// when the channel is full the decision is dropped and counted.
type decisionLog struct {
	all     bool // else refusals only
	sample  uint64
	seen    atomic.Uint64
	ch      chan decisionEntry
	dropped prometheus.Counter
	log     logr.Logger
	hops    int
}

// decisionEntry is what a check hands over: strings the request and the
// index already hold, so that copying it allocates nothing. The client IP
// and the path's redaction are worked out by the writer.
type decisionEntry struct {
	at              time.Time
	code, method    string
	keyID, ns, name string
	subject, issuer string
	reqMethod, path string
	forwardedFor    []string
	peer            string
	policy, rule    string
	refused, hasReq bool
}

// newDecisionLog returns nil when the log is off: recording is then one
// nil check.
func newDecisionLog(c DecisionLog, log logr.Logger, hops int, dropped prometheus.Counter) *decisionLog {
	mode := c.Mode
	if mode == "" {
		mode = DefaultDecisionLog
	}
	if mode == DecisionLogOff {
		return nil
	}
	if c.Buffer <= 0 {
		c.Buffer = DefaultDecisionLogBuffer
	}
	return &decisionLog{all: mode == DecisionLogAll, sample: max(c.Sample, 1),
		ch: make(chan decisionEntry, c.Buffer), dropped: dropped, log: log.WithName("decision"), hops: hops}
}

func newDroppedCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keygate_decision_log_dropped_total",
		Help: "Decisions not written to the decision log because its buffer was full.",
	})
}

// record hands one decision to the writer, or drops it. req is nil or
// empty when the check was refused before the original request was read.
func (d *decisionLog) record(v *check.Verdict, req *check.Request, at time.Time) {
	if d == nil {
		return
	}
	refused := !v.Allowed()
	if !refused && (!d.all || (d.sample > 1 && d.seen.Add(1)%d.sample != 1)) {
		return
	}
	e := decisionEntry{at: at, code: v.Code(), method: v.Method(), refused: refused,
		policy: v.Limit.Policy, rule: v.Limit.Rule}
	id := &v.Identity
	switch id.Method {
	case check.MethodAPIKey:
		if ent := cmp.Or(id.Entry, id.Refused); ent != nil {
			e.keyID = ent.KeyID
			if k := ent.Key; k != nil && k.Record != nil {
				e.ns, e.name, e.subject = k.Record.Source.Namespace, k.Record.Source.Name, k.Record.Subject
			}
		}
	case check.MethodJWT:
		e.subject, e.issuer = id.JWT.Subject, id.JWT.Issuer
	}
	if req != nil && req.Method != "" {
		e.hasReq = true
		e.reqMethod, e.path, e.peer = req.Method, req.Path, req.Peer
		e.forwardedFor = req.Header["X-Forwarded-For"]
	}
	select {
	case d.ch <- e:
	default:
		d.dropped.Inc()
	}
}

// run writes the decisions until ctx ends.
func (d *decisionLog) run(ctx context.Context) {
	if d == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-d.ch:
			d.write(&e)
		}
	}
}

func (d *decisionLog) write(e *decisionEntry) {
	kv := []any{"decidedAt", e.at.UTC().Format(time.RFC3339Nano), "code", e.code, "method", e.method}
	kv = appendSet(kv, "keyId", e.keyID, "namespace", e.ns, "name", e.name, "subject", e.subject, "issuer", e.issuer)
	if e.hasReq {
		ip := check.ClientIP(http.Header{"X-Forwarded-For": e.forwardedFor}, e.peer, d.hops)
		if _, err := netip.ParseAddr(ip); err != nil {
			ip = ""
		}
		kv = appendSet(kv, "requestMethod", safeMethod(e.reqMethod), "path", redactPath(e.path), "clientIP", ip)
	}
	kv = appendSet(kv, "policy", e.policy, "rule", e.rule)
	msg := "allowed"
	if e.refused {
		msg = "refused"
	}
	d.log.Info(msg, kv...)
}

// appendSet appends the key-value pairs whose value is not empty.
func appendSet(kv []any, pairs ...string) []any {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			kv = append(kv, pairs[i], pairs[i+1])
		}
	}
	return kv
}

// redacted replaces what the decision log must not show.
const redacted = "{redacted}"

// safeMethod is an HTTP method of letters only (and at most 32 of them),
// or redacted: a method is a token the client chose, and must not carry
// a credential into the log.
func safeMethod(m string) string {
	if len(m) > 32 {
		return redacted
	}
	for i := 0; i < len(m); i++ {
		if c := m[i] | 0x20; c < 'a' || c > 'z' {
			return redacted
		}
	}
	return m
}

// keyHexRun is the run of hex digits that a keygate key ends with
// (contract: prefix + 64 lowercase hex characters).
const keyHexRun = 64

// redactPath is the original path (which never holds the query), with
// every segment that may hold a credential redacted: a run of 64 hex
// digits (a keygate key), as sent or once percent-decoded; a long segment
// that does not percent-decode cleanly (an upstream may decode it
// leniently); a JWT (dot-separated base64url parts, the first a JSON
// object). The path is otherwise logged as the upstream sees it.
func redactPath(p string) string {
	if !hasHexRun(p) && strings.IndexByte(p, '%') < 0 && strings.IndexByte(p, '.') < 0 {
		return p
	}
	segs := strings.Split(p, "/")
	changed := false
	for i, s := range segs {
		if segmentHoldsCredential(s) {
			segs[i], changed = redacted, true
		}
	}
	if !changed {
		return p
	}
	return strings.Join(segs, "/")
}

func segmentHoldsCredential(s string) bool {
	if hasHexRun(s) || looksLikeJWT(s) {
		return true
	}
	if strings.IndexByte(s, '%') < 0 {
		return false
	}
	d, err := url.PathUnescape(s)
	if err != nil {
		return len(s) >= keyHexRun
	}
	return hasHexRun(d) || looksLikeJWT(d)
}

// looksLikeJWT reports whether s holds a base64url part that decodes to a
// JSON object and is followed by a dot: a JWS or JWE header.
func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	for _, part := range parts[:len(parts)-1] {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(part, "="))
		if err == nil && json.Valid(b) && strings.HasPrefix(strings.TrimLeft(string(b), " \t\r\n"), "{") {
			return true
		}
	}
	return false
}

func hasHexRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('0' <= c && c <= '9') || ('a' <= c|0x20 && c|0x20 <= 'f') {
			if n++; n >= keyHexRun {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}
