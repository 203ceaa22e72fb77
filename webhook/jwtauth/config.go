package jwtauth

import (
	"encoding/json"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the JWT config file. See the package documentation for the
// YAML format and a full example.
type Config struct {
	// Issuers whose tokens are accepted. Empty means no token is valid.
	Issuers []IssuerConfig `json:"issuers"`
	// Revocation names the Secret or ConfigMap that lists revoked jti values.
	Revocation *RevocationConfig `json:"revocation,omitempty"`
}

// IssuerConfig is one accepted issuer and how its tokens are checked.
type IssuerConfig struct {
	// Issuer must equal the token's iss claim exactly.
	Issuer string `json:"issuer"`
	// Audiences: empty = no aud required; otherwise aud must contain one.
	Audiences []string `json:"audiences,omitempty"`
	// Algorithms is the allow-list of alg values. Required; "none" is never
	// accepted, and HMAC and public-key algorithms are never mixed.
	Algorithms []string `json:"algorithms"`

	// Exactly one key source.

	// HMACSecretRef: the HMAC secret, from a Secret in keygate's namespace.
	HMACSecretRef *KeyRef `json:"hmacSecretRef,omitempty"`
	// PublicKeys: PEM-encoded RSA, ECDSA or Ed25519 public keys (PKIX
	// "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY", or a "CERTIFICATE").
	PublicKeys []string `json:"publicKeys,omitempty"`
	// JWKSURL: an https (or http, for tests and in-cluster IdPs) URL of a
	// JSON Web Key Set.
	JWKSURL string `json:"jwksURL,omitempty"`
	// JWKSRefreshInterval: how often the JWKS is fetched again. Default 10m.
	JWKSRefreshInterval *Duration `json:"jwksRefreshInterval,omitempty"`
	// JWKSMinRefetchInterval: a token with an unknown kid triggers a fetch at
	// most once per this interval. Default 30s.
	JWKSMinRefetchInterval *Duration `json:"jwksMinRefetchInterval,omitempty"`
	// JWKSMaxMissedRefreshes: while the JWKS cannot be fetched the cached
	// keys stay in use, for at most this many refresh intervals after the
	// last successful fetch; then the issuer's tokens are refused until a
	// fetch succeeds. Default 3, 1 to 1000.
	JWKSMaxMissedRefreshes *int `json:"jwksMaxMissedRefreshes,omitempty"`

	// Leeway allowed on exp, nbf and iat for clock skew. Default 0, max 5m.
	Leeway *Duration `json:"leeway,omitempty"`
	// SubjectClaim names the claim that holds the subject. Default "sub".
	SubjectClaim string `json:"subjectClaim,omitempty"`
	// ScopesClaim names the claim that holds the scopes, a space-separated
	// string or an array of strings. Default "scope".
	ScopesClaim string `json:"scopesClaim,omitempty"`
	// PlanClaim names the claim that holds the token's plan, a string that
	// RateLimitPolicy overrides select with jwtPlans (for example "plan").
	// Empty: this issuer's tokens have no plan, and get the rules' own
	// limits.
	PlanClaim string `json:"planClaim,omitempty"`
}

// KeyRef names an object in keygate's namespace and a data key in it.
type KeyRef struct {
	Name string `json:"name"`
	// Key is the data key. For hmacSecretRef it defaults to "hmac". For a
	// revocation source it is optional: see RevocationConfig.
	Key string `json:"key,omitempty"`
}

// RevocationConfig names the source of revoked jti values: exactly one of
// a Secret or a ConfigMap in keygate's namespace, watched live.
//
// Without a key, every data key of the object is a revoked jti and its
// value is empty or the token's expiry (RFC 3339 or Unix seconds). With a
// key, that one data entry holds one jti per line, optionally followed by
// whitespace and the expiry; blank lines and lines starting with # are
// skipped.
type RevocationConfig struct {
	SecretRef    *KeyRef `json:"secretRef,omitempty"`
	ConfigMapRef *KeyRef `json:"configMapRef,omitempty"`
}

// Duration is a Go duration written as a string ("30s", "10m"). A value
// that does not parse is reported by validation with its field path.
type Duration struct {
	time.Duration
	invalid string
}

// UnmarshalJSON reads a duration string; parse errors are kept for
// validation, which names the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.invalid = s
		return nil
	}
	d.Duration, d.invalid = v, ""
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Defaults of the optional fields.
const (
	DefaultSubjectClaim           = "sub"
	DefaultScopesClaim            = "scope"
	DefaultHMACKey                = "hmac"
	DefaultJWKSRefreshInterval    = 10 * time.Minute
	DefaultJWKSMinRefetchInterval = 30 * time.Second
	DefaultJWKSMaxMissedRefreshes = 3
	maxJWKSMissedRefreshes        = 1000
	maxLeeway                     = 5 * time.Minute
	minJWKSInterval               = time.Second
	minHMACSecretBytes            = 32
)

// LoadConfig reads, parses and validates a config file. Unknown fields are
// errors (a misspelt "audience" must not silently accept every audience).
// The returned Config has its defaults filled in.
func LoadConfig(path string) (*Config, error) {
	cfg, _, err := readConfig(path)
	return cfg, err
}

// ParseConfig parses and validates the YAML of a config file.
func ParseConfig(data []byte) (*Config, error) {
	cfg := &Config{}
	if err := yaml.UnmarshalStrict(data, cfg); err != nil {
		return nil, fmt.Errorf("parsing YAML: %w", err)
	}
	cfg.setDefaults()
	if err := cfg.validate().ToAggregate(); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	return cfg, nil
}

func (c *Config) setDefaults() {
	for i := range c.Issuers {
		is := &c.Issuers[i]
		if is.SubjectClaim == "" {
			is.SubjectClaim = DefaultSubjectClaim
		}
		if is.ScopesClaim == "" {
			is.ScopesClaim = DefaultScopesClaim
		}
		if is.HMACSecretRef != nil && is.HMACSecretRef.Key == "" {
			is.HMACSecretRef.Key = DefaultHMACKey
		}
		if is.JWKSURL != "" && is.JWKSRefreshInterval == nil {
			is.JWKSRefreshInterval = &Duration{Duration: DefaultJWKSRefreshInterval}
		}
		if is.JWKSURL != "" && is.JWKSMinRefetchInterval == nil {
			is.JWKSMinRefetchInterval = &Duration{Duration: DefaultJWKSMinRefetchInterval}
		}
		if is.JWKSURL != "" && is.JWKSMaxMissedRefreshes == nil {
			n := DefaultJWKSMaxMissedRefreshes
			is.JWKSMaxMissedRefreshes = &n
		}
	}
}

// leeway returns the issuer's leeway, zero when unset.
func (is *IssuerConfig) leeway() time.Duration {
	if is.Leeway == nil {
		return 0
	}
	return is.Leeway.Duration
}

// maxLeeway is the largest leeway of any issuer: a revoked jti is kept
// that long past its expiry, since a token is accepted that long too.
func (c *Config) maxLeeway() time.Duration {
	var m time.Duration
	for i := range c.Issuers {
		m = max(m, c.Issuers[i].leeway())
	}
	return m
}

// needsClient tells whether the config references Kubernetes objects.
func (c *Config) needsClient() bool {
	if c.Revocation != nil {
		return true
	}
	for i := range c.Issuers {
		if c.Issuers[i].HMACSecretRef != nil {
			return true
		}
	}
	return false
}
