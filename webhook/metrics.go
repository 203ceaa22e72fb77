package webhook

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/keygate-dev/keygate/webhook/index"
)

// Label values of keygate_check_decisions_total: the method is the
// credential that decided (none when no credential was used), the code is
// OK or the error code. Both sets are closed, so cardinality is bounded.
const (
	methodAPIKey = "apikey"
	methodJWT    = "jwt"
	methodNone   = "none"
	codeOK       = "OK"
)

var (
	checkDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_check_decisions_total",
		Help: "Answers of /check by error code (OK when allowed) and credential method.",
	}, []string{"code", "method"})
	checkDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "keygate_check_duration_seconds",
		Help:    "Time to answer /check, from the request read to the answer written.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	limiterErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keygate_check_ratelimit_errors_total",
		Help: "Checks whose rate limiter reported an error; the limiter's configured fallback decided them.",
	})

	// indexStats is the index the gauges report; Setup sets it.
	indexStats atomic.Pointer[func() index.Stats]
)

var (
	descKeys = prometheus.NewDesc("keygate_apikeys_loaded",
		"API key hashes in the auth server's index.", nil, nil)
	descPolicies = prometheus.NewDesc("keygate_ratelimit_policies_loaded",
		"RateLimitPolicies compiled in the auth server's index.", nil, nil)
	descUpdated = prometheus.NewDesc("keygate_index_last_update_timestamp_seconds",
		"Unix time of the index's last change; now minus this is the index age.", nil, nil)
	descErrors = prometheus.NewDesc("keygate_record_decode_errors_total",
		"Record Secrets that could not be decoded or compiled and were treated as absent.", nil, nil)
)

// indexCollector reports the gauges of the current index.
type indexCollector struct{}

func (indexCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKeys
	ch <- descPolicies
	ch <- descUpdated
	ch <- descErrors
}

func (indexCollector) Collect(ch chan<- prometheus.Metric) {
	f := indexStats.Load()
	if f == nil {
		return
	}
	s := (*f)()
	ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(descPolicies, prometheus.GaugeValue, float64(s.Policies))
	if !s.LastUpdate.IsZero() {
		ch <- prometheus.MustNewConstMetric(descUpdated, prometheus.GaugeValue, float64(s.LastUpdate.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(s.DecodeErrors))
}

func init() {
	metrics.Registry.MustRegister(checkDecisions, checkDuration, limiterErrors, indexCollector{})
}

// decisionCounter returns the counter of one code and method. The counters
// of the codes an answer can have are made once, so counting allocates
// nothing.
func decisionCounter(code, method string) prometheus.Counter {
	m := counters[methodIdx(method)]
	if c, ok := m[code]; ok {
		return c
	}
	return checkDecisions.WithLabelValues(code, method)
}

var counters = func() [3]map[string]prometheus.Counter {
	var out [3]map[string]prometheus.Counter
	for i, m := range []string{methodAPIKey, methodJWT, methodNone} {
		out[i] = map[string]prometheus.Counter{}
		for _, c := range allCodes {
			out[i][c] = checkDecisions.WithLabelValues(c, m)
		}
	}
	return out
}()

func methodIdx(m string) int {
	switch m {
	case methodAPIKey:
		return 0
	case methodJWT:
		return 1
	}
	return 2
}
