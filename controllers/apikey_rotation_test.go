package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// Rotation, grace and expiry move with a fake clock: the reconciler is
// driven by hand, and RequeueAfter is checked to be exactly the next event.

func rotatingSpec() keygatev1alpha1.ApiKeySpec {
	return keygatev1alpha1.ApiKeySpec{Subject: "acme", Prefix: "wfx_", Rotation: &keygatev1alpha1.Rotation{
		Every: metav1.Duration{Duration: time.Hour}, GracePeriod: metav1.Duration{Duration: 10 * time.Minute},
	}}
}

func TestRotationBySchedulePrunesAfterGrace(t *testing.T) {
	ns := newNamespace(t)
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	ak := createAPIKey(t, ns, "sdk", rotatingSpec())

	res := d.mustReconcile(t, ak)
	s1 := readState(t, ak)
	if n := d.writes.n.Load(); n != 3 {
		t.Errorf("a new ApiKey took %d writes, want 3 (record, delivery Secret, status)", n)
	}
	if res.RequeueAfter != time.Hour {
		t.Errorf("RequeueAfter = %v, want exactly the rotation in 1h", res.RequeueAfter)
	}
	if !strings.HasPrefix(s1.key, "wfx_") || len(s1.record.Keys) != 1 || s1.entry(s1.key) == nil || s1.entry(s1.key).NotAfter != nil {
		t.Fatalf("after issue: key prefix or record wrong: record %+v", s1.record.Keys)
	}
	st := s1.ak.Status
	h1 := record.HashKey(s1.key)
	if st.KeyID != h1.KeyID() || st.Hint != record.Hint(s1.key) || !st.IssuedAt.Equal(&metav1.Time{Time: t0}) ||
		!st.NextRotationAt.Time.Equal(at(time.Hour)) || st.ActiveKeys != 1 || s1.ready().Status != metav1.ConditionTrue {
		t.Fatalf("status after issue: %+v", st)
	}

	d.mustReconcile(t, ak)
	if n := d.writes.n.Load(); n != 3 {
		t.Errorf("a reconcile with nothing to do wrote %d times", n-3)
	}

	d.clock.SetTime(at(time.Hour))
	res = d.mustReconcile(t, ak)
	s2 := readState(t, ak)
	if s2.key == s1.key {
		t.Fatal("the scheduled rotation did not replace the key")
	}
	old := s2.entry(s1.key)
	if s2.entry(s2.key) == nil || s2.entry(s2.key).NotAfter != nil || old == nil || !old.NotAfter.Equal(at(70*time.Minute)) {
		t.Fatalf("after rotation the record is %+v", s2.record.Keys)
	}
	if res.RequeueAfter != 10*time.Minute {
		t.Errorf("RequeueAfter = %v, want the grace end in 10m", res.RequeueAfter)
	}
	if s2.ak.Status.ActiveKeys != 2 || !s2.ak.Status.NextRotationAt.Time.Equal(at(2*time.Hour)) {
		t.Errorf("status after rotation: %+v", s2.ak.Status)
	}
	if !hasEvent(captured.eventsFor(ns, "sdk"), corev1.EventTypeNormal, EventRotated) {
		t.Error("no Rotated event")
	}

	d.clock.SetTime(at(70 * time.Minute))
	res = d.mustReconcile(t, ak)
	s3 := readState(t, ak)
	if len(s3.record.Keys) != 1 || s3.entry(s2.key) == nil || s3.ak.Status.ActiveKeys != 1 {
		t.Fatalf("after the grace the record is %+v, status %+v", s3.record.Keys, s3.ak.Status)
	}
	if res.RequeueAfter != 50*time.Minute {
		t.Errorf("RequeueAfter = %v, want the next rotation in 50m", res.RequeueAfter)
	}
}

func TestRotationByAnnotation(t *testing.T) {
	ns := newNamespace(t)
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme"}, func(a *keygatev1alpha1.ApiKey) {
		a.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: "created-with-it"}
	})
	if res := d.mustReconcile(t, ak); res.RequeueAfter != 0 {
		t.Errorf("nothing is scheduled, yet RequeueAfter = %v", res.RequeueAfter)
	}
	s1 := readState(t, ak)
	d.mustReconcile(t, ak)
	if s := readState(t, ak); s.key != s1.key || s1.ak.Status.NextRotationAt != nil {
		t.Fatal("an annotation present at creation rotated the key a second time, or nextRotationAt is set without a schedule")
	}

	d.clock.SetTime(at(5 * time.Minute))
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Annotations[keygatev1alpha1.AnnotationRotate] = "2026-03-01" })
	res := d.mustReconcile(t, ak)
	s2 := readState(t, ak)
	if s2.key == s1.key || !strings.HasPrefix(s2.key, "sk_") {
		t.Fatal("a new keygate.dev/rotate value did not rotate the key")
	}
	if e := s2.entry(s1.key); e == nil || !e.NotAfter.Equal(at(5*time.Minute+DefaultGracePeriod)) {
		t.Fatalf("the old key should stay for the default grace: %+v", s2.record.Keys)
	}
	if res.RequeueAfter != DefaultGracePeriod {
		t.Errorf("RequeueAfter = %v, want the grace end", res.RequeueAfter)
	}
	d.mustReconcile(t, ak)
	if s := readState(t, ak); s.key != s2.key {
		t.Fatal("the same annotation value rotated twice")
	}
}

