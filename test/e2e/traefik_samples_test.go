package e2e_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/keygate-dev/keygate/internal/manifest"
	"github.com/keygate-dev/keygate/test/testenv"
)

// What the samples point at in a cluster, and what the Traefik suite
// rewrites: only addresses and ports.
const (
	sampleAuthHost = "keygate-auth-server.keygate-system.svc.cluster.local"
	sampleHost     = "api.acme.example"
	sampleNS       = "acme"
	sampleService  = "acme-api"
)

// sampleTarget is where one copy of the proxy samples points.
type sampleTarget struct {
	namespace string // sampleNS, or another for a second copy
	host      string // the host clients ask for
	auth      string // host:port of the auth server
	port      int64  // the upstream's port
}

// readSamples reads config/samples/<folder>.
func readSamples(t *testing.T, folder string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.ReadObjects(filepath.Join(testenv.RepoRoot(), "config", "samples", folder))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// rewriteSamples returns copies of the Ingresses, Middlewares and
// IngressRoutes of objs pointing at tg: the check URL's host (the auth
// server's Service) becomes tg.auth, the backend port the upstream's, and,
// for a second copy, the namespace and the host. Everything else is the
// sample's.
func rewriteSamples(t *testing.T, objs []*unstructured.Unstructured, tg sampleTarget) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		o = o.DeepCopy()
		if o.GetNamespace() != sampleNS {
			t.Fatalf("sample %s is not in namespace %s", manifest.Describe(o), sampleNS)
		}
		o.SetNamespace(tg.namespace)
		switch o.GetKind() {
		case "Ingress":
			ann := o.GetAnnotations()
			ann[annAuthURL] = checkURLAt(t, ann[annAuthURL], tg.auth)
			o.SetAnnotations(ann)
			rewriteIngressRules(t, o, tg)
		case "Middleware":
			addr, _, _ := unstructured.NestedString(o.Object, "spec", "forwardAuth", "address")
			must(t, unstructured.SetNestedField(o.Object, checkURLAt(t, addr, tg.auth), "spec", "forwardAuth", "address"))
		case "IngressRoute":
			rewriteIngressRoute(t, o, tg)
		default:
			t.Fatalf("no rewrite for the sample %s", manifest.Describe(o))
		}
		out = append(out, o)
	}
	return out
}

// checkURLAt is the sample's check URL with the auth server at addr.
func checkURLAt(t *testing.T, raw, addr string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host != sampleAuthHost {
		t.Fatalf("check URL %q of a sample does not point at %s", raw, sampleAuthHost)
	}
	u.Host = addr
	return u.String()
}

func rewriteIngressRules(t *testing.T, o *unstructured.Unstructured, tg sampleTarget) {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
	for _, r := range rules {
		rule := r.(map[string]any)
		if rule["host"] != sampleHost {
			t.Fatalf("Ingress %s: a rule is for host %v, not %s", o.GetName(), rule["host"], sampleHost)
		}
		rule["host"] = tg.host
		paths, _, _ := unstructured.NestedSlice(rule, "http", "paths")
		for _, p := range paths {
			must(t, unstructured.SetNestedField(p.(map[string]any), tg.port, "backend", "service", "port", "number"))
		}
		must(t, unstructured.SetNestedSlice(rule, paths, "http", "paths"))
	}
	must(t, unstructured.SetNestedSlice(o.Object, rules, "spec", "rules"))
}

func rewriteIngressRoute(t *testing.T, o *unstructured.Unstructured, tg sampleTarget) {
	t.Helper()
	routes, _, _ := unstructured.NestedSlice(o.Object, "spec", "routes")
	for _, r := range routes {
		route := r.(map[string]any)
		match := route["match"].(string)
		if !strings.Contains(match, "Host(`"+sampleHost+"`)") {
			t.Fatalf("IngressRoute %s: match %q is not for host %s", o.GetName(), match, sampleHost)
		}
		route["match"] = strings.ReplaceAll(match, "Host(`"+sampleHost+"`)", "Host(`"+tg.host+"`)")
		services, _, _ := unstructured.NestedSlice(route, "services")
		for _, s := range services {
			s.(map[string]any)["port"] = tg.port
		}
		must(t, unstructured.SetNestedSlice(route, services, "services"))
	}
	must(t, unstructured.SetNestedSlice(o.Object, routes, "spec", "routes"))
}

// upstreamService is the Service the samples route to: an ExternalName
// Service to localhost, because an EndpointSlice may not hold a loopback
// address.
func upstreamService(ns string, port int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": sampleService, "namespace": ns},
		"spec": map[string]any{
			"type": "ExternalName", "externalName": "localhost",
			"ports": []any{map[string]any{"name": "http", "port": port}},
		},
	}}
}

// applyObjects applies objects server-side.
func applyObjects(t *testing.T, s *stack, objs ...*unstructured.Unstructured) {
	t.Helper()
	if err := manifest.Apply(context.Background(), s.env.Client, objs); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
