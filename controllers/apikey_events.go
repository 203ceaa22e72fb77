package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// The lifecycle warnings of an ApiKey: ExpiringSoon and Unused. Each is a
// condition of the ApiKey's status (Expiring, Unused), decided here by pure
// functions of the ApiKey, the status about to be written and the time.
// The event is emitted when its condition changes, after the status write
// succeeded: a restarted controller reads the condition back and emits
// nothing again. The conditions change only at a lead time or at the end of
// an unused spell, so each costs at most one status write there, and the
// reconciler requeues exactly at the next such instant.

// Event reasons of the lifecycle warnings.
const (
	EventExpiringSoon = "ExpiringSoon"
	EventUnused       = "Unused"
)

// DefaultUnusedAfter is how long no key of an ApiKey may go unused before
// the Unused event: 30 days.
const DefaultUnusedAfter = 720 * time.Hour

// DefaultExpiryWarnings are the lead times of the ExpiringSoon event: 7
// days and 1 day before the ApiKey stops working.
func DefaultExpiryWarnings() []time.Duration { return []time.Duration{168 * time.Hour, 24 * time.Hour} }

// lifecycle is the configuration of the warnings.
type lifecycle struct {
	// leads are the positive ExpiryWarnings, longest first, without
	// duplicates; empty turns Expiring off.
	leads []time.Duration
	// unusedAfter is UnusedAfter; 0 turns Unused off.
	unusedAfter time.Duration
}

func (o Options) lifecycle() lifecycle {
	l := lifecycle{unusedAfter: max(o.UnusedAfter, 0)}
	for _, d := range o.ExpiryWarnings {
		if d > 0 && !slices.Contains(l.leads, d) {
			l.leads = append(l.leads, d)
		}
	}
	slices.Sort(l.leads)
	slices.Reverse(l.leads)
	return l
}

// apiKeyExpiry is when the ApiKey stops accepting any key, and what sets
// that instant: spec.expiresAt or, in GitOps mode when every hash has a
// notAfter, the last of them; whichever comes first.
func apiKeyExpiry(ak *keygatev1alpha1.ApiKey) (time.Time, string, bool) {
	var end time.Time
	what := ""
	if ak.Spec.ExpiresAt != nil {
		end, what = ak.Spec.ExpiresAt.Time, "spec.expiresAt"
	}
	var last time.Time
	for _, k := range ak.Spec.KeyHashes {
		if k.NotAfter == nil {
			last = time.Time{}
			break
		}
		if k.NotAfter.After(last) {
			last = k.NotAfter.Time
		}
	}
	if !last.IsZero() && (end.IsZero() || last.Before(end)) {
		end, what = last, "the last notAfter of spec.keyHashes"
	}
	return end, what, !end.IsZero()
}

// ShortDuration writes d as it is most likely given on a command line:
// 168h for 168h0m0s, 1h30m for 1h30m0s, 45s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// expiring is the Expiring condition at now, nil when the ApiKey does not
// stop working within the longest lead time (or has stopped already).
func (l lifecycle) expiring(ak *keygatev1alpha1.ApiKey, now time.Time) *metav1.Condition {
	end, what, ok := apiKeyExpiry(ak)
	if !ok || !now.Before(end) {
		return nil
	}
	var lead time.Duration
	for _, d := range l.leads {
		if end.Sub(now) <= d {
			lead = d // leads run longest first: the last one crossed is the shortest
		}
	}
	if lead == 0 {
		return nil
	}
	todo := "Move spec.expiresAt later to keep it working, or let it expire."
	if what != "spec.expiresAt" {
		todo = "Add the hash of a new key (keygate keygen) to keep it working."
	}
	return &metav1.Condition{
		Type: keygatev1alpha1.ConditionExpiring, Status: metav1.ConditionTrue,
		Reason: keygatev1alpha1.ReasonExpiringWithin + ShortDuration(lead),
		Message: fmt.Sprintf("%s (%s) is less than %s away: from then on every key of this ApiKey is refused. %s",
			what, end.UTC().Format(time.RFC3339), ShortDuration(lead), todo),
	}
}

// unused is the Unused condition at now, from the condition as it stands
// (prev, nil when absent) and the ApiKey's last use (nil: never used); and,
// while it is False, when it turns True by itself. Its message depends on
// neither the clock nor a new use, so a use writes no condition. The time counts from the
// last use or, for an ApiKey never used, from when keygate began to watch
// it: the LastTransitionTime of the False condition, set on its first
// reconcile (so an ApiKey older than the tracking of use is not reported
// at once).
func (l lifecycle) unused(prev *metav1.Condition, lastUsed *metav1.Time, now time.Time) (*metav1.Condition, time.Time) {
	var since time.Time // zero: Unused already, and never used
	switch {
	case lastUsed != nil:
		since = lastUsed.Time
	case prev == nil:
		since = statusTime(now).Time
	case prev.Status != metav1.ConditionTrue:
		since = prev.LastTransitionTime.Time
	}
	due := since.Add(l.unusedAfter)
	c := &metav1.Condition{Type: keygatev1alpha1.ConditionUnused, Status: metav1.ConditionFalse}
	switch {
	case !now.Before(due) && lastUsed != nil:
		c.Status, c.Reason = metav1.ConditionTrue, keygatev1alpha1.ReasonNoRecentUse
		c.Message = fmt.Sprintf("No key of this ApiKey has been used since %s, %s or more ago. %s",
			since.UTC().Format(time.RFC3339), ShortDuration(l.unusedAfter), unusedTodo)
	case !now.Before(due):
		c.Status, c.Reason = metav1.ConditionTrue, keygatev1alpha1.ReasonNoRecentUse
		c.Message = fmt.Sprintf("No key of this ApiKey has been used in the %s since keygate began to watch it. %s",
			ShortDuration(l.unusedAfter), unusedTodo)
	default:
		c.Reason = keygatev1alpha1.ReasonWatching
		c.Message = fmt.Sprintf("A key of this ApiKey was used, or keygate began to watch its use, less than %s ago; keygate records the event Unused when none has been used for %s.",
			ShortDuration(l.unusedAfter), ShortDuration(l.unusedAfter))
	}
	if c.Status == metav1.ConditionTrue {
		return c, time.Time{}
	}
	return c, due
}

