package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// Per-ApiKey metrics, as cert-manager exports per Certificate: one series
// per ApiKey and metric, labelled namespace and name only, so the
// cardinality is the number of ApiKeys. A collector reads the manager's
// cache at scrape time: nothing is kept per ApiKey (a deleted ApiKey's
// series are gone at the next scrape), and a scrape writes nothing. Only
// the elected replica exports them; a standby's would repeat the leader's.
// No series carries a key, a hash or a keyId.

var apiKeyLabels = []string{"namespace", "name"}

var (
	descAPIKeyExpiration = prometheus.NewDesc("keygate_apikey_expiration_timestamp_seconds",
		"Unix time from which the ApiKey accepts no key: spec.expiresAt or, in GitOps mode when every hash has a notAfter, the last of them. Absent when it does not expire.",
		apiKeyLabels, nil)
	descAPIKeyNextRotation = prometheus.NewDesc("keygate_apikey_next_rotation_timestamp_seconds",
		"Unix time of the ApiKey's next scheduled rotation (status.nextRotationAt). Absent without a schedule.",
		apiKeyLabels, nil)
	descAPIKeyLastUsed = prometheus.NewDesc("keygate_apikey_last_used_timestamp_seconds",
		"Unix time of the start of the last usage window in which the auth server admitted a key of the ApiKey (status.lastUsedAt). Absent while none was used.",
		apiKeyLabels, nil)
	descAPIKeyReady = prometheus.NewDesc("keygate_apikey_ready",
		"1 when the ApiKey's Ready condition is True, else 0.",
		apiKeyLabels, nil)
	descAPIKeyUnused = prometheus.NewDesc("keygate_apikey_unused",
		"1 when the ApiKey's Unused condition is True (no key used for the controller's --unused-after), 0 when False. Absent when keygate does not watch its use (not served, or --unused-after=0).",
		apiKeyLabels, nil)
	descRetiringExpiration = prometheus.NewDesc("keygate_apikey_retiring_key_expiration_timestamp_seconds",
		"Unix time at which the next old key of the ApiKey stops working: of status.keys not current (in a grace period, or a GitOps hash with a notAfter), the one that ends first. Absent when there is none.",
		apiKeyLabels, nil)
	descRetiringLastUsed = prometheus.NewDesc("keygate_apikey_retiring_key_last_used_timestamp_seconds",
		"Unix time of the start of the last usage window in which the auth server admitted that old key. Absent while it was not used.",
		apiKeyLabels, nil)
)

// collectTimeout bounds a scrape's read of the cache (synced once elected).
const collectTimeout = 5 * time.Second

// apiKeyCollector exports the per-ApiKey metrics from the cache.
type apiKeyCollector struct {
	cache   client.Reader
	elected <-chan struct{}
	log     logr.Logger
}

var _ prometheus.Collector = (*apiKeyCollector)(nil)

// setupAPIKeyMetrics registers the collector on opts.MetricsRegistry.
func setupAPIKeyMetrics(mgr manager.Manager, opts Options) error {
	reg := opts.MetricsRegistry
	if reg == nil {
		reg = metrics.Registry
	}
	c := &apiKeyCollector{cache: mgr.GetCache(), elected: mgr.Elected(), log: mgr.GetLogger().WithName("apikey-metrics")}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return errors.New("registering the ApiKey metrics: another controller in this process registered them already")
		}
		return fmt.Errorf("registering the ApiKey metrics: %w", err)
	}
	return nil
}

func (c *apiKeyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAPIKeyExpiration, descAPIKeyNextRotation, descAPIKeyLastUsed,
		descAPIKeyReady, descAPIKeyUnused, descRetiringExpiration, descRetiringLastUsed} {
		ch <- d
	}
}

func (c *apiKeyCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var list keygatev1alpha1.ApiKeyList
	// Read only: the cached objects are not copied.
	if err := c.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		c.log.Error(err, "listing ApiKeys for their metrics; this scrape has none")
		return
	}
	for i := range list.Items {
		ak := &list.Items[i]
		for _, s := range apiKeySeries(ak) {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, s.value, ak.Namespace, ak.Name)
		}
	}
}

// sample is one series of one ApiKey.
type sample struct {
	desc  *prometheus.Desc
	value float64
}

// apiKeySeries are the series of one ApiKey, from its spec and status.
func apiKeySeries(ak *keygatev1alpha1.ApiKey) []sample {
	out := make([]sample, 0, 7)
	stamp := func(d *prometheus.Desc, t *metav1.Time) {
		if t != nil && !t.IsZero() {
			out = append(out, sample{d, float64(t.Unix())})
		}
	}
	if end, _, ok := apiKeyExpiry(ak); ok {
		stamp(descAPIKeyExpiration, &metav1.Time{Time: end})
	}
	stamp(descAPIKeyNextRotation, ak.Status.NextRotationAt)
	stamp(descAPIKeyLastUsed, ak.Status.LastUsedAt)
	out = append(out, sample{descAPIKeyReady, conditionValue(meta.FindStatusCondition(ak.Status.Conditions, keygatev1alpha1.ConditionReady))})
	if c := meta.FindStatusCondition(ak.Status.Conditions, keygatev1alpha1.ConditionUnused); c != nil {
		out = append(out, sample{descAPIKeyUnused, conditionValue(c)})
	}
	if k := retiringKey(ak.Status.Keys); k != nil {
		stamp(descRetiringExpiration, k.NotAfter)
		stamp(descRetiringLastUsed, k.LastUsedAt)
	}
	return out
}

func conditionValue(c *metav1.Condition) float64 {
	if c != nil && c.Status == metav1.ConditionTrue {
		return 1
	}
	return 0
}

// retiringKey is the key of keys that is not current and ends first, nil
// when there is none.
func retiringKey(keys []keygatev1alpha1.KeyStatus) *keygatev1alpha1.KeyStatus {
	var first *keygatev1alpha1.KeyStatus
	for i := range keys {
		k := &keys[i]
		if !k.Current && k.NotAfter != nil && (first == nil || k.NotAfter.Before(first.NotAfter)) {
			first = k
		}
	}
	return first
}
