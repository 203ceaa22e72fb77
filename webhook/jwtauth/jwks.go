package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// maxJWKSBytes bounds the JWKS document read from an IdP.
const maxJWKSBytes = 1 << 20

// jwk is one usable key of a JWKS.
type jwk struct {
	key any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	alg string // the JWK's alg, "" when it names none
}

// jwksFetchTimeout bounds one JWKS fetch, whoever asked for it.
const jwksFetchTimeout = 10 * time.Second

// jwksSource caches one issuer's JWKS. It is fetched on Start and every
// refresh interval; a token whose kid is unknown triggers a fetch, but at
// most one per minRefetch, however many such tokens arrive, so garbage
// kids cannot turn the auth server into a flood against the IdP.
//
// A fetch runs on a context that the check which triggered it cannot
// cancel: a client that hangs up must not turn the fetch into a failure
// (which would also hold back the scheduled refresh and keep a key that
// the IdP removed trusted). Keys last fetched more than maxMissed refresh
// intervals ago (plus jwksFetchTimeout, for a refresh in flight) are no
// longer trusted: the issuer's tokens are refused until a fetch succeeds.
//
// jwkset (a maintained JWK parser) turns each JSON key into a Go key; the
// fetching, caching and rate limiting are here, so that they run on the
// injected clock, report metrics, and stop with the config that made them.
type jwksSource struct {
	issuer       string
	url          string
	refreshEvery time.Duration
	minRefetch   time.Duration
	maxMissed    int
	http         *http.Client
	clock        clock.PassiveClock
	log          logr.Logger

	fetchMu     sync.Mutex // one fetch at a time; guards lastAttempt
	lastAttempt time.Time

	mu          sync.RWMutex
	keys        map[string][]jwk // by kid
	all         []jwk
	lastSuccess time.Time // of the fetch that brought keys
}

// maxAge is how long fetched keys are trusted without a successful fetch.
func (s *jwksSource) maxAge() time.Duration {
	return time.Duration(s.maxMissed)*s.refreshEvery + jwksFetchTimeout
}

// lookup returns the keys for kid (every key when the token names no kid)
// whose alg, when the JWK states one, is the token's; stale is set when
// keys were fetched but are too old to be trusted (and none is returned).
func (s *jwksSource) lookup(kid, alg string) (out []any, stale bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.lastSuccess.IsZero() && s.clock.Since(s.lastSuccess) > s.maxAge() {
		return nil, true
	}
	list := s.all
	if kid != "" {
		list = s.keys[kid]
	}
	for _, k := range list {
		if k.alg == "" || k.alg == alg {
			out = append(out, k.key)
		}
	}
	return out, false
}

// keysFor returns the keys for kid, fetching the JWKS again first when
// none is known (or the keys are stale) and the rate limit allows it. The
// error is errStaleKeys when the keys are too old to be trusted.
func (s *jwksSource) keysFor(ctx context.Context, kid, alg string) ([]any, error) {
	if keys, _ := s.lookup(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	// A fetch may have brought the key while this call waited for the lock.
	keys, stale := s.lookup(kid, alg)
	if len(keys) > 0 {
		return keys, nil
	}
	if s.lastAttempt.IsZero() || s.clock.Since(s.lastAttempt) >= s.minRefetch {
		// The check's client may hang up; the fetch it started goes on.
		s.fetchLocked(context.WithoutCancel(ctx))
		keys, stale = s.lookup(kid, alg)
	}
	if stale {
		return nil, errStaleKeys
	}
	return keys, nil
}

// refresh is the scheduled fetch. It is skipped only when a fetch
// succeeded within minRefetch: a failed attempt, whoever made it, does not
// hold it back.
func (s *jwksSource) refresh(ctx context.Context) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.RLock()
	last := s.lastSuccess
	s.mu.RUnlock()
	if !last.IsZero() && s.clock.Since(last) < s.minRefetch {
		return
	}
	s.fetchLocked(ctx)
}

// fetchLocked fetches and installs the JWKS; on failure the keys already
// cached stay in use (until they are stale). The fetch is bounded by
// jwksFetchTimeout; ctx is a check's context without its cancellation, or
// the refresher's, which ends only at shutdown. The caller holds fetchMu.
func (s *jwksSource) fetchLocked(ctx context.Context) {
	s.lastAttempt = s.clock.Now()
	fctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	keys, skipped, err := s.fetch(fctx)
	if err != nil {
		jwksFetches.WithLabelValues(s.issuer, "error").Inc()
		s.log.Error(err, "fetching JWKS failed; keeping the keys already cached until they are stale",
			"issuer", s.issuer, "url", s.url, "trustedFor", s.maxAge().String())
		return
	}
	jwksFetches.WithLabelValues(s.issuer, "success").Inc()
	if skipped > 0 {
		s.log.Info("skipped JWKS entries that cannot verify signatures", "issuer", s.issuer, "skipped", skipped)
	}
	var all []jwk
	for _, k := range keys {
		all = append(all, k...)
	}
	s.mu.Lock()
	s.keys, s.all, s.lastSuccess = keys, all, s.clock.Now()
	s.mu.Unlock()
}

// errStaleKeys: the issuer's JWKS has not been fetched for too long.
var errStaleKeys = errors.New("the issuer's JWKS is stale")

func (s *jwksSource) fetch(ctx context.Context) (map[string][]jwk, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching JWKS: HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("JWKS is larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JWK Set. Entries that cannot verify a signature
// (symmetric keys, encryption keys, unknown types) are skipped and
// counted, so one odd entry does not disable the whole set.
func parseJWKS(body []byte) (map[string][]jwk, int, error) {
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("parsing JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, 0, errors.New("parsing JWKS: no keys")
	}
	keys := map[string][]jwk{}
	skipped := 0
	for _, m := range set.Keys {
		if m.USE != "" && m.USE != jwkset.UseSig {
			skipped++
			continue
		}
		parsed, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			skipped++
			continue
		}
		key, err := checkPublicKey(parsed.Key())
		if err != nil {
			skipped++
			continue
		}
		keys[m.KID] = append(keys[m.KID], jwk{key: key, alg: string(m.ALG)})
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("parsing JWKS: no key usable for signatures")
	}
	return keys, skipped, nil
}

// run refreshes the JWKS on its interval until ctx is done.
func (s *jwksSource) run(ctx context.Context) {
	s.refresh(ctx)
	t := time.NewTicker(s.refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}
