package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

var nsSeq atomic.Int64

// newNamespace creates a namespace of the test's own.
func newNamespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())))
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if err := env.CreateNamespace(name); err != nil {
		t.Fatal(err)
	}
	return name
}

// createAPIKey creates an ApiKey in ns and returns it as stored.
func createAPIKey(t testing.TB, ns, name string, spec keygatev1alpha1.ApiKeySpec, mut ...func(*keygatev1alpha1.ApiKey)) *keygatev1alpha1.ApiKey {
	t.Helper()
	ak := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
	for _, m := range mut {
		m(ak)
	}
	if err := env.Client.Create(context.Background(), ak); err != nil {
		t.Fatal(err)
	}
	return ak
}

// direct drives an ApiKeyReconciler by hand, with an uncached client, a
// fake clock, and counted (optionally failing) writes.
type direct struct {
	r      *ApiKeyReconciler
	clock  *clocktesting.FakePassiveClock
	writes *counter
}

func newDirect(clk *clocktesting.FakePassiveClock, failAt int64) *direct {
	w := &counter{failAt: failAt}
	opts := Options{Namespace: testenv.Namespace, Clock: clk, EventRecorder: recorder{c: captured}}.withDefaults()
	r := &ApiKeyReconciler{
		Client:    w.wrap(env.Client),
		APIReader: env.Client,
		Claims:    scanClaims{opts},
		Options:   opts,
	}
	return &direct{r: r, clock: clk, writes: w}
}

func (d *direct) reconcile(ak *keygatev1alpha1.ApiKey) (ctrl.Result, error) {
	return d.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ak)})
}

func (d *direct) mustReconcile(t testing.TB, ak *keygatev1alpha1.ApiKey) ctrl.Result {
	t.Helper()
	res, err := d.reconcile(ak)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

// state is what the API server holds for one ApiKey.
type state struct {
	ak       *keygatev1alpha1.ApiKey
	delivery *corev1.Secret
	key      string // plaintext in the delivery Secret
	recordS  *corev1.Secret
	record   *record.APIKey
}

// readState reads an ApiKey, its delivery Secret and its record, and
// remembers the plaintext for the suite's leak check.
func readState(t testing.TB, ak *keygatev1alpha1.ApiKey) state {
	t.Helper()
	ctx := context.Background()
	st := state{ak: &keygatev1alpha1.ApiKey{}}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ak), st.ak); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	name := deliverySecretName(ak)
	if st.ak.UID != "" {
		name = deliverySecretName(st.ak)
	}
	var err error
	if st.delivery, err = getSecret(ctx, env.Client, types.NamespacedName{Namespace: ak.Namespace, Name: name}); err != nil {
		t.Fatal(err)
	}
	if st.delivery != nil {
		st.key = string(st.delivery.Data[DeliveryDataKey])
		if _, err := record.SplitKey(st.key); err == nil {
			issued.add(st.key)
		}
	}
	rk := types.NamespacedName{Namespace: testenv.Namespace, Name: record.SecretName(record.KindAPIKey, ak.Namespace, ak.Name)}
	if st.recordS, err = getSecret(ctx, env.Client, rk); err != nil {
		t.Fatal(err)
	}
	if st.recordS != nil {
		if st.record, err = record.DecodeAPIKey(st.recordS.Data[record.DataKey]); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// entry is the record's entry for key, nil when absent.
func (s state) entry(key string) *record.KeyHash {
	if s.record == nil {
		return nil
	}
	h := record.HashKey(key).String()
	for i := range s.record.Keys {
		if s.record.Keys[i].SHA256 == h {
			return &s.record.Keys[i]
		}
	}
	return nil
}

func (s state) ready() *metav1.Condition {
	return meta.FindStatusCondition(s.ak.Status.Conditions, keygatev1alpha1.ConditionReady)
}

// update applies mut to the stored ApiKey.
func update(t testing.TB, ak *keygatev1alpha1.ApiKey, mut func(*keygatev1alpha1.ApiKey)) {
	t.Helper()
	ctx := context.Background()
	for i := 0; ; i++ {
		cur := &keygatev1alpha1.ApiKey{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ak), cur); err != nil {
			t.Fatal(err)
		}
		mut(cur)
		err := env.Client.Update(ctx, cur)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) || i > 10 {
			t.Fatal(err)
		}
	}
}

func hasEvent(evs []capturedEvent, typ, reason string) bool {
	for _, e := range evs {
		if e.Type == typ && e.Reason == reason {
			return true
		}
	}
	return false
}

func at(d time.Duration) time.Time { return t0.Add(d) }

// scanClaims stands in for the cache's key-hash indexes when no manager
// runs: it lists from the API server and filters with the index functions.
type scanClaims struct{ o Options }

func (c scanClaims) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return env.Client.Get(ctx, key, obj, opts...)
}

func (c scanClaims) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	var fields map[string]string
	if lo.FieldSelector != nil {
		fields = map[string]string{}
		for _, f := range []string{indexKeyHash, indexGeneratedHash, indexDelivery} {
			fields[f], _ = lo.FieldSelector.RequiresExactMatch(f)
		}
	}
	want := func(field string) string { return fields[field] }
	lo.FieldSelector = nil
	if err := env.Client.List(ctx, list, lo); err != nil || fields == nil {
		return err
	}
	switch l := list.(type) {
	case *keygatev1alpha1.ApiKeyList:
		l.Items = slices.DeleteFunc(l.Items, func(ak keygatev1alpha1.ApiKey) bool {
			return !slices.Contains(specHashes(&ak), want(indexKeyHash))
		})
	case *corev1.SecretList:
		l.Items = slices.DeleteFunc(l.Items, func(s corev1.Secret) bool {
			if uid := want(indexDelivery); uid != "" {
				return !slices.Contains(deliveryFor(&s), uid)
			}
			return !slices.Contains(c.o.generatedHashes(&s), want(indexGeneratedHash))
		})
	}
	return nil
}
