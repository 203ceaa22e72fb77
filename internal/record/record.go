package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DefaultNamespace is keygate's namespace in an install, where the record
// Secrets live. It is written here once; the wiring (internal/app) uses it
// as the default of every --namespace flag.
const DefaultNamespace = "keygate-system"

// The compiled Secrets in keygate's namespace. Each holds one record, as
// JSON under DataKey, and carries these labels so that the auth server's
// cache selects exactly them.
const (
	// SecretType marks a compiled record Secret.
	SecretType = "keygate.dev/record"
	// DataKey is the data key of the record JSON.
	DataKey = "record.json"

	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByValue      = "keygate"
	LabelKind           = "keygate.dev/record"
	KindAPIKey          = "apikey"
	KindRateLimitPolicy = "ratelimitpolicy"
	// LabelSourceNamespace and LabelSourceUID name the object compiled.
	LabelSourceNamespace = "keygate.dev/source-namespace"
	LabelSourceUID       = "keygate.dev/source-uid"
	// AnnotationSourceName holds the source object's name (names can be
	// longer than a label value).
	AnnotationSourceName = "keygate.dev/source-name"
	// AnnotationDataHash is the SHA-256 of the record JSON, so writers can
	// skip a write that changes nothing.
	AnnotationDataHash = "keygate.dev/data-hash"

	// Version is the record format written by this build. Readers refuse
	// other versions rather than guess.
	Version = 1
)

// ErrUnsupportedVersion is returned for records of a format this build does
// not read.
var ErrUnsupportedVersion = errors.New("unsupported record version")

// Source names the object a record was compiled from.
type Source struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid"`
	Labels    map[string]string `json:"labels,omitempty"`
	// CreatedAt is the source's creationTimestamp: the first claimant of a
	// key hash keeps it (see Claims).
	CreatedAt *time.Time `json:"createdAt,omitempty"`
}

