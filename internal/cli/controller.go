package cli

import (
	"fmt"
	"io"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/keygate-dev/keygate/internal/app"
)

// controllerFlags are the flags of keygate controller, read into the
// wiring's options.
type controllerFlags struct {
	opts    app.ControllerOptions
	verbose bool
}

func parseControllerFlags(args []string, stderr io.Writer) (*controllerFlags, error) {
	fs := newFlagSet("controller", "Runs the controller: compiles ApiKeys and RateLimitPolicies into Secrets in keygate's namespace.", stderr)
	f := &controllerFlags{opts: app.DefaultControllerOptions()}
	o := &f.opts
	var watch string
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "keygate's namespace: records are written here, and the leader-election lease lives here")
	fs.StringVar(&watch, "watch-namespaces", "", "comma-separated namespaces whose ApiKeys and RateLimitPolicies are compiled (default: all)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the Prometheus metrics endpoint (0 turns it off)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address of /healthz and /readyz (0 turns it off)")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "elect one active controller among the replicas")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", o.MaxConcurrentReconciles, "ApiKeys (and, separately, RateLimitPolicies) reconciled at once")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.WatchNamespaces = splitList(watch)
	return f, nil
}

func runController(args []string, stdout, stderr io.Writer) error {
	f, err := parseControllerFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, log, err := startRuntime(f.verbose, stderr)
	if err != nil {
		return err
	}
	mgr, err := app.NewControllerManager(cfg, f.opts, log)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
