package ratelimit

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are one limiter's collectors: the auth server makes one, hands
// it to its limiter and to the compiler of its index (Compile), and
// registers Collectors on controller-runtime's registry. Labels are
// bounded: policy and rule names come from manifests, never from requests.
// A limiter made without Metrics counts into collectors nothing exports.
type Metrics struct {
	decisions   *prometheus.CounterVec
	evictions   prometheus.Counter
	redisErrors prometheus.Counter
	fallback    prometheus.Gauge
	entries     prometheus.GaugeFunc

	mu     sync.Mutex
	stores map[*memStore]struct{} // the stores whose entries the gauge reports
}

// NewMetrics makes a limiter's collectors, not registered anywhere.
func NewMetrics() *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_ratelimit_decisions_total",
			Help: "Rate-limit decisions by rule: allowed counts every rule that counted an admitted request, refused the rule a refusal names.",
		}, []string{"policy", "rule", "outcome"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_ratelimit_evictions_total",
			Help: "Tracked clients dropped from memory before they had recovered, because the MaxEntries bound was reached. Each such client gets a fresh burst.",
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keygate_ratelimit_redis_errors_total",
			Help: "Redis calls of the rate limiter that failed.",
		}),
		fallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keygate_ratelimit_redis_fallback_active",
			Help: "1 while Redis is unreachable and the OnError behaviour (local, deny or allow) is in force.",
		}),
		stores: map[*memStore]struct{}{},
	}
	m.entries = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keygate_ratelimit_tracked_entries",
		Help: "Counters held in memory by the rate limiter (one per rule and client).",
	}, m.trackedEntries)
	return m
}

// Collectors are the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.evictions, m.redisErrors, m.fallback, m.entries}
}

// Compile is the package's Compile, counting the policy's decisions in m.
func (m *Metrics) Compile(rec *recordPolicy) (*Policy, error) { return compile(rec, m) }

// unexported is the Metrics of limiters and policies made without one.
var unexported = NewMetrics()

func orUnexported(m *Metrics) *Metrics {
	if m == nil {
		return unexported
	}
	return m
}

func (m *Metrics) track(s *memStore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stores[s] = struct{}{}
}

func (m *Metrics) untrack(s *memStore) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.stores, s)
}

func (m *Metrics) trackedEntries() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for s := range m.stores {
		n += s.Len()
	}
	return float64(n)
}
