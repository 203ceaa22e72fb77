package webhook_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/internal/testenv"
	"github.com/keygate-dev/keygate/webhook"
)

// TestEndToEndOnAPIServer runs the controller and the auth server against a
// real API server, as keygate dev does: an ApiKey (GitOps mode, so the test
// knows the plaintext) becomes accepted through /check, and disabling it
// refuses it. It reports both propagation times (target < 1 s).
func TestEndToEndOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server")
	}
	env := testenv.Start(t, testenv.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startManager(t, ctx, env, controllers.CacheOptions(controllers.Options{Namespace: testenv.Namespace}), func(m manager.Manager) error {
		return controllers.Setup(m, controllers.Options{Namespace: testenv.Namespace})
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	startManager(t, ctx, env, webhook.CacheOptions(testenv.Namespace), func(m manager.Manager) error {
		return webhook.Setup(m, webhook.Options{Namespace: testenv.Namespace, Listener: l, TrustedHops: 1})
	})
	waitFor(t, 30*time.Second, func() bool { return get(t, base+"/readyz", nil) == http.StatusOK })
	if err := env.CreateNamespace("acme"); err != nil {
		t.Fatal(err)
	}
	warmUp(t, ctx, env, base)

	key, err := record.NewKey("wfx_")
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"X-API-Key": key, "X-Original-URL": "https://api.acme.com/api/sdk/events"}
	if got := get(t, base+"/check", hdr); got != http.StatusUnauthorized {
		t.Fatalf("before the ApiKey exists: %d", got)
	}
	ak := &keygatev1alpha1.ApiKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "acme-sdk"},
		Spec: keygatev1alpha1.ApiKeySpec{Subject: "acme", Prefix: "wfx_",
			KeyHashes: []keygatev1alpha1.KeyHash{{SHA256: record.HashKey(key).String()}}},
	}
	start := time.Now()
	if err := env.Client.Create(ctx, ak); err != nil {
		t.Fatal(err)
	}
	var compiled time.Duration
	waitFor(t, 10*time.Second, func() bool {
		if compiled == 0 {
			var s corev1.Secret
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.Namespace, Name: record.SecretName(record.KindAPIKey, "acme", "acme-sdk")}, &s)
			if err == nil {
				compiled = time.Since(start)
			}
		}
		return get(t, base+"/check", hdr) == http.StatusOK
	})
	accepted := time.Since(start)
	t.Logf("record Secret written by the controller after %v", compiled.Round(time.Millisecond))

	patch := client.MergeFrom(ak.DeepCopy())
	ak.Spec.Disabled = true
	start = time.Now()
	if err := env.Client.Patch(ctx, ak, patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return get(t, base+"/check", hdr) == http.StatusUnauthorized })
	refused := time.Since(start)
	t.Logf("propagation: created -> accepted %v, disabled -> refused %v", accepted.Round(time.Millisecond), refused.Round(time.Millisecond))
	if accepted > time.Second || refused > time.Second {
		t.Fatalf("propagation over the 1 s target: %v, %v", accepted, refused)
	}
}

// warmUp waits until the controller compiles a first ApiKey, so the
// measured propagation is the steady state, not the controller's start.
func warmUp(t *testing.T, ctx context.Context, env *testenv.Env, base string) {
	t.Helper()
	key, _ := record.NewKey("warm_")
	ak := &keygatev1alpha1.ApiKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "warm-up"},
		Spec: keygatev1alpha1.ApiKeySpec{Subject: "warm", Prefix: "warm_",
			KeyHashes: []keygatev1alpha1.KeyHash{{SHA256: record.HashKey(key).String()}}},
	}
	if err := env.Client.Create(ctx, ak); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool {
		return get(t, base+"/check", map[string]string{"X-API-Key": key}) == http.StatusOK
	})
}

func startManager(t *testing.T, ctx context.Context, env *testenv.Env, co cache.Options, setup func(manager.Manager) error) {
	t.Helper()
	// Controller names are unique per process; go test -count=N starts
	// the same controllers again.
	skip := true
	m, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Cache: co,
		Metrics: metricsserver.Options{BindAddress: "0"}, Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(m); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

func get(t *testing.T, url string, hdr map[string]string) int {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
