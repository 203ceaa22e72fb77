package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// DefaultUsageGranularity is the default window of status.lastUsedAt.
const DefaultUsageGranularity = time.Hour

// mergeReports merges the replicas' reports: for each ApiKey, by
// namespace/name, the latest use of each key id that any replica
// reported. A time after now (a replica whose clock runs ahead) counts as
// now.
func mergeReports(reports []keygatev1alpha1.UsageReport, now time.Time) map[types.NamespacedName]map[string]time.Time {
	out := map[types.NamespacedName]map[string]time.Time{}
	for i := range reports {
		for _, ak := range reports[i].Spec.APIKeys {
			nn := types.NamespacedName{Namespace: ak.Namespace, Name: ak.Name}
			keys := out[nn]
			if keys == nil {
				keys = map[string]time.Time{}
				out[nn] = keys
			}
			for _, k := range ak.Keys {
				t := k.LastUsedAt.Time
				if t.After(now) {
					t = now
				}
				if t.After(keys[k.KeyID]) {
					keys[k.KeyID] = t
				}
			}
		}
	}
	return out
}

// usageInput is what the usage decision for one ApiKey depends on.
type usageInput struct {
	Status keygatev1alpha1.ApiKeyStatus
	// Used is the latest admission of each key, by keyId, from every
	// replica's report.
	Used map[string]time.Time
	Now  time.Time
	// Granularity is the window length.
	Granularity time.Duration
	// WroteIn is the window of this process's last usage write for the
	// ApiKey (zero: none).
	WroteIn time.Time
}

// usageDecision says what to write.
type usageDecision struct {
	// Status is the status to write; nil when there is nothing to write
	// now.
	Status *keygatev1alpha1.ApiKeyStatus
	// RetryAt is set when a change waits for the next window, because
	// this window already had its write.
	RetryAt time.Time
}

// decideUsage moves status.keys[].lastUsedAt, and status.lastUsedAt with
// the latest of them, forward to the windows of the reported uses, never
// back. Only the key ids in status.keys count: the ApiKey's own keys, so
// that a report naming a deleted ApiKey's keys credits nothing to a new
// one of the same name. It writes at most once per window: when the status
// shows a use in the current window, or this process already wrote in it,
// a change waits for the next window. A key never used changes nothing.
func decideUsage(in usageInput) usageDecision {
	want := in.Status.DeepCopy()
	changed := false
	var latest time.Time
	for i := range want.Keys {
		t, ok := in.Used[want.Keys[i].KeyID]
		if !ok {
			continue
		}
		if t.After(latest) {
			latest = t
		}
		changed = moveForward(&want.Keys[i].LastUsedAt, t.Truncate(in.Granularity)) || changed
	}
	if !latest.IsZero() {
		changed = moveForward(&want.LastUsedAt, latest.Truncate(in.Granularity)) || changed
	}
	if !changed {
		return usageDecision{}
	}
	window := in.Now.Truncate(in.Granularity)
	if !in.WroteIn.Before(window) || (in.Status.LastUsedAt != nil && !in.Status.LastUsedAt.Before(&metav1.Time{Time: window})) {
		return usageDecision{RetryAt: window.Add(in.Granularity)}
	}
	return usageDecision{Status: want}
}

// moveForward sets *t to w when w is after it (or it is unset), and reports
// whether it did.
func moveForward(t **metav1.Time, w time.Time) bool {
	if *t != nil && !w.After((*t).Time) {
		return false
	}
	*t = statusTime(w)
	return true
}
