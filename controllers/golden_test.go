package controllers_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/golden"
	"github.com/keygate-dev/keygate/test/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files from the shipped samples")

// TestBreakGroundGolden asserts that compiling the shipped BreakGround
// sample gives exactly the golden record that the auth server's tests and
// hack/ read: the sample, the compiler and the golden file cannot drift.
func TestBreakGroundGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "ratelimitpolicy-breakground.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p keygatev1alpha1.RateLimitPolicy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatal(err)
	}
	rec, err := controllers.CompilePolicy(&p, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := record.Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(filepath.Join(testenv.RepoRoot(), golden.BreakGroundFile), got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, golden.BreakGroundJSON) {
		t.Fatalf("compiling the sample gives\n%s\nbut %s holds\n%s\nrun go test ./controllers -run Golden -update and commit", got, golden.BreakGroundFile, golden.BreakGroundJSON)
	}
	rec, err = golden.BreakGround("acme", "breakground", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Rules[0].Name != p.Spec.Rules[0].Name || rec.Rules[0].Limit != p.Spec.Rules[0].Limit {
		t.Fatalf("golden.BreakGround reads rule %+v; the sample has %+v", rec.Rules[0], p.Spec.Rules[0])
	}
}
