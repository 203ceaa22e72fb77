package check

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// A rate-limit refusal names the rule and the limit that applied, with the
// plan when an override did; a calendar quota is QUOTA_EXCEEDED.
func TestRateLimitedNamesRuleAndLimit(t *testing.T) {
	tests := []struct {
		d          ratelimit.Decision
		code, text string
	}{
		{ratelimit.Decision{Rule: "sdk", Limit: 600, Window: time.Minute}, CodeRateLimited,
			"Too Many Requests: rate limit sdk exceeded (600 per 1m)"},
		{ratelimit.Decision{Rule: "sdk", Limit: 6000, Window: 90 * time.Second, Override: "pro"}, CodeRateLimited,
			"Too Many Requests: rate limit sdk exceeded (6000 per 90s, plan pro)"},
		{ratelimit.Decision{Rule: "monthly", Limit: 3, Quota: true, Calendar: "month", Window: 31 * 24 * time.Hour, Override: "enterprise"},
			CodeQuotaExceeded, "Too Many Requests: quota monthly exceeded (3 per month, plan enterprise)"},
	}
	for _, tt := range tests {
		rf := rateLimited(&tt.d)
		if rf.Status != 429 || rf.Code != tt.code || rf.Category != CategoryRateLimit || rf.Message != tt.text ||
			!strings.Contains(string(rf.Body()), `"code":"`+tt.code+`"`) {
			t.Errorf("%+v: %d %s %s %q", tt.d, rf.Status, rf.Code, rf.Category, rf.Message)
		}
	}
}