func TestExpiryAndDisabled(t *testing.T) {
	ns := newNamespace(t)
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	exp := metav1.NewTime(at(30 * time.Minute))
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", ExpiresAt: &exp})
	if res := d.mustReconcile(t, ak); res.RequeueAfter != 30*time.Minute {
		t.Errorf("RequeueAfter = %v, want exactly expiresAt", res.RequeueAfter)
	}
	s := readState(t, ak)
	if s.record.ExpiresAt == nil || !s.record.ExpiresAt.Equal(exp.Time) || s.ready().Status != metav1.ConditionTrue {
		t.Fatalf("before expiry: record expiresAt %v, Ready %+v", s.record.ExpiresAt, s.ready())
	}

	d.clock.SetTime(exp.Time)
	d.mustReconcile(t, ak)
	s = readState(t, ak)
	if c := s.ready(); c.Status != metav1.ConditionFalse || c.Reason != keygatev1alpha1.ReasonExpired || s.ak.Status.ActiveKeys != 0 {
		t.Fatalf("at expiresAt: Ready %+v, activeKeys %d", c, s.ak.Status.ActiveKeys)
	}
	if !hasEvent(captured.eventsFor(ns, "sdk"), corev1.EventTypeWarning, EventExpired) {
		t.Error("no Expired event")
	}
	lastTransition := s.ready().LastTransitionTime

	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.ExpiresAt = nil; a.Spec.Disabled = true })
	d.clock.SetTime(at(time.Hour))
	d.mustReconcile(t, ak)
	s = readState(t, ak)
	if c := s.ready(); c.Reason != keygatev1alpha1.ReasonDisabled || c.ObservedGeneration != s.ak.Generation || !c.LastTransitionTime.Equal(&lastTransition) {
		t.Fatalf("disabled: Ready %+v (lastTransitionTime must not move while Ready stays False)", c)
	}
	if !s.record.Disabled {
		t.Fatal("the record does not carry disabled")
	}

	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.Disabled = false })
	d.mustReconcile(t, ak)
	s = readState(t, ak)
	if c := s.ready(); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Time.Equal(at(time.Hour)) || s.record.Disabled {
		t.Fatalf("re-enabled: Ready %+v", c)
	}
}

func TestGitOpsNotAfterAndNoValidKey(t *testing.T) {
	ns := newNamespace(t)
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	k1, k2 := mustKey(t, "sk_"), mustKey(t, "sk_")
	end := metav1.NewTime(at(time.Hour))
	ak := createAPIKey(t, ns, "gitops", keygatev1alpha1.ApiKeySpec{Subject: "acme", KeyHashes: []keygatev1alpha1.KeyHash{
		{SHA256: record.HashKey(k1).String(), NotAfter: &end},
	}})
	if res := d.mustReconcile(t, ak); res.RequeueAfter != time.Hour {
		t.Errorf("RequeueAfter = %v, want the notAfter", res.RequeueAfter)
	}
	s := readState(t, ak)
	if s.delivery != nil || len(s.record.Keys) != 1 || s.ak.Status.KeyID != record.HashKey(k1).KeyID() || s.ak.Status.Hint != "" {
		t.Fatalf("GitOps: delivery %v, record %+v, status %+v", s.delivery, s.record.Keys, s.ak.Status)
	}
	d.clock.SetTime(end.Time)
	d.mustReconcile(t, ak)
	s = readState(t, ak)
	if c := s.ready(); c.Reason != keygatev1alpha1.ReasonNoValidKey || len(s.record.Keys) != 0 {
		t.Fatalf("past notAfter: Ready %+v, record %+v", c, s.record.Keys)
	}
	update(t, ak, func(a *keygatev1alpha1.ApiKey) {
		a.Spec.KeyHashes = append(a.Spec.KeyHashes, keygatev1alpha1.KeyHash{SHA256: record.HashKey(k2).String()})
	})
	d.mustReconcile(t, ak)
	if s = readState(t, ak); s.ready().Status != metav1.ConditionTrue || s.entry(k2) == nil {
		t.Fatalf("new hash: Ready %+v", s.ready())
	}
}
