package jwtauth

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const oneIssuer = `issuers:
- issuer: keygate-dev
  algorithms: [HS256]
  hmacSecretRef: {name: keygate-dev-jwt}
`

const twoIssuers = oneIssuer + `- issuer: second
  algorithms: [HS512]
  hmacSecretRef: {name: second-jwt, key: hmac}
`

var secondSecret = []byte("second-secret-second-secret-second-secret-second-secret-64bytes!")

func accepts(t *testing.T, a *Authenticator, tok string) bool {
	_, err := a.Verify(context.Background(), tok)
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unexpected error %v", err)
	}
	return err == nil
}

func TestConfigReload(t *testing.T) {
	e := newEnv(t, oneIssuer, true,
		hmacSecretObject("keygate-dev-jwt", devSecret), hmacSecretObject("second-jwt", secondSecret))
	eventually(t, "ready", e.auth.Ready)
	dev := sign(t, jwt.SigningMethodHS256, devSecret, claimsAt("keygate-dev", nil), nil)
	second := sign(t, jwt.SigningMethodHS512, secondSecret, claimsAt("second", nil), nil)
	if !accepts(t, e.auth, dev) || accepts(t, e.auth, second) {
		t.Fatal("before reload: want only keygate-dev accepted")
	}
	okBefore := testutil.ToFloat64(configReloads.WithLabelValues("success"))
	errBefore := testutil.ToFloat64(configReloads.WithLabelValues("error"))

	writeConfig(t, e.path, twoIssuers)
	eventually(t, "second issuer accepted", func() bool { return accepts(t, e.auth, second) })
	if got := testutil.ToFloat64(configReloads.WithLabelValues("success")); got != okBefore+1 {
		t.Fatalf("success reloads = %v, want %v", got, okBefore+1)
	}
	if got := testutil.ToFloat64(issuersLoaded); got != 2 {
		t.Fatalf("issuers loaded = %v, want 2", got)
	}

	invalid := []string{
		"issuers: [ {issuer: x", // YAML syntax
		"issuers:\n- issuer: x\n  algorithms: [none]\n  hmacSecretRef: {name: a}\n", // validation
		oneIssuer + "revocation:\n  secretRef: {name: does-not-exist}\n",            // missing object
	}
	for i, content := range invalid {
		writeConfig(t, e.path, content)
		want := errBefore + float64(i+1)
		eventually(t, "invalid config counted", func() bool {
			return testutil.ToFloat64(configReloads.WithLabelValues("error")) == want
		})
		if !accepts(t, e.auth, second) || !accepts(t, e.auth, dev) {
			t.Fatalf("invalid config %d replaced the last good one", i)
		}
	}
	if !e.auth.Ready() {
		t.Fatal("a failed reload made the authenticator unready")
	}

	writeConfig(t, e.path, "issuers:\n- issuer: second\n  algorithms: [HS512]\n  hmacSecretRef: {name: second-jwt}\n")
	eventually(t, "keygate-dev dropped", func() bool { return !accepts(t, e.auth, dev) })
	if !accepts(t, e.auth, second) {
		t.Fatal("second issuer lost")
	}
	eventually(t, "unused informer stopped", func() bool {
		e.auth.objects.mu.Lock()
		defer e.auth.objects.mu.Unlock()
		_, watched := e.auth.objects.objs[objRef{kind: kindSecret, name: "keygate-dev-jwt"}]
		return !watched && len(e.auth.objects.objs) == 1
	})
}

func TestHMACSecretChangesLive(t *testing.T) {
	e := newEnv(t, oneIssuer, true)
	eventually(t, "ready without the HMAC Secret", e.auth.Ready)
	tok := sign(t, jwt.SigningMethodHS256, devSecret, claimsAt("keygate-dev", nil), nil)
	_, err := e.auth.Verify(context.Background(), tok)
	checkErr(t, err, ErrInvalidToken, "no matching key")

	secrets := e.client.CoreV1().Secrets(testNS)
	short := hmacSecretObject("keygate-dev-jwt", []byte("short"))
	if _, err := secrets.Create(context.Background(), short, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	shortTok := sign(t, jwt.SigningMethodHS256, []byte("short"), claimsAt("keygate-dev", nil), nil)
	eventually(t, "short secret seen", func() bool {
		_, ok := e.auth.objects.data(objRef{kind: kindSecret, name: "keygate-dev-jwt"})
		return ok
	})
	if accepts(t, e.auth, shortTok) {
		t.Fatal("a secret shorter than 32 bytes was used as an HMAC key")
	}

	if _, err := secrets.Update(context.Background(), hmacSecretObject("keygate-dev-jwt", devSecret), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "token accepted once the Secret exists", func() bool { return accepts(t, e.auth, tok) })
}
