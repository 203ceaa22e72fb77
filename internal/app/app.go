// Package app builds keygate's processes. It holds the only manager
// constructors of the repository, the scheme, and the defaults of an
// install: the CLI fills its options from flags, keygate dev and the
// end-to-end tests from the same defaults, so the path that is tested is
// the path that ships.
//
//	keygate controller  -> ControllerOptions -> NewControllerManager
//	keygate auth-server -> AuthServerOptions -> NewAuthServerManager
//	keygate dev         -> both, in one process (Start)
package app

import (
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/app/kube"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// DefaultNamespace is keygate's namespace in an install: records, the
// leader-election lease and the auth server's Secrets live there.
const DefaultNamespace = record.DefaultNamespace

// LeaderElectionID names the controller's lease.
const LeaderElectionID = "keygate-controller.keygate.dev"

// Scheme has client-go's types and keygate's.
func Scheme() (*runtime.Scheme, error) { return kube.Scheme() }

// ControllerOptions configure keygate controller.
type ControllerOptions struct {
	controllers.Options
	// MetricsAddr serves Prometheus metrics; ProbeAddr /healthz and
	// /readyz. "0" turns either off.
	MetricsAddr, ProbeAddr string
	// LeaderElection elects one active controller among the replicas,
	// with a lease in Namespace.
	LeaderElection bool
}

// DefaultControllerOptions are the defaults of keygate controller's flags.
func DefaultControllerOptions() ControllerOptions {
	return ControllerOptions{
		Options: controllers.Options{
			Namespace:               DefaultNamespace,
			MaxConcurrentReconciles: controllers.DefaultMaxConcurrentReconciles,
			UsageGranularity:        controllers.DefaultUsageGranularity,
			ExpiryWarnings:          controllers.DefaultExpiryWarnings(),
			UnusedAfter:             controllers.DefaultUnusedAfter,
			APIKeyMetrics:           true,
		},
		MetricsAddr:    ":9090",
		ProbeAddr:      ":8081",
		LeaderElection: true,
	}
}

// NewControllerManager builds the controller's manager: a cache that holds
// only keygate's Secrets, the ApiKey and RateLimitPolicy controllers, and
// the probes.
func NewControllerManager(cfg *rest.Config, o ControllerOptions, log logr.Logger) (ctrl.Manager, error) {
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{
		Cache:                   controllers.CacheOptions(o.Options),
		MetricsAddr:             o.MetricsAddr,
		ProbeAddr:               o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.Namespace,
		Logger:                  log,
	})
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if err := controllers.Setup(mgr, o.Options); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding /healthz: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding /readyz: %w", err)
	}
	return mgr, nil
}

// AuthServerOptions configure keygate auth-server.
type AuthServerOptions struct {
	webhook.Options
	// MetricsAddr is an extra address for controller-runtime's metrics
	// server; "0" (the default) turns it off: /metrics is on Addr.
	MetricsAddr string
}

// DefaultAuthServerOptions are the defaults of keygate auth-server's flags.
func DefaultAuthServerOptions() AuthServerOptions {
	return AuthServerOptions{
		Options: webhook.Options{
			Namespace:    DefaultNamespace,
			Addr:         ":8080",
			Proxy:        webhook.ProxyAuto,
			TrustedHops:  1,
			IPv4Prefix:   webhook.DefaultIPv4Prefix,
			IPv6Prefix:   webhook.DefaultIPv6Prefix,
			MaxBodyBytes: webhook.DefaultMaxBodyBytes,
			RedisOnError: ratelimit.OnErrorLocal,
			DecisionLog:  webhook.DecisionLog{Mode: webhook.DefaultDecisionLog, Sample: 1},
			// UsageReportName is the pod's: keygate auth-server reads it
			// from $POD_NAME.
			UsageFlushInterval: webhook.DefaultUsageFlushInterval,
		},
		MetricsAddr: "0",
	}
}

// NewAuthServerManager builds the auth server's manager: a cache that holds
// only the record Secrets of keygate's namespace, and the auth server,
// which runs on every replica (no leader election).
func NewAuthServerManager(cfg *rest.Config, o AuthServerOptions, log logr.Logger) (ctrl.Manager, error) {
	// /healthz and /readyz are on Addr; every replica answers checks, so
	// there is no leader election.
	mgr, err := kube.NewManager(cfg, kube.ManagerOptions{
		Cache:       webhook.CacheOptions(o.Namespace),
		MetricsAddr: o.MetricsAddr,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("auth server: %w", err)
	}
	if err := webhook.Setup(mgr, o.Options); err != nil {
		return nil, fmt.Errorf("setting up the auth server: %w", err)
	}
	return mgr, nil
}
