package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

const testNS = "keygate-system"

// t0 is the fake clock's start.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Test keys, made once: RSA key generation is slow under -race.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

// pemOf encodes a public key as PKIX PEM.
func pemOf(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// indentPEM indents a PEM for a YAML block scalar.
func indentPEM(p, indent string) string {
	return indent + strings.ReplaceAll(strings.TrimSpace(p), "\n", "\n"+indent)
}

// sign makes a token; header entries override the default header.
func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsAt returns claims valid at t0 for iss, with overrides; a nil
// override value deletes the claim.
func claimsAt(iss string, over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"iss": iss, "sub": "alice", "exp": t0.Add(time.Hour).Unix(), "iat": t0.Add(-time.Minute).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func hmacSecretObject(name string, secret []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Data:       map[string][]byte{"hmac": secret},
	}
}

// writeConfig replaces the config file atomically, as a ConfigMap mount
// or an editor's rename does.
func writeConfig(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type testEnv struct {
	auth   *Authenticator
	client *fake.Clientset
	clock  *clocktesting.FakePassiveClock
	path   string
}

// newEnv writes config, builds an Authenticator on a fake clock and a
// fake clientset holding objs, and (when start) runs it until the test
// ends. The fake clientset stands in for the API server here because the
// informer plumbing against a real kube-apiserver is covered by the auth
// server's envtest; these tests are about what is done with the objects.
func newEnv(t *testing.T, config string, start bool, objs ...runtime.Object) *testEnv {
	t.Helper()
	e := &testEnv{client: fake.NewClientset(objs...), clock: clocktesting.NewFakePassiveClock(t0)}
	e.path = filepath.Join(t.TempDir(), "jwt.yaml")
	writeConfig(t, e.path, config)
	a, err := New(Options{ConfigPath: e.path, Namespace: testNS, Client: e.client, Clock: e.clock, Logger: testr.New(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.poll = 10 * time.Millisecond
	e.auth = a
	if start {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Start(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Start returned %v", err)
			}
		})
	}
	return e
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkErr compares a Verify error with the wanted sentinel and message
// fragment ("" sentinel: success wanted).
func checkErr(t *testing.T, err, wantIs error, wantMsg string) {
	t.Helper()
	switch {
	case wantIs == nil && err != nil:
		t.Fatalf("want success, got %v", err)
	case wantIs == nil:
		return
	case !errors.Is(err, wantIs):
		t.Fatalf("want %v, got %v", wantIs, err)
	case !strings.Contains(err.Error(), wantMsg):
		t.Fatalf("want message containing %q, got %q", wantMsg, err.Error())
	}
}
