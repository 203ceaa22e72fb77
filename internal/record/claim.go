package record

import "strings"

// MaxKeys is the most key hashes one ApiKey record holds: the current key
// and the newest grace keys of a generated ApiKey (rotating more often than
// the grace period retires the oldest grace key early), or the manifest's
// keyHashes (the CRD allows at most this many). It bounds a record's size.
const MaxKeys = 16

// ClaimsBefore reports whether r is the first claimant of a key hash that o
// lists too. Hashes are public (in Git, in the spec), so anyone who may
// create an ApiKey can list someone else's; the first claimant keeps it and
// the other is refused, in the controller and in the auth server alike:
//
//  1. a generated key (its hash came from keygate's own random key) before a
//     GitOps one;
//  2. the older source (creationTimestamp; a record without one counts as
//     the newest);
//  3. then namespace and name, so the order is total.
func (r *APIKey) ClaimsBefore(o *APIKey) bool {
	if r.Generated != o.Generated {
		return r.Generated
	}
	return r.Source.Before(o.Source)
}

// Before orders two sources by creationTimestamp, then namespace, then name.
func (s Source) Before(o Source) bool {
	switch {
	case s.CreatedAt == nil && o.CreatedAt != nil:
		return false
	case s.CreatedAt != nil && o.CreatedAt == nil:
		return true
	case s.CreatedAt != nil && !s.CreatedAt.Equal(*o.CreatedAt):
		return s.CreatedAt.Before(*o.CreatedAt)
	}
	if c := strings.Compare(s.Namespace, o.Namespace); c != 0 {
		return c < 0
	}
	return s.Name < o.Name
}
