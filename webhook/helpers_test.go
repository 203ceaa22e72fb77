package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/golden"
	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
	"github.com/keygate-dev/keygate/webhook/usage"
)

// fakeVerifier stands in for the JWT authenticator, whose own tests cover
// signatures: here only the mapping of its outcomes matters.
type fakeVerifier struct {
	notReady bool
	tokens   map[string]jwtauth.Identity
	errs     map[string]error
}

func (f *fakeVerifier) Ready() bool { return !f.notReady }

func (f *fakeVerifier) Verify(_ context.Context, raw string) (jwtauth.Identity, error) {
	if id, ok := f.tokens[raw]; ok {
		return id, nil
	}
	if err, ok := f.errs[raw]; ok {
		return jwtauth.Identity{}, err
	}
	return jwtauth.Identity{}, fmt.Errorf("%w: token is malformed", jwtauth.ErrInvalidToken)
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func hexKey(prefix string, c byte) string {
	return prefix + strings.Repeat(string(c), record.SecretLen)
}

// Keys of the test index.
var (
	keySecret   = hexKey("sk_", '1')  // scopes events:write, read; namespace acme
	keyPublic   = hexKey("pub_", '2') // public, allowedOrigins https://app.acme.com
	keyDisabled = hexKey("sk_", '3')
	keyExpiring = hexKey("sk_", '4')  // expiresAt t0+1h
	keyGrace    = hexKey("sk_", '5')  // same ApiKey as keyExpiring, notAfter t0+30m
	keyOther    = hexKey("wfx_", '6') // namespace other
	keyUnknown  = hexKey("sk_", '9')  // well-formed, not loaded
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func testRecords() []*record.APIKey {
	mk := func(ns, name, typ, prefix string, keys ...record.KeyHash) *record.APIKey {
		return &record.APIKey{Version: record.Version, Source: record.Source{Namespace: ns, Name: name, UID: "uid-" + name},
			Subject: name + "-subject", Type: typ, Prefix: prefix, Keys: keys}
	}
	kh := func(k string, na *time.Time) record.KeyHash {
		return record.KeyHash{SHA256: record.HashKey(k).String(), NotAfter: na}
	}
	sec := mk("acme", "sdk", "secret", "sk_", kh(keySecret, nil))
	sec.Scopes = []string{"events:write", "read"}
	pub := mk("acme", "widget", "public", "pub_", kh(keyPublic, nil))
	pub.AllowedOrigins = []string{"https://app.acme.com"}
	dis := mk("acme", "off", "secret", "sk_", kh(keyDisabled, nil))
	dis.Disabled = true
	exp := mk("acme", "rot", "secret", "sk_", kh(keyExpiring, nil), kh(keyGrace, at(30*time.Minute)))
	exp.ExpiresAt = at(time.Hour)
	other := mk("other", "o", "secret", "wfx_", kh(keyOther, nil))
	return []*record.APIKey{sec, pub, dis, exp, other}
}

// recordSecret is a record Secret as the controller writes it, named name.
func recordSecret(t testing.TB, kind, name string, rec any) *corev1.Secret {
	t.Helper()
	s, err := record.NewSecret("keygate-system", kind, record.SourceOf(rec), rec)
	if err != nil {
		t.Fatal(err)
	}
	s.Name = name
	return s
}

// seedPolicy is the shipped BreakGround sample as the policy acme/seed.
func seedPolicy(t testing.TB, limitScale int64) *record.RateLimitPolicy {
	t.Helper()
	p, err := golden.BreakGround("acme", "seed", limitScale)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type harness struct {
	srv   *Server
	clock *clocktesting.FakePassiveClock
	ver   *fakeVerifier
	ix    *Index
}

func newHarness(t testing.TB, mutate ...func(*Config)) *harness {
	t.Helper()
	clk := clocktesting.NewFakePassiveClock(t0)
	ver := &fakeVerifier{
		tokens: map[string]jwtauth.Identity{
			"jwt-admin": {Issuer: "https://idp.example.com/", Subject: "alice", Scopes: []string{"read", "admin"}},
			"jwt-user":  {Issuer: "https://idp.example.com/", Subject: "bob", Scopes: []string{"read"}},
		},
		errs: map[string]error{
			"jwt-revoked": fmt.Errorf("%w: token has been revoked", jwtauth.ErrRevoked),
			"jwt-expired": fmt.Errorf("%w: token has expired", jwtauth.ErrInvalidToken),
			"jwt-boom":    errors.New("internal detail that must not reach the client"),
		},
	}
	ix := NewIndex(logr.Discard())
	for _, rec := range testRecords() {
		ix.Apply(recordSecret(t, record.KindAPIKey, "ak."+rec.Source.Namespace+"."+rec.Source.Name, rec))
	}
	ix.Apply(recordSecret(t, record.KindRateLimitPolicy, "rlp.acme.seed", seedPolicy(t, 1)))
	strict := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "strict"},
		Rules: []record.Rule{{Name: "per-ip", Limit: 2, Period: time.Minute, By: "ip"},
			{Name: "per-key", Limit: 1, Period: time.Minute, By: "apiKey", PathPrefixes: []string{"/k/"}}}}
	ix.Apply(recordSecret(t, record.KindRateLimitPolicy, "rlp.acme.strict", strict))
	lim := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: clk, SweepInterval: -1})
	t.Cleanup(func() { _ = lim.Close() })
	cfg := Config{Index: ix, Verifier: ver, Limiter: lim, Clock: clk, TrustedHops: 1, Log: logr.Discard(),
		Usage: usage.NewRecorder(t0)}
	for _, m := range mutate {
		m(&cfg)
	}
	srv := NewServer(cfg)
	srv.MarkSynced(func() bool { return true })
	return &harness{srv: srv, clock: clk, ver: ver, ix: ix}
}

// nginx builds a check request as ingress-nginx sends it.
func nginxReq(query, origURL string, hdr ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/check"+query, nil)
	r.Header.Set("X-Original-URL", origURL)
	r.Header.Set("X-Original-Method", "GET")
	r.RemoteAddr = "10.0.0.1:4000"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func (h *harness) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(w, r)
	return w
}

// code checks the answer's shape and returns its error code ("" for 200).
func code(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	body, _ := io.ReadAll(w.Result().Body)
	if w.Code == http.StatusOK {
		if len(body) != 0 {
			t.Fatalf("200 with a body: %q", body)
		}
		return ""
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("refusal Content-Type %q", ct)
	}
	var eb check.ErrorBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("refusal body %q: %v", body, err)
	}
	if w.Header().Get("X-Error-Status") == "" && eb.Error.StatusCode != w.Code {
		t.Fatalf("statusCode %d in body, %d on the wire", eb.Error.StatusCode, w.Code)
	}
	if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	if eb.Error.Message == "" || eb.Error.Category == "" {
		t.Fatalf("incomplete body %q", body)
	}
	return eb.Error.Code
}
