package index

import (
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keygate-dev/keygate/internal/record"
)

// The store is fed what the reflector hands it: full Secrets from a watch
// or a paginated list, and, from a streamed first list, what its
// transformer made of them. Either way a key gets the same answer as from
// the full Secret applied directly.
func TestStoreAnswersAsApply(t *testing.T) {
	rec := apiKey("a", k1, k2)
	rec.AllowedOrigins = []string{"https://acme.example"}
	full := secret(t, "ak.acme.a", record.KindAPIKey, rec)
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "keygate", Operation: metav1.ManagedFieldsOperationApply}}
	full.UID, full.ResourceVersion = "8c4bd8f4-0000-4000-8000-000000000001", "42"
	streamed, err := New[*fakePolicy](compileFake, logr.Discard()).Store().Transformer()(full)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := streamed.(*decoded)
	if !ok || !reflect.DeepEqual(d.ObjectMeta, metav1.ObjectMeta{Namespace: full.Namespace, Name: full.Name}) || d.apiKey == nil {
		t.Fatalf("the transformer kept %#v", streamed)
	}

	direct := New[*fakePolicy](compileFake, logr.Discard())
	direct.Apply(full)
	for name, feed := range map[string]func(*Store[*fakePolicy]) error{
		"add full":         func(st *Store[*fakePolicy]) error { return st.Add(full) },
		"update full":      func(st *Store[*fakePolicy]) error { return st.Update(full) },
		"replace streamed": func(st *Store[*fakePolicy]) error { return st.Replace([]any{streamed}, "1") },
	} {
		ix := New[*fakePolicy](compileFake, logr.Discard())
		if err := feed(ix.Store()); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{k1, k2} {
			want, _ := direct.Lookup(record.HashKey(k))
			got, ok := ix.Lookup(record.HashKey(k))
			if !ok || !reflect.DeepEqual(got.Key, want.Key) || got.KeyID != want.KeyID || got.Hash != want.Hash {
				t.Errorf("%s: lookup = %+v, %v; want %+v", name, got, ok, want)
			}
		}
	}
}

// Replace is the first list and every relist after a lost watch: what is
// listed is applied, what is no longer listed is removed (a record
// deleted while the watch was down is revoked on the relist), and the
// store is synced from the first Replace on, not before.
func TestStoreReplace(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	st := ix.Store()
	a := secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1))
	b := secret(t, "ak.acme.b", record.KindAPIKey, apiKey("b", k2))
	_ = st.Add(a)
	if st.HasSynced() {
		t.Fatal("synced before the first list")
	}
	pol := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "p"},
		Rules: []record.Rule{{Name: "g", Limit: 1, Period: time.Minute, By: "ip"}}}
	if err := st.Replace([]any{a, b, secret(t, "rlp.acme.p", record.KindRateLimitPolicy, pol)}, "10"); err != nil {
		t.Fatal(err)
	}
	if !st.HasSynced() || ix.Stats().Keys != 2 || ix.Stats().Policies != 1 {
		t.Fatalf("after the first list: synced %v, %+v", st.HasSynced(), ix.Stats())
	}
	// Relist: a is gone, b now holds k3 instead of k2, the policy is gone.
	const k3 = "sk_3333333333333333333333333333333333333333333333333333333333333333"
	if err := st.Replace([]any{secret(t, "ak.acme.b", record.KindAPIKey, apiKey("b", k3))}, "20"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{k1: false, k2: false, k3: true} {
		if _, ok := ix.Lookup(record.HashKey(k)); ok != want {
			t.Errorf("after the relist, %s...: found %v, want %v", k[:5], ok, want)
		}
	}
	if _, missing := ix.Policies([]string{"acme/p"}, nil); missing != "acme/p" {
		t.Error("a policy no longer listed is still loaded")
	}
	if s := ix.Stats(); s.Keys != 1 || s.Policies != 0 {
		t.Errorf("after the relist: %+v", s)
	}
}

// Fail closed: a record that stops decoding, through a watch update or in
// a relist, drops its keys.
func TestStoreBadRecordFailsClosed(t *testing.T) {
	bad := secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1))
	bad.Data[record.DataKey] = []byte(`{"version":1,"keys":[{"sha256":"not hex"}]}`)
	for name, feed := range map[string]func(*Store[*fakePolicy]) error{
		"update":  func(st *Store[*fakePolicy]) error { return st.Update(bad) },
		"replace": func(st *Store[*fakePolicy]) error { return st.Replace([]any{bad}, "2") },
		"replace streamed": func(st *Store[*fakePolicy]) error {
			d, _ := st.Transformer()(bad)
			return st.Replace([]any{d}, "2")
		},
	} {
		ix := New[*fakePolicy](compileFake, logr.Discard())
		st := ix.Store()
		_ = st.Replace([]any{secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1))}, "1")
		if _, ok := ix.Lookup(record.HashKey(k1)); !ok {
			t.Fatalf("%s: the good record is not loaded", name)
		}
		if err := feed(st); err != nil {
			t.Fatal(err)
		}
		if _, ok := ix.Lookup(record.HashKey(k1)); ok || ix.Stats().DecodeErrors != 1 {
			t.Errorf("%s: key still found (decode errors %d); a record that no longer decodes must drop its keys", name, ix.Stats().DecodeErrors)
		}
	}
}
