package manifests_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/internal/manifest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
)

// Traefik's and Envoy Gateway's CRDs are not installed in envtest (and
// not vendored here), so their samples are checked for what keygate
// depends on: that they call the auth server's Service at /check and pass
// the credentials and the identity headers.
func init() {
	sampleFolderChecks["traefik"] = checkTraefikSamples
	sampleFolderChecks["envoy-gateway"] = checkEnvoyGatewaySamples
	sampleFolderChecks["jwt"] = checkJWTSamples
}

// identityHeaders are every header the auth server sets or clears: a proxy
// that does not replace one lets a client's own value through.
var identityHeaders = check.UpstreamHeaders[:]

// responseHeadersFor is what a proxy must copy from the answer to a check
// URL: the identity headers, and with hide=true the credentials too (the
// answer clears them). Without hide the answer has no credential headers,
// so copying them would strip every request's Authorization and cookies.
func responseHeadersFor(t *testing.T, checkURL string) []string {
	t.Helper()
	u, err := url.Parse(checkURL)
	if err != nil {
		t.Fatalf("check URL %q: %v", checkURL, err)
	}
	if u.Query().Get("hide") == "true" {
		return append(slices.Clone(identityHeaders), "X-API-Key", "Authorization", "Cookie")
	}
	return identityHeaders
}

func stringSlice(o *unstructuredT, path ...string) []string {
	s, _, _ := unstructured.NestedStringSlice(o.Object, path...)
	return s
}

func checkTraefikSamples(t *testing.T, dir string) {
	objs, err := manifest.ReadObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keygate", "keygate-hide"} {
		m := find(t, objs, "Middleware", name)
		addr := str(m, "spec", "forwardAuth", "address")
		checkCheckURL(t, "Middleware "+name, addr)
		if got, want := stringSlice(m, "spec", "forwardAuth", "authResponseHeaders"), responseHeadersFor(t, addr); !slices.Equal(got, want) {
			t.Errorf("Middleware %s: authResponseHeaders = %v, want %v", name, got, want)
		}
	}
	mw := find(t, objs, "Middleware", "keygate")
	route := find(t, objs, "IngressRoute", "acme-api")
	routes, _, _ := unstructured.NestedSlice(route.Object, "spec", "routes")
	for _, r := range routes {
		mws, _, _ := unstructured.NestedSlice(r.(map[string]any), "middlewares")
		if len(mws) != 1 || mws[0].(map[string]any)["name"] != mw.GetName() {
			t.Errorf("a route of IngressRoute acme-api does not use the Middleware %s: %v", mw.GetName(), mws)
		}
	}
}

func checkEnvoyGatewaySamples(t *testing.T, dir string) {
	objs, err := manifest.ReadObjects(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp := find(t, objs, "SecurityPolicy", "keygate")
	refs, _, _ := unstructured.NestedSlice(sp.Object, "spec", "extAuth", "http", "backendRefs")
	svc := find(t, build(t, repoPath("config", "default")), "Service", "keygate-auth-server")
	if len(refs) != 1 || refs[0].(map[string]any)["name"] != svc.GetName() ||
		refs[0].(map[string]any)["namespace"] != svc.GetNamespace() || refs[0].(map[string]any)["port"] != int64(80) {
		t.Errorf("backendRefs %v do not name the Service %s/%s port 80", refs, svc.GetNamespace(), svc.GetName())
	}
	if p := str(sp, "spec", "extAuth", "http", "path"); !strings.HasPrefix(p, "/check") {
		t.Errorf("extAuth path %q does not start with /check", p)
	}
	// Without X-Forwarded-For the auth server sees Envoy as the client:
	// every client would share one by: ip bucket.
	for _, h := range []string{"Authorization", "Cookie", "X-API-Key", "Origin", "X-Forwarded-For"} {
		if !slices.Contains(stringSlice(sp, "spec", "extAuth", "headersToExtAuth"), h) {
			t.Errorf("headersToExtAuth lacks %s: Envoy would not send it to the auth server", h)
		}
	}
	if got := stringSlice(sp, "spec", "extAuth", "http", "headersToBackend"); !slices.Equal(got, identityHeaders) {
		t.Errorf("headersToBackend = %v, want %v", got, identityHeaders)
	}
	grant := find(t, objs, "ReferenceGrant", "acme-ext-auth")
	if grant.GetNamespace() != svc.GetNamespace() {
		t.Errorf("the ReferenceGrant must be in the Service's namespace %s", svc.GetNamespace())
	}
}

// checkJWTSamples parses every sample JWT config with the auth server's
// own parser (strict: unknown fields are errors).
func checkJWTSamples(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no JWT config samples")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwtauth.ParseConfig(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
