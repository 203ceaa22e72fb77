package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/golang-jwt/jwt/v5"
	clocktesting "k8s.io/utils/clock/testing"
)

// FuzzVerify: any string given to Verify returns without panicking, and
// every error wraps one of the sentinels and never echoes the token.
func FuzzVerify(f *testing.F) {
	testKeys(f)
	path := filepath.Join(f.TempDir(), "jwt.yaml")
	writeConfig(f, path, fmt.Sprintf("issuers:\n- issuer: rsa\n  audiences: [api]\n  algorithms: [RS256, PS256]\n  publicKeys:\n  - |\n%s\n- issuer: ed\n  algorithms: [EdDSA]\n  publicKeys:\n  - |\n%s\n",
		indentPEM(pemOf(f, &rsaKey.PublicKey), "    "), indentPEM(pemOf(f, edKey.Public()), "    ")))
	a, err := New(Options{ConfigPath: path, Clock: clocktesting.NewFakePassiveClock(t0), Logger: logr.Discard()})
	if err != nil {
		f.Fatal(err)
	}
	rs := sign(f, jwt.SigningMethodRS256, rsaKey, claimsAt("rsa", map[string]any{"aud": "api", "scope": []string{"a"}}), nil)
	ed := sign(f, jwt.SigningMethodEdDSA, edKey, claimsAt("ed", nil), nil)
	for _, seed := range []string{rs, ed, "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("eyJ.", 5),
		ed[:len(ed)-3], strings.Replace(rs, ".", "..", 1)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := a.Verify(context.Background(), raw)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrRevoked) && !errors.Is(err, ErrNotConfigured) {
			t.Fatalf("error %q wraps no sentinel", err)
		}
		if len(raw) >= 16 && strings.Contains(err.Error(), raw) {
			t.Fatalf("error %q echoes the token", err)
		}
	})
}
