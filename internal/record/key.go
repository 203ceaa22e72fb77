// Package record is what the controller and the auth server share: the
// format of a key and its hash, and the compiled records the controller
// writes to Secrets in keygate's namespace and the auth server reads.
// Nothing else crosses between the two.
package record

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// Key format: prefix + 64 lowercase hex characters (256 random bits). A
// prefix is a lowercase letter, up to 15 lowercase letters or digits, and an
// underscore.
const (
	SecretLen    = 64 // hex characters after the prefix
	MaxPrefixLen = 17
	MaxKeyLen    = MaxPrefixLen + SecretLen
	KeyIDLen     = 12
)

// ErrMalformedKey says a string cannot be a keygate key.
var ErrMalformedKey = errors.New("malformed API key")

// Hash is the SHA-256 of a whole key string, prefix included.
type Hash [sha256.Size]byte

// HashKey hashes a whole key string.
func HashKey(key string) Hash { return sha256.Sum256([]byte(key)) }

// String is the lowercase hex form, as stored in records and manifests.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// KeyID is the first 12 hex characters of the hash: safe to show and log.
func (h Hash) KeyID() string { return h.String()[:KeyIDLen] }

// ParseHash reads a 64-character lowercase hex SHA-256.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) || !isLowerHex(s) {
		return h, fmt.Errorf("sha256 must be 64 lowercase hex characters")
	}
	_, _ = hex.Decode(h[:], []byte(s))
	return h, nil
}

// ValidPrefix reports whether p matches ^[a-z][a-z0-9]{0,15}_$.
func ValidPrefix(p string) bool {
	if len(p) < 2 || len(p) > MaxPrefixLen || p[len(p)-1] != '_' || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p)-1; i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// SplitKey returns the prefix of a well-formed key, or ErrMalformedKey. It
// does no allocation, so the auth server can refuse garbage before hashing.
func SplitKey(key string) (prefix string, err error) {
	if len(key) <= SecretLen || len(key) > MaxKeyLen {
		return "", ErrMalformedKey
	}
	p := key[:len(key)-SecretLen]
	if !ValidPrefix(p) || !isLowerHex(key[len(p):]) {
		return "", ErrMalformedKey
	}
	return p, nil
}

// NewKey makes a key with 256 bits from crypto/rand.
func NewKey(prefix string) (string, error) {
	if !ValidPrefix(prefix) {
		return "", fmt.Errorf("invalid key prefix %q: want ^[a-z][a-z0-9]{0,15}_$", prefix)
	}
	var b [SecretLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// Hint shows a key as prefix + "..." + its last 4 characters.
func Hint(key string) string {
	p, err := SplitKey(key)
	if err != nil {
		return ""
	}
	return p + "..." + key[len(key)-4:]
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
