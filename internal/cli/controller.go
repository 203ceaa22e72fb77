package cli

import (
	"fmt"
	"io"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
)

func runController(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("controller", "Runs the controller: compiles ApiKeys and RateLimitPolicies into Secrets in keygate's namespace.", stderr)
	namespace := fs.String("namespace", controllers.DefaultNamespace, "keygate's namespace: records are written here, and the leader-election lease lives here")
	watch := fs.String("watch-namespaces", "", "comma-separated namespaces whose ApiKeys and RateLimitPolicies are compiled (default: all)")
	metricsAddr := fs.String("metrics-bind-address", ":9090", "address of the Prometheus metrics endpoint (0 turns it off)")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	leaderElect := fs.Bool("leader-elect", true, "elect one active controller among the replicas")
	workers := fs.Int("max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "ApiKeys (and, separately, RateLimitPolicies) reconciled at once")
	verbose := fs.Bool("v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg, scheme, err := startRuntime(*verbose, stderr, keygatev1alpha1.AddToScheme)
	if err != nil {
		return err
	}
	opts := controllers.Options{Namespace: *namespace, WatchNamespaces: controllerNamespaces(*watch), MaxConcurrentReconciles: *workers}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controllers.CacheOptions(opts),
		Metrics:                       metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:        *probeAddr,
		LeaderElection:                *leaderElect,
		LeaderElectionID:              "keygate-controller.keygate.dev",
		LeaderElectionNamespace:       *namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := controllers.Setup(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding /healthz: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding /readyz: %w", err)
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// controllerNamespaces splits the --watch-namespaces value.
func controllerNamespaces(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
