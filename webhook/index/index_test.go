package index

import (
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/keygate-dev/keygate/internal/record"
)

// fakePolicy stands in for the limiter's compiled policy: the index only
// stores what the compiler returns.
type fakePolicy struct{ name string }

func compileFake(r *record.RateLimitPolicy) (*fakePolicy, error) {
	if len(r.Rules) == 0 {
		return nil, errors.New("no rules")
	}
	return &fakePolicy{name: r.Source.Namespace + "/" + r.Source.Name}, nil
}

func secret(t *testing.T, name, kind string, rec any) *corev1.Secret {
	t.Helper()
	s, err := record.NewSecret("keygate-system", kind, record.SourceOf(rec), rec)
	if err != nil {
		t.Fatal(err)
	}
	s.Name = name // as the controller writes it, under the name the test chose
	return s
}

func apiKey(uid string, keys ...string) *record.APIKey {
	r := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: "acme", Name: uid, UID: uid},
		Subject: "acme", Type: "secret", Prefix: "sk_", Scopes: []string{"a", "b"}}
	for _, k := range keys {
		r.Keys = append(r.Keys, record.KeyHash{SHA256: record.HashKey(k).String()})
	}
	return r
}

const (
	k1 = "sk_1111111111111111111111111111111111111111111111111111111111111111"
	k2 = "sk_2222222222222222222222222222222222222222222222222222222222222222"
)

func TestApplyUpdateRemove(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1, k1)))
	e, ok := ix.Lookup(record.HashKey(k1))
	if !ok || e.Key.UID != "a" || e.KeyID != record.HashKey(k1).KeyID() || e.Key.ScopesHeader[0] != "a b" {
		t.Fatalf("lookup k1 = %+v, %v", e, ok)
	}
	if got := ix.Stats().Keys; got != 1 {
		t.Fatalf("keys = %d, want 1 (duplicate hash in one record counts once)", got)
	}
	// Rotation: the record now holds k2 only; k1 must disappear.
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k2)))
	if _, ok := ix.Lookup(record.HashKey(k1)); ok {
		t.Fatal("k1 still found after update")
	}
	if _, ok := ix.Lookup(record.HashKey(k2)); !ok {
		t.Fatal("k2 not found after update")
	}
	_ = ix.Store().Delete(toolscache.DeletedFinalStateUnknown{Obj: secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a"))})
	if _, ok := ix.Lookup(record.HashKey(k2)); ok || ix.Stats().Keys != 0 {
		t.Fatal("delete did not remove the record")
	}
}

func TestBadRecordFailsClosed(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1)))
	bad := secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1))
	bad.Data[record.DataKey] = []byte(`{"version":99}`)
	ix.Apply(bad)
	if _, ok := ix.Lookup(record.HashKey(k1)); ok {
		t.Fatal("a record that no longer decodes must drop its keys")
	}
	if ix.Stats().DecodeErrors != 1 {
		t.Fatalf("decode errors = %d", ix.Stats().DecodeErrors)
	}
}

func TestPolicies(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	pol := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "p"},
		Rules: []record.Rule{{Name: "g", Limit: 1, Period: time.Minute, By: "ip"}}}
	g0 := ix.PolicyGeneration()
	ix.Apply(secret(t, "rlp.acme.p", record.KindRateLimitPolicy, pol))
	if ix.PolicyGeneration() == g0 {
		t.Fatal("generation did not move")
	}
	got, missing := ix.Policies([]string{"acme/p"}, nil)
	if missing != "" || len(got) != 1 || got[0].name != "acme/p" {
		t.Fatalf("policies = %v, missing %q", got, missing)
	}
	if _, missing := ix.Policies([]string{"acme/p", "acme/q"}, nil); missing != "acme/q" {
		t.Fatalf("missing = %q", missing)
	}
	// A policy that no longer compiles is absent, not stale.
	pol.Rules = nil
	ix.Apply(secret(t, "rlp.acme.p", record.KindRateLimitPolicy, pol))
	if _, missing := ix.Policies([]string{"acme/p"}, nil); missing != "acme/p" {
		t.Fatal("uncompilable policy must be absent")
	}
	if ix.Stats().Policies != 0 {
		t.Fatalf("policies loaded = %d", ix.Stats().Policies)
	}
}
