package testenv

import (
	"context"
	"os"
	"os/exec"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func contextBackground() context.Context { return context.Background() }

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// RequireBinary returns the path of an external program an end-to-end test
// needs (nginx, redis-server, wrk). Missing, it fails the test under CI=true,
// where make test must have installed it, and otherwise skips with what to
// install: a CI run never passes by skipping end-to-end tests.
func RequireBinary(tb testing.TB, name string, extraDirs ...string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range append(extraDirs, "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin") {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := name + " is not installed; run ./hack/install-e2e-deps.sh (as root it installs Debian's packages)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: end-to-end tests may not be skipped)")
	}
	tb.Skip(msg)
	return ""
}