const unusedTodo = "If no client needs it, delete it or set spec.disabled; if one should, check that it sends this key."

// served reports whether the status about to be written says keygate
// serves the ApiKey's keys; the lifecycle warnings are for those only.
// A failed write or a conflict does not count as not served: the
// conditions stay, so a transient error never repeats an event.
func served(st *keygatev1alpha1.ApiKeyStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, keygatev1alpha1.ConditionReady)
	if c == nil {
		return false
	}
	switch c.Reason {
	case keygatev1alpha1.ReasonDisabled, keygatev1alpha1.ReasonExpired,
		keygatev1alpha1.ReasonNoValidKey, keygatev1alpha1.ReasonReservedNamespace:
		return false
	}
	return true
}

// setLifecycle sets or removes the Expiring and Unused conditions of st,
// the status about to be written for ak, and returns when they next change
// by themselves (zero: never). lastUsed is the later of the stored
// status.lastUsedAt and the one about to be written.
func (l lifecycle) setLifecycle(st *keygatev1alpha1.ApiKeyStatus, ak *keygatev1alpha1.ApiKey, now time.Time) time.Time {
	var wake time.Time
	consider := func(t time.Time) {
		if t.After(now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	if !served(st) {
		meta.RemoveStatusCondition(&st.Conditions, keygatev1alpha1.ConditionExpiring)
		meta.RemoveStatusCondition(&st.Conditions, keygatev1alpha1.ConditionUnused)
		return wake
	}
	set := func(typ string, c *metav1.Condition) {
		if c == nil {
			meta.RemoveStatusCondition(&st.Conditions, typ)
			return
		}
		c.ObservedGeneration, c.LastTransitionTime = ak.Generation, *statusTime(now)
		meta.SetStatusCondition(&st.Conditions, *c)
	}
	set(keygatev1alpha1.ConditionExpiring, l.expiring(ak, now))
	if end, _, ok := apiKeyExpiry(ak); ok && len(l.leads) > 0 {
		for _, d := range l.leads {
			consider(end.Add(-d))
		}
		consider(end)
	}
	if l.unusedAfter <= 0 {
		set(keygatev1alpha1.ConditionUnused, nil)
		return wake
	}
	c, due := l.unused(meta.FindStatusCondition(st.Conditions, keygatev1alpha1.ConditionUnused),
		laterTime(st.LastUsedAt, ak.Status.LastUsedAt), now)
	set(keygatev1alpha1.ConditionUnused, c)
	consider(due)
	return wake
}

// usedAgain passes the status update that brings a new status.lastUsedAt to
// an ApiKey whose Unused condition is True, so that the condition clears at
// once rather than at the next reconcile.
func usedAgain() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		old, okOld := e.ObjectOld.(*keygatev1alpha1.ApiKey)
		cur, okNew := e.ObjectNew.(*keygatev1alpha1.ApiKey)
		return okOld && okNew && meta.IsStatusConditionTrue(cur.Status.Conditions, keygatev1alpha1.ConditionUnused) &&
			cur.Status.LastUsedAt != nil && !cur.Status.LastUsedAt.Equal(old.Status.LastUsedAt)
	}}
}

// earlier is the earlier of two instants, zero meaning none.
func earlier(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func laterTime(a, b *metav1.Time) *metav1.Time {
	if a == nil || (b != nil && b.After(a.Time)) {
		return b
	}
	return a
}

// lifecycleEvents warns, after the status write, of the lifecycle
// conditions that changed: ExpiringSoon for a new lead time crossed or a
// new expiry, Unused when the ApiKey turns unused.
func (r *ApiKeyReconciler) lifecycleEvents(ak *keygatev1alpha1.ApiKey, old, now keygatev1alpha1.ApiKeyStatus) {
	was := meta.FindStatusCondition(old.Conditions, keygatev1alpha1.ConditionExpiring)
	is := meta.FindStatusCondition(now.Conditions, keygatev1alpha1.ConditionExpiring)
	if is != nil && is.Status == metav1.ConditionTrue &&
		(was == nil || was.Status != is.Status || was.Reason != is.Reason || was.Message != is.Message) {
		r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeWarning, EventExpiringSoon, "Expire", "%s", is.Message)
	}
	was = meta.FindStatusCondition(old.Conditions, keygatev1alpha1.ConditionUnused)
	is = meta.FindStatusCondition(now.Conditions, keygatev1alpha1.ConditionUnused)
	if is != nil && is.Status == metav1.ConditionTrue && (was == nil || was.Status != metav1.ConditionTrue) {
		r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeWarning, EventUnused, "Watch", "%s", is.Message)
	}
}
