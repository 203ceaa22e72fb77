package manifests_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/internal/manifest"
)

// authService is the in-cluster address of the auth server's Service in
// config/default.
const authService = "keygate-auth-server.keygate-system.svc.cluster.local"

func init() {
	sampleFolderChecks["ingress-nginx"] = checkIngressNginxSamples
}

// checkIngressNginxSamples applies the Ingresses for real and checks that
// they call the auth server's Service and share one configuration
// snippet. The snippets themselves are run in real nginx by test/e2e.
func checkIngressNginxSamples(t *testing.T, dir string) {
	objs, err := manifest.ReadObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := manifest.Apply(context.Background(), env.Client, objs); err != nil {
		t.Fatal(err)
	}
	var snippet string
	servers := 0
	for _, o := range objs {
		ann := o.GetAnnotations()
		checkCheckURL(t, o.GetName(), ann["nginx.ingress.kubernetes.io/auth-url"])
		// nginx replaces only the headers it is told to copy: one left out
		// reaches the upstream as the client sent it.
		h := strings.Split(ann["nginx.ingress.kubernetes.io/auth-response-headers"], ",")
		if want := responseHeadersFor(t, ann["nginx.ingress.kubernetes.io/auth-url"]); !slices.Equal(h, want) {
			t.Errorf("Ingress %s: auth-response-headers %q, want %q", o.GetName(), h, want)
		}
		s := ann["nginx.ingress.kubernetes.io/configuration-snippet"]
		if snippet == "" {
			snippet = s
		} else if s != snippet {
			t.Errorf("Ingress %s has a configuration-snippet that differs from the first Ingress's", o.GetName())
		}
		if ann["nginx.ingress.kubernetes.io/server-snippet"] != "" {
			servers++
		}
	}
	if servers != 1 {
		t.Errorf("%d Ingresses of the host carry the server-snippet; exactly one may", servers)
	}
}

// checkCheckURL checks that a check URL points at the auth server's
// Service and /check.
func checkCheckURL(t *testing.T, name, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host != authService || !strings.HasPrefix(u.Path, "/check") {
		t.Errorf("%s: check URL %q does not point at http://%s/check", name, raw, authService)
	}
}
