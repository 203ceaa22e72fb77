package usage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/index"
)

// apiKey is an index key of ApiKey ns/name.
func apiKey(ns, name string) *index.Key {
	return &index.Key{Record: &record.APIKey{Source: record.Source{Namespace: ns, Name: name}}}
}

// entry is a key of k last used at t (zero: never).
func entry(k *index.Key, keyID string, t time.Time) *index.Entry {
	e := &index.Entry{Key: k, KeyID: keyID}
	if !t.IsZero() {
		e.LastUsed.Store(t.Unix())
	}
	return e
}

func TestBuildGroupsByApiKeyInAStableOrder(t *testing.T) {
	a, b := apiKey("acme", "sdk"), apiKey("acme", "ci")
	entries := []*index.Entry{
		entry(a, "bbbbbbbbbbbb", t0.Add(time.Minute)),
		entry(b, "cccccccccccc", t0),
		entry(a, "aaaaaaaaaaaa", t0),
		entry(b, "dddddddddddd", time.Time{}), // never used: left out
	}
	got, dropped := Build(entries, Limits{})
	want := `[{"namespace":"acme","name":"ci","keys":[{"keyId":"cccccccccccc","lastUsedAt":"2026-03-01T10:00:00Z"}]},` +
		`{"namespace":"acme","name":"sdk","keys":[{"keyId":"aaaaaaaaaaaa","lastUsedAt":"2026-03-01T10:00:00Z"},` +
		`{"keyId":"bbbbbbbbbbbb","lastUsedAt":"2026-03-01T10:01:00Z"}]}]`
	if b, _ := json.Marshal(got); string(b) != want || dropped != 0 {
		t.Fatalf("Build =\n%s, dropped %d\nwant\n%s, dropped 0", b, dropped, want)
	}
	if got, dropped := Build([]*index.Entry{entry(a, "aaaaaaaaaaaa", time.Time{})}, Limits{}); got != nil || dropped != 0 {
		t.Fatalf("no key used: Build = %v, %d; want nothing", got, dropped)
	}
}

// TestBuildKeepsTheMostRecentWithinItsLimits: over either limit, the
// least recently used keys are left out and counted.
func TestBuildKeepsTheMostRecentWithinItsLimits(t *testing.T) {
	var entries []*index.Entry
	for i := range 5 {
		entries = append(entries, entry(apiKey("ns", fmt.Sprint("k", i)), "aaaaaaaaaaaa", t0.Add(time.Duration(i)*time.Minute)))
	}
	for _, lim := range []Limits{{Keys: 3}, {Bytes: 3*keyBytes + 3*(apiKeyOverhead+len("ns")+len("k0")) + 10}} {
		got, dropped := Build(entries, lim)
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		if strings.Join(names, ",") != "k2,k3,k4" || dropped != 2 {
			t.Errorf("limits %+v: kept %v, dropped %d; want k2,k3,k4 (the most recent), dropped 2", lim, names, dropped)
		}
	}
}

// TestReportSizeIsBounded: with the longest names the API allows, a full
// report stays under MaxBytes of JSON (and far under etcd's 1.5 MiB), and
// Build's count of its size is never below the real one.
func TestReportSizeIsBounded(t *testing.T) {
	ns := strings.Repeat("n", 63)
	var entries []*index.Entry
	for i := range 20_000 {
		k := apiKey(ns, fmt.Sprintf("%0253d", i))
		entries = append(entries, entry(k, fmt.Sprintf("%012x", i), t0.Add(time.Duration(i)*time.Second)))
	}
	got, dropped := Build(entries, Limits{})
	n := 0
	for _, g := range got {
		n += len(g.Keys)
	}
	if n == 0 || int64(n)+dropped != 20_000 {
		t.Fatalf("kept %d and dropped %d of 20000 keys", n, dropped)
	}
	spec, _ := json.Marshal(keygatev1alpha1.UsageReportSpec{APIKeys: got, Dropped: dropped})
	if len(spec) > MaxBytes+200 {
		t.Fatalf("a full report's spec is %d bytes, over MaxBytes (%d)", len(spec), MaxBytes)
	}
	t.Logf("worst-case names: %d keys in %d bytes, %d dropped", n, len(spec), dropped)
	// Short names, two keys per ApiKey (a rotation): the key limit
	// applies first.
	entries = entries[:0]
	for i := range MaxKeys/2 + 5 {
		k := apiKey("acme", fmt.Sprint("sdk-", i))
		entries = append(entries, entry(k, "aaaaaaaaaaaa", t0), entry(k, "bbbbbbbbbbbb", t0))
	}
	got, dropped = Build(entries, Limits{})
	if n := 2 * len(got); n != MaxKeys || dropped != 10 {
		t.Fatalf("%d short keys: kept %d, dropped %d; want %d and 10", MaxKeys+10, n, dropped, MaxKeys)
	}
	if spec, _ := json.Marshal(got); len(spec) > MaxBytes {
		t.Fatalf("%d keys with short names take %d bytes, over MaxBytes", MaxKeys, len(spec))
	}
}
