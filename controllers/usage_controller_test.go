package controllers

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// usageDirect drives a UsageReconciler by hand, with an uncached client,
// the fake clock of the ApiKey reconciler beside it, and counted writes.
// Its reports live in a namespace of the test's own, standing in for
// keygate's, so that no other test's report reaches it.
type usageDirect struct {
	r      *UsageReconciler
	writes *counter
	ns     string
}

func newUsageDirect(t *testing.T, clk *clocktesting.FakePassiveClock) *usageDirect {
	ns := newNamespace(t)
	w := &counter{}
	r := &UsageReconciler{Client: w.wrap(env.Client),
		Options: Options{Namespace: ns, Clock: clk, UsageGranularity: time.Hour}.withDefaults()}
	return &usageDirect{r: r, writes: w, ns: ns}
}

func (u *usageDirect) reconcile(t *testing.T) ctrl.Result {
	t.Helper()
	res, err := u.r.Reconcile(context.Background(), ctrl.Request{})
	if err != nil {
		t.Fatalf("usage reconcile: %v", err)
	}
	return res
}

// report writes the replica's report as an auth server does, flushed at
// the clock's time.
func (u *usageDirect) report(t *testing.T, replica string, at time.Time, keys ...keygatev1alpha1.APIKeyUsage) {
	t.Helper()
	ctx := context.Background()
	r := &keygatev1alpha1.UsageReport{ObjectMeta: metav1.ObjectMeta{Namespace: u.ns, Name: replica}}
	err := env.Client.Get(ctx, client.ObjectKeyFromObject(r), r)
	r.Spec = keygatev1alpha1.UsageReportSpec{FlushedAt: metav1.NewTime(at), Interval: metav1.Duration{Duration: time.Minute}, APIKeys: keys}
	switch {
	case apierrors.IsNotFound(err):
		err = env.Client.Create(ctx, r)
	case err == nil:
		err = env.Client.Update(ctx, r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// used is a report entry: ApiKey ak's key keyID last used at t.
func used(ak *keygatev1alpha1.ApiKey, keyID string, t time.Time) keygatev1alpha1.APIKeyUsage {
	return keygatev1alpha1.APIKeyUsage{Namespace: ak.Namespace, Name: ak.Name,
		Keys: []keygatev1alpha1.KeyUsage{{KeyID: keyID, LastUsedAt: metav1.NewTime(t)}}}
}

// TestUsageWritesOncePerWindow: through two replicas' reports, an ApiKey's
// last use is written at most once per window, as the window's start; an
// ApiKey never used is never written; the ApiKey controller's own writes
// keep what the usage controller wrote, and during a rotation the new
// key's first use, made in a window already written, shows in the next.
func TestUsageWritesOncePerWindow(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(ten)
	d := newDirect(clk, 0)
	u := newUsageDirect(t, clk)
	ns := newNamespace(t)
	ak := createAPIKey(t, ns, "used", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	idle := createAPIKey(t, ns, "idle", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	d.mustReconcile(t, ak)
	d.mustReconcile(t, idle)
	old := readState(t, ak).ak.Status
	if len(old.Keys) != 1 || old.Keys[0].KeyID != old.KeyID || !old.Keys[0].Current || old.LastUsedAt != nil {
		t.Fatalf("a new ApiKey's status.keys = %+v (keyId %s), want its current key, unused", old.Keys, old.KeyID)
	}
	step := func(now time.Duration, replica string, use time.Duration, keyID string, writes int64) ctrl.Result {
		t.Helper()
		clk.SetTime(ten.Add(now))
		u.report(t, replica, ten.Add(now), used(ak, keyID, ten.Add(use)), used(idle, "000000000000", ten.Add(use)))
		res := u.reconcile(t)
		if n := u.writes.n.Load(); n != writes {
			t.Fatalf("at +%v: %d status writes, want %d", now, n, writes)
		}
		return res
	}
	step(6*time.Minute, "replica-a", 5*time.Minute, old.KeyID, 1)
	step(31*time.Minute, "replica-b", 30*time.Minute, old.KeyID, 1)
	step(59*time.Minute, "replica-a", 58*time.Minute, old.KeyID, 1)
	st := readState(t, ak).ak.Status
	if !st.LastUsedAt.Equal(ut(0)) || !st.Keys[0].LastUsedAt.Equal(ut(0)) {
		t.Fatalf("after uses in 10:00-11:00: lastUsedAt %v, keys %+v; want 10:00", st.LastUsedAt, st.Keys)
	}
	step(62*time.Minute, "replica-b", 61*time.Minute, old.KeyID, 2)

	// A rotation: the ApiKey controller's write keeps the last use.
	update(t, ak, func(a *keygatev1alpha1.ApiKey) {
		a.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: "now"}
	})
	d.mustReconcile(t, ak)
	st = readState(t, ak).ak.Status
	if st.KeyID == old.KeyID || len(st.Keys) != 2 || st.Keys[1].KeyID != old.KeyID || !st.Keys[1].LastUsedAt.Equal(ut(time.Hour)) || !st.LastUsedAt.Equal(ut(time.Hour)) {
		t.Fatalf("after a rotation: lastUsedAt %v, keys %+v; want the new key first and the old one's use kept (11:00)", st.LastUsedAt, st.Keys)
	}
	before := u.writes.n.Load()
	res := step(65*time.Minute, "replica-a", 64*time.Minute, st.KeyID, before)
	if res.RequeueAfter != 55*time.Minute {
		t.Fatalf("the new key's use, held back: RequeueAfter %v, want 55m (the next window)", res.RequeueAfter)
	}
	step(2*time.Hour+30*time.Second, "replica-a", 64*time.Minute, st.KeyID, before+1)
	st = readState(t, ak).ak.Status
	if !st.Keys[0].LastUsedAt.Equal(ut(time.Hour)) || !st.LastUsedAt.Equal(ut(time.Hour)) {
		t.Fatalf("in the next window: lastUsedAt %v, keys %+v; want the new key used at 11:00", st.LastUsedAt, st.Keys)
	}
	if st := readState(t, idle).ak.Status; st.LastUsedAt != nil || st.Keys[0].LastUsedAt != nil {
		t.Fatalf("an ApiKey whose keys were never used got %v, %+v (a report naming a key id not its own)", st.LastUsedAt, st.Keys)
	}
}

// TestUsageWriteNeverOverwritesANewerStatus: the usage write carries the
// resourceVersion it read, so a status written since (by the ApiKey
// controller) makes it fail with a conflict instead of being overwritten.
func TestUsageWriteNeverOverwritesANewerStatus(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(ten)
	d := newDirect(clk, 0)
	u := newUsageDirect(t, clk)
	ak := createAPIKey(t, newNamespace(t), "k", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	d.mustReconcile(t, ak)
	stale := readState(t, ak).ak
	newer := stale.DeepCopy()
	newer.Status.Hint = "newer"
	if err := env.Client.Status().Update(context.Background(), newer); err != nil {
		t.Fatal(err)
	}
	stale.Status.LastUsedAt = ut(0)
	err := u.r.write(context.Background(), []*keygatev1alpha1.ApiKey{stale})
	if !apierrors.IsConflict(err) {
		t.Fatalf("a usage write from a stale read: %v, want a conflict", err)
	}
	if st := readState(t, ak).ak.Status; st.Hint != "newer" || st.LastUsedAt != nil {
		t.Fatalf("status after the refused write: hint %q, lastUsedAt %v; want the newer status untouched", st.Hint, st.LastUsedAt)
	}
	if res, err := u.r.Reconcile(context.Background(), ctrl.Request{}); err != nil || res.RequeueAfter != 0 {
		t.Fatalf("no report: %v, %v; want nothing to do", res, err)
	}
}

// TestUsageReportsExpire: a report nobody has written for UsageReportExpiry
// is deleted; a newer one is kept, and the controller comes back when it
// expires.
func TestUsageReportsExpire(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(ten)
	u := newUsageDirect(t, clk)
	u.report(t, "gone", ten.Add(-25*time.Hour))
	u.report(t, "live", ten.Add(-time.Hour))
	res := u.reconcile(t)
	var list keygatev1alpha1.UsageReportList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(u.ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "live" {
		t.Fatalf("reports after collection: %d (%v), want only live", len(list.Items), list.Items)
	}
	if res.RequeueAfter != 23*time.Hour {
		t.Fatalf("RequeueAfter %v, want 23h (when live expires)", res.RequeueAfter)
	}
}
