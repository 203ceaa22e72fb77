package jwtauth

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"
)

const idpIssuer = "https://idp.example.com/"

// jwksOf returns the JWKS source of the test IdP issuer.
func jwksOf(t *testing.T, a *Authenticator) *jwksSource {
	t.Helper()
	is, ok := a.cur.Load().issuers[idpIssuer]
	if !ok || is.jwks == nil {
		t.Fatal("the IdP issuer has no JWKS source")
	}
	return is.jwks
}

// TestJWKSCancelledCheckDoesNotSuppressRefresh: a client that hangs up
// while its token's unknown kid triggers a fetch must not turn that fetch
// into a failed attempt that also holds back the scheduled refresh; else
// an attacker who sends such a token and disconnects, once per
// jwksMinRefetchInterval, keeps a key the IdP removed trusted for ever.
func TestJWKSCancelledCheckDoesNotSuppressRefresh(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &rsaKey.PublicKey})
	a, clk := newJWKSAuth(t, srv.URL)
	removed := idpToken(t, jwt.SigningMethodRS256, rsaKey, "k1")
	if _, err := a.Verify(context.Background(), removed); err != nil {
		t.Fatal(err)
	}
	errorsBefore := testutil.ToFloat64(jwksFetches.WithLabelValues(idpIssuer, "error"))

	// The IdP drops k1. The attacker, past the refetch interval, sends a
	// token with an unknown kid and has already hung up.
	srv.serve(t, map[string]any{"k2": &ecKey.PublicKey})
	clk.SetTime(clk.Now().Add(11 * time.Second))
	hungUp, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = a.Verify(hungUp, idpToken(t, jwt.SigningMethodRS256, rsaKey, "garbage"))
	if got := testutil.ToFloat64(jwksFetches.WithLabelValues(idpIssuer, "error")); got != errorsBefore {
		t.Errorf("a cancelled check counted %v failed JWKS fetches", got-errorsBefore)
	}
	// The scheduled refresh, due now, must not be skipped.
	jwksOf(t, a).refresh(context.Background())
	_, err := a.Verify(context.Background(), removed)
	checkErr(t, err, ErrInvalidToken, "no matching key")
}

func newStaleAuth(t *testing.T, url string) (*Authenticator, *clocktesting.FakePassiveClock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt.yaml")
	writeConfig(t, path, fmt.Sprintf(`issuers:
- issuer: %s
  algorithms: [RS256]
  jwksURL: %s
  jwksRefreshInterval: 1h
  jwksMinRefetchInterval: 10s
  jwksMaxMissedRefreshes: 2
`, idpIssuer, url))
	clk := clocktesting.NewFakePassiveClock(t0)
	a, err := New(Options{ConfigPath: path, Clock: clk, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

// TestJWKSStaleKeysAreRefused: while the JWKS cannot be fetched the cached
// keys stay in use, but only for jwksMaxMissedRefreshes refresh intervals;
// after that a key the IdP may long have removed is no longer trusted.
func TestJWKSStaleKeysAreRefused(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &rsaKey.PublicKey})
	a, clk := newStaleAuth(t, srv.URL)
	src := jwksOf(t, a)
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt(idpIssuer, map[string]any{"exp": t0.Add(24 * time.Hour).Unix()}), map[string]any{"kid": "k1"})
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	good := srv.body
	srv.body = []byte("IdP down")
	srv.mu.Unlock()

	for _, at := range []time.Duration{time.Hour, 2 * time.Hour} {
		clk.SetTime(t0.Add(at))
		src.refresh(context.Background())
		if _, err := a.Verify(context.Background(), tok); err != nil {
			t.Fatalf("at +%s (within the missed refreshes allowed): %v", at, err)
		}
	}
	clk.SetTime(t0.Add(2*time.Hour + jwksFetchTimeout + time.Second))
	_, err := a.Verify(context.Background(), tok)
	checkErr(t, err, ErrInvalidToken, "keys are out of date")

	// The IdP is back: the next check may fetch again, and succeeds.
	srv.mu.Lock()
	srv.body = good
	srv.mu.Unlock()
	clk.SetTime(clk.Now().Add(11 * time.Second))
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the IdP is back: %v", err)
	}
}

func TestJWKSMaxMissedRefreshesDefault(t *testing.T) {
	cfg, err := ParseConfig([]byte("issuers:\n- issuer: a\n  algorithms: [RS256]\n  jwksURL: https://idp.example.com/jwks\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Issuers[0].JWKSMaxMissedRefreshes; got == nil || *got != DefaultJWKSMaxMissedRefreshes {
		t.Fatalf("jwksMaxMissedRefreshes = %v, want %d", got, DefaultJWKSMaxMissedRefreshes)
	}
	for _, bad := range []string{"0", "-1", "1001"} {
		_, err := ParseConfig([]byte("issuers:\n- issuer: a\n  algorithms: [RS256]\n  jwksURL: https://idp.example.com/jwks\n  jwksMaxMissedRefreshes: " + bad + "\n"))
		if err == nil {
			t.Errorf("jwksMaxMissedRefreshes %s accepted", bad)
		}
	}
}
