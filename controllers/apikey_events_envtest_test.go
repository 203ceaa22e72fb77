package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// The lifecycle warnings through the reconciler, against the API server,
// with a fake clock: each event once per lead time or unused spell, in the
// status write that happens anyway or in exactly one more, and never again
// from a restarted controller (a new reconciler, whose memory is empty,
// reading the conditions back).

// newLifecycleDirect is newDirect with the warnings on.
func newLifecycleDirect(clk *clocktesting.FakePassiveClock, unusedAfter time.Duration) *direct {
	d := newDirect(clk, 0)
	d.r.Options.ExpiryWarnings, d.r.Options.UnusedAfter = DefaultExpiryWarnings(), unusedAfter
	return d
}

// countEvents counts the events of reason on ns/name.
func countEvents(ns, name, reason string) int {
	n := 0
	for _, e := range captured.eventsFor(ns, name) {
		if e.Reason == reason && e.Type == corev1.EventTypeWarning {
			n++
		}
	}
	return n
}

func condition(t testing.TB, ak *keygatev1alpha1.ApiKey, typ string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(readState(t, ak).ak.Status.Conditions, typ)
}

func TestExpiringSoonOncePerLeadTime(t *testing.T) {
	ns := newNamespace(t)
	clk := clocktesting.NewFakePassiveClock(t0)
	d := newLifecycleDirect(clk, 0)
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", ExpiresAt: mt(at(5 * 24 * time.Hour))})

	res := d.mustReconcile(t, ak)
	if c := condition(t, ak, keygatev1alpha1.ConditionExpiring); c == nil || c.Reason != "Within168h" || c.Status != metav1.ConditionTrue {
		t.Fatalf("5 days before the expiry: Expiring = %+v, want True Within168h", c)
	}
	if n := countEvents(ns, "sdk", EventExpiringSoon); n != 1 {
		t.Fatalf("%d ExpiringSoon events, want 1 (for the 7-day lead, not yet the 1-day one)", n)
	}
	if n := d.writes.n.Load(); n != 3 {
		t.Errorf("the first reconcile wrote %d times, want 3: the condition rides on the status write", n)
	}
	if res.RequeueAfter != 4*24*time.Hour {
		t.Errorf("RequeueAfter = %v, want the 1-day lead in 4 days", res.RequeueAfter)
	}

	d.mustReconcile(t, ak)
	restarted := newLifecycleDirect(clk, 0)
	restarted.mustReconcile(t, ak)
	if n, w := countEvents(ns, "sdk", EventExpiringSoon), d.writes.n.Load()+restarted.writes.n.Load(); n != 1 || w != 3 {
		t.Fatalf("again, and after a restart: %d events and %d writes, want 1 and 3", n, w)
	}
	// A status write for another reason (a new observedGeneration) is no
	// new warning.
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.Scopes = []string{"more"} })
	restarted.mustReconcile(t, ak)
	if n, w := countEvents(ns, "sdk", EventExpiringSoon), restarted.writes.n.Load(); n != 1 || w == 0 {
		t.Fatalf("after a spec change: %d events and %d writes, want 1 event and the writes of the change", n, w)
	}
	restarted.writes.n.Store(0)

	clk.SetTime(at(4 * 24 * time.Hour))
	res = restarted.mustReconcile(t, ak)
	c := condition(t, ak, keygatev1alpha1.ConditionExpiring)
	if c == nil || c.Reason != "Within24h" || countEvents(ns, "sdk", EventExpiringSoon) != 2 || restarted.writes.n.Load() != 1 {
		t.Fatalf("1 day before: Expiring %+v, %d events, %d writes; want Within24h, 2 events, 1 status write",
			c, countEvents(ns, "sdk", EventExpiringSoon), restarted.writes.n.Load())
	}
	if res.RequeueAfter != 24*time.Hour {
		t.Errorf("RequeueAfter = %v, want the expiry in 1 day", res.RequeueAfter)
	}

	clk.SetTime(at(5 * 24 * time.Hour))
	restarted.mustReconcile(t, ak)
	st := readState(t, ak)
	if st.ready().Reason != keygatev1alpha1.ReasonExpired || meta.FindStatusCondition(st.ak.Status.Conditions, keygatev1alpha1.ConditionExpiring) != nil {
		t.Fatalf("at the expiry: conditions %+v, want Ready Expired and no Expiring", st.ak.Status.Conditions)
	}
	if n := countEvents(ns, "sdk", EventExpiringSoon); n != 2 {
		t.Errorf("%d ExpiringSoon events after the expiry, want still 2", n)
	}

	// A new expiry is warned of again.
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.ExpiresAt = mt(at(8 * 24 * time.Hour)) })
	restarted.mustReconcile(t, ak)
	if c := condition(t, ak, keygatev1alpha1.ConditionExpiring); c == nil || c.Reason != "Within168h" || countEvents(ns, "sdk", EventExpiringSoon) != 3 {
		t.Fatalf("a new expiry 3 days away: Expiring %+v and %d events, want Within168h and 3", c, countEvents(ns, "sdk", EventExpiringSoon))
	}
}

