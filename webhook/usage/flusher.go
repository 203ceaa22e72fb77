package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/webhook/index"
)

// FieldOwner is the server-side apply field manager of the auth server's
// reports.
const FieldOwner = "keygate-auth-server"

// writeTimeout bounds one write of the report.
const writeTimeout = 10 * time.Second

// Flusher writes one replica's UsageReport every Interval, when it
// changed. It runs on every replica (no leader election).
type Flusher struct {
	// Client writes the report (server-side apply); it reads nothing.
	Client client.Client
	// Entries appends the index's entries to its argument
	// (index.Index.AppendEntries).
	Entries  func([]*index.Entry) []*index.Entry
	Recorder *Recorder
	// Namespace and Name of the report: keygate's namespace and the pod.
	Namespace, Name string
	Interval        time.Duration
	Limits          Limits
	// Clock ticks the intervals; nil means the real clock.
	Clock   clock.WithTicker
	Metrics *Metrics
	Log     logr.Logger

	last        []keygatev1alpha1.APIKeyUsage // what was written last
	lastDropped int64
	buf         []*index.Entry
}

var _ manager.LeaderElectionRunnable = (*Flusher)(nil)

// NeedLeaderElection is false: every replica reports what it admitted.
func (f *Flusher) NeedLeaderElection() bool { return false }

// Start flushes every Interval until ctx ends, then once more.
func (f *Flusher) Start(ctx context.Context) error {
	if f.Clock == nil {
		f.Clock = clock.RealClock{}
	}
	t := f.Clock.NewTicker(f.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			_, _ = f.Flush(ctx)
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
			defer cancel()
			_, _ = f.Flush(final)
			return nil
		}
	}
}

// Flush starts a new interval and writes the report when it differs from
// the last one written. A failure is logged and counted; the next Flush
// tries again.
func (f *Flusher) Flush(ctx context.Context) (wrote bool, err error) {
	now := time.Now()
	if f.Clock != nil {
		now = f.Clock.Now()
	}
	f.Recorder.Advance(now)
	f.buf = f.Entries(f.buf[:0])
	keys, dropped := Build(f.buf, f.Limits)
	clear(f.buf) // hold no entry the index has dropped
	f.Metrics.built(keys, dropped)
	if dropped > 0 && f.lastDropped == 0 {
		f.Log.Info("the usage report is full: the least recently used keys are left out of it (keygate_usage_report_dropped_keys)",
			"report", f.Name, "dropped", dropped)
	}
	if dropped == f.lastDropped && equality.Semantic.DeepEqual(keys, f.last) {
		return false, nil
	}
	if err := f.write(ctx, now, keys, dropped); err != nil {
		f.Metrics.wrote(err)
		f.Log.Error(err, "writing the usage report failed; retrying at the next flush", "report", f.Namespace+"/"+f.Name)
		return false, err
	}
	f.Metrics.wrote(nil)
	f.last, f.lastDropped = keys, dropped
	return true, nil
}

func (f *Flusher) write(ctx context.Context, now time.Time, keys []keygatev1alpha1.APIKeyUsage, dropped int64) error {
	r := &keygatev1alpha1.UsageReport{
		TypeMeta:   metav1.TypeMeta{APIVersion: keygatev1alpha1.GroupVersion.String(), Kind: "UsageReport"},
		ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: f.Name},
		Spec: keygatev1alpha1.UsageReportSpec{FlushedAt: metav1.NewTime(now.UTC().Truncate(time.Second)),
			Interval: metav1.Duration{Duration: f.Interval}, APIKeys: keys, Dropped: dropped},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
	if err != nil {
		return fmt.Errorf("encoding the usage report: %w", err)
	}
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return f.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// Metrics are a flusher's collectors, registered by the auth server's
// setup. A nil *Metrics counts nothing.
type Metrics struct {
	keys, dropped prometheus.Gauge
	writes        *prometheus.CounterVec
}

// NewMetrics makes the collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		keys: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keygate_usage_report_keys",
			Help: "Keys in this replica's usage report: the keys it admitted since it started, within the report's bounds."}),
		dropped: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keygate_usage_report_dropped_keys",
			Help: "Keys admitted by this replica but left out of its usage report because the report is full (least recently used first)."}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keygate_usage_report_writes_total",
			Help: "Writes of this replica's usage report, by result (ok, error); a failed write is retried at the next flush."}, []string{"result"}),
	}
}

// Collectors are the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.keys, m.dropped, m.writes}
}

func (m *Metrics) built(keys []keygatev1alpha1.APIKeyUsage, dropped int64) {
	if m == nil {
		return
	}
	n := 0
	for _, k := range keys {
		n += len(k.Keys)
	}
	m.keys.Set(float64(n))
	m.dropped.Set(float64(dropped))
}

func (m *Metrics) wrote(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.writes.WithLabelValues("error").Inc()
		return
	}
	m.writes.WithLabelValues("ok").Inc()
}
