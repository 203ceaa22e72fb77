package check

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// Error codes: the contract's, and the ones keygate adds (webhook's doc).
const (
	CodeOK                 = "OK" // not an error: the metric label of an admission
	CodeAuthFailed         = "AUTH_FAILED"
	CodeNoToken            = "AUTH_NO_TOKEN"
	CodeInvalidToken       = "AUTH_INVALID_TOKEN"
	CodeTokenRevoked       = "AUTH_TOKEN_REVOKED"
	CodeForbidden          = "FORBIDDEN"
	CodeRateLimited        = "RATE_LIMITED"
	CodeQuotaExceeded      = "QUOTA_EXCEEDED"
	CodeBadRequest         = "BAD_REQUEST"
	CodeInvalidOptions     = "INVALID_OPTIONS"
	CodePolicyNotFound     = "POLICY_NOT_FOUND"
	CodeNotReady           = "NOT_READY"
	CodeLimiterUnavailable = "RATE_LIMIT_UNAVAILABLE"
	CodeInternal           = "INTERNAL_ERROR"
)

// Codes is every code a decision can carry, CodeOK included: the closed
// label set of the decision metric.
var Codes = []string{CodeOK, CodeAuthFailed, CodeNoToken, CodeInvalidToken, CodeTokenRevoked,
	CodeForbidden, CodeRateLimited, CodeQuotaExceeded, CodeBadRequest, CodeInvalidOptions, CodePolicyNotFound,
	CodeNotReady, CodeLimiterUnavailable, CodeInternal}

// Categories of the error body.
const (
	CategoryAuth      = "AUTH"
	CategoryRateLimit = "RATE_LIMIT"
	CategoryRequest   = "REQUEST"
	CategoryConfig    = "CONFIG"
	CategoryServer    = "SERVER"
)

// ErrorBody is the JSON body of every refusal, exactly the contract's
// shape: {"error": {"message", "statusCode", "code", "category"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Message    string `json:"message"`
	StatusCode int    `json:"statusCode"`
	Code       string `json:"code"`
	Category   string `json:"category"`
}

// Refusal is one refused answer: its status and its body, encoded once.
type Refusal struct {
	Status   int
	Code     string
	Category string
	Message  string
	body     []byte
}

// NewRefusal makes a refusal and encodes its body.
func NewRefusal(status int, code, category, message string) *Refusal {
	b, _ := json.Marshal(ErrorBody{Error: ErrorDetail{Message: message, StatusCode: status, Code: code, Category: category}})
	return &Refusal{Status: status, Code: code, Category: category, Message: message, body: b}
}

// Body is the JSON error body, on one line. It must not be modified.
func (rf *Refusal) Body() []byte { return rf.body }

// The refusals that carry no detail are made once, so that neither outcome
// of a key check allocates.
var (
	refNoCredential = NewRefusal(401, CodeAuthFailed, CategoryAuth, "Unauthorized: missing API key")
	refNoKeyOrToken = NewRefusal(401, CodeAuthFailed, CategoryAuth, "Unauthorized: missing API key or token")
	refInvalidKey   = NewRefusal(401, CodeAuthFailed, CategoryAuth, "Unauthorized: Invalid API key")
	refKeyDisabled  = NewRefusal(401, CodeAuthFailed, CategoryAuth, "Unauthorized: API key is disabled")
	refKeyExpired   = NewRefusal(401, CodeAuthFailed, CategoryAuth, "Unauthorized: API key has expired")
	refNoToken      = NewRefusal(401, CodeNoToken, CategoryAuth, "Unauthorized: missing token")
	refKeyType      = NewRefusal(403, CodeForbidden, CategoryAuth, "Forbidden: this route does not accept this type of API key")
	refOrigin       = NewRefusal(403, CodeForbidden, CategoryAuth, "Forbidden: origin not allowed for this API key")
	refNoOrigin     = NewRefusal(403, CodeForbidden, CategoryAuth, "Forbidden: this API key is restricted to allowed origins and the request has no Origin or Referer")
	refRateLimited  = NewRefusal(429, CodeRateLimited, CategoryRateLimit, "Too Many Requests: rate limit exceeded")
	refLimiterDown  = NewRefusal(503, CodeLimiterUnavailable, CategoryRateLimit, "Service Unavailable: the rate limiter cannot be reached")

	// RefNotReady answers every check until the first full load.
	RefNotReady = NewRefusal(503, CodeNotReady, CategoryServer, "Service Unavailable: the auth server has not loaded its keys and policies yet")
	// RefInternal answers a check that failed with a bug (a panic): never
	// an admission.
	RefInternal = NewRefusal(500, CodeInternal, CategoryServer, "Internal Server Error: the check failed; the auth server's log says why")
)

func forbiddenScope(scope string) *Refusal {
	return NewRefusal(403, CodeForbidden, CategoryAuth, "Forbidden: missing required scope "+scope)
}

// BadRequest is a check request that cannot be understood (CodeBadRequest)
// or whose route options are invalid (CodeInvalidOptions).
func BadRequest(code, msg string) *Refusal {
	cat := CategoryRequest
	if code == CodeInvalidOptions {
		cat = CategoryConfig
	}
	return NewRefusal(http.StatusBadRequest, code, cat, "Bad Request: "+msg)
}

func policyNotFound(name string) *Refusal {
	return NewRefusal(500, CodePolicyNotFound, CategoryConfig, "Rate limit policy "+name+
		" is not loaded: check that the RateLimitPolicy exists and is Ready")
}

// rateLimited is the refusal of a rule over its limit: 429 RATE_LIMITED,
// or QUOTA_EXCEEDED for a calendar quota. The message names the rule and
// the limit that applied, with its override (plan) when one did, such as
// "Too Many Requests: rate limit sdk exceeded (6000 per 1m, plan pro)".
func rateLimited(d *ratelimit.Decision) *Refusal {
	if d.Rule == "" {
		return refRateLimited
	}
	code, what := CodeRateLimited, "rate limit "
	per := formatPeriod(d.Window)
	if d.Quota {
		code, what, per = CodeQuotaExceeded, "quota ", d.Calendar
	}
	msg := "Too Many Requests: " + what + d.Rule + " exceeded (" + strconv.FormatInt(d.Limit, 10) + " per " + per
	if d.Override != "" {
		msg += ", plan " + d.Override
	}
	return NewRefusal(429, code, CategoryRateLimit, msg+")")
}

// formatPeriod writes a period as its largest whole unit: 1m, 90s, 744h.
func formatPeriod(p time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if p >= u.d && p%u.d == 0 {
			return strconv.FormatInt(int64(p/u.d), 10) + u.name
		}
	}
	return p.String()
}

// WWWAuthenticate is the challenge of a 401 for a route's auth mode.
func WWWAuthenticate(mode AuthMode, code string) string {
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
