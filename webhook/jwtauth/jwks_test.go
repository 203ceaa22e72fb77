package jwtauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/go-logr/logr/testr"
	"github.com/golang-jwt/jwt/v5"
	clocktesting "k8s.io/utils/clock/testing"
)

// jwksServer serves a JWKS that a test can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve sets the JWKS to the given public keys, by kid, plus entries that
// cannot verify signatures and must be skipped.
func (s *jwksServer) serve(t *testing.T, keys map[string]any) {
	t.Helper()
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{
		{KTY: jwkset.KtyOct, KID: "symmetric", K: "c2VjcmV0"},
		{KTY: "weird", KID: "unknown-type"},
	}}
	for kid, k := range keys {
		j, err := jwkset.NewJWKFromKey(k, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, j.Marshal())
	}
	enc := jwkset.JWKMarshal{KTY: jwkset.KtyEC, KID: "enc-key", USE: jwkset.UseEnc}
	set.Keys = append(set.Keys, enc)
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func newJWKSAuth(t *testing.T, url string) (*Authenticator, *clocktesting.FakePassiveClock) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwt.yaml")
	writeConfig(t, path, fmt.Sprintf(`issuers:
- issuer: https://idp.example.com/
  algorithms: [RS256, ES256]
  jwksURL: %s
  jwksRefreshInterval: 1h
  jwksMinRefetchInterval: 10s
`, url))
	clk := clocktesting.NewFakePassiveClock(t0)
	a, err := New(Options{ConfigPath: path, Clock: clk, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	return a, clk
}

func idpToken(t *testing.T, m jwt.SigningMethod, key any, kid string) string {
	return sign(t, m, key, claimsAt("https://idp.example.com/", nil), map[string]any{"kid": kid})
}

func TestJWKSUnknownKidRefetch(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &rsaKey.PublicKey})
	a, clk := newJWKSAuth(t, srv.URL)
	ctx := context.Background()

	steps := []struct {
		name        string
		advance     time.Duration
		serve       map[string]any
		token       string
		wantMsg     string // "" = accepted
		wantFetches int64
	}{
		{"known kid, first use fetches", 0, nil, idpToken(t, jwt.SigningMethodRS256, rsaKey, "k1"), "", 1},
		{"known kid again is cached", 0, nil, idpToken(t, jwt.SigningMethodRS256, rsaKey, "k1"), "", 1},
		{"new kid within the refetch interval", time.Second, map[string]any{"k1": &rsaKey.PublicKey, "k2": &ecKey.PublicKey},
			idpToken(t, jwt.SigningMethodES256, ecKey, "k2"), "no matching key", 1},
		{"new kid after the interval: refetch brings it", 10 * time.Second, nil, idpToken(t, jwt.SigningMethodES256, ecKey, "k2"), "", 2},
		{"kid whose key is of another family", 0, nil, idpToken(t, jwt.SigningMethodRS256, rsaKey, "k2"), "no matching key", 2},
		{"kid signed by a different key", 0, nil, idpToken(t, jwt.SigningMethodRS256, rsaKey2, "k1"), "signature is invalid", 2},
		{"skipped symmetric entry is no key", 11 * time.Second, nil, sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt("https://idp.example.com/", nil), map[string]any{"kid": "symmetric"}), "no matching key", 3},
		{"no kid: every key of the family is tried", 0, nil, sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt("https://idp.example.com/", nil), nil), "", 3},
	}
	for _, s := range steps {
		clk.SetTime(clk.Now().Add(s.advance))
		if s.serve != nil {
			srv.serve(t, s.serve)
		}
		_, err := a.Verify(ctx, s.token)
		if s.wantMsg == "" {
			checkErr(t, err, nil, "")
		} else {
			checkErr(t, err, ErrInvalidToken, s.wantMsg)
		}
		if got := srv.fetches.Load(); got != s.wantFetches {
			t.Fatalf("%s: %d fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestJWKSRefetchIsRateLimited(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &rsaKey.PublicKey})
	a, clk := newJWKSAuth(t, srv.URL)
	flood := func() {
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := idpToken(t, jwt.SigningMethodRS256, rsaKey, fmt.Sprintf("garbage-%d", i))
				if _, err := a.Verify(context.Background(), tok); err == nil {
					t.Error("token with an unknown kid accepted")
				}
			}()
		}
		wg.Wait()
	}
	flood()
	if got := srv.fetches.Load(); got != 1 {
		t.Fatalf("first flood: %d fetches, want 1", got)
	}
	clk.SetTime(clk.Now().Add(5 * time.Second))
	flood()
	if got := srv.fetches.Load(); got != 1 {
		t.Fatalf("flood within the interval: %d fetches, want 1", got)
	}
	clk.SetTime(clk.Now().Add(5 * time.Second))
	flood()
	if got := srv.fetches.Load(); got != 2 {
		t.Fatalf("flood after the interval: %d fetches, want 2", got)
	}
}

func TestJWKSFailureKeepsCachedKeys(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t)
	srv.serve(t, map[string]any{"k1": &rsaKey.PublicKey})
	a, clk := newJWKSAuth(t, srv.URL)
	tok := idpToken(t, jwt.SigningMethodRS256, rsaKey, "k1")
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.body = []byte("not json")
	srv.mu.Unlock()
	clk.SetTime(clk.Now().Add(time.Minute))
	_, _ = a.Verify(context.Background(), idpToken(t, jwt.SigningMethodRS256, rsaKey, "unknown"))
	if srv.fetches.Load() != 2 {
		t.Fatalf("want a refetch, got %d fetches", srv.fetches.Load())
	}
	if _, err := a.Verify(context.Background(), tok); err != nil {
		t.Fatalf("cached key lost after a failed fetch: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"not json", "{", true},
		{"no keys", `{"keys":[]}`, true},
		{"only unusable keys", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, true},
		{"short RSA key skipped", `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, true},
	}
	for _, tc := range cases {
		_, _, err := parseJWKS([]byte(tc.body))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tc.name, err, tc.wantErr)
		}
	}
}
