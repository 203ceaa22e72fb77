package chart_test

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/test/testenv"
)

// namespace is where the tests install the chart, as docs/install.md does.
const namespace = "keygate-system"

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, parts...)...)
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.LoadDir(repoPath("charts", "keygate"))
	if err != nil {
		t.Fatalf("loading charts/keygate: %v", err)
	}
	return ch
}

// template runs `helm template keygate charts/keygate --namespace
// keygate-system --include-crds` with vals (values.schema.json is checked
// on the way, as helm does).
func template(ch *chart.Chart, vals map[string]any) (*release.Release, error) {
	inst := action.NewInstall(&action.Configuration{})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = "keygate"
	inst.Namespace = namespace
	return inst.Run(ch, vals)
}

// render is template, decoded into objects; an error fails the test.
func render(t *testing.T, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	rel, err := template(loadChart(t), vals)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	objs, err := manifest.DecodeObjects([]byte(rel.Manifest))
	if err != nil {
		t.Fatalf("decoding the rendered chart: %v\n%s", err, rel.Manifest)
	}
	return objs
}

// values parses YAML values, as helm's --values does.
func values(t *testing.T, y string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(y), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// kustomize runs `kustomize build dir` in-process.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	return testenv.Kustomize(t, dir)
}

// find returns the one object of that kind and name, or fails the test.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	return testenv.Find(t, objs, kind, name)
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

// args returns the arguments of a Deployment's first container.
func args(t *testing.T, dep *unstructured.Unstructured) []string {
	t.Helper()
	raw, _ := container(t, dep)["args"].([]any)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		out = append(out, a.(string))
	}
	return out
}
