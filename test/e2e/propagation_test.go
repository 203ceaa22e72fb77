package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// TestPropagation measures, through the controller and the auth server
// processes, how long an ApiKey (GitOps mode, so the test knows the
// plaintext) takes to be accepted by /check once created, and to be
// refused once disabled. The contract's bound is 2 s; the target is 1 s.
func TestPropagation(t *testing.T) {
	s := getStack(t)
	ns := s.namespace(t, "propagation")
	ctx := context.Background()
	warm := mustKey(t, "warm_")
	s.createGitOpsKey(t, ns, "warm-up", "warm_", warm)
	eventually(t, 30*time.Second, "the first ApiKey accepted", func() bool { return s.checkStatus(warm) == http.StatusOK })

	key := mustKey(t, "wfx_")
	if got := s.checkStatus(key); got != http.StatusUnauthorized {
		t.Fatalf("before the ApiKey exists: %d", got)
	}
	start := time.Now()
	ak := s.createGitOpsKey(t, ns, "acme-sdk", "wfx_", key)
	var compiled time.Duration
	eventually(t, 10*time.Second, "the ApiKey accepted", func() bool {
		if compiled == 0 {
			var sec corev1.Secret
			name := record.SecretName(record.KindAPIKey, ns, "acme-sdk")
			if s.env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.Namespace, Name: name}, &sec) == nil {
				compiled = time.Since(start)
			}
		}
		return s.checkStatus(key) == http.StatusOK
	})
	accepted := time.Since(start)
	t.Logf("record Secret written by the controller after %v", compiled.Round(time.Millisecond))

	patch := client.MergeFrom(ak.DeepCopy())
	ak.Spec.Disabled = true
	start = time.Now()
	if err := s.env.Client.Patch(ctx, ak, patch); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the ApiKey refused", func() bool { return s.checkStatus(key) == http.StatusUnauthorized })
	refused := time.Since(start)
	t.Logf("propagation: created -> accepted %v, disabled -> refused %v", accepted.Round(time.Millisecond), refused.Round(time.Millisecond))
	if accepted > time.Second || refused > time.Second {
		t.Fatalf("propagation over the 1 s target: %v, %v", accepted, refused)
	}
}

func mustKey(t *testing.T, prefix string) string {
	t.Helper()
	key, err := record.NewKey(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// createGitOpsKey creates an ApiKey that lists key's hash.
func (s *stack) createGitOpsKey(t *testing.T, ns, name, prefix, key string) *keygatev1alpha1.ApiKey {
	t.Helper()
	ak := &keygatev1alpha1.ApiKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: keygatev1alpha1.ApiKeySpec{Subject: name, Prefix: prefix,
			KeyHashes: []keygatev1alpha1.KeyHash{{SHA256: record.HashKey(key).String()}}},
	}
	if err := s.env.Client.Create(context.Background(), ak); err != nil {
		t.Fatal(err)
	}
	return ak
}

// checkStatus is the status /check answers for key (0 when it cannot be
// reached).
func (s *stack) checkStatus(key string) int {
	r, _ := http.NewRequest(http.MethodGet, s.authURL+"/check", nil)
	r.Header.Set("X-API-Key", key)
	r.Header.Set("X-Original-URL", "https://api.acme.com/api/sdk/events")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
