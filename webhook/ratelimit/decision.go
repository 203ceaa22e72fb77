package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Merge combines the decisions of the two stages of one request (before and
// after authentication) into the one the answer reports. A decision that
// counted nothing gives way to the other. A refusal wins over an admission,
// and of two refusals the one with the longer wait; of two admissions the
// rule closest to its limit (fewest remaining, then latest reset).
func (d Decision) Merge(o Decision) Decision {
	switch {
	case !o.Counted:
		return d
	case !d.Counted:
		return o
	case d.Allowed != o.Allowed:
		if !d.Allowed {
			return d
		}
		return o
	case !d.Allowed:
		if o.RetryAfter > d.RetryAfter {
			return o
		}
		return d
	case o.Remaining < d.Remaining || (o.Remaining == d.Remaining && o.Reset > d.Reset):
		return o
	}
	return d
}

// RetryAfterSeconds is the Retry-After value of a refusal: RetryAfter in
// whole seconds, rounded up, and at least 1. It is 0 for an admission.
func (d Decision) RetryAfterSeconds() int64 {
	if d.Allowed || !d.Counted {
		return 0
	}
	return max(ceilSeconds(d.RetryAfter), 1)
}

// The canonical forms of RateLimit-Policy and RateLimit, as http.Header
// keys them.
const (
	policyHeader    = "Ratelimit-Policy"
	rateLimitHeader = "Ratelimit"
)

func ceilSeconds(v time.Duration) int64 {
	if v <= 0 {
		return 0
	}
	return int64((v + time.Second - 1) / time.Second)
}

// AppendHeaders sets the rate-limit headers of an answer: RateLimit-Policy
// and RateLimit in the IETF httpapi draft's form for the reported rule, and
// Retry-After on a refusal. It sets nothing when no rule counted the
// request. The window w is the period in seconds; the reset t is the time
// until the rule is fully recovered, in seconds rounded up.
//
// It runs on every admitted request of a policy, so both values share one
// string and one slice, under the canonical names http.Header.Set would
// give them ("Ratelimit-Policy", "Ratelimit"): two allocations, not six.
func (d Decision) AppendHeaders(h http.Header) {
	if !d.Counted {
		return
	}
	var buf [192]byte
	b := strconv.AppendQuote(buf[:0], d.Rule)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, d.Limit, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, ceilSeconds(d.Window), 10)
	n := len(b)

	b = strconv.AppendQuote(b, d.Rule)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, d.Remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(d.Reset), 10)

	s := string(b)
	vals := []string{s[:n], s[n:]}
	h[policyHeader] = vals[0:1:1]
	h[rateLimitHeader] = vals[1:2:2]

	if !d.Allowed {
		h.Set("Retry-After", strconv.FormatInt(d.RetryAfterSeconds(), 10))
	}
}
