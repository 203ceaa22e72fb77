package cli

import (
	"fmt"
	"io"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/keygate-dev/keygate/internal/app"
	"github.com/keygate-dev/keygate/webhook"
)

// authServerFlags are the flags of keygate auth-server, read into the
// wiring's options.
type authServerFlags struct {
	opts    app.AuthServerOptions
	verbose bool
}

func parseAuthServerFlags(args []string, stderr io.Writer) (*authServerFlags, error) {
	fs := newFlagSet("auth-server", "Runs the auth server: answers /check for ingress proxies from the compiled Secrets.\n"+
		"/check, /healthz, /readyz and /metrics are all served on --addr; Envoy's ext_authz over gRPC on --grpc-addr.", stderr)
	f := &authServerFlags{opts: app.DefaultAuthServerOptions()}
	o := &f.opts
	proxy := string(o.Proxy)
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "keygate's namespace: record Secrets, JWT HMAC Secrets and the revocation list are read here only")
	fs.StringVar(&o.Addr, "addr", o.Addr, "address of /check, /healthz, /readyz and /metrics")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "extra address for controller-runtime's metrics server (0: off; metrics are on --addr at /metrics)")
	fs.StringVar(&o.JWTConfigPath, "jwt-config", o.JWTConfigPath, "JWT issuers' YAML config file, reloaded when it changes (empty: no issuer, every token is refused)")
	fs.StringVar(&o.RedisURL, "redis-url", o.RedisURL, "redis:// URL for rate-limit counters shared by every replica (empty: counters in memory)")
	fs.StringVar(&o.RedisOnError, "redis-on-error", o.RedisOnError, "while Redis is unreachable: local (count in memory), deny (503) or allow")
	fs.IntVar(&o.TrustedHops, "trusted-hops", o.TrustedHops, "proxies in front of the auth server that append to X-Forwarded-For; the client IP is that many entries from the right (0: the TCP peer)")
	fs.Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest forwarded body read to find _apiKey (negative: never read bodies)")
	fs.StringVar(&o.GRPCAddr, "grpc-addr", o.GRPCAddr, "address of Envoy's ext_authz gRPC service and the gRPC health service (empty: off)")
	fs.StringVar(&o.GRPCOptions, "grpc-options", o.GRPCOptions, "options, in check-URL query form (auth=jwt&policy=ns/name), of gRPC checks whose route sets no context_extensions")
	fs.StringVar(&proxy, "proxy", proxy, "which proxy's headers carry the original request: auto, nginx, traefik or envoy")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.TrustedHops < 0 {
		return nil, fmt.Errorf("--trusted-hops must be 0 or more, not %d", o.TrustedHops)
	}
	if err := webhook.CheckOptions(o.GRPCOptions); err != nil {
		return nil, fmt.Errorf("--grpc-options: %w", err)
	}
	p, err := webhook.ParseProxy(proxy)
	if err != nil {
		return nil, fmt.Errorf("--proxy: %w", err)
	}
	o.Proxy = p
	return f, nil
}

func runAuthServer(args []string, stdout, stderr io.Writer) error {
	f, err := parseAuthServerFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, log, err := startRuntime(f.verbose, stderr)
	if err != nil {
		return err
	}
	mgr, err := app.NewAuthServerManager(cfg, f.opts, log)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
