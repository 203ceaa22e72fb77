package controllers

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// The pure half of the ApiKey controller: given the ApiKey, its delivery
// Secret, its compiled record and the time, decide what must happen. No
// API calls and no randomness here, so every branch has a table test.

// DefaultGracePeriod is how long a replaced key keeps working when the
// ApiKey sets no rotation (rotation on request, or a repaired Secret).
const DefaultGracePeriod = 24 * time.Hour

// keyInput is everything the ApiKey decision depends on.
type keyInput struct {
	Now    time.Time
	APIKey *keygatev1alpha1.ApiKey
	// Delivery is the Secret named by secretName, nil when absent.
	Delivery *corev1.Secret
	// Record is the compiled record of this ApiKey (same UID), nil when
	// absent, unreadable, or left by another object of the same name.
	Record *record.APIKey
}

// issueReason says why a new key is made; empty means keep the current one.
type issueReason string

const (
	issueNone      issueReason = ""
	issueFirst     issueReason = "first key"
	issueMissing   issueReason = "the delivery Secret was deleted"
	issueEdited    issueReason = "the delivery Secret was edited"
	issuePrefix    issueReason = "the key prefix changed"
	issueRequested issueReason = "the " + keygatev1alpha1.AnnotationRotate + " annotation changed"
	issueScheduled issueReason = "scheduled rotation"
)

// keyPlan is the decision for a generated ApiKey.
type keyPlan struct {
	// Conflict: the delivery Secret exists and is not controlled by this
	// ApiKey; it is never written.
	Conflict bool
	// Issue is why a new key replaces the current one; issueNone keeps Current.
	Issue issueReason
	// Current is the delivered key that stays, when Issue is issueNone.
	Current *delivered
}

// decideKey decides, for a generated ApiKey, whether the delivered key stays
// or a new one is issued.
func decideKey(in keyInput) keyPlan {
	ak := in.APIKey
	if in.Delivery == nil {
		if in.Record == nil || len(in.Record.Keys) == 0 {
			return keyPlan{Issue: issueFirst}
		}
		return keyPlan{Issue: issueMissing}
	}
	if !metav1.IsControlledBy(in.Delivery, ak) {
		return keyPlan{Conflict: true}
	}
	d, ok := readDelivery(in.Delivery)
	if !ok || (in.Record != nil && !accepts(in.Record, d.Hash, in.Now)) {
		return keyPlan{Issue: issueEdited}
	}
	if d.Prefix != wantPrefix(ak) {
		return keyPlan{Issue: issuePrefix}
	}
	if ak.Annotations[keygatev1alpha1.AnnotationRotate] != d.RotateHandled {
		return keyPlan{Issue: issueRequested}
	}
	if next, ok := nextRotation(ak, d); ok && !in.Now.Before(next) {
		return keyPlan{Issue: issueScheduled}
	}
	return keyPlan{Current: &d}
}

// wantPrefix is the prefix new keys of this ApiKey get.
func wantPrefix(ak *keygatev1alpha1.ApiKey) string {
	if ak.Spec.Prefix != "" {
		return ak.Spec.Prefix
	}
	return ak.Spec.Type.DefaultPrefix()
}

// gracePeriod is how long a replaced key of this ApiKey keeps working.
func gracePeriod(ak *keygatev1alpha1.ApiKey) time.Duration {
	if ak.Spec.Rotation != nil {
		return ak.Spec.Rotation.GracePeriod.Duration
	}
	return DefaultGracePeriod
}

// nextRotation is when the scheduled rotation replaces d.
func nextRotation(ak *keygatev1alpha1.ApiKey, d delivered) (time.Time, bool) {
	if ak.Spec.Rotation == nil || ak.Spec.Rotation.Every.Duration <= 0 {
		return time.Time{}, false
	}
	return d.IssuedAt.Add(ak.Spec.Rotation.Every.Duration), true
}

// accepts reports whether the record lists h as valid at now (by its own
// end time; disabled and expiresAt refuse every key alike and do not make a
// delivered key wrong).
func accepts(r *record.APIKey, h record.Hash, now time.Time) bool {
	s := h.String()
	for _, k := range r.Keys {
		if k.SHA256 == s && (k.NotAfter == nil || now.Before(*k.NotAfter)) {
			return true
		}
	}
	return false
}

