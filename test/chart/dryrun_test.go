package chart_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/test/testenv"
)

// restrictedNamespace creates the release namespace, enforcing the
// restricted Pod Security Standard as config/default's does.
func restrictedNamespace(t *testing.T, c client.Client) {
	t.Helper()
	ensureNamespace(t, c, namespace, map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"})
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{}
	ns.Name = name
	ns.Labels = labels
	if err := c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

var promCRDs sync.Once

// prometheusOperatorCRDs installs the ServiceMonitor and PrometheusRule
// CRDs of hack/third-party-crds.sh (the Prometheus Operator's own, at its
// pinned version). Missing, the test fails: it is never skipped.
func prometheusOperatorCRDs(t *testing.T) {
	t.Helper()
	var err error
	promCRDs.Do(func() {
		var out []byte
		out, err = exec.Command(repoPath("hack", "third-party-crds.sh"), "prometheus-operator").Output()
		if err != nil {
			return
		}
		line, _, _ := bytes.Cut(out, []byte("\n"))
		_, dir, _ := strings.Cut(string(line), "=")
		_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true})
	})
	if err != nil {
		t.Fatalf("installing the Prometheus Operator's CRDs: %v", err)
	}
}

// dryRun applies objs by server-side dry-run and fails the test on an
// error or a warning.
func dryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	w := &testenv.Warnings{}
	rc := rest.CopyConfig(cfg)
	rc.WarningHandler = w
	c, err := client.New(rc, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	restrictedNamespace(t, c)
	if err := manifest.Apply(context.Background(), c, objs, client.DryRunAll); err != nil {
		t.Fatalf("server-side dry-run: %v", err)
	}
	for _, m := range w.Messages() {
		t.Errorf("API server warning: %s", m)
	}
}

// TestDefaultsDryRun: the chart with its defaults is accepted by a real
// API server, and meets the restricted Pod Security Standard.
func TestDefaultsDryRun(t *testing.T) {
	dryRun(t, render(t, nil))
}

// TestAllOptionsDryRun: the chart with every option on is accepted, and
// each option reaches the objects it is for.
func TestAllOptionsDryRun(t *testing.T) {
	prometheusOperatorCRDs(t)
	objs := render(t, values(t, allOn))
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, c, "observability", nil) // metrics.grafanaDashboard.namespace
	dryRun(t, objs)

	auth := find(t, objs, "Deployment", "keygate-auth-server")
	wantArgs(t, args(t, auth), "--proxy=traefik", "--trusted-hops=1",
		"--redis-url=redis://keygate-redis.keygate-system.svc:6379/0", "--redis-on-error=deny", "--ip-prefix-v6=56")
	ctrl := find(t, objs, "Deployment", "keygate-controller")
	wantArgs(t, args(t, ctrl), "--watch-namespaces=acme,globex", "--max-concurrent-reconciles=4")
	for _, d := range []*unstructured.Unstructured{auth, ctrl} {
		img := container(t, d)["image"]
		if img != "registry.example/keygate@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
			t.Errorf("%s runs %v, want the image pinned by digest", manifest.Describe(d), img)
		}
		for _, f := range []string{"nodeSelector", "tolerations", "affinity", "imagePullSecrets"} {
			if _, ok, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "template", "spec", f); !ok {
				t.Errorf("%s has no %s", manifest.Describe(d), f)
			}
		}
		if a, _, _ := unstructured.NestedString(d.Object, "spec", "template", "metadata", "annotations", "example.com/team"); a != "platform" {
			t.Errorf("%s lacks the pod annotation", manifest.Describe(d))
		}
	}
	for _, kn := range [][2]string{
		{"Deployment", "keygate-redis"}, {"Service", "keygate-redis"}, {"NetworkPolicy", "keygate-redis"},
		{"ServiceMonitor", "keygate"}, {"PrometheusRule", "keygate"}, {"NetworkPolicy", "keygate-metrics"},
		{"Service", "keygate-controller-metrics"}, {"Service", "keygate-auth-server-metrics"},
	} {
		find(t, objs, kn[0], kn[1])
	}
	np := find(t, objs, "NetworkPolicy", "keygate-auth-server")
	from, _, _ := unstructured.NestedSlice(np.Object, "spec", "ingress")
	if got := len(from[0].(map[string]any)["from"].([]any)); got != 2 {
		t.Errorf("the auth server's NetworkPolicy admits %d namespaces, want ingress-nginx and traefik", got)
	}
	checkAlerts(t, find(t, objs, "PrometheusRule", "keygate"))
	checkDashboard(t, find(t, objs, "ConfigMap", "keygate-dashboard"))
}

