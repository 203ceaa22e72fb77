package controllers

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// DefaultMaxConcurrentReconciles is how many objects of each kind are
// reconciled at once; the work is API round trips, not CPU.
const DefaultMaxConcurrentReconciles = 8

// Options configure the controllers.
type Options struct {
	// Namespace is keygate's namespace, where records are written.
	// Default keygate-system.
	Namespace string
	// WatchNamespaces limits the ApiKeys and RateLimitPolicies compiled to
	// these namespaces. Empty means every namespace.
	WatchNamespaces []string
	// Clock tells the time; tests inject a fake one. Default: the real clock.
	Clock clock.PassiveClock
	// EventRecorder records events on ApiKeys and RateLimitPolicies.
	// Default: the manager's recorder for "keygate-controller".
	EventRecorder events.EventRecorder
	// MaxConcurrentReconciles per kind. Default DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// ExpiryWarnings are the lead times of the ExpiringSoon event on an
	// ApiKey (keygate controller's default: DefaultExpiryWarnings). Empty:
	// no Expiring condition and no event.
	ExpiryWarnings []time.Duration
	// UnusedAfter is how long no key of an ApiKey may go unused before the
	// Unused event (keygate controller's default: DefaultUnusedAfter). 0:
	// no Unused condition and no event.
	UnusedAfter time.Duration
	// APIKeyMetrics exports the keygate_apikey_* metrics, one series per
	// ApiKey and metric (apikey_metrics.go).
	APIKeyMetrics bool
	// MetricsRegistry is where APIKeyMetrics are registered. Default:
	// controller-runtime's registry, served on the manager's /metrics.
	MetricsRegistry prometheus.Registerer
	// UsageGranularity is the window of status.lastUsedAt: the usage
	// controller writes an ApiKey's last use at most once per window, as
	// the window's start. Default DefaultUsageGranularity.
	UsageGranularity time.Duration
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = record.DefaultNamespace
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if o.UsageGranularity <= 0 {
		o.UsageGranularity = DefaultUsageGranularity
	}
	return o
}

// watches reports whether objects of namespace ns are compiled.
func (o Options) watches(ns string) bool {
	if len(o.WatchNamespaces) == 0 {
		return true
	}
	for _, w := range o.WatchNamespaces {
		if w == ns {
			return true
		}
	}
	return false
}

// compiles reports whether objects of namespace ns are compiled: watched,
// and not keygate's own namespace, where the records live.
func (o Options) compiles(ns string) bool {
	return ns != o.Namespace && o.watches(ns)
}

// managedSelector selects every Secret keygate writes: records and
// delivery Secrets.
var managedSelector = labels.SelectorFromSet(labels.Set{record.LabelManagedBy: record.ManagedByValue})

// CacheOptions is the manager cache the controllers need: Secrets only when
// labelled as keygate's (so the cluster's other Secrets never enter memory),
// ApiKeys and RateLimitPolicies in every namespace or the watched ones, and
// the auth servers' UsageReports in keygate's namespace. Managed fields are
// dropped from cached objects.
func CacheOptions(opts Options) cache.Options {
	opts = opts.withDefaults()
	secret := cache.ByObject{Label: managedSelector}
	co := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if len(opts.WatchNamespaces) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{}
		secret.Namespaces = map[string]cache.Config{opts.Namespace: {}}
		for _, ns := range opts.WatchNamespaces {
			co.DefaultNamespaces[ns] = cache.Config{}
			secret.Namespaces[ns] = cache.Config{}
		}
	}
	co.ByObject = map[client.Object]cache.ByObject{&corev1.Secret{}: secret,
		// The auth servers' usage reports live in keygate's namespace only.
		&keygatev1alpha1.UsageReport{}: {Namespaces: map[string]cache.Config{opts.Namespace: {}}}}
	return co
}

// Setup registers the ApiKey and RateLimitPolicy controllers with mgr. The
// manager's cache must have been built from CacheOptions(opts).
func Setup(mgr manager.Manager, opts Options) error {
	opts = opts.withDefaults()
	if opts.EventRecorder == nil {
		opts.EventRecorder = mgr.GetEventRecorder("keygate-controller")
	}
	ak := &ApiKeyReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Claims:    mgr.GetCache(),
		Options:   opts,
	}
	if err := ak.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ApiKey controller: %w", err)
	}
	if opts.APIKeyMetrics {
		if err := setupAPIKeyMetrics(mgr, opts); err != nil {
			return err
		}
	}
	if err := setupUsage(mgr, opts); err != nil {
		return err
	}
	rlp := &RateLimitPolicyReconciler{Client: mgr.GetClient(), Options: opts}
	if err := rlp.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the RateLimitPolicy controller: %w", err)
	}
	return nil
}
