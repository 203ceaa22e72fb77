package manifests_test

import (
	"path/filepath"
	"testing"

	"github.com/keygate-dev/keygate/internal/manifest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/test/testenv"
)

// repoPath is a path inside the repository.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, parts...)...)
}

// build runs `kustomize build dir` in-process, as kustomize v5 does.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	return testenv.Kustomize(t, dir)
}

// find returns the one object of that kind and name, or fails the test.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	return testenv.Find(t, objs, kind, name)
}

// without drops the objects of the given kinds.
func without(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		keep := true
		for _, k := range kinds {
			keep = keep && o.GetKind() != k
		}
		if keep {
			out = append(out, o)
		}
	}
	return out
}

// str reads a string field, "" when missing.
func str(o *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(o.Object, path...)
	return s
}

// container returns the first container of a Deployment.
func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("%s has no containers", manifest.Describe(dep))
	}
	return cs[0].(map[string]any)
}

// unstructuredT is short for the object type the helpers pass around.
type unstructuredT = unstructured.Unstructured

// labelsMatch reports whether every selector label is on the object.
func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// stringMap reads a map of strings, nil when missing.
func stringMap(o *unstructured.Unstructured, path ...string) map[string]string {
	m, _, _ := unstructured.NestedStringMap(o.Object, path...)
	return m
}

// containerPorts maps the port names of a Deployment's first container to
// their numbers.
func containerPorts(t *testing.T, dep *unstructured.Unstructured) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ps, _ := container(t, dep)["ports"].([]any)
	for _, p := range ps {
		pm := p.(map[string]any)
		name, _ := pm["name"].(string)
		n, _ := pm["containerPort"].(int64)
		out[name] = n
	}
	return out
}
