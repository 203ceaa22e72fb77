package manifests_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/internal/manifest"
)

// thirdPartyCRDs installs the CRDs of hack/third-party-crds.sh (Envoy
// Gateway, Prometheus Operator, Gateway API, each from its own Go module at
// its pinned version) into the package's API server, once. A CRD that
// cannot be had fails the test: it is never skipped.
func thirdPartyCRDs(t *testing.T) {
	t.Helper()
	installCRDs.Do(func() { installCRDsErr = installThirdPartyCRDs() })
	if installCRDsErr != nil {
		t.Fatal(installCRDsErr)
	}
}

func installThirdPartyCRDs() error {
	out, err := exec.Command(repoPath("hack", "third-party-crds.sh")).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return errorf("hack/third-party-crds.sh: %v\n%s", err, ee.Stderr)
		}
		return err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		_, dir, _ := strings.Cut(sc.Text(), "=")
		got, err := readCRDs(dir)
		if err != nil {
			return err
		}
		crds = append(crds, got...)
	}
	if len(crds) < 10 {
		return errorf("found only %d third-party CRDs", len(crds))
	}
	_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{CRDs: crds})
	return err
}

// readCRDs reads the CustomResourceDefinitions of dir's YAML files. Lines
// of Helm template syntax ({{ ... }}) are dropped: Envoy Gateway ships its
// CRDs inside a chart's templates.
func readCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, errorf("no CRD files in %s (%v)", dir, err)
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var kept []string
		for _, l := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "{{") {
				kept = append(kept, l)
			}
		}
		objs, err := manifest.DecodeObjects([]byte(strings.Join(kept, "\n")))
		if err != nil {
			return nil, errorf("%s: %w", f, err)
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" {
				continue // gateway-api also ships a ValidatingAdmissionPolicy
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := fromUnstructured(o, &crd); err != nil {
				return nil, errorf("%s: %w", f, err)
			}
			out = append(out, &crd)
		}
	}
	return out, nil
}

// TestThirdPartySamplesAreAccepted applies, for real, the samples that are
// other projects' kinds: Envoy Gateway's SecurityPolicies (HTTP and gRPC
// ext_authz) with their Gateway API ReferenceGrant, and the Prometheus
// Operator's ServiceMonitor and PrometheusRule, against those projects'
// own CRDs, so a field they renamed or a value they refuse fails here.
func TestThirdPartySamplesAreAccepted(t *testing.T) {
	thirdPartyCRDs(t)
	for _, ns := range []string{"acme", "keygate-system"} {
		if err := env.CreateNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := manifest.ReadObjects(repoPath("config", "samples", "envoy-gateway"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"servicemonitor.yaml", "alerts.yaml"} {
		data, err := os.ReadFile(repoPath("config", "prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		more, err := manifest.DecodeObjects(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range more {
			if o.GetNamespace() == "" {
				o.SetNamespace("keygate-system")
			}
		}
		objs = append(objs, more...)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
	}
	if kinds["SecurityPolicy"] < 2 || kinds["ReferenceGrant"] < 1 || kinds["ServiceMonitor"] < 1 || kinds["PrometheusRule"] < 1 {
		t.Fatalf("samples hold %v; want the HTTP and gRPC SecurityPolicies, a ReferenceGrant, a ServiceMonitor and a PrometheusRule", kinds)
	}
	if err := manifest.Apply(context.Background(), env.Client, objs); err != nil {
		t.Fatal(err)
	}
}

// TestAlertExpressionsParse parses every alert expression with
// Prometheus's own PromQL parser.
func TestAlertExpressionsParse(t *testing.T) {
	// Prometheus's defaults: no experimental functions.
	promql := parser.NewParser(parser.Options{})
	alerts := alertQueries(t)
	for name, expr := range alerts {
		if _, err := promql.ParseExpr(expr); err != nil {
			t.Errorf("%s: %v\n%s", name, err, expr)
		}
	}
	if len(alerts) < 5 {
		t.Fatalf("parsed %d alert expressions; alerts.yaml has more", len(alerts))
	}
}

// fromUnstructured converts o into out.
func fromUnstructured(o *unstructured.Unstructured, out any) error {
	data, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, out)
}

var (
	installCRDs    sync.Once
	installCRDsErr error
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
