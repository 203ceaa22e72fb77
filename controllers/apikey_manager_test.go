package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// These tests run the controllers in a manager, as keygate controller
// does: watches, the label-selected cache and the event recorder are real.

func managerOpts(ns string) Options {
	return Options{Namespace: testenv.Namespace, WatchNamespaces: []string{ns}}
}

// waitState waits until cond holds for the ApiKey's state.
func waitState(t *testing.T, ak *keygatev1alpha1.ApiKey, what string, cond func(state) bool) state {
	t.Helper()
	var s state
	eventually(t, what, func() (bool, error) {
		s = readState(t, ak)
		return cond(s), nil
	})
	return s
}

func readyWithKey(s state) bool {
	c := s.ready()
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == s.ak.Generation && s.delivery != nil &&
		s.ak.Status.KeyID == record.HashKey(s.key).KeyID() && s.entry(s.key) != nil
}

func TestGeneratedKeyEndToEnd(t *testing.T) {
	ns := newNamespace(t)
	writes := &counter{}
	startManager(t, managerOpts(ns), writes)
	ak := createAPIKey(t, ns, "widget", keygatev1alpha1.ApiKeySpec{
		Subject: "acme", Type: keygatev1alpha1.KeyTypePublic, Scopes: []string{"events:write"},
		AllowedOrigins: []string{"https://app.acme.com"}, SecretName: "widget-key",
	}, func(a *keygatev1alpha1.ApiKey) { a.Labels = map[string]string{"team": "web"} })
	s := waitState(t, ak, "the ApiKey is Ready with a delivered key", readyWithKey)

	if n := writes.n.Load(); n != 3 {
		t.Errorf("a new ApiKey took %d writes, want 3", n)
	}
	if p, err := record.SplitKey(s.key); err != nil || p != "pub_" {
		t.Fatalf("delivered key has prefix %q (%v), want pub_", p, err)
	}
	if !metav1.IsControlledBy(s.delivery, s.ak) || s.delivery.Labels[record.LabelManagedBy] != record.ManagedByValue {
		t.Fatalf("delivery Secret not owned or not labelled: %+v", s.delivery.ObjectMeta)
	}
	r, rs := s.record, s.recordS
	if rs.Type != record.SecretType || rs.Labels[record.LabelKind] != record.KindAPIKey || rs.Labels[record.LabelSourceNamespace] != ns ||
		rs.Labels[record.LabelSourceUID] != string(s.ak.UID) || rs.Annotations[record.AnnotationSourceName] != "widget" ||
		rs.Annotations[record.AnnotationDataHash] == "" {
		t.Fatalf("record Secret metadata: %+v", rs.ObjectMeta)
	}
	if r.Subject != "acme" || r.Type != "public" || r.Prefix != "pub_" || r.Scopes[0] != "events:write" ||
		r.AllowedOrigins[0] != "https://app.acme.com" || r.Source.Labels != nil || len(r.Keys) != 1 {
		t.Fatalf("record: %+v", r)
	}
	if s.ak.Status.Hint != record.Hint(s.key) || s.ak.Status.IssuedAt == nil || s.ak.Status.ActiveKeys != 1 {
		t.Fatalf("status: %+v", s.ak.Status)
	}
	if !hasEvent(captured.eventsFor(ns, "widget"), corev1.EventTypeNormal, EventIssued) {
		t.Error("no Issued event")
	}
	if n := writes.n.Load(); n != 3 {
		t.Errorf("the controller kept writing after the ApiKey was Ready: %d writes", n)
	}
}

func TestGitOpsModeEndToEnd(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, managerOpts(ns), nil)
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	generated := waitState(t, ak, "a generated key", readyWithKey)

	k1 := mustKey(t, "sk_")
	update(t, ak, func(a *keygatev1alpha1.ApiKey) {
		a.Spec.KeyHashes = []keygatev1alpha1.KeyHash{{SHA256: record.HashKey(k1).String()}}
	})
	s := waitState(t, ak, "GitOps mode compiled, the delivery Secret gone", func(s state) bool {
		return s.delivery == nil && s.record != nil && len(s.record.Keys) == 1 && s.entry(k1) != nil &&
			s.ak.Status.KeyID == record.HashKey(k1).KeyID() && s.ready().ObservedGeneration == s.ak.Generation
	})
	if s.entry(generated.key) != nil || s.ak.Status.Hint != "" || s.ak.Status.IssuedAt != nil {
		t.Fatalf("GitOps mode kept traces of the generated key: record %+v, status %+v", s.record.Keys, s.ak.Status)
	}
}

