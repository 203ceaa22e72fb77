package jwtauth

import (
	"errors"
	"time"
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	Issuer  string
	Subject string
	Scopes  []string
	// Plan is the value of the issuer's planClaim: a string without
	// control characters, or empty (no planClaim, no such claim, or a
	// value that is not such a string).
	Plan      string
	ID        string // jti
	ExpiresAt time.Time
}

// Errors of Verify. Every error Verify returns wraps exactly one of them;
// its message is safe to show to the client (it never contains the token).
var (
	// ErrInvalidToken: expired, not yet valid, malformed, wrongly signed,
	// wrong issuer or audience, algorithm not allowed, exp missing.
	ErrInvalidToken = errors.New("invalid token")
	// ErrRevoked: the token's jti is on the revocation list.
	ErrRevoked = errors.New("token revoked")
	// ErrNotConfigured: no issuer is configured, so no token can be valid.
	ErrNotConfigured = errors.New("no JWT issuer configured")
)
