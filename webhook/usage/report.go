package usage

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/webhook/index"
)

// Bounds of one report, well under etcd's 1.5 MiB object limit.
const (
	// MaxKeys is the most keys one report holds.
	MaxKeys = 10_000
	// MaxBytes bounds the JSON of a report's keys, as Build counts it.
	MaxBytes = 1 << 20
)

// JSON sizes Build counts: an ApiKey's entry without its strings and keys,
// and one key, with the separating commas.
var (
	apiKeyOverhead = len(`{"namespace":"","name":"","keys":[]},`)
	keyBytes       = len(`{"keyId":"0123456789ab","lastUsedAt":"2006-01-02T15:04:05Z"},`)
)

// used is one admitted key as the index holds it.
type used struct {
	e  *index.Entry
	at int64
}

// Limits bound a report; zero fields mean MaxKeys and MaxBytes.
type Limits struct {
	Keys, Bytes int
}

func (l Limits) orDefault() Limits {
	return Limits{Keys: cmp.Or(l.Keys, MaxKeys), Bytes: cmp.Or(l.Bytes, MaxBytes)}
}

// Build makes a report's ApiKeys from the index's entries: every key
// admitted since the process started (LastUsed > 0), the most recently
// used first while the report has room, grouped by ApiKey in a stable
// order (namespace, name, keyId). dropped is how many keys it left
// out.
func Build(entries []*index.Entry, lim Limits) (apiKeys []keygatev1alpha1.APIKeyUsage, dropped int64) {
	lim = lim.orDefault()
	var all []used
	for _, e := range entries {
		if at := e.LastUsed.Load(); at > 0 {
			all = append(all, used{e, at})
		}
	}
	slices.SortFunc(all, func(a, b used) int { return cmp.Or(cmp.Compare(b.at, a.at), compareKeys(a.e, b.e)) })
	kept := fit(all, lim)
	dropped = int64(len(all) - len(kept))
	slices.SortFunc(kept, func(a, b used) int { return compareKeys(a.e, b.e) })
	for _, u := range kept {
		src := u.e.Key.Record.Source
		if n := len(apiKeys); n == 0 || apiKeys[n-1].Name != src.Name || apiKeys[n-1].Namespace != src.Namespace {
			apiKeys = append(apiKeys, keygatev1alpha1.APIKeyUsage{Namespace: src.Namespace, Name: src.Name})
		}
		g := &apiKeys[len(apiKeys)-1]
		g.Keys = append(g.Keys, keygatev1alpha1.KeyUsage{KeyID: u.e.KeyID, LastUsedAt: metav1.NewTime(time.Unix(u.at, 0).UTC())})
	}
	return apiKeys, dropped
}

// fit is the longest prefix of all (most recent first) within lim,
// counting each ApiKey's own bytes once.
func fit(all []used, lim Limits) []used {
	size := 0
	seen := map[*index.Key]bool{}
	for i, u := range all {
		size += keyBytes
		if k := u.e.Key; !seen[k] {
			seen[k] = true
			src := k.Record.Source
			size += apiKeyOverhead + len(src.Namespace) + len(src.Name)
		}
		if i == lim.Keys || size > lim.Bytes {
			return all[:i]
		}
	}
	return all
}

func compareKeys(a, b *index.Entry) int {
	sa, sb := a.Key.Record.Source, b.Key.Record.Source
	return cmp.Or(cmp.Compare(sa.Namespace, sb.Namespace), cmp.Compare(sa.Name, sb.Name), cmp.Compare(a.KeyID, b.KeyID))
}
