package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/keygate-dev/keygate/internal/app"
	"github.com/keygate-dev/keygate/webhook"
)

// authServerFlags are the flags of keygate auth-server, read into the
// wiring's options.
type authServerFlags struct {
	opts         app.AuthServerOptions
	redisURLFile string
	verbose      bool
}

// redisURLEnv is the environment variable read for the Redis URL when
// neither --redis-url nor --redis-url-file is given.
const redisURLEnv = "KEYGATE_REDIS_URL"

// podNameEnv is the environment variable the Deployment sets to the pod's
// name (downward API): the default of --usage-report-name.
const podNameEnv = "POD_NAME"

func parseAuthServerFlags(args []string, stderr io.Writer) (*authServerFlags, error) {
	fs := newFlagSet("auth-server", "Runs the auth server: answers /check for ingress proxies from the compiled Secrets.\n"+
		"/check, /healthz, /readyz and /metrics are all served on --addr; Envoy's ext_authz over gRPC on --grpc-addr.", stderr)
	f := &authServerFlags{opts: app.DefaultAuthServerOptions()}
	o := &f.opts
	proxy := string(o.Proxy)
	decisionLog := string(o.DecisionLog.Mode)
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "keygate's namespace: record Secrets, JWT HMAC Secrets and the revocation list are read here only")
	var sources string
	fs.StringVar(&sources, "source-namespaces", "", "comma-separated namespaces whose ApiKeys' and RateLimitPolicies' records are loaded, a shard of the keys (default: all)")
	fs.StringVar(&o.Addr, "addr", o.Addr, "address of /check, /healthz, /readyz and /metrics")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "extra address for controller-runtime's metrics server (0: off; metrics are on --addr at /metrics)")
	fs.StringVar(&o.JWTConfigPath, "jwt-config", o.JWTConfigPath, "JWT issuers' YAML config file, reloaded when it changes (empty: no issuer, every token is refused)")
	fs.StringVar(&o.RedisURL, "redis-url", o.RedisURL, "redis:// URL for rate-limit counters shared by every replica (empty: counters in memory); "+
		"with a password, prefer --redis-url-file or $"+redisURLEnv)
	fs.StringVar(&f.redisURLFile, "redis-url-file", "", "file holding the Redis URL (e.g. a mounted Secret); instead of --redis-url")
	fs.BoolVar(&o.RedisCluster, "redis-cluster", o.RedisCluster, "the Redis URL names seed nodes of a Redis Cluster (or Valkey Cluster): "+
		"redis://[user:password@]host:port?addr=host2:port2&addr=host3:port3")
	fs.StringVar(&o.RedisOnError, "redis-on-error", o.RedisOnError, "while Redis is unreachable: local (count in memory), deny (503) or allow")
	fs.IntVar(&o.TrustedHops, "trusted-hops", o.TrustedHops, "proxies in front of the auth server that append to X-Forwarded-For; the client IP is that many entries from the right (0: the TCP peer)")
	fs.IntVar(&o.IPv4Prefix, "ip-prefix-v4", o.IPv4Prefix, "by: ip rules count IPv4 clients per network of this prefix length (1-32)")
	fs.IntVar(&o.IPv6Prefix, "ip-prefix-v6", o.IPv6Prefix, "by: ip rules count IPv6 clients per network of this prefix length (1-128; a host often has a whole /64)")
	fs.Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest forwarded body read to find _apiKey (negative: never read bodies)")
	fs.StringVar(&o.GRPCAddr, "grpc-addr", o.GRPCAddr, "address of Envoy's ext_authz gRPC service and the gRPC health service (empty: off)")
	fs.StringVar(&o.GRPCOptions, "grpc-options", o.GRPCOptions, "options, in check-URL query form (auth=jwt&policy=ns/name), of gRPC checks whose route sets no context_extensions")
	fs.StringVar(&proxy, "proxy", proxy, "which proxy's headers carry the original request: auto, nginx, traefik or envoy")
	fs.StringVar(&decisionLog, "decision-log", decisionLog, "decisions logged as JSON lines (never a key): off, refusals or all")
	fs.Uint64Var(&o.DecisionLog.Sample, "decision-log-sample", o.DecisionLog.Sample, "with --decision-log=all, log one admission in N (every refusal is logged)")
	fs.StringVar(&o.UsageReportName, "usage-report-name", os.Getenv(podNameEnv), "name of this replica's UsageReport in --namespace, which tells the controller which keys it admitted "+
		"(default: $"+podNameEnv+", the pod's name; empty: usage reporting off)")
	fs.DurationVar(&o.UsageFlushInterval, "usage-flush-interval", o.UsageFlushInterval, "how often the UsageReport is written, when it changed (1s or more; 0: usage reporting off)")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.SourceNamespaces = splitList(sources)
	if err := f.check(); err != nil {
		return nil, err
	}
	if err := webhook.CheckOptions(o.GRPCOptions); err != nil {
		return nil, fmt.Errorf("--grpc-options: %w", err)
	}
	p, err := webhook.ParseProxy(proxy)
	if err != nil {
		return nil, fmt.Errorf("--proxy: %w", err)
	}
	o.Proxy = p
	if o.DecisionLog.Mode, err = webhook.ParseDecisionLogMode(decisionLog); err != nil {
		return nil, fmt.Errorf("--decision-log: %w", err)
	}
	if o.DecisionLog.Sample == 0 {
		return nil, fmt.Errorf("--decision-log-sample must be 1 or more (one admission in N), not 0")
	}
	return f, nil
}

// check validates the flags that need more than parsing, and reads the
// Redis URL from its file or the environment.
func (f *authServerFlags) check() error {
	o := &f.opts
	if o.TrustedHops < 0 {
		return fmt.Errorf("--trusted-hops must be 0 or more, not %d", o.TrustedHops)
	}
	if o.IPv4Prefix < 1 || o.IPv4Prefix > 32 {
		return fmt.Errorf("--ip-prefix-v4 must be between 1 and 32, not %d", o.IPv4Prefix)
	}
	if o.IPv6Prefix < 1 || o.IPv6Prefix > 128 {
		return fmt.Errorf("--ip-prefix-v6 must be between 1 and 128, not %d", o.IPv6Prefix)
	}
	if err := checkUsageFlags(o.UsageReportName, o.UsageFlushInterval); err != nil {
		return err
	}
	switch {
	case f.redisURLFile != "" && o.RedisURL != "":
		return fmt.Errorf("--redis-url and --redis-url-file are both set; give one")
	case f.redisURLFile != "":
		b, err := os.ReadFile(f.redisURLFile)
		if err != nil {
			return fmt.Errorf("--redis-url-file: %w", err)
		}
		o.RedisURL = strings.TrimSpace(string(b))
	case o.RedisURL == "":
		o.RedisURL = os.Getenv(redisURLEnv)
	}
	switch {
	case o.RedisURL != "":
		return webhook.CheckRedisURL(o.RedisURL, o.RedisCluster)
	case o.RedisCluster:
		return fmt.Errorf("--redis-cluster needs the cluster's URL: --redis-url, --redis-url-file or $%s", redisURLEnv)
	}
	return nil
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

// checkUsageFlags validates --usage-report-name (an object name) and
// --usage-flush-interval.
func checkUsageFlags(name string, interval time.Duration) error {
	if interval != 0 && interval < time.Second {
		return fmt.Errorf("--usage-flush-interval must be 0 (off) or 1s or more, not %s", interval)
	}
	if name == "" {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("--usage-report-name %q is not a valid object name: %s", name, strings.Join(errs, "; "))
	}
	return nil
}
