package controllers

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testAPIKey(mut ...func(*keygatev1alpha1.ApiKey)) *keygatev1alpha1.ApiKey {
	ak := &keygatev1alpha1.ApiKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "sdk", UID: "uid-1", Generation: 1},
		Spec:       keygatev1alpha1.ApiKeySpec{Subject: "acme", Type: keygatev1alpha1.KeyTypeSecret},
	}
	for _, m := range mut {
		m(ak)
	}
	return ak
}

func withRotation(every, grace time.Duration) func(*keygatev1alpha1.ApiKey) {
	return func(ak *keygatev1alpha1.ApiKey) {
		ak.Spec.Rotation = &keygatev1alpha1.Rotation{Every: metav1.Duration{Duration: every}, GracePeriod: metav1.Duration{Duration: grace}}
	}
}

func withRotate(v string) func(*keygatev1alpha1.ApiKey) {
	return func(ak *keygatev1alpha1.ApiKey) {
		ak.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: v}
	}
}

// delivery is a delivery Secret of ak holding key, issued at issued.
func delivery(ak *keygatev1alpha1.ApiKey, key string, issued time.Time, handled string) *corev1.Secret {
	return deliverySecret(nil, ak, delivered{Key: key, Hash: record.HashKey(key), IssuedAt: issued, RotateHandled: handled})
}

func recordWith(keys ...record.KeyHash) *record.APIKey { return &record.APIKey{Keys: keys} }

func kh(key string, notAfter *time.Time) record.KeyHash {
	return record.KeyHash{SHA256: record.HashKey(key).String(), NotAfter: notAfter}
}

