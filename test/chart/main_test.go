// Package chart_test checks the Helm chart charts/keygate through Helm's own
// Go packages: helm lint, helm template, values.schema.json refusing bad
// values, the rendered objects against config/default (so the two cannot
// drift), a server-side dry-run against a real API server (envtest) with
// the defaults and with every option on, and a real helm install, upgrade
// and uninstall.
package chart_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keygate-dev/keygate/test/testenv"
)

// cfg is the package's API server. Unlike testenv.New, it starts without
// keygate's CRDs: helm install must create them from the chart's crds/.
var cfg *rest.Config

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	assets, err := testenv.Assets()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err = te.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = te.Stop()
	os.Exit(code)
}
