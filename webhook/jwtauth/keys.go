package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits refuses RSA keys too short to be trusted.
const minRSABits = 2048

// parsePublicKeyPEM reads one PEM block holding an RSA, ECDSA or Ed25519
// public key, or a certificate carrying one.
func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block: list each key separately")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		cert, err = x509.ParseCertificate(block.Bytes)
		if err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key or certificate", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	return checkPublicKey(key)
}

// checkPublicKey accepts only the key types a JWT can be verified with.
func checkPublicKey(key any) (crypto.PublicKey, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, at least %d are required", k.N.BitLen(), minRSABits)
		}
		return k, nil
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported public key type %T", key)
	}
}

// keyFits reports whether key can verify a token signed with method. It
// is what makes algorithm confusion impossible: an HMAC method only ever
// gets an HMAC secret, and a public-key method only a public key of its
// own family (and, for ECDSA, its own curve).
func keyFits(method jwt.SigningMethod, key any) bool {
	switch m := method.(type) {
	case *jwt.SigningMethodHMAC:
		_, ok := key.(hmacSecret)
		return ok
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == curveOf(m)
	case *jwt.SigningMethodEd25519:
		_, ok := key.(ed25519.PublicKey)
		return ok
	default:
		return false
	}
}

func curveOf(m *jwt.SigningMethodECDSA) elliptic.Curve {
	switch m.CurveBits {
	case 256:
		return elliptic.P256()
	case 384:
		return elliptic.P384()
	case 521:
		return elliptic.P521()
	default:
		return nil
	}
}

// hmacSecret is an HMAC key. Its own type keeps it apart from every other
// byte slice: only a value loaded from an hmacSecretRef is ever one.
type hmacSecret []byte

// verificationKey turns the keys that fit a token's method into what
// golang-jwt's key func returns: the secret as []byte for HMAC, one key,
// or a set that is tried in turn.
func verificationKey(method jwt.SigningMethod, candidates []any) (any, error) {
	var fit []jwt.VerificationKey
	for _, k := range candidates {
		if keyFits(method, k) {
			if s, ok := k.(hmacSecret); ok {
				k = []byte(s)
			}
			fit = append(fit, k)
		}
	}
	switch len(fit) {
	case 0:
		return nil, errNoKey
	case 1:
		return fit[0], nil
	default:
		return jwt.VerificationKeySet{Keys: fit}, nil
	}
}

// errNoKey: no configured or fetched key can verify the token.
var errNoKey = errors.New("no key can verify the token")
