package webhook

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/keygate-dev/keygate/webhook/usage"
)

// setupUsage adds the usage report's flusher to mgr and returns the
// recorder the decider notes admitted keys with; nil when usage reporting
// is off (no report name, or no flush interval).
func setupUsage(mgr ctrl.Manager, opts Options, ix *Index, reg prometheus.Registerer, log logr.Logger) (*usage.Recorder, error) {
	log = log.WithName("usage")
	if opts.UsageFlushInterval <= 0 {
		log.Info("usage reporting is off (--usage-flush-interval=0): ApiKeys get no lastUsedAt from this replica")
		return nil, nil
	}
	if opts.UsageReportName == "" {
		log.Info("usage reporting is off: no report name (--usage-report-name, or $POD_NAME from the Deployment's downward API); ApiKeys get no lastUsedAt from this replica")
		return nil, nil
	}
	m := usage.NewMetrics()
	for _, c := range m.Collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the usage report's metrics: %w", err)
		}
	}
	rec := usage.NewRecorder(time.Now())
	f := &usage.Flusher{Client: mgr.GetClient(), Entries: ix.AppendEntries, Recorder: rec,
		Namespace: opts.Namespace, Name: opts.UsageReportName, Interval: opts.UsageFlushInterval, Metrics: m, Log: log}
	if err := mgr.Add(f); err != nil {
		return nil, fmt.Errorf("adding the usage report's flusher: %w", err)
	}
	return rec, nil
}
