package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/keygate-dev/keygate/webhook/index"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// Options configure the auth server that Setup adds to a manager.
type Options struct {
	// Namespace is keygate's namespace: the record Secrets, the JWT HMAC
	// Secrets and the revocation list are read from it only.
	Namespace string
	// SourceNamespaces, when not empty, limits the records loaded to those
	// compiled from objects of these namespaces: a shard of the keys, for
	// auth servers that serve some namespaces' routes only.
	SourceNamespaces []string
	// Addr is where /check, /healthz, /readyz and /metrics are served.
	Addr string
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// GRPCAddr, when set, is where Envoy's ext_authz gRPC service and the
	// gRPC health service are served; GRPCListener, when set, is served
	// instead of listening on GRPCAddr.
	GRPCAddr     string
	GRPCListener net.Listener
	// GRPCOptions: see Config.
	GRPCOptions string
	// Proxy, TrustedHops, MaxBodyBytes and Clock: see Config.
	Proxy        Proxy
	TrustedHops  int
	MaxBodyBytes int64
	// IPv4Prefix and IPv6Prefix: by: ip rules count clients per network of
	// this prefix length; 0 means 32 and 64.
	IPv4Prefix, IPv6Prefix int
	Clock                  clock.PassiveClock
	// JWTConfigPath is the JWT issuers' config file; "" means no issuer.
	JWTConfigPath string
	// RedisURL, when set, keeps rate-limit counters in Redis;
	// RedisOnError is local (default), deny or allow. The URL may hold a
	// password: it is never logged, nor shown in an error.
	RedisURL     string
	RedisOnError string
	// RedisCluster reads RedisURL as seed nodes of a Redis Cluster.
	RedisCluster bool
	// Verifier and Limiter, when set, replace the JWT authenticator and the
	// limiter built from the fields above.
	Verifier TokenVerifier
	Limiter  RateLimiter
	// Registerer is where the server's metrics are registered; default
	// controller-runtime's registry, which /metrics serves.
	Registerer prometheus.Registerer
	// DecisionLog: which decisions are logged (default: refusals).
	DecisionLog DecisionLog
	// UsageReportName names this replica's UsageReport in Namespace (the
	// pod's name), written every UsageFlushInterval with the keys it
	// admitted. Usage reporting is off when either is empty or zero.
	UsageReportName    string
	UsageFlushInterval time.Duration
}

// DefaultUsageFlushInterval is how often a replica writes its UsageReport.
const DefaultUsageFlushInterval = time.Minute

// Default prefix lengths by which by: ip rules count clients.
const (
	DefaultIPv4Prefix = check.DefaultIPv4Prefix
	DefaultIPv6Prefix = check.DefaultIPv6Prefix
)

// CheckRedisURL reports whether raw is a Redis URL the auth server accepts,
// as a Redis Cluster URL when cluster is set; the error never shows the
// URL, which may hold a password.
func CheckRedisURL(raw string, cluster bool) error { return ratelimit.CheckURL(raw, cluster) }

// CacheOptions restricts a manager's cache to what the auth server may
// read: Secrets in keygate's namespace that carry keygate's record labels.
// The record Secrets themselves do not go through the cache (records.go).
func CacheOptions(namespace string) cache.Options {
	sel, _ := RecordSelector(nil)
	return cache.Options{
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: sel},
		},
	}
}

