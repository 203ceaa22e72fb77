// Package golden holds compiled records that the auth server's tests and
// hack/ read instead of compiling manifests themselves, so that no test of
// the auth server imports the controller.
//
// breakground.record.json is config/samples/ratelimitpolicy-breakground.yaml
// (the BreakGround seed's rate-limit table: global, auth, token refresh,
// SDK, admin read / write / critical) compiled by the controller. The
// controller's TestBreakGroundGolden asserts that compiling the sample
// gives exactly this file (go test ./controllers -run Golden -update
// rewrites it), so the auth server is tested and measured with what users
// get.
//
// Only tests and hack/ import this package.
package golden

import (
	_ "embed"
	"fmt"

	"github.com/keygate-dev/keygate/internal/record"
)

// BreakGroundFile is the golden file's path from the repository root.
const BreakGroundFile = "test/golden/breakground.record.json"

// BreakGroundJSON is the compiled sample, as the controller writes it to
// the record Secret's data.
//
//go:embed breakground.record.json
var BreakGroundJSON []byte

// BreakGroundRules is the number of rules of the seed table.
const BreakGroundRules = 7

// BreakGround is the compiled sample as the policy namespace/name, every
// limit multiplied by scale: a load run from one client scales them up so
// that it measures the cost of counting rather than 429s.
func BreakGround(namespace, name string, scale int64) (*record.RateLimitPolicy, error) {
	rec, err := record.DecodeRateLimitPolicy(BreakGroundJSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", BreakGroundFile, err)
	}
	if len(rec.Rules) != BreakGroundRules {
		return nil, fmt.Errorf("%s has %d rules; the seed table has %d", BreakGroundFile, len(rec.Rules), BreakGroundRules)
	}
	rec.Source = record.Source{Namespace: namespace, Name: name, UID: "uid-" + name}
	for i := range rec.Rules {
		rec.Rules[i].Limit *= scale
	}
	return rec, nil
}