// APIKey is the compiled form of an ApiKey: everything the auth server needs
// to decide on one of its keys, and never a plaintext key.
type APIKey struct {
	Version        int        `json:"version"`
	Source         Source     `json:"source"`
	Subject        string     `json:"subject"`
	Type           string     `json:"type"` // secret | public
	Prefix         string     `json:"prefix"`
	Scopes         []string   `json:"scopes,omitempty"`
	AllowedOrigins []string   `json:"allowedOrigins,omitempty"`
	Disabled       bool       `json:"disabled,omitempty"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
	// Generated: keygate made the keys (not GitOps). A generated key always
	// keeps its hash against a GitOps ApiKey that lists it.
	Generated bool `json:"generated,omitempty"`
	// Keys are the hashes valid now or until their NotAfter: the current key,
	// keys in their rotation grace period, and GitOps hashes.
	Keys []KeyHash `json:"keys"`
}

// KeyHash is one accepted key.
type KeyHash struct {
	SHA256 string `json:"sha256"`
	// NotAfter: the key is refused from this instant on (grace end or the
	// manifest's notAfter). Nil means no end of its own.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// ValidAt reports whether the record accepts a key with this entry at t.
func (r *APIKey) ValidAt(k KeyHash, t time.Time) bool {
	if r.Disabled {
		return false
	}
	if r.ExpiresAt != nil && !t.Before(*r.ExpiresAt) {
		return false
	}
	return k.NotAfter == nil || t.Before(*k.NotAfter)
}

// RateLimitPolicy is the compiled form of a RateLimitPolicy.
type RateLimitPolicy struct {
	Version int    `json:"version"`
	Source  Source `json:"source"`
	Rules   []Rule `json:"rules"`
}

// Rule is one compiled rate-limit rule: a rolling GCRA limit (Period) or a
// calendar quota (Calendar), never both.
type Rule struct {
	Name   string        `json:"name"`
	Limit  int64         `json:"limit"`
	Period time.Duration `json:"period,omitempty"` // nanoseconds
	// Calendar is day, week or month for a quota; TimeZone is its IANA
	// zone, empty for UTC.
	Calendar string `json:"calendar,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
	// Overrides, in order: the first that selects a credential applies.
	Overrides []Override `json:"overrides,omitempty"`
	// By is ip, apiKey, subject, sharedSubject or header:<Canonical-Name>.
	By           string   `json:"by"`
	Paths        []string `json:"paths,omitempty"`
	PathPrefixes []string `json:"pathPrefixes,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	// CaseInsensitivePaths matches Paths and PathPrefixes without regard to
	// letter case.
	CaseInsensitivePaths bool `json:"caseInsensitivePaths,omitempty"`
}

// Override is a plan of one rule, compiled: the credentials it selects are
// listed, so the auth server evaluates no selector.
type Override struct {
	Name   string        `json:"name"`
	Limit  int64         `json:"limit"`
	Period time.Duration `json:"period,omitempty"` // 0: the rule's
	// APIKeys are the UIDs of the ApiKeys selected (by label or subject),
	// all in the policy's namespace.
	APIKeys []string `json:"apiKeys,omitempty"`
	// JWTPlans are the plan claim values selected.
	JWTPlans []string `json:"jwtPlans,omitempty"`
}

// Bounds of a RateLimitPolicy record. The CRD bounds the spec (at most 256
// paths of 256 characters, 16 overrides); MaxPlanKeys bounds the ApiKeys
// that overrides select. A record at these bounds is about 600 KiB, below
// a Secret's 1 MiB (docs/rate-limits.md works it out).
const (
	// MaxPlanKeys is the most ApiKey UIDs a policy's overrides list.
	MaxPlanKeys = 5000
	// MaxPolicyRecordBytes is the most a RateLimitPolicy record may take
	// encoded; the controller refuses to write a larger one.
	MaxPolicyRecordBytes = 768 << 10
)

// Calendar windows of a quota.
const (
	CalendarDay   = "day"
	CalendarWeek  = "week"
	CalendarMonth = "month"
)

// SecretName is the name of the compiled Secret for a source object. A
// namespace cannot contain a dot, so kind.namespace.name never collides;
// names too long for a Secret fall back to a hash of the name.
func SecretName(kind, namespace, name string) string {
	short := map[string]string{KindAPIKey: "ak", KindRateLimitPolicy: "rlp"}[kind]
	n := short + "." + namespace + "." + name
	if len(n) <= 253 {
		return n
	}
	sum := sha256.Sum256([]byte(name))
	return short + "." + namespace + ".h-" + hex.EncodeToString(sum[:20])
}

// Encode serialises a record and returns the data hash for
// AnnotationDataHash.
func Encode(v any) (data []byte, dataHash string, err error) {
	data, err = json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("encoding record: %w", err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// DecodeAPIKey reads an ApiKey record and checks its version and hashes.
func DecodeAPIKey(data []byte) (*APIKey, error) {
	var r APIKey
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding ApiKey record: %w", err)
	}
	if r.Version != Version {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, r.Version)
	}
	for _, k := range r.Keys {
		if _, err := ParseHash(k.SHA256); err != nil {
			return nil, fmt.Errorf("ApiKey record %s/%s: %w", r.Source.Namespace, r.Source.Name, err)
		}
	}
	if !ValidPrefix(r.Prefix) {
		return nil, fmt.Errorf("ApiKey record %s/%s: invalid prefix %q", r.Source.Namespace, r.Source.Name, r.Prefix)
	}
	return &r, nil
}

// DecodeRateLimitPolicy reads a RateLimitPolicy record and checks its version.
func DecodeRateLimitPolicy(data []byte) (*RateLimitPolicy, error) {
	var r RateLimitPolicy
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding RateLimitPolicy record: %w", err)
	}
	if r.Version != Version {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedVersion, r.Version)
	}
	for _, rule := range r.Rules {
		if rule.Limit < 1 || (rule.Period <= 0) == (rule.Calendar == "") {
			return nil, fmt.Errorf("RateLimitPolicy record %s/%s: rule %q needs a positive limit and either a positive period or a calendar window", r.Source.Namespace, r.Source.Name, rule.Name)
		}
	}
	return &r, nil
}