// Setup adds the auth server to a manager whose cache was made with
// CacheOptions: the JWT authenticator (unless opts.Verifier is set) and the
// server, both Runnables that run on every replica without leader election.
func Setup(mgr ctrl.Manager, opts Options) error {
	log := mgr.GetLogger().WithName("auth-server")
	records, err := newRecordFeed(mgr.GetConfig(), opts.Namespace, opts.SourceNamespaces)
	if err != nil {
		return err
	}
	verifier, err := setupVerifier(mgr, opts, log)
	if err != nil {
		return err
	}
	reg := opts.Registerer
	if reg == nil {
		reg = metrics.Registry
	}
	// One set of rate-limit collectors, shared by the limiter and the
	// index's policy compiler, registered with the server's own.
	lm := ratelimit.NewMetrics()
	limiter, closer, err := newLimiter(opts, lm, log)
	if err != nil {
		return err
	}
	ix := index.New(lm.Compile, log.WithName("index"))
	recorder, err := setupUsage(mgr, opts, ix, reg, log)
	if err != nil {
		if closer != nil {
			_ = closer.Close()
		}
		return err
	}
	srv := NewServer(Config{Index: ix, Verifier: verifier, Limiter: limiter, Clock: opts.Clock, Proxy: opts.Proxy,
		TrustedHops: opts.TrustedHops, IPv4Prefix: opts.IPv4Prefix, IPv6Prefix: opts.IPv6Prefix,
		MaxBodyBytes: opts.MaxBodyBytes, GRPCOptions: opts.GRPCOptions, Log: log, Usage: recorder})
	srv.metrics.dlog = newDecisionLog(opts.DecisionLog, log, opts.TrustedHops, srv.metrics.decisionsDropped)
	if err := srv.metrics.register(reg, lm.Collectors()...); err != nil {
		if closer != nil {
			_ = closer.Close()
		}
		return err
	}
	return mgr.Add(&runnable{srv: srv, records: records, addr: opts.Addr, listener: opts.Listener,
		grpcAddr: opts.GRPCAddr, grpcListener: opts.GRPCListener, log: log, closer: closer})
}

func setupVerifier(mgr ctrl.Manager, opts Options, log logr.Logger) (TokenVerifier, error) {
	if opts.Verifier != nil {
		return opts.Verifier, nil
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("making a Kubernetes client for the JWT authenticator: %w", err)
	}
	a, err := jwtauth.New(jwtauth.Options{ConfigPath: opts.JWTConfigPath, Namespace: opts.Namespace, Client: cs,
		Clock: opts.Clock, Logger: log.WithName("jwt")})
	if err != nil {
		return nil, fmt.Errorf("setting up JWT verification: %w", err)
	}
	if err := mgr.Add(a); err != nil {
		return nil, fmt.Errorf("adding the JWT authenticator: %w", err)
	}
	return a, nil
}

func newLimiter(opts Options, m *ratelimit.Metrics, log logr.Logger) (RateLimiter, io.Closer, error) {
	if opts.Limiter != nil {
		return opts.Limiter, nil, nil
	}
	if opts.RedisURL == "" {
		l := ratelimit.NewMemory(ratelimit.MemoryOptions{Clock: opts.Clock, Metrics: m})
		return l, l, nil
	}
	l, err := ratelimit.NewRedis(ratelimit.RedisOptions{URL: opts.RedisURL, Cluster: opts.RedisCluster, OnError: opts.RedisOnError,
		Clock: opts.Clock, Logger: log.WithName("ratelimit"), Metrics: m})
	if err != nil {
		return nil, nil, fmt.Errorf("setting up the Redis rate limiter: %w", err)
	}
	return l, l, nil
}

// runnable serves the auth server in a manager.
type runnable struct {
	srv      *Server
	records  *recordFeed
	addr     string
	listener net.Listener
	// grpcAddr and grpcListener: the ext_authz gRPC server, off when both
	// are empty.
	grpcAddr     string
	grpcListener net.Listener
	log          logr.Logger
	closer       io.Closer
}

// NeedLeaderElection is false: every replica answers checks.
func (r *runnable) NeedLeaderElection() bool { return false }

// Start feeds the index from the record Secrets and serves until ctx ends.
func (r *runnable) Start(ctx context.Context) error {
	if r.closer != nil {
		defer func() { _ = r.closer.Close() }()
	}
	store := r.srv.cfg.Index.Store()
	r.srv.MarkSynced(store.HasSynced)
	go r.records.run(ctx, store)
	l, err := listen(r.listener, r.addr)
	if err != nil {
		return err
	}
	ctx = logr.NewContext(ctx, r.log)
	go r.srv.metrics.dlog.run(ctx)
	if r.grpcListener == nil && r.grpcAddr == "" {
		return Serve(ctx, l, r.srv.Handler())
	}
	gl, err := listen(r.grpcListener, r.grpcAddr)
	if err != nil {
		_ = l.Close()
		return err
	}
	// Both servers stop when either fails, and both drain on shutdown.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- Serve(ctx, l, r.srv.Handler()); cancel() }()
	go func() { errc <- ServeGRPC(ctx, gl, r.srv.NewGRPCServer()); cancel() }()
	return errors.Join(<-errc, <-errc)
}

// listen returns l, or a new listener on addr.
func listen(l net.Listener, addr string) (net.Listener, error) {
	if l != nil {
		return l, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}
