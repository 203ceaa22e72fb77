// Package testenv starts a real kube-apiserver and etcd (envtest) with
// keygate's CRDs installed, for integration tests, and finds the external
// programs the end-to-end tests need.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/keygate-dev/keygate/internal/app/kube"
	"github.com/keygate-dev/keygate/internal/record"
)

// Namespace is keygate's own namespace in tests, as in an install.
const Namespace = record.DefaultNamespace

// Env is a running API server with keygate's CRDs.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// Options change how the API server is started.
type Options struct {
	// RBAC turns on the RBAC authorizer, so impersonated users get only
	// what their roles grant. Config stays a system:masters admin.
	RBAC bool
}

// RepoRoot is the root of the keygate repository.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns the folder with kube-apiserver, etcd and kubectl:
// KUBEBUILDER_ASSETS when set, otherwise what hack/setup-envtest.sh
// provides (it builds them once when missing).
func Assets() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(filepath.Join(RepoRoot(), "hack", "setup-envtest.sh"))
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/setup-envtest.sh: %w: %s", err, errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// New starts an API server with keygate's CRDs and creates keygate's
// namespace. Call Stop when done.
func New(opts Options) (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	if opts.RBAC {
		te.ControlPlane.GetAPIServer().Configure().Set("authorization-mode", "RBAC")
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest from %s: %w", assets, err)
	}
	s, err := kube.Scheme()
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	e := &Env{Config: cfg, Client: c, Scheme: s, env: te}
	if err := e.CreateNamespace(Namespace); err != nil {
		_ = te.Stop()
		return nil, err
	}
	return e, nil
}

// Start is New for one test: it fails the test on error and stops the
// API server when the test ends.
func Start(tb testing.TB, opts Options) *Env {
	tb.Helper()
	e, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Stop() })
	return e
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// CreateNamespace creates a namespace (no error if it exists).
func (e *Env) CreateNamespace(name string) error {
	ns := &corev1.Namespace{}
	ns.Name = name
	err := e.Client.Create(contextBackground(), ns)
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// KubectlPath is the kubectl that came with the envtest binaries.
func (e *Env) KubectlPath() string {
	return filepath.Join(e.env.BinaryAssetsDirectory, "kubectl")
}

// Kubeconfig writes a kubeconfig for the admin user to a file in dir and
// returns its path.
func (e *Env) Kubeconfig(dir string) (string, error) {
	return e.KubeconfigFor(dir, "keygate-test-admin", "system:masters")
}

// KubeconfigFor writes a kubeconfig that authenticates, with a client
// certificate of its own, as user in groups, to dir/<user>.kubeconfig, and
// returns its path. With RBAC on, that user gets what its bindings grant.
func (e *Env) KubeconfigFor(dir, user string, groups ...string) (string, error) {
	u, err := e.env.ControlPlane.AddUser(envtest.User{Name: user, Groups: groups}, nil)
	if err != nil {
		return "", err
	}
	kc, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, strings.ReplaceAll(user, ":", "_")+".kubeconfig")
	return p, os.WriteFile(p, kc, 0o600)
}

// ServiceAccountKubeconfig is KubeconfigFor the service account name of
// keygate's namespace, with the groups a pod's token carries.
func (e *Env) ServiceAccountKubeconfig(dir, name string) (string, error) {
	return e.KubeconfigFor(dir, "system:serviceaccount:"+Namespace+":"+name,
		"system:serviceaccounts", "system:serviceaccounts:"+Namespace, "system:authenticated")
}

// GVR of keygate's kinds, for dynamic clients in tests.
var (
	APIKeysGVR           = schema.GroupVersionResource{Group: "keygate.dev", Version: "v1alpha1", Resource: "apikeys"}
	RateLimitPoliciesGVR = schema.GroupVersionResource{Group: "keygate.dev", Version: "v1alpha1", Resource: "ratelimitpolicies"}
)
