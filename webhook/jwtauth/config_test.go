package jwtauth

import (
	"os"
	"strings"
	"testing"
)

func TestParseConfigErrors(t *testing.T) {
	const hmacIssuer = "- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n"
	cases := []struct {
		name string
		yaml string
		want string // fragment of the error; "" = valid
	}{
		{"valid minimal", "issuers:\n" + hmacIssuer, ""},
		{"empty file", "", ""},
		{"yaml syntax names the line", "issuers:\n- issuer: a\n  algorithms: [HS256\n", "line"},
		{"unknown field", "issuers:\n- issuer: a\n  audience: [x]\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n", `unknown field "audience"`},
		{"wrong type", "issuers:\n- issuer: a\n  algorithms: HS256\n", "algorithms"},
		{"missing issuer", "issuers:\n- algorithms: [HS256]\n  hmacSecretRef: {name: s}\n", "issuers[0].issuer: Required"},
		{"issuer with a line feed", "issuers:\n- issuer: \"a\\nb\"\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n", "issuers[0].issuer: Invalid"},
		{"duplicate issuer", "issuers:\n" + hmacIssuer + hmacIssuer, "issuers[1].issuer: Duplicate"},
		{"no algorithms", "issuers:\n- issuer: a\n  hmacSecretRef: {name: s}\n", "issuers[0].algorithms: Required"},
		{"none", "issuers:\n- issuer: a\n  algorithms: [HS256, none]\n  hmacSecretRef: {name: s}\n", `issuers[0].algorithms[1]: Forbidden: "none"`},
		{"unknown alg", "issuers:\n- issuer: a\n  algorithms: [HS1024]\n  hmacSecretRef: {name: s}\n", "Unsupported value"},
		{"RS256 with HMAC secret", "issuers:\n- issuer: a\n  algorithms: [HS256, RS256]\n  hmacSecretRef: {name: s}\n", "issuers[0].algorithms[1]"},
		{"HS256 with JWKS", "issuers:\n- issuer: a\n  algorithms: [HS256]\n  jwksURL: https://idp/jwks\n", "public keys never serve as HMAC secrets"},
		{"no key source", "issuers:\n- issuer: a\n  algorithms: [RS256]\n", "exactly one key source"},
		{"two key sources", "issuers:\n- issuer: a\n  algorithms: [RS256]\n  jwksURL: https://idp/jwks\n  publicKeys: [x]\n", "exactly one key source"},
		{"bad PEM", "issuers:\n- issuer: a\n  algorithms: [RS256]\n  publicKeys: [nope]\n", "issuers[0].publicKeys[0]"},
		{"relative JWKS URL", "issuers:\n- issuer: a\n  algorithms: [RS256]\n  jwksURL: /jwks\n", "issuers[0].jwksURL"},
		{"leeway too large", "issuers:\n- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n  leeway: 1h\n", "issuers[0].leeway"},
		{"bad duration", "issuers:\n- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n  leeway: soon\n", "leeway"},
		{"bad secret name", "issuers:\n- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: Not_A_Name}\n", "hmacSecretRef.name"},
		{"same subject and scopes claim", "issuers:\n- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n  scopesClaim: sub\n", "scopesClaim"},
		{"revocation with both refs", "revocation:\n  secretRef: {name: a}\n  configMapRef: {name: b}\n", "exactly one of secretRef or configMapRef"},
		{"revocation with neither", "revocation: {}\n", "exactly one of secretRef or configMapRef"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("issuers:\n- issuer: a\n  algorithms: [RS256]\n  jwksURL: https://idp.example.com/jwks\n- issuer: b\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Issuers[0], cfg.Issuers[1]
	if a.SubjectClaim != "sub" || a.ScopesClaim != "scope" || a.JWKSRefreshInterval.Duration != DefaultJWKSRefreshInterval ||
		a.JWKSMinRefetchInterval.Duration != DefaultJWKSMinRefetchInterval || b.HMACSecretRef.Key != "hmac" || a.leeway() != 0 {
		t.Fatalf("defaults not applied: %+v %+v", a, b)
	}
}

// The example in doc.go is what the README copies: it must stay valid.
func TestDocExampleIsValid(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, l := range strings.Split(string(src), "\n") {
		if l == "//\tissuers:" {
			in = true
		}
		if in && !strings.HasPrefix(l, "//\t") && l != "//" {
			break
		}
		if in {
			lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(l, "//"), "\t"))
		}
	}
	if len(lines) < 20 {
		t.Fatalf("example not found in doc.go (%d lines)", len(lines))
	}
	cfg, err := ParseConfig([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("doc example: %v", err)
	}
	if len(cfg.Issuers) != 3 || cfg.Revocation == nil || cfg.Revocation.SecretRef.Name != "keygate-revoked-jtis" {
		t.Fatalf("doc example parsed to %+v", cfg)
	}
}

func TestNewRefusesInvalidConfig(t *testing.T) {
	e := t.TempDir() + "/jwt.yaml"
	writeConfig(t, e, "issuers:\n- issuer: a\n  algorithms: [HS256]\n  hmacSecretRef: {name: s}\n")
	if _, err := New(Options{ConfigPath: e}); err == nil || !strings.Contains(err.Error(), "no Kubernetes client") {
		t.Fatalf("want an error about the missing client, got %v", err)
	}
	if _, err := New(Options{ConfigPath: e + ".missing"}); err == nil {
		t.Fatal("want an error for a missing file")
	}
}
