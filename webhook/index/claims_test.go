package index

import (
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/keygate-dev/keygate/internal/record"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// claimant is an ApiKey record of ns/name, created at created, listing keys.
func claimant(ns, name string, created time.Time, generated bool, keys ...string) *record.APIKey {
	r := apiKey(name, keys...)
	r.Source.Namespace, r.Source.CreatedAt, r.Generated = ns, &created, generated
	return r
}

func name(r *record.APIKey) string {
	return record.SecretName(record.KindAPIKey, r.Source.Namespace, r.Source.Name)
}

// A hash is public: an ApiKey elsewhere that copies it neither disables
// the victim's key (both refused) nor takes it over, whatever the order in
// which the records arrive. The first claimant keeps it.
func TestCopiedHashStaysWithTheFirstClaimant(t *testing.T) {
	victim := claimant("victim", "sdk", t0, false, k1, k2)
	copier := claimant("attacker", "copy", t0.Add(time.Hour), false, k1)
	sameTime := claimant("aaa", "copy", t0.Add(time.Hour), false, k1)
	for _, order := range [][]*record.APIKey{{victim, copier, sameTime}, {sameTime, copier, victim}} {
		ix := New[*fakePolicy](compileFake, logr.Discard())
		for _, r := range order {
			ix.Apply(secret(t, name(r), record.KindAPIKey, r))
		}
		if e, ok := ix.Lookup(record.HashKey(k1)); !ok || e.Key.Record.Source.Namespace != "victim" {
			t.Fatalf("copied hash: lookup = %+v, %v; want the victim's entry", e, ok)
		}
		ix.Remove("keygate-system", name(victim))
		// Created at the same second: namespace, then name, decide.
		if e, ok := ix.Lookup(record.HashKey(k1)); !ok || e.Key.Record.Source.Namespace != "aaa" {
			t.Fatalf("after the first claimant goes: lookup = %+v, %v; want aaa/copy", e, ok)
		}
		if _, ok := ix.Lookup(record.HashKey(k2)); ok {
			t.Fatal("the removed record's own key is still found")
		}
	}
}

// A GitOps ApiKey that lists a generated key's hash never takes it, even
// when the GitOps ApiKey is older.
func TestGeneratedKeyKeepsItsHash(t *testing.T) {
	gen := claimant("victim", "gen", t0.Add(time.Hour), true, k1)
	old := claimant("attacker", "old", t0, false, k1)
	ix := New[*fakePolicy](compileFake, logr.Discard())
	ix.Apply(secret(t, name(gen), record.KindAPIKey, gen))
	ix.Apply(secret(t, name(old), record.KindAPIKey, old))
	if e, ok := ix.Lookup(record.HashKey(k1)); !ok || !e.Key.Record.Generated {
		t.Fatalf("lookup = %+v, %v; want the generated key's entry", e, ok)
	}
}

// The auth server accepts a record only under the name the controller
// gives its source: a copy under another name, or a record naming a source
// in keygate's own namespace, is ignored and counted.
func TestMisnamedRecordIsIgnored(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	victim := claimant("victim", "sdk", t0, false, k1)
	ix.Apply(secret(t, name(victim), record.KindAPIKey, victim))
	forged := claimant("victim", "sdk", t0, false, k2)
	ix.Apply(secret(t, "ak.victim.sdk-copy", record.KindAPIKey, forged))
	own := claimant("keygate-system", "x", t0, false, k2)
	ix.Apply(secret(t, name(own), record.KindAPIKey, own))
	pol := &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: "acme", Name: "p"},
		Rules: []record.Rule{{Name: "g", Limit: 1, Period: time.Minute, By: "ip"}}}
	ix.Apply(secret(t, "rlp.acme.other", record.KindRateLimitPolicy, pol))
	if _, ok := ix.Lookup(record.HashKey(k2)); ok {
		t.Fatal("a key from a misnamed record is accepted")
	}
	if _, missing := ix.Policies([]string{"acme/p"}, nil); missing == "" {
		t.Fatal("a policy from a misnamed record is loaded")
	}
	if _, ok := ix.Lookup(record.HashKey(k1)); !ok {
		t.Fatal("the rightly named record lost its key")
	}
	if s := ix.Stats(); s.MisnamedRecords != 3 || s.Keys != 1 {
		t.Fatalf("stats = %+v, want 3 misnamed records and 1 key", s)
	}
}
