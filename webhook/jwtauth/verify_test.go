package jwtauth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var devSecret = []byte("0123456789abcdef0123456789abcdef-dev")

func verifyConfig(t *testing.T) string {
	testKeys(t)
	return fmt.Sprintf(`issuers:
- issuer: keygate-dev
  algorithms: [HS256]
  hmacSecretRef: {name: keygate-dev-jwt}
  leeway: 30s
- issuer: rsa-issuer
  audiences: [api, other-api]
  algorithms: [RS256]
  scopesClaim: scp
  subjectClaim: uid
  planClaim: tier
  publicKeys:
  - |
%s
- issuer: ec-issuer
  algorithms: [ES256, EdDSA]
  publicKeys:
  - |
%s
  - |
%s
`, indentPEM(pemOf(t, &rsaKey.PublicKey), "    "),
		indentPEM(pemOf(t, &ecKey.PublicKey), "    "),
		indentPEM(pemOf(t, edKey.Public()), "    "))
}

// verifyCase is one token given to Verify and what it must answer.
type verifyCase struct {
	name    string
	token   string
	wantIs  error
	wantMsg string
	wantSub string
}

// withClaim returns a copy of base with claim k set to v.
func withClaim(base map[string]any, k string, v any) map[string]any {
	m := map[string]any{k: v}
	for bk, bv := range base {
		if bk != k {
			m[bk] = bv
		}
	}
	return m
}

// verifyCases signs the tokens TestVerify checks against verifyConfig.
func verifyCases(t *testing.T) []verifyCase {
	rsaPEM := []byte(pemOf(t, &rsaKey.PublicKey))
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	hs := func(over map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, devSecret, claimsAt("keygate-dev", over), nil)
	}
	rs := func(over map[string]any) string {
		return sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt("rsa-issuer", over), nil)
	}
	rsClaims := map[string]any{"aud": "api", "uid": "bob", "sub": nil}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsAt("keygate-dev", nil), nil)
	return []verifyCase{
		{"valid HS256", hs(nil), nil, "", "alice"},
		{"expired", hs(map[string]any{"exp": at(-31 * time.Second)}), ErrInvalidToken, "token has expired", ""},
		{"expired within leeway", hs(map[string]any{"exp": at(-29 * time.Second)}), nil, "", "alice"},
		{"not yet valid", hs(map[string]any{"nbf": at(31 * time.Second)}), ErrInvalidToken, "token is not valid yet", ""},
		{"nbf within leeway", hs(map[string]any{"nbf": at(29 * time.Second)}), nil, "", "alice"},
		{"issued in the future", hs(map[string]any{"iat": at(time.Hour)}), ErrInvalidToken, "issued in the future", ""},
		{"missing exp", hs(map[string]any{"exp": nil}), ErrInvalidToken, "no expiry", ""},
		{"missing sub", hs(map[string]any{"sub": nil}), ErrInvalidToken, "token has no subject", ""},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, devSecret, claimsAt("evil", nil), nil), ErrInvalidToken, "token issuer is not accepted", ""},
		{"no issuer", hs(map[string]any{"iss": nil}), ErrInvalidToken, "token has no issuer", ""},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), claimsAt("keygate-dev", nil), nil), ErrInvalidToken, "token signature is invalid", ""},
		{"algorithm not in allow-list", sign(t, jwt.SigningMethodHS384, devSecret, claimsAt("keygate-dev", nil), nil), ErrInvalidToken, "token algorithm is not accepted", ""},
		{"alg none", none, ErrInvalidToken, "token algorithm is not accepted", ""},
		{"alg none with empty signature and HS256 claims", strings.TrimSuffix(none, "."), ErrInvalidToken, "malformed", ""},
		{"malformed", "not.a.jwt", ErrInvalidToken, "token is malformed", ""},
		{"too large", strings.Repeat("a", maxTokenBytes+1), ErrInvalidToken, "too large", ""},
		{"valid RS256 with custom subject claim", rs(rsClaims), nil, "", "bob"},
		{"RS256 second audience", rs(withClaim(rsClaims, "aud", []string{"x", "other-api"})), nil, "", "bob"},
		{"wrong audience", rs(withClaim(rsClaims, "aud", "web")), ErrInvalidToken, "token audience is not accepted", ""},
		{"missing audience", rs(withClaim(rsClaims, "aud", nil)), ErrInvalidToken, "missing a required claim", ""},
		{"RS256 signed by another key", sign(t, jwt.SigningMethodRS256, rsaKey2, claimsAt("rsa-issuer", rsClaims), nil), ErrInvalidToken, "token signature is invalid", ""},
		{"HMAC/RSA confusion: HS256 with the RSA public key PEM as secret",
			sign(t, jwt.SigningMethodHS256, rsaPEM, claimsAt("rsa-issuer", rsClaims), nil), ErrInvalidToken, "token algorithm is not accepted", ""},
		{"valid ES256", sign(t, jwt.SigningMethodES256, ecKey, claimsAt("ec-issuer", nil), nil), nil, "", "alice"},
		{"valid EdDSA", sign(t, jwt.SigningMethodEdDSA, edKey, claimsAt("ec-issuer", nil), nil), nil, "", "alice"},
		{"RS256 to an ES256/EdDSA issuer", sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt("ec-issuer", nil), nil), ErrInvalidToken, "token algorithm is not accepted", ""},
	}
}

