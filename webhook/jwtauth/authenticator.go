package jwtauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/golang-jwt/jwt/v5"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Options configure an Authenticator.
type Options struct {
	// ConfigPath is the YAML config file; "" means no issuer is configured
	// and Verify returns ErrNotConfigured.
	ConfigPath string
	// Namespace is keygate's namespace: HMAC Secrets and the revocation
	// list are read from it, and from nowhere else.
	Namespace string
	// Client reads those objects. It may be nil when the config references
	// none.
	Client kubernetes.Interface
	// Clock decides expiry; nil means the real clock.
	Clock clock.PassiveClock
	// HTTPClient fetches JWKS; nil means a client with timeouts.
	HTTPClient *http.Client
	Logger     logr.Logger
}

// Authenticator verifies JWTs against the issuers of a config file that
// it reloads live. It is safe for concurrent use.
type Authenticator struct {
	opts   Options
	clock  clock.PassiveClock
	log    logr.Logger
	http   *http.Client
	poll   time.Duration // how often the config file is checked for changes
	pruneE time.Duration // how often expired revocations are dropped

	cur         atomic.Pointer[snapshot]
	revocations *revocationList
	objects     *objectWatcher
	ready       atomic.Bool
	activated   atomic.Bool // a config has been activated by Start
	started     atomic.Bool

	applyMu  sync.Mutex // serialises config changes
	lastHash [32]byte   // of the config file content last tried
	jwksRuns map[*jwksSource]context.CancelFunc
	runCtx   context.Context
	jwksWG   sync.WaitGroup
	revMu    sync.Mutex // serialises updates of the revocation list
}

// New reads and validates the config file. It fails on an invalid file
// with an error that names the line or field at fault.
func New(opts Options) (*Authenticator, error) {
	a := &Authenticator{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		http:     opts.HTTPClient,
		poll:     2 * time.Second,
		pruneE:   time.Minute,
		jwksRuns: map[*jwksSource]context.CancelFunc{},
	}
	if a.clock == nil {
		a.clock = clock.RealClock{}
	}
	if a.http == nil {
		a.http = defaultHTTPClient()
	}
	a.revocations = newRevocationList(a.clock)
	a.objects = newObjectWatcher(opts.Client, opts.Namespace, a.log, a.onObjectChange)
	if opts.ConfigPath == "" {
		a.cur.Store(&snapshot{})
		a.ready.Store(true)
		return a, nil
	}
	cfg, hash, err := readConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	snap, err := a.compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("JWT config %s: %w", opts.ConfigPath, err)
	}
	a.lastHash = hash
	a.cur.Store(snap)
	issuersLoaded.Set(float64(len(snap.issuers)))
	return a, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// NeedLeaderElection is false: every auth-server replica verifies tokens.
func (a *Authenticator) NeedLeaderElection() bool { return false }

// Ready is true once the config and every object it references (HMAC
// Secrets, the revocation list) have been read once. Until then the auth
// server must refuse every request.
func (a *Authenticator) Ready() bool { return a.ready.Load() }

// Verify checks a raw token and returns who it identifies. Every error
// wraps ErrInvalidToken, ErrRevoked or ErrNotConfigured, and its message
// is safe to show to a client.
func (a *Authenticator) Verify(ctx context.Context, raw string) (Identity, error) {
	snap := a.cur.Load()
	if snap == nil || len(snap.issuers) == 0 {
		return Identity{}, ErrNotConfigured
	}
	if len(raw) > maxTokenBytes {
		return Identity{}, invalid("token is too large")
	}
	is, err := snap.route(raw)
	if err != nil {
		return Identity{}, err
	}
	claims := jwt.MapClaims{}
	_, err = is.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		return a.keyFor(ctx, is, t)
	})
	if err != nil {
		return Identity{}, mapParseError(err)
	}
	id, err := is.identity(claims)
	if err != nil {
		return Identity{}, err
	}
	if id.ID != "" && a.revocations.revoked(id.ID) {
		return Identity{}, &verifyError{sentinel: ErrRevoked, msg: "token has been revoked"}
	}
	return id, nil
}

// keyFor is the key func: the keys of the token's issuer that fit the
// token's algorithm family, and only those.
func (a *Authenticator) keyFor(ctx context.Context, is *issuer, t *jwt.Token) (any, error) {
	var candidates []any
	switch {
	case is.hmac != nil:
		if secret, ok := a.hmacSecret(*is.hmac, is.hmacKey); ok {
			candidates = []any{secret}
		}
	case is.jwks != nil:
		kid, _ := t.Header["kid"].(string)
		var err error
		if candidates, err = is.jwks.keysFor(ctx, kid, t.Method.Alg()); err != nil {
			return nil, err
		}
	default:
		candidates = is.publicKeys
	}
	return verificationKey(t.Method, candidates)
}

// hmacSecret reads an HMAC secret from its Secret; a secret that is
// missing or too short is no key at all.
func (a *Authenticator) hmacSecret(ref objRef, key string) (hmacSecret, bool) {
	data, ok := a.objects.data(ref)
	if !ok {
		return nil, false
	}
	b := data[key]
	if len(b) < minHMACSecretBytes {
		return nil, false
	}
	return hmacSecret(b), true
}
