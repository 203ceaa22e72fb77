package ratelimit

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics on controller-runtime's registry. Labels are bounded: policy and
// rule names come from manifests, never from requests.
var (
	decisionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keygate_ratelimit_decisions_total",
		Help: "Rate-limit decisions by rule: allowed counts every rule that counted an admitted request, refused the rule a refusal names.",
	}, []string{"policy", "rule", "outcome"})
	evictionsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keygate_ratelimit_evictions_total",
		Help: "Tracked clients dropped from memory before they had recovered, because the MaxEntries bound was reached. Each such client gets a fresh burst.",
	})
	redisErrorsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keygate_ratelimit_redis_errors_total",
		Help: "Redis calls of the rate limiter that failed.",
	})
	redisFallbackActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "keygate_ratelimit_redis_fallback_active",
		Help: "1 while Redis is unreachable and the OnError behaviour (local, deny or allow) is in force.",
	})
	entriesGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "keygate_ratelimit_tracked_entries",
		Help: "Counters held in memory by the rate limiter (one per rule and client).",
	}, trackedEntries)
)

func init() {
	metrics.Registry.MustRegister(decisionsTotal, evictionsTotal, redisErrorsTotal, redisFallbackActive, entriesGauge)
}

// live holds the memory stores whose entries the gauge reports.
var live struct {
	sync.Mutex
	stores map[*memStore]struct{}
}

func track(m *memStore) {
	live.Lock()
	defer live.Unlock()
	if live.stores == nil {
		live.stores = make(map[*memStore]struct{})
	}
	live.stores[m] = struct{}{}
}

func untrack(m *memStore) {
	live.Lock()
	defer live.Unlock()
	delete(live.stores, m)
}

func trackedEntries() float64 {
	live.Lock()
	defer live.Unlock()
	n := 0
	for m := range live.stores {
		n += m.Len()
	}
	return float64(n)
}
