package manifests_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/internal/manifest"
)

// TestSamplesAreAccepted applies every sample in config/samples/ for real,
// twice (keygate dev applies them on every start), so that a change of the
// CRDs that breaks a sample fails here and not in a user's hands.
func TestSamplesAreAccepted(t *testing.T) {
	dir := repoPath("config", "samples")
	objs, err := manifest.ReadObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	if kinds["ApiKey"] < 3 || kinds["RateLimitPolicy"] < 2 {
		t.Errorf("config/samples has %v; want the generated, public and GitOps ApiKeys and two RateLimitPolicies", kinds)
	}
	for range 2 {
		if err := manifest.Apply(context.Background(), env.Client, objs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEverySampleFolderIsChecked fails when a folder of samples has no
// check here, so that no guide's sample goes untested. The guides' samples
// live in the namespaces config/samples declares, created here so that the
// test passes alone as well as after TestSamplesAreAccepted.
func TestEverySampleFolderIsChecked(t *testing.T) {
	entries, err := os.ReadDir(repoPath("config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifest.ReadObjects(repoPath("config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	var namespaces []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			namespaces = append(namespaces, o)
		}
	}
	if err := manifest.Apply(context.Background(), env.Client, namespaces); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, ok := sampleFolderChecks[e.Name()]; !ok {
			t.Errorf("config/samples/%s has no check in sampleFolderChecks", e.Name())
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			sampleFolderChecks[e.Name()](t, filepath.Join(repoPath("config", "samples"), e.Name()))
		})
	}
}

// sampleFolderChecks checks the samples of each guide that are not plain
// keygate resources.
var sampleFolderChecks = map[string]func(t *testing.T, dir string){}
