package check

import (
	"slices"
	"strings"

	"github.com/keygate-dev/keygate/webhook/index"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// Credential methods: the X-Auth-Method header and the metric label.
// MethodNone is a decision that used no credential.
const (
	MethodAPIKey = "apikey"
	MethodJWT    = "jwt"
	MethodNone   = "none"
)

// Identity is who a check admitted, or whose credential it refused.
type Identity struct {
	Method string       // MethodAPIKey, MethodJWT, MethodNone, or "" before any credential was read
	Entry  *index.Entry // for an admitted API key
	// Refused is the entry of an API key that was found and refused
	// (disabled, expired, wrong type, origin or scope): it names the
	// ApiKey in the decision log. It never admits anything.
	Refused *index.Entry
	JWT     jwtauth.Identity
}

// Verdict is a decision: the identity, or the refusal, plus the
// rate-limit decision that every answer reports. Each transport renders
// it: an HTTP answer for /check, a CheckResponse for ext_authz gRPC.
type Verdict struct {
	Identity Identity
	// Refusal is nil when the request is admitted.
	Refusal *Refusal
	Limit   ratelimit.Decision
	// Auth is the route's auth mode, which names the 401's challenge.
	Auth AuthMode
	// Hide is set on an admission under the hide option: the answer
	// keeps the credentials from the upstream, and Cookie is what the
	// request's Cookie header becomes ("" when no cookie remains).
	Hide   bool
	Cookie string
}

// Refused is a verdict made before any credential was read.
func Refused(rf *Refusal, o *Options) Verdict {
	return Verdict{Refusal: rf, Auth: o.Auth}
}

// Allowed reports whether the request is admitted.
func (v *Verdict) Allowed() bool { return v.Refusal == nil }

// Code is CodeOK or the refusal's code: the metric label.
func (v *Verdict) Code() string {
	if v.Refusal == nil {
		return CodeOK
	}
	return v.Refusal.Code
}

// Method is the credential method that decided, MethodNone when none did:
// the metric label.
func (v *Verdict) Method() string {
	if v.Identity.Method == "" {
		return MethodNone
	}
	return v.Identity.Method
}

// UpstreamHeaders are the identity headers an admitted request carries to
// the upstream. Every transport sets those a verdict gives a value and
// clears the others, so that a client's own X-Auth-Subject never reaches
// the upstream, whatever the auth mode (auth=none clears all of them).
// X-Auth-Issuer is a JWT's iss: the same X-Auth-Subject from two issuers
// is two principals.
var UpstreamHeaders = [...]string{"X-Auth-Subject", "X-Auth-Method", "X-Auth-Key-Id", "X-Auth-Key-Type", "X-Auth-Scopes", "X-Auth-Issuer"}

// Indexes of UpstreamHeaders.
const (
	hdrSubject = iota
	hdrMethod
	hdrKeyID
	hdrKeyType
	hdrScopes
	hdrIssuer
)

var (
	hdrMethodAPIKey = []string{MethodAPIKey}
	hdrMethodJWT    = []string{MethodJWT}
)

// UpstreamHeader is the value of UpstreamHeaders[i] for an admitted
// request, or nil when that header is cleared. For an API key the values
// are prepared once per record (one-element slices that must not be
// modified), so that an admission allocates nothing.
func (v *Verdict) UpstreamHeader(i int) []string {
	id := &v.Identity
	switch id.Method {
	case MethodAPIKey:
		k := id.Entry.Key
		switch i {
		case hdrSubject:
			return k.SubjectHeader
		case hdrMethod:
			return hdrMethodAPIKey
		case hdrKeyID:
			return id.Entry.KeyIDHdr
		case hdrKeyType:
			return k.TypeHeader
		case hdrScopes:
			return k.ScopesHeader
		}
	case MethodJWT:
		switch i {
		case hdrSubject:
			return []string{id.JWT.Subject}
		case hdrMethod:
			return hdrMethodJWT
		case hdrScopes:
			return []string{strings.Join(id.JWT.Scopes, " ")}
		case hdrIssuer:
			return []string{id.JWT.Issuer}
		}
	}
	return nil
}

// ClearedHeaders are the headers an admitted request must lose, in lower
// case (for ext_authz gRPC's headers_to_remove), and the same as one
// comma-separated value (for Envoy HTTP's x-envoy-auth-headers-to-remove):
// the UpstreamHeaders the verdict does not set and, with hide, the
// credential headers, with cookie among them when no cookie remains. Both
// are shared: they must not be modified, and returning them allocates
// nothing.
func (v *Verdict) ClearedHeaders() (names, joined []string) {
	m := clearAll
	switch v.Identity.Method {
	case MethodAPIKey:
		m = clearAPIKey
	case MethodJWT:
		m = clearJWT
	}
	c := &cleared[m][hideNone]
	switch {
	case v.Hide && v.Cookie == "":
		c = &cleared[m][hideAll]
	case v.Hide:
		c = &cleared[m][hideKeepCookie]
	}
	return c.names, c.joined
}

// Rows and columns of cleared.
const (
	clearAPIKey = iota
	clearJWT
	clearAll
)

const (
	hideNone = iota
	hideKeepCookie
	hideAll
)

type clearedList struct{ names, joined []string }

var cleared = func() (t [3][3]clearedList) {
	identity := [3][]string{
		clearAPIKey: {"x-auth-issuer"},
		clearJWT:    {"x-auth-key-id", "x-auth-key-type"},
		clearAll:    {"x-auth-subject", "x-auth-method", "x-auth-key-id", "x-auth-key-type", "x-auth-scopes", "x-auth-issuer"},
	}
	hidden := [3][]string{
		hideKeepCookie: {"x-api-key", "authorization"},
		hideAll:        {"x-api-key", "authorization", "cookie"},
	}
	for m := range t {
		for h := range t[m] {
			names := append(slices.Clone(identity[m]), hidden[h]...)
			t[m][h] = clearedList{names, []string{strings.Join(names, ",")}}
		}
	}
	return t
}()

// subjects returns what by: subject and by: sharedSubject count: an
// ApiKey's subject for both; for a JWT, its sub qualified by its issuer
// (ratelimit.SubjectKey) and the bare sub.
func (id *Identity) subjects() (qualified, shared string) {
	switch id.Method {
	case MethodAPIKey:
		s := id.Entry.Key.Record.Subject
		return s, s
	case MethodJWT:
		return ratelimit.SubjectKey(id.JWT.Issuer, id.JWT.Subject), id.JWT.Subject
	}
	return "", ""
}

func (id *Identity) keyUID() string {
	if id.Method == MethodAPIKey {
		return id.Entry.Key.UID
	}
	return ""
}
