package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// A crash can happen between any two writes. For every N, the script below
// (create, scheduled rotation, rotation on request while the first key is
// still in its grace, prune) runs with the Nth write failing; then a fresh
// reconciler (as after a restart) reconciles once, and the invariants must
// hold:
//   - right after the crash, the delivery Secret holds a key the record
//     accepts; after recovery, that key is current or in its full grace;
//   - after recovery, the delivery Secret's key is the record's current key;
//   - no key valid before the failed step lost validity or grace;
//   - a hash published but never delivered ends within the grace period;
//   - status names the delivered key;
//   - one more reconcile writes nothing (the state converged).

type crashStep struct {
	at     time.Duration
	rotate string // new keygate.dev/rotate value, if any
}

var crashScript = []crashStep{
	{at: 0},         // issue
	{at: time.Hour}, // scheduled rotation
	{at: time.Hour + time.Minute, rotate: "now"}, // rotation on request, first key in grace
	{at: time.Hour + 11*time.Minute},             // first key's grace over: prune
}

func TestCrashAtEveryWrite(t *testing.T) {
	injected := 0
	for n := int64(1); ; n++ {
		var failed bool
		t.Run(fmt.Sprintf("fail-write-%d", n), func(t *testing.T) { failed = crashRun(t, n) })
		if !failed {
			break
		}
		injected++
	}
	// create (3 writes) and two rotations (3 each) at least.
	if injected < 9 {
		t.Fatalf("only %d writes could be failed; the script does not cover a create and a rotation", injected)
	}
}

// crashRun runs the script with the nth write failing and reports whether
// a failure was injected.
func crashRun(t *testing.T, n int64) bool {
	ns := newNamespace(t)
	clk := clocktesting.NewFakePassiveClock(t0)
	d := newDirect(clk, n)
	spec := rotatingSpec()
	grace := spec.Rotation.GracePeriod.Duration
	ak := createAPIKey(t, ns, "sdk", spec)
	for i, step := range crashScript {
		clk.SetTime(at(step.at))
		if step.rotate != "" {
			update(t, ak, func(a *keygatev1alpha1.ApiKey) {
				a.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: step.rotate}
			})
		}
		pre := readState(t, ak)
		_, err := d.reconcile(ak)
		if err != nil && !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("step %d: unexpected error %v", i, err)
		}
		if err == nil && d.writes.n.Load() < n {
			checkCrashInvariants(t, pre, readState(t, ak), clk.Now(), grace)
			continue
		}
		if err == nil {
			t.Fatalf("step %d: write %d failed but the reconcile reported success", i, n)
		}
		// What the auth server sees right after the crash: the delivery
		// Secret's key must already be accepted.
		mid := readState(t, ak)
		if mid.delivery != nil && (mid.entry(mid.key) == nil || !mid.record.ValidAt(*mid.entry(mid.key), clk.Now())) {
			t.Fatalf("step %d: after the crash the delivery Secret holds key %s, which the record does not accept",
				i, record.HashKey(mid.key).KeyID())
		}
		fresh := newDirect(clk, 0)
		fresh.mustReconcile(t, ak)
		post := readState(t, ak)
		checkCrashInvariants(t, pre, post, clk.Now(), grace)
		if e := post.entry(mid.key); mid.delivery != nil && (e == nil || (e.NotAfter != nil && e.NotAfter.Before(clk.Now().Add(grace)))) {
			t.Errorf("step %d: key %s, delivered at the crash, lost its validity or grace: %+v", i, record.HashKey(mid.key).KeyID(), e)
		}
		before := fresh.writes.n.Load()
		fresh.mustReconcile(t, ak)
		if extra := fresh.writes.n.Load() - before; extra != 0 {
			t.Errorf("step %d: the state did not converge: a second reconcile wrote %d times", i, extra)
		}
		return true
	}
	return false
}

func checkCrashInvariants(t *testing.T, pre, post state, now time.Time, grace time.Duration) {
	t.Helper()
	if post.delivery == nil || post.record == nil {
		t.Fatalf("delivery Secret %v, record %v: both must exist", post.delivery != nil, post.record != nil)
	}
	cur := post.entry(post.key)
	if cur == nil || cur.NotAfter != nil || !post.record.ValidAt(*cur, now) {
		t.Fatalf("the delivered key %s is not the record's current key: %+v", record.HashKey(post.key).KeyID(), post.record.Keys)
	}
	if post.ak.Status.KeyID != record.HashKey(post.key).KeyID() {
		t.Errorf("status keyId %s, delivered %s", post.ak.Status.KeyID, record.HashKey(post.key).KeyID())
	}
	was := map[string]record.KeyHash{}
	if pre.record != nil {
		for _, k := range pre.record.Keys {
			if k.NotAfter == nil || now.Before(*k.NotAfter) {
				was[k.SHA256] = k
			}
		}
	}
	limit := now.Add(grace)
	for h, k := range was {
		var got *record.KeyHash
		for i := range post.record.Keys {
			if post.record.Keys[i].SHA256 == h {
				got = &post.record.Keys[i]
			}
		}
		switch {
		case got == nil:
			t.Errorf("key %s was valid before the step and is gone", h[:12])
		case k.NotAfter != nil && (got.NotAfter == nil || !got.NotAfter.Equal(*k.NotAfter)):
			t.Errorf("key %s in grace until %v now ends at %v", h[:12], k.NotAfter, got.NotAfter)
		case k.NotAfter == nil && got.NotAfter != nil && got.NotAfter.Before(limit):
			t.Errorf("replaced key %s got less than its grace: ends %v", h[:12], got.NotAfter)
		}
	}
	for _, k := range post.record.Keys {
		if _, ok := was[k.SHA256]; ok || k.SHA256 == cur.SHA256 {
			continue
		}
		if k.NotAfter == nil || k.NotAfter.After(limit) {
			t.Errorf("undelivered hash %s stays valid until %v, beyond the grace (%v)", k.SHA256[:12], k.NotAfter, limit)
		}
	}
}
