package ratelimit

import (
	"time"
)

// Stage says which rules a check counts: by: ip and header rules run before
// authentication (so failed logins count), apiKey and subject rules after.
type Stage int

const (
	BeforeAuth Stage = iota
	AfterAuth
)

// Request is what the rules look at.
type Request struct {
	Method string
	Path   string // path of the original request, without the query
	IP     string
	// Header returns a header of the original request (for by: header:<Name>).
	Header func(name string) string
	// Set after authentication:
	APIKeyUID string // the ApiKey resource's UID, shared by its current and grace keys
	// Subject is what by: subject counts: the ApiKey's spec.subject, or a
	// JWT's issuer and sub (SubjectKey), which never equals an ApiKey's
	// subject nor the same sub of another issuer.
	Subject string
	// SharedSubject is what by: sharedSubject counts: the ApiKey's
	// spec.subject or the JWT's sub, whoever issued it.
	SharedSubject string
	// Plan is a JWT's plan claim (planClaim of its issuer), which
	// overrides select by jwtPlans; empty for an ApiKey, which overrides
	// select by APIKeyUID.
	Plan string
	// At is when the check began (time.Now, with its monotonic reading);
	// zero means the limiter reads its clock. A memory limiter with a
	// clock of its own (tests) ignores it.
	At time.Time
}

// SubjectKey is the Request.Subject of a JWT: the issuer and the sub,
// joined by a line feed. An ApiKey's subject has no whitespace (the CRD
// forbids it), and neither an issuer nor a sub has control characters
// (jwtauth refuses them), so the key names one issuer's sub and nothing
// else.
func SubjectKey(issuer, sub string) string { return issuer + "\n" + sub }

// Decision is the outcome of one check. When no rule counted the request,
// Counted is false and the request is allowed.
type Decision struct {
	Allowed bool
	Counted bool
	// Rule is reported in headers: when refused, the rule with the longest
	// wait; otherwise the rule closest to its limit (fewest remaining).
	// Policy is its RateLimitPolicy, "namespace/name".
	Policy string
	Rule   string
	// Override names the rule's override (plan) that applied, empty for
	// the rule's own limit. Quota is set for a calendar quota, and
	// Calendar is then its window (day, week or month).
	Override string
	Quota    bool
	Calendar string
	// Limit and Window are the limit that applied and its period (a
	// quota's: the length of its current window); Remaining is how many
	// more requests it admits right now (0 when refused).
	Limit     int64
	Window    time.Duration
	Remaining int64
	// Reset is when the reported rule is fully recovered.
	Reset time.Duration
	// RetryAfter is set when refused: the wait until a retry is admitted.
	RetryAfter time.Duration
}