func TestVerify(t *testing.T) {
	e := newEnv(t, verifyConfig(t), true, hmacSecretObject("keygate-dev-jwt", devSecret))
	eventually(t, "ready", e.auth.Ready)
	for _, tc := range verifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.auth.Verify(context.Background(), tc.token)
			checkErr(t, err, tc.wantIs, tc.wantMsg)
			if err != nil && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
				t.Fatal("error message contains the token")
			}
			if id.Subject != tc.wantSub {
				t.Fatalf("subject = %q, want %q", id.Subject, tc.wantSub)
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	e := newEnv(t, verifyConfig(t), true, hmacSecretObject("keygate-dev-jwt", devSecret))
	eventually(t, "ready", e.auth.Ready)
	cases := []struct {
		name       string
		iss        string
		over       map[string]any
		wantScopes []string
		wantErr    string
	}{
		{"scopes as string", "keygate-dev", map[string]any{"scope": "events:write  admin:read"}, []string{"events:write", "admin:read"}, ""},
		{"scopes as array", "keygate-dev", map[string]any{"scope": []string{"a", "b"}}, []string{"a", "b"}, ""},
		{"no scopes", "keygate-dev", nil, nil, ""},
		{"scopes of the wrong type", "keygate-dev", map[string]any{"scope": 42}, nil, "scopes claim"},
		{"array with a number", "keygate-dev", map[string]any{"scope": []any{"a", 1}}, nil, "scopes claim"},
		{"subject not a string", "keygate-dev", map[string]any{"sub": 7}, nil, "no subject"},
		// X-Auth-Subject and X-Auth-Scopes go upstream as headers: a claim
		// that would split a header or add a scope there is refused.
		{"subject with CRLF", "keygate-dev", map[string]any{"sub": "eve\r\nX-Admin: true"}, nil, "subject has control characters"},
		{"subject with a space", "keygate-dev", map[string]any{"sub": "Eve Smith"}, nil, ""},
		{"scope with a space", "keygate-dev", map[string]any{"scope": []string{"read admin"}}, nil, "scope is empty or has spaces"},
		{"scope with LF", "keygate-dev", map[string]any{"scope": []string{"read\nX-Admin: 1"}}, nil, "scope is empty or has spaces"},
		{"scope string with a control character", "keygate-dev", map[string]any{"scope": "read \x00admin"}, nil, "scope is empty or has spaces"},
		{"scope with a no-break space", "keygate-dev", map[string]any{"scope": []string{"read\u00a0admin"}}, nil, "scope is empty or has spaces"},
		{"empty scope", "keygate-dev", map[string]any{"scope": []string{"read", ""}}, nil, "scope is empty or has spaces"},
		{"subject with a Unicode control character", "keygate-dev", map[string]any{"sub": "eve\u0085x"}, nil, "subject has control characters"},
		{"custom scopes claim", "rsa-issuer", map[string]any{"aud": "api", "uid": "bob", "scp": []string{"x"}, "scope": "ignored"}, []string{"x"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims := claimsAt(tc.iss, tc.over)
			claims["jti"] = "id-1"
			var tok string
			if tc.iss == "rsa-issuer" {
				tok = sign(t, jwt.SigningMethodRS256, rsaKey, claims, nil)
			} else {
				tok = sign(t, jwt.SigningMethodHS256, devSecret, claims, nil)
			}
			id, err := e.auth.Verify(context.Background(), tok)
			if tc.wantErr != "" {
				checkErr(t, err, ErrInvalidToken, tc.wantErr)
				return
			}
			checkErr(t, err, nil, "")
			if !slices.Equal(id.Scopes, tc.wantScopes) || id.Issuer != tc.iss || id.ID != "id-1" || !id.ExpiresAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("identity = %+v, want scopes %v", id, tc.wantScopes)
			}
		})
	}
}

