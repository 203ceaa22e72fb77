// Package seedpolicy is the rate-limit table of the BreakGround seed
// document (global, auth, token refresh, SDK, admin read / write /
// critical) exactly as users get it: the shipped sample
// config/samples/ratelimitpolicy-breakground.yaml, compiled by the
// controller's own code. The auth server's tests and the load run of
// hack/benchserver use it, so their figures are the sample's.
package seedpolicy

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"sigs.k8s.io/yaml"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/record"
)

// SamplePath is the shipped sample, in the repository this package was
// built from.
func SamplePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config", "samples", "ratelimitpolicy-breakground.yaml")
}

// Record is the sample compiled as the policy namespace/seed, every limit
// multiplied by scale (a load run from one client scales them up so it
// measures the cost of counting rather than 429s).
func Record(namespace string, scale int64) (*record.RateLimitPolicy, error) {
	data, err := os.ReadFile(SamplePath())
	if err != nil {
		return nil, fmt.Errorf("reading the seed policy sample: %w", err)
	}
	var p keygatev1alpha1.RateLimitPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", SamplePath(), err)
	}
	if len(p.Spec.Rules) != 7 {
		return nil, fmt.Errorf("%s has %d rules; the seed table has 7", SamplePath(), len(p.Spec.Rules))
	}
	rec := controllers.CompilePolicy(&p)
	rec.Source = record.Source{Namespace: namespace, Name: "seed", UID: "uid-seed"}
	for i := range rec.Rules {
		rec.Rules[i].Limit *= scale
	}
	return rec, nil
}