// compileGeneratedKeys is the key list of a generated ApiKey's record:
// current with no end, then every other key of the previous record that is
// still valid, ending at the latest now+grace. That one rule retires the
// replaced key, keeps a grace key's original end, and bounds a hash that was
// published but never delivered (a crash between the two writes). current
// may be nil (the delivery Secret is not ours): every key then runs out.
func compileGeneratedKeys(prev *record.APIKey, current *record.Hash, now time.Time, grace time.Duration) []record.KeyHash {
	var keys []record.KeyHash
	cur := ""
	if current != nil {
		cur = current.String()
		keys = append(keys, record.KeyHash{SHA256: cur})
	}
	end := now.Add(grace).UTC()
	var rest []record.KeyHash
	if prev != nil && now.Before(end) {
		for _, k := range prev.Keys {
			if k.SHA256 == cur || (k.NotAfter != nil && !now.Before(*k.NotAfter)) {
				continue
			}
			na := end
			if k.NotAfter != nil && k.NotAfter.Before(end) {
				na = *k.NotAfter
			}
			rest = append(rest, record.KeyHash{SHA256: k.SHA256, NotAfter: &na})
		}
	}
	slices.SortFunc(rest, func(a, b record.KeyHash) int {
		if c := a.NotAfter.Compare(*b.NotAfter); c != 0 {
			return c
		}
		return strings.Compare(a.SHA256, b.SHA256)
	})
	rest = slices.CompactFunc(rest, func(a, b record.KeyHash) bool { return a.SHA256 == b.SHA256 })
	return append(keys, rest...)
}

// capKeys keeps the first fixed keys (the current one of a generated
// ApiKey) and the newest of the others, at most record.MaxKeys in all, so
// rotating more often than the grace period cannot grow a record without
// bound. The keys after the fixed ones are sorted by end, oldest first, as
// compileGeneratedKeys returns them.
func capKeys(keys []record.KeyHash, fixed int) (kept []record.KeyHash, dropped int) {
	if len(keys) <= record.MaxKeys {
		return keys, 0
	}
	dropped = len(keys) - record.MaxKeys
	return append(keys[:fixed:fixed], keys[fixed+dropped:]...), dropped
}

// compileGitOpsKeys is the key list of a GitOps ApiKey's record: the
// manifest's hashes that have not passed their notAfter.
func compileGitOpsKeys(ak *keygatev1alpha1.ApiKey, now time.Time) []record.KeyHash {
	var keys []record.KeyHash
	for _, h := range ak.Spec.KeyHashes {
		k := record.KeyHash{SHA256: h.SHA256}
		if h.NotAfter != nil {
			if !now.Before(h.NotAfter.Time) {
				continue
			}
			t := h.NotAfter.UTC()
			k.NotAfter = &t
		}
		keys = append(keys, k)
	}
	return keys
}

// compileAPIKey is the record of ak with the given keys.
func compileAPIKey(ak *keygatev1alpha1.ApiKey, keys []record.KeyHash) *record.APIKey {
	r := &record.APIKey{
		Version:        record.Version,
		Source:         source(&ak.ObjectMeta),
		Subject:        ak.Spec.Subject,
		Type:           string(ak.Spec.Type),
		Prefix:         wantPrefix(ak),
		Scopes:         ak.Spec.Scopes,
		AllowedOrigins: ak.Spec.AllowedOrigins,
		Disabled:       ak.Spec.Disabled,
		Generated:      len(ak.Spec.KeyHashes) == 0,
		Keys:           keys,
	}
	if r.Type == "" {
		r.Type = string(keygatev1alpha1.KeyTypeSecret)
	}
	if ak.Spec.ExpiresAt != nil {
		t := ak.Spec.ExpiresAt.UTC()
		r.ExpiresAt = &t
	}
	if r.Keys == nil {
		r.Keys = []record.KeyHash{}
	}
	return r
}

// source names m in its record. Its labels are not copied: nothing reads
// them, and they would make a record's size unbounded.
func source(m *metav1.ObjectMeta) record.Source {
	s := record.Source{Namespace: m.Namespace, Name: m.Name, UID: string(m.UID)}
	if !m.CreationTimestamp.IsZero() {
		t := m.CreationTimestamp.UTC()
		s.CreatedAt = &t
	}
	return s
}

// nextWake is the earliest instant after now at which the outcome changes
// by itself: a scheduled rotation, a key's end, or expiresAt. Zero if none.
func nextWake(ak *keygatev1alpha1.ApiKey, cur *delivered, r *record.APIKey, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if cur != nil {
		if t, ok := nextRotation(ak, *cur); ok {
			consider(t)
		}
	}
	if r != nil {
		for _, k := range r.Keys {
			if k.NotAfter != nil {
				consider(*k.NotAfter)
			}
		}
		if r.ExpiresAt != nil {
			consider(*r.ExpiresAt)
		}
	}
	return next
}
