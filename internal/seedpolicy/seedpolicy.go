// Package seedpolicy is the rate-limit table of the BreakGround seed
// document (global, auth, token refresh, SDK, admin read / write /
// critical) as a compiled record, for the auth server's tests and the load
// run of hack/benchserver. The sample users apply is
// config/samples/ratelimitpolicy-breakground.yaml.
package seedpolicy

import (
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// Record is the seed table as the policy namespace/seed, every limit
// multiplied by scale (a load run from one client scales them up so it
// measures the cost of counting rather than 429s).
func Record(namespace string, scale int64) *record.RateLimitPolicy {
	r := func(name string, limit int64, by string, prefixes []string, methods ...string) record.Rule {
		return record.Rule{Name: name, Limit: limit * scale, Period: time.Minute, By: by, PathPrefixes: prefixes, Methods: methods}
	}
	return &record.RateLimitPolicy{Version: record.Version, Source: record.Source{Namespace: namespace, Name: "seed", UID: "uid-seed"},
		Rules: []record.Rule{
			r("global", 100, "ip", nil),
			r("auth", 10, "ip", []string{"/api/auth/"}),
			r("token-refresh", 20, "ip", []string{"/api/auth/refresh"}),
			r("sdk", 600, "apiKey", []string{"/api/sdk/"}),
			r("admin-read", 60, "subject", []string{"/api/admin/"}, "GET", "HEAD"),
			r("admin-write", 20, "subject", []string{"/api/admin/"}, "POST", "PUT", "PATCH", "DELETE"),
			r("admin-critical", 5, "subject", []string{"/api/admin/critical/"}),
		}}
}
