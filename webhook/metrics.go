package webhook

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keygate-dev/keygate/webhook/check"
)

// serverMetrics are one server's collectors. Setup registers them on
// controller-runtime's registry; a server made by NewServer alone (tests,
// benchmarks) counts into collectors that nothing exports.
type serverMetrics struct {
	decisions     *prometheus.CounterVec
	duration      prometheus.Histogram
	limiterErrors prometheus.Counter
	// missingForwardedFor counts checks without X-Forwarded-For while
	// --trusted-hops > 0 (check.Decider).
	missingForwardedFor prometheus.Counter
	index               indexCollector
	// decisionsDropped counts decisions the decision log had no room for;
	// dlog is the log, nil when it is off.
	decisionsDropped prometheus.Counter
	dlog             *decisionLog
	// counters holds the counter of every method and code, made once, so
	// that counting allocates nothing.
	counters [3]map[string]prometheus.Counter
}

// The labels of keygate_check_decisions_total: the method is the credential
// that decided (none when no credential was used), the code is OK or the
// error code. Both sets are closed, so cardinality is bounded.
var methods = [3]string{check.MethodAPIKey, check.MethodJWT, check.MethodNone}

func newServerMetrics(ix *Index) *serverMetrics {
	m := &serverMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_check_decisions_total",
			Help: "Answers of /check by error code (OK when allowed) and credential method.",
		}, []string{"code", "method"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keygate_check_duration_seconds",
			Help:    "Time to answer /check, from the request read to the answer written.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		limiterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_check_ratelimit_errors_total",
			Help: "Checks whose rate limiter reported an error; the limiter's configured fallback decided them.",
		}),
		missingForwardedFor: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_check_missing_forwarded_for_total",
			Help: "Checks without X-Forwarded-For while --trusted-hops > 0: their client IP is the proxy's, shared by every client.",
		}),
		index:            indexCollector{ix: ix},
		decisionsDropped: newDroppedCounter(),
	}
	for i, meth := range methods {
		m.counters[i] = map[string]prometheus.Counter{}
		for _, c := range check.Codes {
			m.counters[i][c] = m.decisions.WithLabelValues(c, meth)
		}
	}
	return m
}

// register adds the collectors to reg. A second server in one process is
// an error, not a silent takeover of the first one's series.
func (m *serverMetrics) register(reg prometheus.Registerer, more ...prometheus.Collector) error {
	for _, c := range append([]prometheus.Collector{m.decisions, m.duration, m.limiterErrors, m.missingForwardedFor, m.index, m.decisionsDropped}, more...) {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return errors.New("registering the auth server's metrics: another auth server in this process registered them already")
			}
			return err
		}
	}
	return nil
}

// observe counts one answered check, begun at start, and hands it to the
// decision log: both transports call it with their verdict and the
// original request they read (empty when refused before reading it).
func (m *serverMetrics) observe(v *check.Verdict, req *check.Request, start time.Time) {
	m.counter(v.Code(), v.Method()).Inc()
	m.duration.Observe(time.Since(start).Seconds())
	m.dlog.record(v, req, start)
}

func (m *serverMetrics) counter(code, method string) prometheus.Counter {
	i := 2
	switch method {
	case check.MethodAPIKey:
		i = 0
	case check.MethodJWT:
		i = 1
	}
	if c, ok := m.counters[i][code]; ok {
		return c
	}
	return m.decisions.WithLabelValues(code, method)
}

var (
	descKeys = prometheus.NewDesc("keygate_apikeys_loaded",
		"API key hashes in the auth server's index.", nil, nil)
	descPolicies = prometheus.NewDesc("keygate_ratelimit_policies_loaded",
		"RateLimitPolicies compiled in the auth server's index.", nil, nil)
	descUpdated = prometheus.NewDesc("keygate_index_last_update_timestamp_seconds",
		"Unix time of the index's last change; now minus this is the index age.", nil, nil)
	descErrors = prometheus.NewDesc("keygate_record_decode_errors_total",
		"Record Secrets that could not be decoded or compiled and were treated as absent.", nil, nil)
	descMisnamed = prometheus.NewDesc("keygate_record_misnamed_total",
		"Record Secrets ignored because their name is not the one keygate gives their source (a copy, or a Secret keygate did not write).", nil, nil)
)

// indexCollector reports the gauges of one server's index.
type indexCollector struct{ ix *Index }

func (indexCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKeys
	ch <- descPolicies
	ch <- descUpdated
	ch <- descErrors
	ch <- descMisnamed
}

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	if c.ix == nil {
		return
	}
	s := c.ix.Stats()
	ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(descPolicies, prometheus.GaugeValue, float64(s.Policies))
	if !s.LastUpdate.IsZero() {
		ch <- prometheus.MustNewConstMetric(descUpdated, prometheus.GaugeValue, float64(s.LastUpdate.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.DecodeErrors))
	ch <- prometheus.MustNewConstMetric(descMisnamed, prometheus.CounterValue, float64(s.MisnamedRecords))
}
