package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// keygate's own namespace holds its records: nothing is compiled from it,
// and no delivery Secret is written there.
func TestReservedNamespaceIsRefused(t *testing.T) {
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	ak := createAPIKey(t, testenv.Namespace, "in-keygate-ns", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	d.mustReconcile(t, ak)
	s := readState(t, ak)
	if c := s.ready(); c == nil || c.Reason != keygatev1alpha1.ReasonReservedNamespace || c.Status != metav1.ConditionFalse {
		t.Fatalf("Ready = %+v, want ReservedNamespace", c)
	}
	if s.delivery != nil || s.recordS != nil {
		t.Fatalf("wrote into keygate's namespace: delivery %v, record %v", s.delivery != nil, s.recordS != nil)
	}

	ctx := context.Background()
	p := &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: testenv.Namespace, Name: "in-keygate-ns"},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{
			{Name: "global", Limit: 100, Period: metav1.Duration{Duration: time.Minute}, By: "ip"},
		}},
	}
	if err := env.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	r := &RateLimitPolicyReconciler{Client: env.Client, Options: d.r.Options}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}}); err != nil {
		t.Fatal(err)
	}
	rk := d.r.Options.recordKey(record.KindRateLimitPolicy, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
	if sec, err := getSecret(ctx, env.Client, rk); err != nil || sec != nil {
		t.Fatalf("a policy in keygate's namespace was compiled (%v)", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, p); err != nil {
		t.Fatal(err)
	}
	if len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Reason != keygatev1alpha1.ReasonReservedNamespace {
		t.Fatalf("policy status = %+v, want ReservedNamespace", p.Status.Conditions)
	}
}

// A delivery Secret is in a user's namespace and never carries the labels
// of a record, even when someone put them on it.
func TestDeliverySecretNeverCarriesRecordLabels(t *testing.T) {
	ak := testAPIKey()
	existing := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "sdk", Labels: map[string]string{
		record.LabelKind: record.KindAPIKey, record.LabelSourceNamespace: "acme", record.LabelSourceUID: "x", "team": "a",
	}}}
	d := newDelivered(mustKey(t, "sk_"), ak, t0)
	for _, s := range []*corev1.Secret{deliverySecret(nil, ak, d), deliverySecret(existing, ak, d)} {
		for _, l := range []string{record.LabelKind, record.LabelSourceNamespace, record.LabelSourceUID} {
			if _, ok := s.Labels[l]; ok {
				t.Errorf("delivery Secret carries record label %s: %v", l, s.Labels)
			}
		}
		if s.Type == record.SecretType {
			t.Error("delivery Secret has the record type")
		}
	}
	if deliverySecret(existing, ak, d).Labels["team"] != "a" {
		t.Error("other labels must be kept")
	}
}

// Rotating by annotation faster than the grace period never piles up more
// than record.MaxKeys keys; the newest are kept and it is said so.
func TestRotationByAnnotationIsCapped(t *testing.T) {
	ns := newNamespace(t)
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	d.mustReconcile(t, ak)
	var keys []string
	for i := 0; i < record.MaxKeys+4; i++ {
		d.clock.SetTime(at(time.Duration(i+1) * time.Minute))
		update(t, ak, func(a *keygatev1alpha1.ApiKey) {
			a.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: fmt.Sprint(i)}
		})
		d.mustReconcile(t, ak)
		keys = append(keys, readState(t, ak).key)
	}
	s := readState(t, ak)
	if len(s.record.Keys) != record.MaxKeys || s.ak.Status.ActiveKeys != record.MaxKeys {
		t.Fatalf("record holds %d keys (%d active), want %d", len(s.record.Keys), s.ak.Status.ActiveKeys, record.MaxKeys)
	}
	for _, k := range keys[len(keys)-record.MaxKeys:] {
		if s.entry(k) == nil {
			t.Fatal("one of the newest keys was dropped")
		}
	}
	if s.entry(keys[0]) != nil {
		t.Fatal("the oldest grace key was kept")
	}
	if !hasEvent(captured.eventsFor(ns, "sdk"), corev1.EventTypeWarning, EventGraceKeysRetired) ||
		!strings.Contains(s.ready().Message, fmt.Sprint(record.MaxKeys)) {
		t.Fatalf("the cap is not said: Ready %q", s.ready().Message)
	}
}

// The largest ApiKey the CRD admits compiles to a record far below a
// Secret's 1 MiB, whatever its metadata carries.
func TestWorstCaseRecordSize(t *testing.T) {
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	ak := testAPIKey(func(a *keygatev1alpha1.ApiKey) {
		a.Namespace, a.Name, a.UID = long('n', 63), long('a', 253), types.UID(long('u', 36))
		a.Labels = map[string]string{}
		for i := 0; i < 5000; i++ { // labels have no count limit of their own
			a.Labels[fmt.Sprintf("example.com/l%d", i)] = long('v', 63)
		}
		a.Spec.Subject, a.Spec.Prefix = long('s', 253), "p"+long('a', 15)+"_"
		for i := 0; i < 64; i++ {
			a.Spec.Scopes = append(a.Spec.Scopes, fmt.Sprintf("%03d", i)+long('s', 125))
			a.Spec.AllowedOrigins = append(a.Spec.AllowedOrigins, "https://"+long('o', 292))
		}
		exp := metav1.NewTime(t0)
		a.Spec.ExpiresAt = &exp
	})
	var keys []record.KeyHash
	for i := 0; i < record.MaxKeys; i++ {
		na := t0.Add(time.Duration(i) * time.Hour)
		keys = append(keys, record.KeyHash{SHA256: record.HashKey(fmt.Sprint(i)).String(), NotAfter: &na})
	}
	data, _, err := record.Encode(compileAPIKey(ak, keys))
	if err != nil {
		t.Fatal(err)
	}
	const bound = 64 << 10
	if len(data) > bound {
		t.Fatalf("the worst-case record is %d bytes, want at most %d (a Secret holds 1 MiB)", len(data), bound)
	}
	t.Logf("worst-case ApiKey record: %d bytes", len(data))
}