// The plan claim is read only for an issuer that names one, and only as a
// string safe to compare: anything else is no plan (the rules' own limits),
// never an error.
func TestVerifyPlanClaim(t *testing.T) {
	e := newEnv(t, verifyConfig(t), true, hmacSecretObject("keygate-dev-jwt", devSecret))
	eventually(t, "ready", e.auth.Ready)
	for _, tc := range []struct {
		name, iss string
		plan      any
		want      string
	}{
		{"issuer's plan claim", "rsa-issuer", "pro", "pro"},
		{"issuer without planClaim", "keygate-dev", "pro", ""},
		{"not a string", "rsa-issuer", []string{"pro"}, ""},
		{"control character", "rsa-issuer", "pro\n", ""},
		{"space", "rsa-issuer", "pro plus", ""},
		{"too long", "rsa-issuer", strings.Repeat("p", maxPlanLen+1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := claimsAt(tc.iss, map[string]any{"tier": tc.plan, "aud": "api", "uid": "bob"})
			var tok string
			if tc.iss == "rsa-issuer" {
				tok = sign(t, jwt.SigningMethodRS256, rsaKey, claims, nil)
			} else {
				tok = sign(t, jwt.SigningMethodHS256, devSecret, claims, nil)
			}
			id, err := e.auth.Verify(context.Background(), tok)
			checkErr(t, err, nil, "")
			if id.Plan != tc.want {
				t.Fatalf("plan %q, want %q", id.Plan, tc.want)
			}
		})
	}
}

// The key func is the second guard against algorithm confusion: even an
// issuer whose allow-list holds both families (which the config validation
// refuses) never hands a public key to the HMAC verifier.
func TestKeyFuncRefusesCrossFamilyKeys(t *testing.T) {
	testKeys(t)
	pub := &rsaKey.PublicKey
	pemBytes := []byte(pemOf(t, pub))
	a := &Authenticator{clock: t0Clock{}}
	is := &issuer{
		name:       "mixed",
		parser:     jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t0Clock{}.Now)),
		algs:       map[string]bool{"HS256": true, "RS256": true},
		publicKeys: []any{pub},
	}
	tok := sign(t, jwt.SigningMethodHS256, pemBytes, claimsAt("mixed", nil), nil)
	_, err := is.parser.Parse(tok, func(tk *jwt.Token) (any, error) { return a.keyFor(context.Background(), is, tk) })
	if err == nil {
		t.Fatal("HS256 token signed with the RSA public key PEM was accepted")
	}
	checkErr(t, mapParseError(err), ErrInvalidToken, "no matching key")
	good := sign(t, jwt.SigningMethodRS256, rsaKey, claimsAt("mixed", nil), nil)
	if _, err := is.parser.Parse(good, func(tk *jwt.Token) (any, error) { return a.keyFor(context.Background(), is, tk) }); err != nil {
		t.Fatalf("RS256 token refused: %v", err)
	}
}

func TestKeyFits(t *testing.T) {
	testKeys(t)
	p384, _ := parsePublicKeyPEM([]byte(pemOf(t, &ecKey.PublicKey)))
	cases := []struct {
		method jwt.SigningMethod
		key    any
		want   bool
	}{
		{jwt.SigningMethodHS256, hmacSecret("s"), true},
		{jwt.SigningMethodHS256, []byte("raw bytes are never an HMAC key"), false},
		{jwt.SigningMethodHS256, &rsaKey.PublicKey, false},
		{jwt.SigningMethodRS256, &rsaKey.PublicKey, true},
		{jwt.SigningMethodPS256, &rsaKey.PublicKey, true},
		{jwt.SigningMethodRS256, hmacSecret("s"), false},
		{jwt.SigningMethodES256, &ecKey.PublicKey, true},
		{jwt.SigningMethodES384, p384, false}, // a P-256 key for ES384
		{jwt.SigningMethodEdDSA, edKey.Public(), true},
		{jwt.SigningMethodEdDSA, &ecKey.PublicKey, false},
		{jwt.SigningMethodNone, hmacSecret("s"), false},
	}
	for _, tc := range cases {
		if got := keyFits(tc.method, tc.key); got != tc.want {
			t.Errorf("keyFits(%s, %T) = %v, want %v", tc.method.Alg(), tc.key, got, tc.want)
		}
	}
}

func TestNotConfigured(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Ready() {
		t.Fatal("an authenticator without config should be ready")
	}
	_, err = a.Verify(context.Background(), "a.b.c")
	checkErr(t, err, ErrNotConfigured, "no JWT issuer")
}

type t0Clock struct{}

func (t0Clock) Now() time.Time                  { return t0 }
func (t0Clock) Since(t time.Time) time.Duration { return t0.Sub(t) }