// TestRedisSecretDryRun: redis.mode=secret mounts the Secret's one key and
// passes its path with --redis-url-file, so the URL (and its password)
// never appears in the pod spec.
func TestRedisSecretDryRun(t *testing.T) {
	objs := render(t, values(t, redisSecret))
	dryRun(t, objs)
	auth := find(t, objs, "Deployment", "keygate-auth-server")
	a := args(t, auth)
	wantArgs(t, a, "--redis-url-file=/etc/keygate-redis/url", "--redis-on-error=allow")
	for _, arg := range a {
		if strings.HasPrefix(arg, "--redis-url=") {
			t.Errorf("auth server args %v carry a Redis URL", a)
		}
	}
	vols, _, _ := unstructured.NestedSlice(auth.Object, "spec", "template", "spec", "volumes")
	found := false
	for _, v := range vols {
		s, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName")
		found = found || (ok && s == "keygate-redis-url")
	}
	if !found {
		t.Errorf("the auth server does not mount the Secret keygate-redis-url: %v", vols)
	}
	for _, o := range objs {
		if o.GetName() == "keygate-redis" {
			t.Errorf("redis.mode=secret also installs %s", manifest.Describe(o))
		}
	}
}

func wantArgs(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("args %v lack %s", got, w)
		}
	}
}

// checkDashboard: the dashboard ConfigMap is in the namespace asked for,
// labelled and annotated for Grafana's sidecar, and carries
// config/prometheus/keygate-dashboard.json byte for byte: Helm did not
// read its {{legend}} templates as its own.
func checkDashboard(t *testing.T, cm *unstructured.Unstructured) {
	t.Helper()
	want, err := os.ReadFile(repoPath("config", "prometheus", "keygate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ := unstructured.NestedString(cm.Object, "data", "keygate-dashboard.json")
	if got != string(want) {
		t.Errorf("the chart's dashboard differs from config/prometheus/keygate-dashboard.json (%d bytes, want %d)", len(got), len(want))
	}
	if !strings.Contains(got, "{{") {
		t.Errorf("the dashboard lost its Grafana legend templates")
	}
	if cm.GetNamespace() != "observability" {
		t.Errorf("the dashboard ConfigMap is in %q, want observability", cm.GetNamespace())
	}
	if l := cm.GetLabels(); l["grafana_dashboard"] != "1" || l["release"] != "prom" || l["app.kubernetes.io/part-of"] != "keygate" {
		t.Errorf("the dashboard ConfigMap has labels %v", l)
	}
	if a := cm.GetAnnotations(); a["grafana_folder"] != "keygate" {
		t.Errorf("the dashboard ConfigMap has annotations %v", a)
	}
}

// checkAlerts: the PrometheusRule carries config/prometheus/alerts.yaml's
// rules unchanged: Helm did not read their {{ $labels }} as its own.
func checkAlerts(t *testing.T, rule *unstructured.Unstructured) {
	t.Helper()
	raw, err := os.ReadFile(repoPath("config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := manifest.DecodeObjects(raw)
	if err != nil || len(data) != 1 {
		t.Fatalf("config/prometheus/alerts.yaml: %v", err)
	}
	want, _, _ := unstructured.NestedFieldCopy(data[0].Object, "spec")
	got, _, _ := unstructured.NestedFieldCopy(rule.Object, "spec")
	wy, _ := yaml.Marshal(want)
	gy, _ := yaml.Marshal(got)
	if string(wy) != string(gy) {
		t.Errorf("the chart's PrometheusRule spec differs from config/prometheus/alerts.yaml:\n%s\nwant\n%s", gy, wy)
	}
	if !strings.Contains(string(gy), "{{ $labels.code }}") {
		t.Errorf("the alerts lost their Prometheus templates:\n%s", gy)
	}
}
