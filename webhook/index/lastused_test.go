package index

import (
	"testing"

	"github.com/go-logr/logr"

	"github.com/keygate-dev/keygate/internal/record"
)

// TestLastUsedSurvivesARecordUpdate: a new version of an ApiKey's record
// (a rotation that keeps k1 in grace, a new scope) keeps the last use of
// the hashes it still lists, so a use not yet reported is not lost; a
// removed record takes its uses with it.
func TestLastUsedSurvivesARecordUpdate(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1)))
	e, _ := ix.Lookup(record.HashKey(k1))
	e.LastUsed.Store(1000)
	updated := apiKey("a", k1, k2)
	updated.Scopes = []string{"c"}
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, updated))
	e1, _ := ix.Lookup(record.HashKey(k1))
	e2, _ := ix.Lookup(record.HashKey(k2))
	if e1 == e || e1.LastUsed.Load() != 1000 || e2.LastUsed.Load() != 0 {
		t.Fatalf("after the update: k1 LastUsed %d (new entry: %v), k2 %d; want 1000 and 0", e1.LastUsed.Load(), e1 != e, e2.LastUsed.Load())
	}
	ix.Remove("keygate-system", "ak.acme.a")
	ix.Apply(secret(t, "ak.acme.a", record.KindAPIKey, apiKey("a", k1)))
	if e, _ := ix.Lookup(record.HashKey(k1)); e.LastUsed.Load() != 0 {
		t.Fatalf("a record removed and made again kept LastUsed %d", e.LastUsed.Load())
	}
}

// TestAppendEntries: one entry per hash, the one Lookup answers with (the
// first claimant).
func TestAppendEntries(t *testing.T) {
	ix := New[*fakePolicy](compileFake, logr.Discard())
	first := apiKey("first", k1, k2)
	second := apiKey("second", k1)
	ix.Apply(secret(t, "ak.acme.first", record.KindAPIKey, first))
	ix.Apply(secret(t, "ak.acme.second", record.KindAPIKey, second))
	got := ix.AppendEntries(nil)
	if len(got) != 2 {
		t.Fatalf("AppendEntries: %d entries, want 2 (one per hash)", len(got))
	}
	for _, e := range got {
		h, _ := record.ParseHash(e.Hash.SHA256)
		if want, _ := ix.Lookup(h); e != want {
			t.Fatalf("AppendEntries gave %s's entry for %s, Lookup answers %s's", e.Key.UID, e.KeyID, want.Key.UID)
		}
	}
}
