package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/usage"
)

// Index is the auth server's index, holding the limiter's compiled policies.
type Index = check.Index

// NewIndex makes an empty index that compiles policies with ratelimit.Compile.
func NewIndex(log logr.Logger) *Index { return check.NewIndex(log) }

// TokenVerifier and RateLimiter are what a decision needs from the JWT
// authenticator and the rate limiter.
type (
	TokenVerifier = check.TokenVerifier
	RateLimiter   = check.RateLimiter
)

// Config is what a Server answers from. Setup builds it from a manager;
// tests and benchmarks build it directly.
type Config struct {
	Index    *Index
	Verifier TokenVerifier
	Limiter  RateLimiter
	// Clock decides expiry; nil means the real clock.
	Clock clock.PassiveClock
	// Proxy pins where the original request is read; empty means auto.
	Proxy Proxy
	// TrustedHops is the number of proxies that append to X-Forwarded-For
	// in front of the auth server (doc.go); 0 uses the TCP peer.
	TrustedHops int
	// IPv4Prefix and IPv6Prefix: by: ip rules count clients per network
	// of this prefix length; 0 means 32 and 64 (check.Decider).
	IPv4Prefix, IPv6Prefix int
	// MaxBodyBytes bounds the body read for _apiKey; 0 means
	// DefaultMaxBodyBytes, negative turns body reading off.
	MaxBodyBytes int64
	// GRPCOptions are the options, in check-URL query form, of an ext_authz
	// gRPC check whose CheckRequest has no context_extensions.
	GRPCOptions string
	Log         logr.Logger
	// Usage notes admitted API keys for the usage report (nil: off).
	Usage *usage.Recorder
}

// Server answers /check and ext_authz gRPC checks from the index: each
// transport reads its request into a check.Request, the decider decides,
// and the transport renders the verdict.
type Server struct {
	cfg     Config
	decider *check.Decider
	options *check.OptionsCache
	metrics *serverMetrics
	synced  atomic.Pointer[func() bool]
	// loaded latches the first full load: once the index held it, a
	// check no longer asks the informer (whose queue takes a lock).
	loaded atomic.Bool
}

// DefaultMaxBodyBytes bounds how much of a forwarded body is read to find
// _apiKey.
const DefaultMaxBodyBytes = check.DefaultMaxBodyBytes

// maxCachedOptions bounds the parsed-options cache: a deployment has a
// handful of check URLs, so this is never reached by honest traffic.
const maxCachedOptions = 1024

// NewServer makes a server. It is not ready until MarkSynced has been given
// a function that reports true and the verifier is ready. Its metrics are
// registered by Setup (or RegisterMetrics).
func NewServer(cfg Config) *Server {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Proxy == "" {
		cfg.Proxy = ProxyAuto
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	m := newServerMetrics(cfg.Index)
	return &Server{cfg: cfg, metrics: m, options: check.NewOptionsCache(maxCachedOptions),
		decider: &check.Decider{Index: cfg.Index, Verifier: cfg.Verifier, Limiter: cfg.Limiter, Clock: cfg.Clock,
			TrustedHops: cfg.TrustedHops, IPv4Prefix: cfg.IPv4Prefix, IPv6Prefix: cfg.IPv6Prefix, MaxBodyBytes: cfg.MaxBodyBytes, LimiterErrors: m.limiterErrors, MissingForwardedFor: m.missingForwardedFor, Log: cfg.Log,
			Usage: cfg.Usage}}
}

// MarkSynced sets how the server learns that the index holds the first
// full list of records (the record store's HasSynced).
func (s *Server) MarkSynced(synced func() bool) {
	s.synced.Store(&synced)
	s.loaded.Store(false)
}

// Ready reports whether the first full load is in the index and the JWT
// authenticator is ready. Until then /check answers 503.
func (s *Server) Ready() bool {
	if !s.loaded.Load() {
		f := s.synced.Load()
		if f == nil || !(*f)() {
			return false
		}
		s.loaded.Store(true)
	}
	return s.cfg.Verifier == nil || s.cfg.Verifier.Ready()
}

// Handler serves /check, /check/..., /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready: keys, policies or JWT configuration not loaded yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	// /check is routed before the mux: ServeMux would redirect the
	// uncleaned paths Envoy may append, and the options segment
	// (/check;auth=jwt/...) is no mux pattern.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCheckPath(r.URL.Path) {
			s.check(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isCheckPath(p string) bool {
	if !strings.HasPrefix(p, checkPath) {
		return false
	}
	return len(p) == len(checkPath) || p[len(checkPath)] == '/' || p[len(checkPath)] == ';'
}

// Timeouts and limits of the HTTP server. A check is answered from memory
// (or one Redis round trip), so these are generous for honest proxies and
// short for slow clients.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 15 * time.Second
)

// newHTTPServer wraps a handler with the server's timeouts and limits.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Serve serves the handler on l until ctx ends, then shuts down gracefully:
// requests in flight are answered, for at most shutdownTimeout.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	log := logr.FromContextOrDiscard(ctx)
	srv := newHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("auth server listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("auth server on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down the auth server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CheckOptions reports whether raw (the query text of a check URL, such as
// "auth=jwt&scopes=a") holds valid options.
func CheckOptions(raw string) error { return check.CheckOptions(raw) }
