package cli

import (
	"fmt"
	"io"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/keygate-dev/keygate/webhook"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// authServerFlags are the flags of keygate auth-server.
type authServerFlags struct {
	opts        webhook.Options
	proxy       string
	metricsAddr string
	verbose     bool
}

func parseAuthServerFlags(args []string, stderr io.Writer) (*authServerFlags, error) {
	fs := newFlagSet("auth-server", "Runs the auth server: answers /check for ingress proxies from the compiled Secrets.\n"+
		"/check, /healthz, /readyz and /metrics are all served on --addr; Envoy's ext_authz over gRPC on --grpc-addr.", stderr)
	f := &authServerFlags{}
	fs.StringVar(&f.opts.Namespace, "namespace", "keygate-system", "keygate's namespace: record Secrets, JWT HMAC Secrets and the revocation list are read here only")
	fs.StringVar(&f.opts.Addr, "addr", ":8080", "address of /check, /healthz, /readyz and /metrics")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", "0", "extra address for controller-runtime's metrics server (0: off; metrics are on --addr at /metrics)")
	fs.StringVar(&f.opts.JWTConfigPath, "jwt-config", "", "JWT issuers' YAML config file, reloaded when it changes (empty: no issuer, every token is refused)")
	fs.StringVar(&f.opts.RedisURL, "redis-url", "", "redis:// URL for rate-limit counters shared by every replica (empty: counters in memory)")
	fs.StringVar(&f.opts.RedisOnError, "redis-on-error", ratelimit.OnErrorLocal, "while Redis is unreachable: local (count in memory), deny (503) or allow")
	fs.IntVar(&f.opts.TrustedHops, "trusted-hops", 1, "proxies in front of the auth server that append to X-Forwarded-For; the client IP is that many entries from the right (0: the TCP peer)")
	fs.Int64Var(&f.opts.MaxBodyBytes, "max-body-bytes", webhook.DefaultMaxBodyBytes, "largest forwarded body read to find _apiKey (negative: never read bodies)")
	fs.StringVar(&f.opts.GRPCAddr, "grpc-addr", "", "address of Envoy's ext_authz gRPC service and the gRPC health service (empty: off)")
	fs.StringVar(&f.opts.GRPCOptions, "grpc-options", "", "options, in check-URL query form (auth=jwt&policy=ns/name), of gRPC checks whose route sets no context_extensions")
	fs.StringVar(&f.proxy, "proxy", string(webhook.ProxyAuto), "which proxy's headers carry the original request: auto, nginx, traefik or envoy")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.opts.TrustedHops < 0 {
		return nil, fmt.Errorf("--trusted-hops must be 0 or more, not %d", f.opts.TrustedHops)
	}
	if err := webhook.CheckOptions(f.opts.GRPCOptions); err != nil {
		return nil, fmt.Errorf("--grpc-options: %w", err)
	}
	p, err := webhook.ParseProxy(f.proxy)
	if err != nil {
		return nil, fmt.Errorf("--proxy: %w", err)
	}
	f.opts.Proxy = p
	return f, nil
}

func runAuthServer(args []string, stdout, stderr io.Writer) error {
	f, err := parseAuthServerFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, scheme, err := startRuntime(f.verbose, stderr)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:         scheme,
		Cache:          webhook.CacheOptions(f.opts.Namespace),
		Metrics:        metricsserver.Options{BindAddress: f.metricsAddr},
		LeaderElection: false, // every replica answers checks
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := webhook.Setup(mgr, f.opts); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
