package check

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/webhook/index"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// keyIndex is what the decision needs from the index.
type keyIndex interface {
	Lookup(h record.Hash) (*index.Entry, bool)
}

// DecideKey is the whole decision on an API key, without HTTP: the format
// is checked before hashing, then one map lookup by SHA-256 and a few
// comparisons. The prefix is not matched against the ApiKeys' current
// prefixes: a record names only the prefix of its newest key, and a key
// still in its grace period after a prefix change, or a GitOps hash made
// with another prefix, must be accepted by its hash alone. origin and referer are the request's headers. Refusals
// without detail are shared values, so neither outcome allocates. A key
// that is found but refused (disabled, expired, of a type, origin or scope
// the route does not take) comes back with its entry beside the refusal,
// so that the refusal can be attributed; a key of a namespace the route
// does not count comes back as unknown.
func DecideKey(ix keyIndex, key string, o *Options, origin, referer string, now time.Time) (*index.Entry, *Refusal) {
	if _, err := record.SplitKey(key); err != nil {
		return nil, refInvalidKey
	}
	e, ok := ix.Lookup(hashKey(key))
	if !ok {
		return nil, refInvalidKey
	}
	rec := e.Key.Record
	if len(o.namespaces) > 0 && !containsString(o.namespaces, rec.Source.Namespace) {
		return nil, refInvalidKey // keys of other namespaces do not count
	}
	if rec.Disabled {
		return e, refKeyDisabled
	}
	if !rec.ValidAt(e.Hash, now) {
		return e, refKeyExpired
	}
	if !keyTypeAllowed(o.keyTypes, rec.Type) {
		return e, refKeyType
	}
	if len(rec.AllowedOrigins) > 0 {
		if rf := checkOrigin(rec.AllowedOrigins, origin, referer); rf != nil {
			return e, rf
		}
	}
	if s := missingScope(o.scopes, rec.Scopes); s != "" {
		return e, forbiddenScope(s)
	}
	return e, nil
}

func keyTypeAllowed(bits uint8, t string) bool {
	switch t {
	case "secret":
		return bits&keyTypeSecret != 0
	case "public":
		return bits&keyTypePublic != 0
	}
	return false
}

// checkOrigin compares the request's origin (the Origin header, or else the
// origin of the Referer) with a key's allowed origins: scheme, host and
// port, case-insensitively. A request with neither header is refused.
func checkOrigin(allowed []string, origin, referer string) *Refusal {
	if origin == "" || origin == "null" {
		origin = refererOrigin(referer)
	}
	if origin == "" {
		return refNoOrigin
	}
	for _, a := range allowed {
		if strings.EqualFold(a, origin) {
			return nil
		}
	}
	return refOrigin
}

// refererOrigin is scheme://host[:port] of a Referer, without allocating.
func refererOrigin(ref string) string {
	i := strings.Index(ref, "://")
	if i <= 0 {
		return ""
	}
	end := strings.IndexAny(ref[i+3:], "/?#")
	if end < 0 {
		return ref
	}
	if end == 0 {
		return ""
	}
	return ref[:i+3+end]
}

// missingScope returns the first required scope the credential lacks.
func missingScope(required, have []string) string {
	for _, s := range required {
		if !containsString(have, s) {
			return s
		}
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decideToken verifies a JWT and checks the route's scopes.
func decideToken(ctx context.Context, v TokenVerifier, token string, o *Options) (jwtauth.Identity, *Refusal) {
	id, err := v.Verify(ctx, token)
	if err != nil {
		return id, tokenRefusal(err)
	}
	if s := missingScope(o.scopes, id.Scopes); s != "" {
		return id, forbiddenScope(s)
	}
	return id, nil
}

// tokenRefusal maps a verification error to its code. jwtauth's messages
// are safe to show; any other error is reported without its text.
func tokenRefusal(err error) *Refusal {
	switch {
	case errors.Is(err, jwtauth.ErrRevoked):
		return NewRefusal(401, CodeTokenRevoked, CategoryAuth, "Unauthorized: "+err.Error())
	case errors.Is(err, jwtauth.ErrInvalidToken), errors.Is(err, jwtauth.ErrNotConfigured):
		return NewRefusal(401, CodeInvalidToken, CategoryAuth, "Unauthorized: "+err.Error())
	}
	return refTokenUnverified
}

var refTokenUnverified = NewRefusal(401, CodeInvalidToken, CategoryAuth, "Unauthorized: the token could not be verified")
