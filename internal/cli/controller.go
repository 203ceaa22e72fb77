package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/keygate-dev/keygate/controllers"
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
	fs.Var((*durationList)(&o.ExpiryWarnings), "expiry-warnings", "comma-separated lead times of the ExpiringSoon event on an ApiKey, each emitted once per expiry (empty: none)")
	fs.DurationVar(&o.UnusedAfter, "unused-after", o.UnusedAfter, "the Unused event on an ApiKey none of whose keys was used for this long (0: never)")
	fs.BoolVar(&o.APIKeyMetrics, "apikey-metrics", o.APIKeyMetrics, "export the keygate_apikey_* metrics, one series per ApiKey and metric")
	fs.DurationVar(&o.UsageGranularity, "usage-granularity", o.UsageGranularity, "window of an ApiKey's status.lastUsedAt: written at most once per window, as the window's start (1s or more)")
	fs.BoolVar(&f.verbose, "v", false, "log debug messages")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.UsageGranularity < time.Second {
		return nil, fmt.Errorf("--usage-granularity must be 1s or more, not %s", o.UsageGranularity)
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

// durationList is a flag of comma-separated positive durations.
type durationList []time.Duration

func (d *durationList) String() string {
	if d == nil {
		return ""
	}
	parts := make([]string, len(*d))
	for i, v := range *d {
		parts[i] = controllers.ShortDuration(v)
	}
	return strings.Join(parts, ",")
}

func (d *durationList) Set(s string) error {
	out := []time.Duration{}
	for _, p := range splitList(s) {
		v, err := time.ParseDuration(p)
		if err != nil {
			return err
		}
		if v <= 0 {
			return fmt.Errorf("%s: want a positive duration", p)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}
