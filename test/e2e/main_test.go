// Package e2e_test runs keygate end to end: a real API server (envtest),
// the controller and the auth server wired as keygate dev wires them, an
// echo upstream, and a real nginx configured as ingress-nginx configures
// itself for an Ingress with keygate's documented annotations. Requests go
// over real HTTP through nginx, and through a real Traefik built from its Go
// module (traefik_*.go) with both of its Kubernetes providers reading the
// project's samples. Envoy cannot be had here (no package, no module that
// builds it), so its request shapes are driven by a Go client instead
// (proxies_test.go); that is not a real Envoy.
package e2e_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var shared struct {
	once  sync.Once
	stack *stack
	err   error
}

// getStack starts the shared API server, controller and auth server on
// first use.
func getStack(t *testing.T) *stack {
	t.Helper()
	shared.once.Do(func() { shared.stack, shared.err = startStack() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.stack
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stack != nil {
		if err := shared.stack.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the stack:", err)
		}
	}
	os.Exit(code)
}
