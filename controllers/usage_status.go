package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// statusKeys is status.keys as the ApiKey reconciler writes it: the keys
// of the compiled record that have not reached their own notAfter, the
// current one (keyId current) first and the others in record order, each
// keeping the lastUsedAt that old (the status as read) had for it. The
// usage controller moves lastUsedAt; this keeps it across the ApiKey
// reconciler's writes, which happen anyway when the keys change.
func statusKeys(rec *record.APIKey, current string, old []keygatev1alpha1.KeyStatus, now time.Time) []keygatev1alpha1.KeyStatus {
	if rec == nil {
		return nil
	}
	used := make(map[string]*metav1.Time, len(old))
	for _, k := range old {
		used[k.KeyID] = k.LastUsedAt
	}
	out := make([]keygatev1alpha1.KeyStatus, 0, len(rec.Keys))
	seen := make(map[string]bool, len(rec.Keys))
	for _, k := range rec.Keys {
		id := k.SHA256[:record.KeyIDLen]
		if seen[id] || (k.NotAfter != nil && !now.Before(*k.NotAfter)) {
			continue
		}
		seen[id] = true
		ks := keygatev1alpha1.KeyStatus{KeyID: id, Current: id == current, LastUsedAt: used[id]}
		if end := keyEnd(rec, k); end != nil {
			ks.NotAfter = statusTime(*end)
		}
		if ks.Current {
			out = append([]keygatev1alpha1.KeyStatus{ks}, out...)
		} else {
			out = append(out, ks)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// keyEnd is when a key stops working: its own notAfter or the ApiKey's
// expiresAt, whichever comes first; nil when neither is set.
func keyEnd(rec *record.APIKey, k record.KeyHash) *time.Time {
	switch {
	case k.NotAfter == nil:
		return rec.ExpiresAt
	case rec.ExpiresAt != nil && rec.ExpiresAt.Before(*k.NotAfter):
		return rec.ExpiresAt
	}
	return k.NotAfter
}
