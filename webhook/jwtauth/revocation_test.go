package jwtauth

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

const revocationConfig = `issuers:
- issuer: keygate-dev
  algorithms: [HS256]
  hmacSecretRef: {name: keygate-dev-jwt}
  leeway: 30s
revocation:
  configMapRef: {name: revoked}
`

func revokedCM(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "revoked", Namespace: testNS}, Data: data}
}

func tokenWithJTI(t *testing.T, jti string) string {
	return sign(t, jwt.SigningMethodHS256, devSecret, claimsAt("keygate-dev", map[string]any{"jti": jti}), nil)
}

func isRevoked(t *testing.T, a *Authenticator, jti string) bool {
	_, err := a.Verify(context.Background(), tokenWithJTI(t, jti))
	if err != nil && !errors.Is(err, ErrRevoked) {
		t.Fatalf("jti %s: unexpected error %v", jti, err)
	}
	return errors.Is(err, ErrRevoked)
}

func TestRevocationLiveReload(t *testing.T) {
	e := newEnv(t, revocationConfig, true,
		hmacSecretObject("keygate-dev-jwt", devSecret),
		revokedCM(map[string]string{"j1": t0.Add(time.Hour).Format(time.RFC3339)}))
	eventually(t, "ready", e.auth.Ready)
	if !isRevoked(t, e.auth, "j1") || isRevoked(t, e.auth, "j2") {
		t.Fatal("want j1 revoked and j2 not")
	}
	_, err := e.auth.Verify(context.Background(), tokenWithJTI(t, "j1"))
	checkErr(t, err, ErrRevoked, "token has been revoked")

	cms := e.client.CoreV1().ConfigMaps(testNS)
	if _, err := cms.Update(context.Background(), revokedCM(map[string]string{"j2": ""}), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "j2 revoked and j1 released", func() bool {
		return isRevoked(t, e.auth, "j2") && !isRevoked(t, e.auth, "j1")
	})
	if err := cms.Delete(context.Background(), "revoked", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A deleted list must not un-revoke anything: the last one stays.
	ref := objRef{kind: kindConfigMap, name: "revoked"}
	eventually(t, "deletion observed", func() bool { _, ok := e.auth.objects.data(ref); return !ok })
	time.Sleep(200 * time.Millisecond) // let the event handler run after the store changed
	if !isRevoked(t, e.auth, "j2") {
		t.Fatal("deleting the revocation list un-revoked j2")
	}
	if _, err := cms.Create(context.Background(), revokedCM(map[string]string{"j3": ""}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "recreated list applies", func() bool {
		return isRevoked(t, e.auth, "j3") && !isRevoked(t, e.auth, "j2")
	})
}

func TestNotReadyUntilRevocationListExists(t *testing.T) {
	e := newEnv(t, revocationConfig, true, hmacSecretObject("keygate-dev-jwt", devSecret))
	time.Sleep(100 * time.Millisecond)
	if e.auth.Ready() {
		t.Fatal("ready without the revocation list")
	}
	if _, err := e.client.CoreV1().ConfigMaps(testNS).Create(context.Background(), revokedCM(map[string]string{"j1": ""}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready once the list exists", e.auth.Ready)
	if !isRevoked(t, e.auth, "j1") {
		t.Fatal("j1 not revoked")
	}
}

func TestRevocationPrune(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(t0)
	r := newRevocationList(clk)
	r.replace(map[string]time.Time{
		"gone":      t0.Add(-time.Minute), // expired before it was loaded
		"in-grace":  t0.Add(-10 * time.Second),
		"later":     t0.Add(time.Hour),
		"unknown":   {},
		"exp-later": t0.Add(2 * time.Minute),
	}, 30*time.Second)
	steps := []struct {
		at      time.Duration
		revoked []string
	}{
		{0, []string{"exp-later", "in-grace", "later", "unknown"}},
		{21 * time.Second, []string{"exp-later", "later", "unknown"}},
		{2*time.Minute + 31*time.Second, []string{"later", "unknown"}},
		{24 * time.Hour, []string{"unknown"}},
	}
	for _, s := range steps {
		clk.SetTime(t0.Add(s.at))
		for _, jti := range []string{"gone", "in-grace", "later", "unknown", "exp-later"} {
			if got, want := r.revoked(jti), slices.Contains(s.revoked, jti); got != want {
				t.Errorf("at +%v: revoked(%s) = %v, want %v", s.at, jti, got, want)
			}
		}
		if n := r.prune(); n != len(s.revoked) {
			t.Errorf("at +%v: %d entries after prune, want %d", s.at, n, len(s.revoked))
		}
	}
}

func TestParseRevocationData(t *testing.T) {
	exp := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name         string
		data         map[string]string
		key          string
		want         map[string]time.Time
		wantProblems int
	}{
		{"keys are jtis", map[string]string{"a": "", "b": "2026-09-01T12:00:00Z", "c": "1788264000"}, "",
			map[string]time.Time{"a": {}, "b": exp, "c": exp}, 0},
		{"bad expiry keeps the entry", map[string]string{"a": "next tuesday"}, "", map[string]time.Time{"a": {}}, 1},
		{"lines", map[string]string{"list": "# comment\n\n a 1788264000\nb\n c   2026-09-01T12:00:00Z \n"}, "list",
			map[string]time.Time{"a": exp, "b": {}, "c": exp}, 0},
		{"line with extra fields", map[string]string{"list": "a 1788264000 junk"}, "list", map[string]time.Time{"a": exp}, 1},
		{"missing key keeps the last list", map[string]string{"other": "a"}, "list", nil, 1},
	}
	for _, tc := range cases {
		data := map[string][]byte{}
		for k, v := range tc.data {
			data[k] = []byte(v)
		}
		got, problems := parseRevocationData(data, tc.key)
		if (got == nil) != (tc.want == nil) || !maps.EqualFunc(got, tc.want, time.Time.Equal) || len(problems) != tc.wantProblems {
			t.Errorf("%s: got %v problems %q, want %v and %d problems", tc.name, got, problems, tc.want, tc.wantProblems)
		}
	}
}
