package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/test/testenv"
)

// Real Traefik, built from its Go module at the version pinned in
// hack/install-traefik.sh, runs as a process that reads the envtest API
// server through KUBECONFIG, as an identity with the RBAC Traefik documents
// for each provider. Its CRDs and RBAC come from the same module
// (hack/third-party-crds.sh traefik).

// traefikProviders are the two ways Traefik reads keygate's samples.
var traefikProviders = []struct {
	name string
	// serviceAccount is the subject of the provider's documented
	// ClusterRoleBinding (namespace default).
	serviceAccount string
	// rbacFile is that RBAC, in Traefik's docs folder.
	rbacFile string
	// entryPoint is the entry point the provider's routes use.
	entryPoint string
	flags      []string
}{
	{
		name:           "ingress-nginx",
		serviceAccount: "traefik-ingress-nginx-controller",
		rbacFile:       "kubernetes-ingress-nginx-rbac.yml",
		entryPoint:     "web",
		flags:          []string{"--providers.kubernetesingressnginx=true"},
	},
	{
		name:           "crd",
		serviceAccount: "traefik-ingress-controller",
		rbacFile:       "kubernetes-crd-rbac.yml",
		// The sample IngressRoutes name the entry point websecure.
		entryPoint: "websecure",
		flags: []string{"--providers.kubernetescrd=true",
			// The upstream is an ExternalName Service (to localhost).
			"--providers.kubernetescrd.allowExternalNameServices=true"},
	},
}

// traefikBinary is bin/traefik-<pinned version>. Missing, the test fails
// with what to run: an end-to-end test is never skipped.
func traefikBinary(t *testing.T) string {
	t.Helper()
	root := testenv.RepoRoot()
	out, err := exec.Command(filepath.Join(root, "hack", "install-traefik.sh"), "--version").Output()
	if err != nil {
		t.Fatalf("hack/install-traefik.sh --version: %v", err)
	}
	v := strings.TrimSpace(string(out))
	bin := filepath.Join(root, "bin", "traefik-"+v)
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("Traefik %s is not installed at %s: run make test-deps (hack/install-traefik.sh builds it from "+
			"its Go module, about 6 minutes on two cores the first time, and caches it outside the clone)", v, bin)
	}
	return bin
}

// traefikDocs is Traefik's docs/content/reference/dynamic-configuration
// folder in the Go module cache: its CRDs and the RBAC of its providers.
func traefikDocs(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "third-party-crds.sh"), "traefik")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/third-party-crds.sh traefik: %v\n%s", err, stderr.String())
	}
	_, dir, ok := strings.Cut(strings.TrimSpace(string(out)), "traefik=")
	if !ok || dir == "" {
		t.Fatalf("hack/third-party-crds.sh traefik printed %q", out)
	}
	return dir
}

// installTraefikCluster installs Traefik's CRDs and its providers'
// documented RBAC, as its docs tell users to, and the IngressClass nginx
// that an ingress-nginx install leaves behind (Traefik's ingress-nginx
// provider reads the Ingresses of the classes whose controller is
// k8s.io/ingress-nginx).
func installTraefikCluster(t *testing.T, s *stack, docs string) {
	t.Helper()
	if _, err := envtest.InstallCRDs(s.env.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(docs, "kubernetes-crd-definition-v1.yml")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing Traefik's CRDs: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, p := range traefikProviders {
		data, err := os.ReadFile(filepath.Join(docs, p.rbacFile))
		if err != nil {
			t.Fatal(err)
		}
		got, err := manifest.DecodeObjects(data)
		if err != nil {
			t.Fatalf("%s: %v", p.rbacFile, err)
		}
		objs = append(objs, got...)
	}
	class := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
		"metadata": map[string]any{"name": "nginx"},
		"spec":     map[string]any{"controller": "k8s.io/ingress-nginx"},
	}}
	if err := manifest.Apply(context.Background(), s.env.Client, append(objs, class)); err != nil {
		t.Fatal(err)
	}
}

// traefikProcess is one running Traefik.
type traefikProcess struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// traefikProxy is a running Traefik and the address of its entry point.
type traefikProxy struct {
	name string // the provider's
	addr string
	proc *traefikProcess
}

// startTraefik runs Traefik with one entry point on a loopback address
// and the provider's flags, as the provider's service account.
func startTraefik(t *testing.T, s *stack, bin string, provider int) *traefikProxy {
	t.Helper()
	p := traefikProviders[provider]
	kc, err := s.env.KubeconfigFor(t.TempDir(), "system:serviceaccount:default:"+p.serviceAccount,
		"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args := append([]string{
		"--entryPoints." + p.entryPoint + ".address=" + addr,
		"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--log.level=INFO",
	}, p.flags...)
	tp := &traefikProcess{cmd: exec.Command(bin, args...), log: &lockedBuffer{}, done: make(chan struct{})}
	tp.cmd.Env = append(outOfCluster(os.Environ()), "KUBECONFIG="+kc)
	tp.cmd.Stdout, tp.cmd.Stderr = tp.log, tp.log
	if err := tp.cmd.Start(); err != nil {
		t.Fatalf("starting Traefik: %v", err)
	}
	go func() { _ = tp.cmd.Wait(); close(tp.done) }()
	t.Cleanup(func() {
		_ = tp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-tp.done:
		case <-time.After(10 * time.Second):
			_ = tp.cmd.Process.Kill()
			<-tp.done
		}
		if t.Failed() {
			t.Logf("Traefik (%s provider) %s\nits log:\n%s", p.name, strings.Join(args, " "), tp.log.String())
		}
	})
	return &traefikProxy{name: p.name, addr: addr, proc: tp}
}

// outOfCluster drops the variables that would make Traefik use an
// in-cluster client instead of KUBECONFIG (a CI job may run in a pod).
func outOfCluster(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "KUBERNETES_SERVICE_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			out = append(out, kv)
		}
	}
	return out
}

// exited says whether Traefik has stopped, and how.
func (p *traefikProxy) exited() error {
	select {
	case <-p.proc.done:
		return fmt.Errorf("traefik (%s provider) exited: %s", p.name, p.proc.cmd.ProcessState)
	default:
		return nil
	}
}
