package webhook

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// Error codes: the contract's, and the ones this server adds (doc.go).
const (
	CodeAuthFailed        = "AUTH_FAILED"
	CodeNoToken           = "AUTH_NO_TOKEN"
	CodeInvalidToken      = "AUTH_INVALID_TOKEN"
	CodeTokenRevoked      = "AUTH_TOKEN_REVOKED"
	CodeForbidden         = "FORBIDDEN"
	CodeRateLimited       = "RATE_LIMITED"
	CodeBadRequest        = "BAD_REQUEST"
	CodeInvalidOptions    = "INVALID_OPTIONS"
	CodePolicyNotFound    = "POLICY_NOT_FOUND"
	CodeNotReady          = "NOT_READY"
	CodeLimiterUnavailble = "RATE_LIMIT_UNAVAILABLE"
	CodeInternal          = "INTERNAL_ERROR"
)

var allCodes = []string{codeOK, CodeAuthFailed, CodeNoToken, CodeInvalidToken, CodeTokenRevoked,
	CodeForbidden, CodeRateLimited, CodeBadRequest, CodeInvalidOptions, CodePolicyNotFound,
	CodeNotReady, CodeLimiterUnavailble, CodeInternal}

// Categories of the error body.
const (
	catAuth      = "AUTH"
	catRateLimit = "RATE_LIMIT"
	catRequest   = "REQUEST"
	catConfig    = "CONFIG"
	catServer    = "SERVER"
)

// refusal is one refused answer.
type refusal struct {
	status   int
	code     string
	category string
	message  string
}

// The refusals that carry no detail are made once.
var (
	refNoCredential = &refusal{401, CodeAuthFailed, catAuth, "Unauthorized: missing API key"}
	refNoKeyOrToken = &refusal{401, CodeAuthFailed, catAuth, "Unauthorized: missing API key or token"}
	refInvalidKey   = &refusal{401, CodeAuthFailed, catAuth, "Unauthorized: Invalid API key"}
	refKeyDisabled  = &refusal{401, CodeAuthFailed, catAuth, "Unauthorized: API key is disabled"}
	refKeyExpired   = &refusal{401, CodeAuthFailed, catAuth, "Unauthorized: API key has expired"}
	refNoToken      = &refusal{401, CodeNoToken, catAuth, "Unauthorized: missing token"}
	refKeyType      = &refusal{403, CodeForbidden, catAuth, "Forbidden: this route does not accept this type of API key"}
	refOrigin       = &refusal{403, CodeForbidden, catAuth, "Forbidden: origin not allowed for this API key"}
	refNoOrigin     = &refusal{403, CodeForbidden, catAuth, "Forbidden: this API key is restricted to allowed origins and the request has no Origin or Referer"}
	refNotReady     = &refusal{503, CodeNotReady, catServer, "Service Unavailable: the auth server has not loaded its keys and policies yet"}
	refRateLimited  = &refusal{429, CodeRateLimited, catRateLimit, "Too Many Requests: rate limit exceeded"}
	refLimiterDown  = &refusal{503, CodeLimiterUnavailble, catRateLimit, "Service Unavailable: the rate limiter cannot be reached"}
	refInternal     = &refusal{500, CodeInternal, catServer, "Internal Server Error: the check failed; the auth server's log says why"}
)

func forbiddenScope(scope string) *refusal {
	return &refusal{403, CodeForbidden, catAuth, "Forbidden: missing required scope " + scope}
}

func badRequest(code, msg string) *refusal {
	cat := catRequest
	if code == CodeInvalidOptions {
		cat = catConfig
	}
	return &refusal{400, code, cat, "Bad Request: " + msg}
}

func policyNotFound(name string) *refusal {
	return &refusal{500, CodePolicyNotFound, catConfig, "Rate limit policy " + name +
		" is not loaded: check that the RateLimitPolicy exists and is Ready"}
}

func rateLimited(rule string) *refusal {
	if rule == "" {
		return refRateLimited
	}
	return &refusal{429, CodeRateLimited, catRateLimit, "Too Many Requests: rate limit " + rule + " exceeded"}
}

// body is the JSON error body, on one line.
func (rf *refusal) body() []byte {
	msg, _ := json.Marshal(rf.message) // a string always marshals
	b := make([]byte, 0, 96+len(msg))
	b = append(b, `{"error":{"message":`...)
	b = append(b, msg...)
	b = append(b, `,"statusCode":`...)
	b = strconv.AppendInt(b, int64(rf.status), 10)
	b = append(b, `,"code":"`...)
	b = append(b, rf.code...)
	b = append(b, `","category":"`...)
	b = append(b, rf.category...)
	b = append(b, `"}}`...)
	return b
}

// wwwAuthenticate is the challenge of a 401 for a route's auth mode.
func wwwAuthenticate(mode AuthMode, code string) string {
	bearer := `Bearer realm="keygate"`
	if code == CodeInvalidToken || code == CodeTokenRevoked {
		bearer += `, error="invalid_token"`
	}
	switch mode {
	case AuthAPIKey:
		return `ApiKey realm="keygate"`
	case AuthJWT:
		return bearer
	}
	return `ApiKey realm="keygate", ` + bearer
}

// writeRefusal answers a refusal. In ingress-nginx compat mode, statuses
// that nginx's auth_request would turn into a 500 (anything but 401 and
// 403) are sent as 403, and every refusal carries X-Error-Status,
// X-Error-Code and X-Error-Body so the nginx configuration can give the
// client the real status and body.
func writeRefusal(w http.ResponseWriter, rf *refusal, d ratelimit.Decision, mode AuthMode, compat bool) {
	h := w.Header()
	body := rf.body()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	d.AppendHeaders(h)
	if rf.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", wwwAuthenticate(mode, rf.code))
	}
	status := rf.status
	if compat {
		h.Set("X-Error-Status", strconv.Itoa(rf.status))
		h.Set("X-Error-Code", rf.code)
		h.Set("X-Error-Body", string(body))
		if status != http.StatusUnauthorized && status != http.StatusForbidden {
			status = http.StatusForbidden
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var (
	hdrMethodAPIKey = []string{methodAPIKey}
	hdrMethodJWT    = []string{methodJWT}
)

// writeAllowed answers 200 with the identity headers for the upstream.
func writeAllowed(w http.ResponseWriter, id *identity, d ratelimit.Decision) {
	h := w.Header()
	switch id.method {
	case methodAPIKey:
		k := id.entry.Key
		h["X-Auth-Subject"] = k.SubjectHeader
		h["X-Auth-Method"] = hdrMethodAPIKey
		h["X-Auth-Key-Id"] = id.entry.KeyIDHdr
		h["X-Auth-Key-Type"] = k.TypeHeader
		h["X-Auth-Scopes"] = k.ScopesHeader
	case methodJWT:
		h["X-Auth-Subject"] = []string{id.jwt.Subject}
		h["X-Auth-Method"] = hdrMethodJWT
		h["X-Auth-Scopes"] = []string{strings.Join(id.jwt.Scopes, " ")}
	}
	d.AppendHeaders(h)
	w.WriteHeader(http.StatusOK)
}