// setLastUsed records a use as the usage controller does: status.lastUsedAt.
func setLastUsed(t testing.TB, ak *keygatev1alpha1.ApiKey, when time.Time) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		cur := &keygatev1alpha1.ApiKey{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ak), cur); err != nil {
			t.Fatal(err)
		}
		cur.Status.LastUsedAt = statusTime(when)
		err := env.Client.Status().Update(ctx, cur)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 10 {
			t.Fatal(err)
		}
	}
}

func TestUnusedOncePerSpell(t *testing.T) {
	ns := newNamespace(t)
	clk := clocktesting.NewFakePassiveClock(t0)
	d := newLifecycleDirect(clk, time.Hour)
	ak := createAPIKey(t, ns, "idle", keygatev1alpha1.ApiKeySpec{Subject: "acme"})

	res := d.mustReconcile(t, ak)
	c := condition(t, ak, keygatev1alpha1.ConditionUnused)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != keygatev1alpha1.ReasonWatching || !c.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("a new ApiKey: Unused = %+v, want False Watching since t0", c)
	}
	if res.RequeueAfter != time.Hour || d.writes.n.Load() != 3 {
		t.Errorf("RequeueAfter %v after %d writes, want 1h (the unused window) after 3", res.RequeueAfter, d.writes.n.Load())
	}

	clk.SetTime(at(time.Hour))
	d.mustReconcile(t, ak)
	if c := condition(t, ak, keygatev1alpha1.ConditionUnused); c == nil || c.Status != metav1.ConditionTrue || c.Reason != keygatev1alpha1.ReasonNoRecentUse {
		t.Fatalf("an hour later, never used: Unused = %+v, want True", c)
	}
	d.mustReconcile(t, ak)
	restarted := newLifecycleDirect(clk, time.Hour)
	if res := restarted.mustReconcile(t, ak); res.RequeueAfter != 0 {
		t.Errorf("an unused ApiKey requeues after %v; it waits for a use", res.RequeueAfter)
	}
	if n, w := countEvents(ns, "idle", EventUnused), d.writes.n.Load()+restarted.writes.n.Load(); n != 1 || w != 4 {
		t.Fatalf("%d Unused events and %d writes, want 1 and 4 (one status write for the warning)", n, w)
	}
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.Scopes = []string{"more"} })
	restarted.mustReconcile(t, ak)
	if n, w := countEvents(ns, "idle", EventUnused), restarted.writes.n.Load(); n != 1 || w == 0 {
		t.Fatalf("after a spec change: %d Unused events and %d writes, want 1 event and the writes of the change", n, w)
	}

	// A use ends the spell; the next one is warned of again.
	setLastUsed(t, ak, at(90*time.Minute))
	clk.SetTime(at(2 * time.Hour))
	res = restarted.mustReconcile(t, ak)
	if c := condition(t, ak, keygatev1alpha1.ConditionUnused); c == nil || c.Status != metav1.ConditionFalse || c.Reason != keygatev1alpha1.ReasonWatching {
		t.Fatalf("after a use: Unused = %+v, want False Watching", c)
	}
	if res.RequeueAfter != 30*time.Minute {
		t.Errorf("RequeueAfter = %v, want the end of the window after the use, in 30m", res.RequeueAfter)
	}
	clk.SetTime(at(150 * time.Minute))
	restarted.mustReconcile(t, ak)
	c = condition(t, ak, keygatev1alpha1.ConditionUnused)
	if n := countEvents(ns, "idle", EventUnused); n != 2 || c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, at(90*time.Minute).Format(time.RFC3339)) {
		t.Fatalf("a second spell: %d events, Unused %+v; want 2, True since the last use", n, c)
	}

	// keygate does not watch the use of an ApiKey it does not serve.
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.Disabled = true })
	restarted.mustReconcile(t, ak)
	if c := condition(t, ak, keygatev1alpha1.ConditionUnused); c != nil {
		t.Errorf("disabled: Unused = %+v, want none", c)
	}
}
