package manifests_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/test/testenv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

func warningClient(t *testing.T) (client.Client, *testenv.Warnings) {
	t.Helper()
	w := &testenv.Warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

// TestDefaultIsValid applies kustomize build config/default to a real API
// server by server-side dry-run: every object must be accepted, and the
// Deployments must meet the restricted Pod Security Standard that the
// namespace enforces (the API server warns otherwise).
func TestDefaultIsValid(t *testing.T) {
	objs := build(t, repoPath("config", "default"))
	want := []string{
		"Namespace/keygate-system",
		"CustomResourceDefinition/apikeys.keygate.dev", "CustomResourceDefinition/ratelimitpolicies.keygate.dev",
		"CustomResourceDefinition/usagereports.keygate.dev",
		"ValidatingAdmissionPolicy/keygate-usage-report", "ValidatingAdmissionPolicyBinding/keygate-usage-report",
		"ClusterRole/keygate-controller", "ClusterRoleBinding/keygate-controller",
		"ServiceAccount/keygate-controller", "ServiceAccount/keygate-auth-server",
		"Role/keygate-leader-election", "RoleBinding/keygate-leader-election",
		"Role/keygate-auth-server", "RoleBinding/keygate-auth-server",
		"Deployment/keygate-controller", "Deployment/keygate-auth-server",
		"Service/keygate-auth-server", "PodDisruptionBudget/keygate-auth-server",
		"NetworkPolicy/keygate-auth-server", "ConfigMap/keygate-jwt",
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
		if ns := o.GetNamespace(); ns != "" && ns != "keygate-system" {
			t.Errorf("%s is in namespace %s, want keygate-system", manifest.Describe(o), ns)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("config/default builds\n  %v\nwant\n  %v", got, want)
	}

	c, w := warningClient(t)
	ctx := context.Background()
	// The namespace for real, so that its Pod Security labels are in force
	// for the dry-run of the Deployments.
	if err := manifest.Apply(ctx, c, []*unstructuredT{find(t, objs, "Namespace", "keygate-system")}); err != nil {
		t.Fatal(err)
	}
	if err := manifest.Apply(ctx, c, objs, client.DryRunAll); err != nil {
		t.Fatalf("server-side dry-run of config/default: %v", err)
	}
	for _, m := range w.Messages() {
		t.Errorf("API server warning: %s", m)
	}
}

// TestDeployImageReachesBothDeployments does what make deploy IMG=... does
// (kustomize edit set image keygate=... in config/manager) on a copy of
// config/, and checks that both processes get the image: they are one
// binary.
func TestDeployImageReachesBothDeployments(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(repoPath("config"))); err != nil {
		t.Fatal(err)
	}
	kpath := filepath.Join(dir, "manager", "kustomization.yaml")
	data, err := os.ReadFile(kpath)
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatal(err)
	}
	k.Images = []types.Image{{Name: "keygate", NewName: "registry.example/keygate", NewTag: "v1.2.3"}}
	if data, err = yaml.Marshal(k); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kpath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	objs := build(t, filepath.Join(dir, "default"))
	for _, name := range []string{"keygate-controller", "keygate-auth-server"} {
		img, _ := container(t, find(t, objs, "Deployment", name))["image"].(string)
		if img != "registry.example/keygate:v1.2.3" {
			t.Errorf("Deployment %s has image %q, want registry.example/keygate:v1.2.3", name, img)
		}
	}
}

// TestDeploymentsGiveGoTheirMemoryLimit: both processes learn their
// container's memory limit (KEYGATE_MEMORY_LIMIT from the downward API),
// which they turn into the Go runtime's soft limit, and both have one.
func TestDeploymentsGiveGoTheirMemoryLimit(t *testing.T) {
	objs := build(t, repoPath("config", "default"))
	for _, name := range []string{"keygate-controller", "keygate-auth-server"} {
		c := container(t, find(t, objs, "Deployment", name))
		if _, ok, _ := unstructured.NestedString(c, "resources", "limits", "memory"); !ok {
			t.Errorf("Deployment %s sets no memory limit", name)
		}
		env, _, _ := unstructured.NestedSlice(c, "env")
		found := false
		for _, e := range env {
			e := e.(map[string]any)
			if e["name"] != "KEYGATE_MEMORY_LIMIT" {
				continue
			}
			found = true
			res, _, _ := unstructured.NestedString(e, "valueFrom", "resourceFieldRef", "resource")
			div, _, _ := unstructured.NestedString(e, "valueFrom", "resourceFieldRef", "divisor")
			if res != "limits.memory" || (div != "" && div != "1") {
				t.Errorf("Deployment %s: KEYGATE_MEMORY_LIMIT is %v, want limits.memory in bytes", name, e["valueFrom"])
			}
		}
		if !found {
			t.Errorf("Deployment %s does not pass KEYGATE_MEMORY_LIMIT", name)
		}
	}
}

// TestComponentsAreValid builds config/default with every optional
// component (Redis, Prometheus) and dry-runs it. The Prometheus
// Operator's CRDs are not installed in envtest, so its ServiceMonitor is
// checked by what would break scraping: its selector must pick both
// metrics Services, and their ports must name container ports.
func TestComponentsAreValid(t *testing.T) {
	objs := build(t, repoPath("test", "manifests", "testdata", "all-components"))
	args := argsOf(t, find(t, objs, "Deployment", "keygate-auth-server"))
	if !slices.Contains(args, "--redis-url=redis://keygate-redis.keygate-system.svc:6379/0") {
		t.Errorf("auth server args %v lack the Redis URL of the redis component", args)
	}
	find(t, objs, "Service", "keygate-redis")
	checkServiceMonitor(t, objs)
	if err := manifest.Apply(context.Background(), env.Client, without(objs, "ServiceMonitor", "PrometheusRule"), client.DryRunAll); err != nil {
		t.Fatalf("server-side dry-run: %v", err)
	}
}

func argsOf(t *testing.T, dep *unstructuredT) []string {
	t.Helper()
	raw, _ := container(t, dep)["args"].([]any)
	var out []string
	for _, a := range raw {
		out = append(out, a.(string))
	}
	return out
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}
