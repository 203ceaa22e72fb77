package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/manifest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/devenv"
	"github.com/keygate-dev/keygate/test/testenv"
)

// stack is the API server with keygate running against it: the
// controller and the auth server, each as bin/keygate in its own process.
type stack struct {
	env        *testenv.Env
	controller *process
	// controllerMetrics is http://127.0.0.1:port/metrics of the controller.
	controllerMetrics string
	auth              *authServer
	authURL           string // http://127.0.0.1:port of the auth server
	// grpcAddr is 127.0.0.1:port of its ext_authz gRPC service.
	grpcAddr string
	// authKubeconfig is the auth server's identity, for more replicas.
	authKubeconfig string
	jwtPath        string
	// nsRuns counts the namespaces made from each base name.
	nsRuns map[string]int
	hmac   []byte
	dir    string
}

func startStack() (*stack, error) {
	// RBAC on, so that an auth server without permissions can be shown
	// never to become ready (the admin client is system:masters).
	env, err := testenv.New(testenv.Options{RBAC: true})
	if err != nil {
		return nil, err
	}
	s := &stack{env: env, nsRuns: map[string]int{}}
	if err := s.startKeygate(); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

func (s *stack) startKeygate() error {
	ctx := context.Background()
	var err error
	if s.dir, err = os.MkdirTemp("", "keygate-e2e-"); err != nil {
		return err
	}
	if s.hmac, err = devenv.EnsureHMACSecret(ctx, s.env.Client, testenv.Namespace); err != nil {
		return err
	}
	s.jwtPath = filepath.Join(s.dir, "jwt.yaml")
	if err := devenv.WriteJWTConfig(s.jwtPath, devenv.DevJWTConfig()); err != nil {
		return err
	}
	// The shipped RBAC, applied for real: the controller and the auth
	// server below authenticate as their service accounts, so every
	// scenario also shows that config/rbac grants them enough to work
	// (leader election included), and the RBAC test in test/manifests,
	// that it grants no more.
	rbac, err := kustomizeBuild(filepath.Join(testenv.RepoRoot(), "config", "rbac"))
	if err != nil {
		return err
	}
	if err := manifest.Apply(ctx, s.env.Client, rbac); err != nil {
		return fmt.Errorf("applying config/rbac: %w", err)
	}
	controllerKC, err := s.env.ServiceAccountKubeconfig(s.dir, "keygate-controller")
	if err != nil {
		return err
	}
	if s.authKubeconfig, err = s.env.ServiceAccountKubeconfig(s.dir, "keygate-auth-server"); err != nil {
		return err
	}
	metricsAddr := freeLoopbackAddr()
	s.controllerMetrics = "http://" + metricsAddr + "/metrics"
	s.controller, err = startProcess("controller", "controller", "--kubeconfig", controllerKC,
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0")
	if err != nil {
		return err
	}
	if s.auth, err = startAuthServer("auth-server", s.authKubeconfig, true, "--jwt-config", s.jwtPath); err != nil {
		return err
	}
	s.authURL, s.grpcAddr = s.auth.url, s.auth.grpcAddr
	if err := waitReady(s.authURL, 60*time.Second); err != nil {
		return fmt.Errorf("%w\nits log:\n%s", err, s.auth.output())
	}
	return nil
}

// freeLoopbackAddr is a loopback address that was free a moment ago, for
// a server that cannot report the port it chose.
func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *stack) stop() error {
	var errs []error
	if s.auth != nil {
		errs = append(errs, s.auth.stop())
	}
	if s.controller != nil {
		errs = append(errs, s.controller.stop())
	}
	errs = append(errs, s.env.Stop())
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	return errors.Join(errs...)
}

// waitReady polls /readyz of an auth server.
func waitReady(base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("auth server at %s not ready after %s", base, timeout)
}

// namespace creates a namespace for one scenario and returns its name:
// base the first time, base-2, base-3... when go test -count=N runs the
// scenario again on the same API server.
func (s *stack) namespace(t *testing.T, base string) string {
	t.Helper()
	s.nsRuns[base]++
	name := base
	if n := s.nsRuns[base]; n > 1 {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	if err := s.env.CreateNamespace(name); err != nil {
		t.Fatal(err)
	}
	return name
}

// generatedKey creates a generated ApiKey and returns it with its
// plaintext, read from its delivery Secret once the auth server accepts it.
func (s *stack) generatedKey(t *testing.T, ns, name string, spec keygatev1alpha1.ApiKeySpec) (*keygatev1alpha1.ApiKey, string) {
	t.Helper()
	ak := &keygatev1alpha1.ApiKey{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if err := s.env.Client.Create(context.Background(), ak); err != nil {
		t.Fatal(err)
	}
	key := s.waitDelivered(t, ns, name, "")
	s.waitAccepted(t, key, spec.AllowedOrigins)
	return ak, key
}

// waitDelivered waits until the delivery Secret holds a key other than
// old, and returns it.
func (s *stack) waitDelivered(t *testing.T, ns, name, old string) string {
	t.Helper()
	var key string
	eventually(t, 20*time.Second, "key of ApiKey "+ns+"/"+name+" delivered", func() bool {
		var sec corev1.Secret
		if err := s.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
			return false
		}
		key = string(sec.Data["apiKey"])
		return key != "" && key != old
	})
	return key
}

// waitAccepted waits until the auth server admits a key on a direct check.
func (s *stack) waitAccepted(t *testing.T, key string, origins []string) {
	t.Helper()
	eventually(t, 10*time.Second, "key accepted by the auth server", func() bool {
		req, _ := http.NewRequest(http.MethodGet, s.authURL+"/check?keyTypes=secret,public", nil)
		req.Header.Set("X-API-Key", key)
		if len(origins) > 0 {
			req.Header.Set("Origin", origins[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// waitPolicy waits until the auth server has loaded a RateLimitPolicy: a
// check naming it no longer answers POLICY_NOT_FOUND.
func (s *stack) waitPolicy(t *testing.T, p *keygatev1alpha1.RateLimitPolicy) {
	t.Helper()
	if err := s.env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "policy loaded", func() bool {
		resp, err := http.Get(s.authURL + "/check?auth=none&policy=" + p.Namespace + "/" + p.Name)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusInternalServerError
	})
}

// kustomizeBuild is kustomize build of dir, decoded.
func kustomizeBuild(dir string) ([]*unstructured.Unstructured, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return manifest.DecodeObjects(y)
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