func mustKey(t testing.TB, prefix string) string {
	k, err := record.NewKey(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecideKey(t *testing.T) {
	k1, k2 := mustKey(t, "sk_"), mustKey(t, "sk_")
	hourLater := t0.Add(time.Hour)
	ak := testAPIKey()
	rotating := testAPIKey(withRotation(24*time.Hour, time.Hour))
	foreign := delivery(ak, k1, t0, "")
	foreign.OwnerReferences = nil
	edited := delivery(ak, k1, t0, "")
	edited.Data[DeliveryDataKey] = []byte(k2)
	other := testAPIKey(func(a *keygatev1alpha1.ApiKey) { a.UID = "uid-2" })
	for _, tc := range []struct {
		name     string
		in       keyInput
		conflict bool
		issue    issueReason
	}{
		{"new ApiKey", keyInput{Now: t0, APIKey: ak}, false, issueFirst},
		{"record without keys", keyInput{Now: t0, APIKey: ak, Record: recordWith()}, false, issueFirst},
		{"delivery deleted", keyInput{Now: t0, APIKey: ak, Record: recordWith(kh(k1, nil))}, false, issueMissing},
		{"Secret not controlled", keyInput{Now: t0, APIKey: ak, Delivery: foreign}, true, issueNone},
		{"Secret of another ApiKey", keyInput{Now: t0, APIKey: ak, Delivery: delivery(other, k1, t0, "")}, true, issueNone},
		{"plaintext edited", keyInput{Now: t0, APIKey: ak, Delivery: edited, Record: recordWith(kh(k1, nil))}, false, issueEdited},
		{"delivered key not in record", keyInput{Now: t0, APIKey: ak, Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k2, nil))}, false, issueEdited},
		{"delivered key's grace over", keyInput{Now: hourLater, APIKey: ak, Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k1, &hourLater))}, false, issueEdited},
		{"steady", keyInput{Now: t0, APIKey: ak, Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issueNone},
		{"record lost: republish", keyInput{Now: t0, APIKey: ak, Delivery: delivery(ak, k1, t0, "")}, false, issueNone},
		{"prefix changed", keyInput{Now: t0, APIKey: testAPIKey(func(a *keygatev1alpha1.ApiKey) { a.Spec.Prefix = "wfx_" }), Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issuePrefix},
		{"public default prefix", keyInput{Now: t0, APIKey: testAPIKey(func(a *keygatev1alpha1.ApiKey) { a.Spec.Type = keygatev1alpha1.KeyTypePublic }), Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issuePrefix},
		{"rotate annotation new", keyInput{Now: t0, APIKey: testAPIKey(withRotate("1")), Delivery: delivery(ak, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issueRequested},
		{"rotate annotation handled", keyInput{Now: t0, APIKey: testAPIKey(withRotate("1")), Delivery: delivery(ak, k1, t0, "1"), Record: recordWith(kh(k1, nil))}, false, issueNone},
		{"rotate annotation removed", keyInput{Now: t0, APIKey: ak, Delivery: delivery(ak, k1, t0, "1"), Record: recordWith(kh(k1, nil))}, false, issueRequested},
		{"rotation not due", keyInput{Now: t0.Add(24*time.Hour - 1), APIKey: rotating, Delivery: delivery(rotating, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issueNone},
		{"rotation due exactly", keyInput{Now: t0.Add(24 * time.Hour), APIKey: rotating, Delivery: delivery(rotating, k1, t0, ""), Record: recordWith(kh(k1, nil))}, false, issueScheduled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := decideKey(tc.in)
			if p.Conflict != tc.conflict || p.Issue != tc.issue {
				t.Fatalf("decideKey = conflict %v issue %q, want conflict %v issue %q", p.Conflict, p.Issue, tc.conflict, tc.issue)
			}
			if keep := !tc.conflict && tc.issue == issueNone; keep != (p.Current != nil) {
				t.Fatalf("Current = %v, want a current key: %v", p.Current, keep)
			}
		})
	}
}

func TestCompileGeneratedKeys(t *testing.T) {
	k1, k2, k3 := mustKey(t, "sk_"), mustKey(t, "sk_"), mustKey(t, "sk_")
	h2 := record.HashKey(k2)
	grace := time.Hour
	end := t0.Add(grace)
	earlier, past := t0.Add(10*time.Minute), t0.Add(-time.Second)
	for _, tc := range []struct {
		name    string
		prev    *record.APIKey
		current *record.Hash
		grace   time.Duration
		want    []record.KeyHash
	}{
		{"first key", nil, &h2, grace, []record.KeyHash{kh(k2, nil)}},
		{"steady", recordWith(kh(k2, nil)), &h2, grace, []record.KeyHash{kh(k2, nil)}},
		{"rotation: old key gets grace", recordWith(kh(k1, nil)), &h2, grace, []record.KeyHash{kh(k2, nil), kh(k1, &end)}},
		{"grace key keeps its earlier end", recordWith(kh(k1, &earlier), kh(k3, nil)), &h2, grace, []record.KeyHash{kh(k2, nil), kh(k1, &earlier), kh(k3, &end)}},
		{"ended key pruned", recordWith(kh(k2, nil), kh(k1, &past)), &h2, grace, []record.KeyHash{kh(k2, nil)}},
		{"end exactly now pruned", recordWith(kh(k2, nil), kh(k1, &t0)), &h2, grace, []record.KeyHash{kh(k2, nil)}},
		{"undelivered orphan bounded by grace", recordWith(kh(k3, nil), kh(k1, &earlier)), &h2, grace, []record.KeyHash{kh(k2, nil), kh(k1, &earlier), kh(k3, &end)}},
		{"current demoted earlier is restored", recordWith(kh(k3, nil), kh(k2, &earlier)), &h2, grace, []record.KeyHash{kh(k2, nil), kh(k3, &end)}},
		{"no current (conflict): everything runs out", recordWith(kh(k1, nil)), nil, grace, []record.KeyHash{kh(k1, &end)}},
		{"zero grace drops old keys", recordWith(kh(k1, nil)), &h2, 0, []record.KeyHash{kh(k2, nil)}},
		{"duplicates collapse", recordWith(kh(k1, nil), kh(k1, nil)), &h2, grace, []record.KeyHash{kh(k2, nil), kh(k1, &end)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compileGeneratedKeys(tc.prev, tc.current, t0, tc.grace)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCompileGitOpsKeys(t *testing.T) {
	future := metav1.NewTime(t0.Add(time.Hour))
	ak := testAPIKey(func(a *keygatev1alpha1.ApiKey) {
		a.Spec.KeyHashes = []keygatev1alpha1.KeyHash{
			{SHA256: "aa" + hex62},
			{SHA256: "bb" + hex62, NotAfter: &future},
			{SHA256: "cc" + hex62, NotAfter: &metav1.Time{Time: t0}},
		}
	})
	got := compileGitOpsKeys(ak, t0)
	ft := future.UTC()
	want := []record.KeyHash{{SHA256: "aa" + hex62}, {SHA256: "bb" + hex62, NotAfter: &ft}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if id := gitOpsKeyID(&record.APIKey{Keys: got}); id != ("aa" + hex62)[:12] {
		t.Fatalf("gitOpsKeyID = %s, want the hash without notAfter", id)
	}
	if id := gitOpsKeyID(&record.APIKey{Keys: got[1:]}); id != ("bb" + hex62)[:12] {
		t.Fatalf("gitOpsKeyID = %s", id)
	}
}

const hex62 = "00000000000000000000000000000000000000000000000000000000000000"

func TestNextWake(t *testing.T) {
	k1 := mustKey(t, "sk_")
	d := &delivered{Key: k1, Hash: record.HashKey(k1), IssuedAt: t0}
	in10m, in2h := t0.Add(10*time.Minute), t0.Add(2*time.Hour)
	exp := t0.Add(30 * time.Minute)
	for _, tc := range []struct {
		name string
		ak   *keygatev1alpha1.ApiKey
		cur  *delivered
		rec  *record.APIKey
		want time.Time
	}{
		{"nothing scheduled", testAPIKey(), d, recordWith(kh(k1, nil)), time.Time{}},
		{"next rotation", testAPIKey(withRotation(time.Hour, time.Minute)), d, recordWith(kh(k1, nil)), t0.Add(time.Hour)},
		{"grace end first", testAPIKey(withRotation(time.Hour, time.Minute)), d, recordWith(kh(k1, nil), kh("x", &in10m)), in10m},
		{"expiry first", testAPIKey(withRotation(time.Hour, time.Minute)), d, &record.APIKey{ExpiresAt: &exp, Keys: []record.KeyHash{kh(k1, &in2h)}}, exp},
		{"past times ignored", testAPIKey(), nil, &record.APIKey{ExpiresAt: &t0, Keys: []record.KeyHash{kh(k1, &t0), kh("y", &in2h)}}, in2h},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextWake(tc.ak, tc.cur, tc.rec, t0); !got.Equal(tc.want) {
				t.Fatalf("nextWake = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadDelivery(t *testing.T) {
	ak := testAPIKey()
	k1 := mustKey(t, "wfx_")
	good := delivery(ak, k1, t0, "r1")
	d, ok := readDelivery(good)
	if !ok || d.Key != k1 || d.Prefix != "wfx_" || !d.IssuedAt.Equal(t0) || d.RotateHandled != "r1" {
		t.Fatalf("readDelivery(good) = %+v, %v", d, ok)
	}
	for name, mut := range map[string]func(*corev1.Secret){
		"no data":        func(s *corev1.Secret) { delete(s.Data, DeliveryDataKey) },
		"malformed":      func(s *corev1.Secret) { s.Data[DeliveryDataKey] = []byte("wfx_nothex") },
		"keyId mismatch": func(s *corev1.Secret) { s.Annotations[AnnotationKeyID] = "000000000000" },
		"no issuedAt":    func(s *corev1.Secret) { delete(s.Annotations, AnnotationIssuedAt) },
	} {
		s := good.DeepCopy()
		mut(s)
		if _, ok := readDelivery(s); ok {
			t.Errorf("%s: readDelivery accepted it", name)
		}
	}
}

func TestCapKeys(t *testing.T) {
	var keys []record.KeyHash
	for i := 0; i < record.MaxKeys+3; i++ {
		keys = append(keys, record.KeyHash{SHA256: fmt.Sprint(i)})
	}
	for _, fixed := range []int{0, 1} {
		got, dropped := capKeys(slices.Clone(keys), fixed)
		if len(got) != record.MaxKeys || dropped != 3 || got[len(got)-1].SHA256 != keys[len(keys)-1].SHA256 {
			t.Fatalf("fixed %d: %d keys, %d dropped, last %s", fixed, len(got), dropped, got[len(got)-1].SHA256)
		}
		if fixed == 1 && (got[0].SHA256 != "0" || got[1].SHA256 != "4") || fixed == 0 && got[0].SHA256 != "3" {
			t.Fatalf("fixed %d kept %s, %s first", fixed, got[0].SHA256, got[1].SHA256)
		}
	}
	if got, dropped := capKeys(keys[:3], 1); len(got) != 3 || dropped != 0 {
		t.Fatal("a short list must be kept whole")
	}
}
