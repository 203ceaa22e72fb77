// Package manifests_test checks the install manifests in config/ against a
// real kube-apiserver (envtest): what kustomize builds is valid, every
// sample is accepted, and the RBAC grants each process what it needs and
// the auth server nothing more.
package manifests_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/keygate-dev/keygate/test/testenv"
)

// env is one API server for the package, with the RBAC authorizer on (the
// RBAC test needs it; the admin client is system:masters either way).
var env *testenv.Env

func TestMain(m *testing.M) {
	e, err := testenv.New(testenv.Options{RBAC: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	_ = e.Stop()
	os.Exit(code)
}
