package jwtauth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes refuses tokens no issuer would mint, before any parsing.
const maxTokenBytes = 16 << 10

// snapshot is one compiled config. It is replaced whole on reload and
// never changed after, so Verify reads it without locks.
type snapshot struct {
	cfg        *Config
	issuers    map[string]*issuer
	revocation *objRef // nil: no revocation list
	revKey     string
}

// issuer is one compiled IssuerConfig.
type issuer struct {
	name         string
	parser       *jwt.Parser
	algs         map[string]bool
	subjectClaim string
	scopesClaim  string
	planClaim    string
	hmac         *objRef // exactly one of hmac, jwks, publicKeys is set
	hmacKey      string
	jwks         *jwksSource
	publicKeys   []any
}

// compile turns a validated Config into a snapshot. JWKS caches of
// issuers whose JWKS settings did not change are carried over.
func (a *Authenticator) compile(cfg *Config) (*snapshot, error) {
	if cfg.needsClient() && a.opts.Client == nil {
		return nil, errors.New("the config references Secrets or ConfigMaps but the auth server has no Kubernetes client")
	}
	snap := &snapshot{cfg: cfg, issuers: map[string]*issuer{}}
	if r := cfg.Revocation; r != nil {
		if r.SecretRef != nil {
			snap.revocation, snap.revKey = &objRef{kind: kindSecret, name: r.SecretRef.Name}, r.SecretRef.Key
		} else {
			snap.revocation, snap.revKey = &objRef{kind: kindConfigMap, name: r.ConfigMapRef.Name}, r.ConfigMapRef.Key
		}
	}
	old := a.cur.Load()
	for i := range cfg.Issuers {
		is, err := a.compileIssuer(&cfg.Issuers[i], old)
		if err != nil {
			return nil, fmt.Errorf("issuers[%d]: %w", i, err)
		}
		snap.issuers[is.name] = is
	}
	return snap, nil
}

func (a *Authenticator) compileIssuer(c *IssuerConfig, old *snapshot) (*issuer, error) {
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(signingMethods(c.Algorithms)),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(c.Issuer),
		jwt.WithLeeway(c.leeway()),
		jwt.WithTimeFunc(a.clock.Now),
		jwt.WithIssuedAt(),
	}
	if len(c.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(c.Audiences...))
	}
	is := &issuer{
		name:         c.Issuer,
		parser:       jwt.NewParser(opts...),
		algs:         map[string]bool{},
		subjectClaim: c.SubjectClaim,
		scopesClaim:  c.ScopesClaim,
		planClaim:    c.PlanClaim,
	}
	for _, alg := range c.Algorithms {
		is.algs[alg] = true
	}
	switch {
	case c.HMACSecretRef != nil:
		is.hmac, is.hmacKey = &objRef{kind: kindSecret, name: c.HMACSecretRef.Name}, c.HMACSecretRef.Key
	case c.JWKSURL != "":
		is.jwks = a.jwksFor(c, old)
	default:
		for i, p := range c.PublicKeys {
			k, err := parsePublicKeyPEM([]byte(p))
			if err != nil {
				return nil, fmt.Errorf("publicKeys[%d]: %w", i, err)
			}
			is.publicKeys = append(is.publicKeys, k)
		}
	}
	return is, nil
}

// jwksFor reuses the previous config's JWKS cache for the same issuer when
// its URL and intervals are unchanged, so a reload does not drop the keys.
func (a *Authenticator) jwksFor(c *IssuerConfig, old *snapshot) *jwksSource {
	if old != nil {
		if prev, ok := old.issuers[c.Issuer]; ok && prev.jwks != nil {
			p := prev.jwks
			if p.url == c.JWKSURL && p.refreshEvery == c.JWKSRefreshInterval.Duration &&
				p.minRefetch == c.JWKSMinRefetchInterval.Duration && p.maxMissed == *c.JWKSMaxMissedRefreshes {
				return p
			}
		}
	}
	return &jwksSource{
		issuer:       c.Issuer,
		url:          c.JWKSURL,
		refreshEvery: c.JWKSRefreshInterval.Duration,
		minRefetch:   c.JWKSMinRefetchInterval.Duration,
		maxMissed:    *c.JWKSMaxMissedRefreshes,
		http:         a.http,
		clock:        a.clock,
		log:          a.log,
	}
}

// refs lists the objects the snapshot reads.
func (s *snapshot) refs() []objRef {
	var out []objRef
	seen := map[objRef]bool{}
	add := func(r *objRef) {
		if r != nil && !seen[*r] {
			seen[*r] = true
			out = append(out, *r)
		}
	}
	for _, is := range s.issuers {
		add(is.hmac)
	}
	add(s.revocation)
	return out
}

