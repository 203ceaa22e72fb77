package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// keyName is a name for an ApiKey of one scenario, one provider and one
// setup, in the samples' namespace.
func (r *traefikRun) keyName(base string) string {
	return fmt.Sprintf("%s-%s-%d", base, r.proxy.name, r.f.run)
}

func traefikRotation(t *testing.T, r *traefikRun) {
	const grace = 4 * time.Second
	s, name := r.f.s, r.keyName("rotating")
	ak, old := s.generatedKey(t, sampleNS, name, keygatev1alpha1.ApiKeySpec{
		Subject: "acme", Rotation: &keygatev1alpha1.Rotation{Every: metav1.Duration{Duration: time.Hour}, GracePeriod: metav1.Duration{Duration: grace}}})
	patch := client.MergeFrom(ak.DeepCopy())
	ak.Annotations = map[string]string{keygatev1alpha1.AnnotationRotate: "1"}
	if err := s.env.Client.Patch(context.Background(), ak, patch); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	key := s.waitDelivered(t, sampleNS, name, old)
	s.waitAccepted(t, key, nil)
	r.pass(t, traefikURI("/api/"), hdr("X-API-Key", key))
	r.pass(t, traefikURI("/api/"), hdr("X-API-Key", old))
	poll(t, grace+5*time.Second, 200*time.Millisecond, "old key refused after the grace period", func() bool {
		resp, _ := r.get(t, traefikURI("/api/"), hdr("X-API-Key", old))
		return resp.StatusCode == http.StatusUnauthorized
	})
	if d := time.Since(rotated); d < grace-time.Second {
		t.Errorf("the old key stopped working %s after the rotation, before its grace of %s", d, grace)
	}
	r.pass(t, traefikURI("/api/"), hdr("X-API-Key", key))
}

func traefikDisable(t *testing.T, r *traefikRun) {
	s, name := r.f.s, r.keyName("to-disable")
	ak, key := s.generatedKey(t, sampleNS, name, keygatev1alpha1.ApiKeySpec{Subject: "acme"})
	r.pass(t, traefikURI("/api/"), hdr("X-API-Key", key))
	patch := client.MergeFrom(ak.DeepCopy())
	ak.Spec.Disabled = true
	if err := s.env.Client.Patch(context.Background(), ak, patch); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	poll(t, 2*time.Second, 50*time.Millisecond, "disabled key refused through Traefik", func() bool {
		resp, _ := r.get(t, traefikURI("/api/"), hdr("X-API-Key", key))
		return resp.StatusCode == http.StatusUnauthorized
	})
	t.Logf("disabled key refused %s after the patch", time.Since(start).Round(time.Millisecond))
	r.refuse(t, sampleHost, traefikURI("/api/"), hdr("X-API-Key", key), 401, "AUTH_FAILED")
}

// traefikHide sends credentials to the SDK route, whose check URL says
// hide=true and whose proxy copies X-API-Key, Authorization and Cookie from
// keygate's answer: the upstream gets the identity and the other cookies,
// and no header that holds the key or the token.
func traefikHide(t *testing.T, r *traefikRun) {
	cases := []struct {
		name, secret string
		h            http.Header
		method       string
		cookie       []string // the Cookie lines the upstream may get
	}{
		{"API key in X-API-Key", r.f.sdkKey, hdr("X-API-Key", r.f.sdkKey, "Cookie", "theme=dark"), "apikey", []string{"theme=dark"}},
		{"JWT in Authorization", r.f.admin, hdr("Authorization", "Bearer "+r.f.admin, "Cookie", "session_token="+r.f.admin+"; theme=dark"), "jwt", []string{"theme=dark"}},
		{"JWT in the only cookie", r.f.admin, hdr("Cookie", "session_token="+r.f.admin), "jwt", nil},
		{"session_token in two Cookie lines", r.f.admin,
			hdr("Cookie", "session_token="+r.f.admin, "Cookie", "theme=dark; session_token="+r.f.admin+"; lang=en"), "jwt", []string{"theme=dark; lang=en"}},
	}
	for _, c := range cases {
		got := r.pass(t, traefikURI("/api/sdk/"), c.h)
		if got.Get("X-Auth-Method") != c.method || got.Get("X-Auth-Subject") == "" {
			t.Errorf("%s: upstream got X-Auth-Method %q X-Auth-Subject %q", c.name, got.Get("X-Auth-Method"), got.Get("X-Auth-Subject"))
		}
		for k, vs := range got {
			for _, v := range vs {
				if strings.Contains(v, c.secret) {
					t.Errorf("%s: the upstream got the credential in %s", c.name, k)
				}
			}
		}
		if v := got.Values("Cookie"); strings.Join(v, "; ") != strings.Join(c.cookie, "; ") {
			t.Errorf("%s: upstream got Cookie %q, want %q", c.name, strings.ReplaceAll(strings.Join(v, " | "), c.secret, "<credential>"), c.cookie)
		}
		if v := got.Values("X-Api-Key"); len(v) != 0 {
			t.Errorf("%s: upstream got X-API-Key (%d values)", c.name, len(v))
		}
		if v := got.Values("Authorization"); len(v) != 0 {
			t.Errorf("%s: upstream got Authorization (%d values)", c.name, len(v))
		}
	}
}