func TestDeletingAnApiKeyRemovesItsRecord(t *testing.T) {
	ns := newNamespace(t)
	stop := startManager(t, managerOpts(ns), nil)
	live := createAPIKey(t, ns, "live", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	gone := createAPIKey(t, ns, "gone", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	downed := createAPIKey(t, ns, "deleted-while-down", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	for _, ak := range []*keygatev1alpha1.ApiKey{live, gone, downed} {
		waitState(t, ak, "Ready", readyWithKey)
	}
	ctx := context.Background()
	if err := env.Client.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	waitState(t, gone, "the deleted ApiKey's record is gone", func(s state) bool { return s.recordS == nil })

	stop()
	if err := env.Client.Delete(ctx, downed); err != nil {
		t.Fatal(err)
	}
	if s := readState(t, downed); s.recordS == nil {
		t.Fatal("the record vanished with no controller running: the test proves nothing")
	}
	startManager(t, managerOpts(ns), nil)
	waitState(t, downed, "the record of an ApiKey deleted while the controller was down is gone", func(s state) bool { return s.recordS == nil })
	if s := readState(t, live); s.recordS == nil {
		t.Fatal("the record of a live ApiKey was deleted")
	}
}

func TestDeliverySecretIsRepaired(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, managerOpts(ns), nil)
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	s1 := waitState(t, ak, "Ready", readyWithKey)
	ctx := context.Background()

	if err := env.Client.Delete(ctx, s1.delivery); err != nil {
		t.Fatal(err)
	}
	s2 := waitState(t, ak, "a new key delivered after the Secret was deleted", func(s state) bool { return readyWithKey(s) && s.key != s1.key })
	if e := s2.entry(s1.key); e == nil || e.NotAfter == nil {
		t.Fatalf("the lost key should keep its grace: %+v", s2.record.Keys)
	}

	edited := s2.delivery.DeepCopy()
	edited.Data[DeliveryDataKey] = []byte("sk_" + hex62 + "ab")
	if err := env.Client.Update(ctx, edited); err != nil {
		t.Fatal(err)
	}
	s3 := waitState(t, ak, "a new key delivered after the Secret was edited", func(s state) bool {
		return readyWithKey(s) && s.key != s2.key && s.key != string(edited.Data[DeliveryDataKey])
	})
	if s3.entry("sk_"+hex62+"ab") != nil || s3.entry(s2.key) == nil {
		t.Fatalf("after the edit the record is %+v: the edited value must not be accepted, the replaced key keeps its grace", s3.record.Keys)
	}
	if !hasEvent(captured.eventsFor(ns, "sdk"), corev1.EventTypeNormal, EventRotated) {
		t.Error("no Rotated event for the repair")
	}
}

func TestUnownedSecretIsNeverOverwritten(t *testing.T) {
	ns := newNamespace(t)
	startManager(t, managerOpts(ns), nil)
	ctx := context.Background()
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
		Data:       map[string][]byte{"apiKey": []byte("somebody else's")},
	}
	if err := env.Client.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	ak := createAPIKey(t, ns, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", SecretName: "taken"})
	s := waitState(t, ak, "Ready=False SecretConflict", func(s state) bool {
		c := s.ready()
		return c != nil && c.Reason == keygatev1alpha1.ReasonSecretConflict && c.Status == metav1.ConditionFalse
	})
	if s.delivery.ResourceVersion != foreign.ResourceVersion || s.recordS != nil {
		t.Fatalf("the foreign Secret was written (rv %s -> %s) or a record made", foreign.ResourceVersion, s.delivery.ResourceVersion)
	}
	eventually(t, "a SecretConflict warning", func() (bool, error) {
		return hasEvent(captured.eventsFor(ns, "sdk"), corev1.EventTypeWarning, keygatev1alpha1.ReasonSecretConflict), nil
	})

	// A second ApiKey naming the first one's Secret conflicts too.
	first := createAPIKey(t, ns, "first", keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	firstState := waitState(t, first, "Ready", readyWithKey)
	second := createAPIKey(t, ns, "second", keygatev1alpha1.ApiKeySpec{Subject: "acme", SecretName: "first"})
	waitState(t, second, "the second ApiKey conflicts", func(s state) bool {
		c := s.ready()
		return c != nil && c.Reason == keygatev1alpha1.ReasonSecretConflict
	})
	var after corev1.Secret
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(firstState.delivery), &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != firstState.delivery.ResourceVersion {
		t.Fatal("another ApiKey's delivery Secret was written")
	}

	// Once the Secret is out of the way (here: a new secretName), the key is issued.
	update(t, ak, func(a *keygatev1alpha1.ApiKey) { a.Spec.SecretName = "free" })
	waitState(t, ak, "Ready after the conflict is resolved", readyWithKey)
}

// laggingReads is a client whose reads of one Secret find nothing, as a
// cache does when that Secret's informer is behind another's.
type laggingReads struct {
	client.Client
	hidden client.ObjectKey
}

func (c laggingReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok && key == c.hidden {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// issuedByHand creates an ApiKey in a namespace of the test's own and
// reconciles it once by hand (fake clock, counted writes).
func issuedByHand(t *testing.T) (*direct, *keygatev1alpha1.ApiKey, state) {
	t.Helper()
	d := newDirect(clocktesting.NewFakePassiveClock(t0), 0)
	ak := createAPIKey(t, newNamespace(t), "sdk", rotatingSpec())
	d.mustReconcile(t, ak)
	return d, ak, readState(t, ak)
}

// In a manager the delivery Secret and the record live in different
// namespaces and can reach the cache through different informers, so a
// reconcile can see the delivered key before its record. It must confirm
// with the API server instead of trying to create the record again.
func TestCacheBehindOnTheRecordWritesNothing(t *testing.T) {
	d, ak, before := issuedByHand(t)
	if before.recordS == nil || before.delivery == nil || d.writes.n.Load() != 3 {
		t.Fatalf("setup: record %v, delivery %v, %d writes", before.recordS != nil, before.delivery != nil, d.writes.n.Load())
	}

	d.r.Client = d.writes.wrap(laggingReads{Client: env.Client, hidden: client.ObjectKeyFromObject(before.recordS)})
	res, err := d.reconcile(ak)
	if err != nil || res.RequeueAfter != time.Hour {
		t.Fatalf("reconcile with the record missing from the cache: %v, %+v; want no error and the rotation in 1h", err, res)
	}
	if n := d.writes.n.Load(); n != 3 {
		t.Errorf("a reconcile whose cache lacked the record wrote %d times, want none", n-3)
	}
	if after := readState(t, ak); after.key != before.key || after.recordS.ResourceVersion != before.recordS.ResourceVersion {
		t.Error("the key or the record changed although nothing had")
	}
}

// A record whose data was edited by hand, with its data-hash annotation
// left alone, is rewritten on the next reconcile: the data itself is
// compared, not the annotation. Here the edit makes every request with the
// key arrive upstream as another subject.
func TestHandEditedRecordIsRewritten(t *testing.T) {
	d, ak, before := issuedByHand(t)

	edited := *before.record
	edited.Subject = "root"
	data, _, err := record.Encode(&edited)
	if err != nil {
		t.Fatal(err)
	}
	rs := before.recordS.DeepCopy()
	rs.Data[record.DataKey] = data
	if err := env.Client.Update(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if readState(t, ak).record.Subject != "root" {
		t.Fatal("setup: the edit did not land")
	}
	d.mustReconcile(t, ak)
	if after := readState(t, ak); after.record.Subject != "acme" || after.entry(after.key) == nil {
		t.Fatalf("after a reconcile the record's subject is %q: the hand edit must be undone", after.record.Subject)
	}
}