// route picks the issuer by the token's unverified iss claim and checks
// its alg against that issuer's allow-list. Nothing read here is trusted:
// the token is then verified in full by the issuer's parser.
func (s *snapshot) route(raw string) (*issuer, error) {
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, claims)
	if err != nil {
		return nil, invalid("token is malformed")
	}
	iss, err := claims.GetIssuer()
	if err != nil || iss == "" {
		return nil, invalid("token has no issuer")
	}
	if _, ok := claims["exp"]; !ok {
		return nil, invalid("token has no expiry (exp is required)")
	}
	is, ok := s.issuers[iss]
	if !ok {
		return nil, invalid("token issuer is not accepted")
	}
	alg, _ := tok.Header["alg"].(string)
	if !is.algs[alg] {
		return nil, invalid("token algorithm is not accepted")
	}
	return is, nil
}

// maxPlanLen bounds a plan claim's value: jwtPlans in a RateLimitPolicy
// are at most this long, so a longer value selects no override.
const maxPlanLen = 64

// identity reads subject, scopes and plan from verified claims.
func (is *issuer) identity(claims jwt.MapClaims) (Identity, error) {
	sub, _ := claims[is.subjectClaim].(string)
	if sub == "" {
		return Identity{}, invalid("token has no subject")
	}
	if !headerSafe(sub, true) {
		return Identity{}, invalid("token subject has control characters")
	}
	scopes, err := scopesOf(claims[is.scopesClaim])
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Issuer: is.name, Subject: sub, Scopes: scopes}
	if is.planClaim != "" {
		if plan, _ := claims[is.planClaim].(string); len(plan) <= maxPlanLen && headerSafe(plan, false) {
			id.Plan = plan
		}
	}
	id.ID, _ = claims["jti"].(string)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

// scopesOf reads a scopes claim: absent, a space-separated string, or an
// array of strings.
func scopesOf(v any) ([]string, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case string:
		out := strings.Fields(s)
		for _, f := range out {
			if !headerSafe(f, false) {
				return nil, invalid("token scope is empty or has spaces or control characters")
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(s))
		for _, e := range s {
			str, ok := e.(string)
			if !ok {
				return nil, invalid("token scopes claim is not a string or an array of strings")
			}
			if !headerSafe(str, false) {
				// X-Auth-Scopes is space separated: "read admin" as one
				// scope would reach the upstream as two.
				return nil, invalid("token scope is empty or has spaces or control characters")
			}
			out = append(out, str)
		}
		return out, nil
	default:
		return nil, invalid("token scopes claim is not a string or an array of strings")
	}
}

// headerSafe reports whether s can be sent upstream in an X-Auth-* header
// as it is: not empty, no control characters (CR and LF would split the
// header), and no whitespace of any kind unless spaces is set (a scope
// with a no-break space would be two scopes to a reader that splits on
// Unicode spaces).
func headerSafe(s string, spaces bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || (!spaces && unicode.IsSpace(r)) {
			return false
		}
	}
	return true
}

// verifyError is what Verify returns: a client-safe message and the
// sentinel it wraps.
type verifyError struct {
	sentinel error
	msg      string
}

func (e *verifyError) Error() string { return e.msg }
func (e *verifyError) Unwrap() error { return e.sentinel }

func invalid(msg string) error { return &verifyError{sentinel: ErrInvalidToken, msg: msg} }

// mapParseError turns golang-jwt's errors into client-safe ones. The
// order matters: a token can fail several checks, and the first match
// names the one a client can act on.
func mapParseError(err error) error {
	for _, m := range parseErrorMessages {
		if errors.Is(err, m.err) {
			return invalid(m.msg)
		}
	}
	return invalid("token is invalid")
}

var parseErrorMessages = []struct {
	err error
	msg string
}{
	{jwt.ErrTokenMalformed, "token is malformed"},
	{errNoKey, "token signature cannot be verified: no matching key"},
	{errStaleKeys, "token signature cannot be verified: the issuer's keys are out of date"},
	{jwt.ErrTokenSignatureInvalid, "token signature is invalid"},
	{jwt.ErrTokenUnverifiable, "token signature cannot be verified"},
	{jwt.ErrTokenRequiredClaimMissing, "token is missing a required claim (exp, or aud when audiences are configured)"},
	{jwt.ErrTokenExpired, "token has expired"},
	{jwt.ErrTokenNotValidYet, "token is not valid yet"},
	{jwt.ErrTokenUsedBeforeIssued, "token was issued in the future"},
	{jwt.ErrTokenInvalidIssuer, "token issuer is not accepted"},
	{jwt.ErrTokenInvalidAudience, "token audience is not accepted"},
	{jwt.ErrTokenInvalidClaims, "token claims are invalid"},
}
