package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/devenv"
)

// Envoy is in none of the registries this project can reach, so these tests
// send the requests that Envoy's ext_authz filter (HTTP and gRPC services)
// sends, with a Go client: they are not a real Envoy. They check that the
// auth server answers as Envoy passes answers on: status, headers and body
// unchanged, a 429 as a real 429. The Traefik-shaped requests here stay as a
// quick check of ForwardAuth's request shape; real Traefik runs in
// traefik_*.go.

type proxyFixture struct {
	s    *stack
	ns   string
	key  string
	grpc authv3.AuthorizationClient
}

func setupProxies(t *testing.T, proxiesNS string) *proxyFixture {
	s := getStack(t)
	proxiesNS = s.namespace(t, proxiesNS)
	_, key := s.generatedKey(t, proxiesNS, "sdk", keygatev1alpha1.ApiKeySpec{Subject: "acme", Scopes: []string{"events:write"}})
	s.waitPolicy(t, &keygatev1alpha1.RateLimitPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "tight", Namespace: proxiesNS},
		Spec: keygatev1alpha1.RateLimitPolicySpec{Rules: []keygatev1alpha1.RateLimitRule{{
			Name: "sdk", Limit: 2, Period: metav1.Duration{Duration: time.Minute}, By: "apiKey",
			Match: &keygatev1alpha1.RequestMatch{PathPrefixes: []string{"/api/sdk/"}},
		}}},
	})
	return &proxyFixture{s: s, ns: proxiesNS, key: key}
}

// traefik sends what ForwardAuth sends: the client's method is kept, the
// original request is in X-Forwarded-*, and the client's headers are
// copied.
func (f *proxyFixture) traefik(t *testing.T, query, method, uri string, client http.Header) (*http.Response, string) {
	h := client.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-Method", method)
	h.Set("X-Forwarded-Proto", "https")
	h.Set("X-Forwarded-Host", "api.acme.example")
	h.Set("X-Forwarded-Uri", uri)
	h.Set("X-Forwarded-For", "203.0.113.7")
	return get(t, method, f.s.authURL+"/check"+query, h)
}

// envoy sends what ext_authz (HTTP service) sends: the original method and
// path appended to the path_prefix, the allowed client headers, and the
// address Envoy saw in X-Forwarded-For.
func (f *proxyFixture) envoy(t *testing.T, prefix, method, uri string, client http.Header) (*http.Response, string) {
	h := client.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Forwarded-For", "203.0.113.8")
	h.Set("X-Envoy-Expected-Rq-Timeout-Ms", "200")
	return get(t, method, f.s.authURL+prefix+uri, h)
}

func TestTraefikForwardAuthShaped(t *testing.T) {
	f := setupProxies(t, "e2e-traefik")
	resp, body := f.traefik(t, "", http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("X-Auth-Subject") != "acme" {
		t.Fatalf("valid key: %d %q subject %q", resp.StatusCode, body, resp.Header.Get("X-Auth-Subject"))
	}
	resp, body = f.traefik(t, "", http.MethodGet, "/api/sdk/config?apiKey="+f.key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key in the query of X-Forwarded-Uri: %d %q", resp.StatusCode, body)
	}
	resp, body = f.traefik(t, "", http.MethodGet, "/api/sdk/events", hdr("X-API-Key", "sk_"+repeat("1", 64)))
	expectRefused(t, resp, body, 401, "AUTH_FAILED")
	resp, body = f.traefik(t, "?scopes=admin", http.MethodGet, "/api/", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 403, "FORBIDDEN")

	q := "?policy=" + f.ns + "/tight"
	for range 2 {
		if resp, body = f.traefik(t, q, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d %q", resp.StatusCode, body)
		}
	}
	resp, body = f.traefik(t, q, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 429, "RATE_LIMITED")
	// Another path is not matched by the rule.
	if resp, _ = f.traefik(t, q, http.MethodGet, "/api/other", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
		t.Errorf("a path outside the rule's match was refused: %d", resp.StatusCode)
	}
}

func TestEnvoyExtAuthzShaped(t *testing.T) {
	f := setupProxies(t, "e2e-envoy")
	resp, body := f.envoy(t, "/check", http.MethodPost, "/api/sdk/batch", hdr("X-API-Key", f.key))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Subject") != "acme" {
		t.Fatalf("valid key: %d %q subject %q", resp.StatusCode, body, resp.Header.Get("X-Auth-Subject"))
	}
	resp, body = f.envoy(t, "/check", http.MethodGet, "/api/sdk/config?apiKey="+f.key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("key in the original query: %d %q", resp.StatusCode, body)
	}
	resp, body = f.envoy(t, "/check", http.MethodGet, "/api/sdk/events", nil)
	expectRefused(t, resp, body, 401, "AUTH_FAILED")
	resp, body = f.envoy(t, "/check;scopes=admin", http.MethodGet, "/api/", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 403, "FORBIDDEN")

	// In a path segment, the / of namespace/name is written %2F.
	prefix := "/check;policy=" + f.ns + "%2Ftight"
	for range 2 {
		if resp, body = f.envoy(t, prefix, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d %q", resp.StatusCode, body)
		}
	}
	resp, body = f.envoy(t, prefix, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 429, "RATE_LIMITED")
}

// envoyGRPC sends what Envoy's ext_authz filter sends to a gRPC service:
// a CheckRequest with the original method, request-target and headers, the
// downstream peer, and the route's context_extensions as options. Its
// answer is turned into what Envoy gives the client (a denial) or the
// upstream (an admission's headers).
func (f *proxyFixture) envoyGRPC(t *testing.T, ext map[string]string, method, target string, client http.Header) (*http.Response, string, *authv3.CheckResponse) {
	t.Helper()
	headers := map[string]string{":method": method, ":path": target, ":authority": "api.acme.example", "x-forwarded-for": "203.0.113.9"}
	for k, v := range client {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 50000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: target, Host: "api.acme.example", Scheme: "https", Headers: headers}},
		ContextExtensions: ext,
	}}
	resp, err := f.grpc.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("ext_authz Check failed as an RPC: %v", err)
	}
	out := &http.Response{Header: http.Header{}}
	if ok := resp.GetOkResponse(); ok != nil && resp.GetStatus().GetCode() == int32(codes.OK) {
		out.StatusCode = http.StatusOK
		for _, o := range append(ok.GetHeaders(), ok.GetResponseHeadersToAdd()...) {
			out.Header.Set(o.GetHeader().GetKey(), o.GetHeader().GetValue())
		}
		return out, "", resp
	}
	d := resp.GetDeniedResponse()
	if d == nil || resp.GetStatus().GetCode() == int32(codes.OK) {
		t.Fatalf("neither an admission nor a denial: %v", resp)
	}
	out.StatusCode = int(d.GetStatus().GetCode())
	for _, o := range d.GetHeaders() {
		out.Header.Set(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	return out, d.GetBody(), resp
}

func TestEnvoyExtAuthzGRPC(t *testing.T) {
	f := setupProxies(t, "e2e-envoy-grpc")
	conn, err := grpc.NewClient(f.s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f.grpc = authv3.NewAuthorizationClient(conn)

	resp, body, _ := f.envoyGRPC(t, nil, http.MethodPost, "/api/sdk/batch", hdr("X-API-Key", f.key))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Subject") != "acme" || resp.Header.Get("X-Auth-Method") != "apikey" {
		t.Fatalf("valid key: %d %q, upstream headers %v", resp.StatusCode, body, resp.Header)
	}
	if resp, body, _ = f.envoyGRPC(t, nil, http.MethodGet, "/api/sdk/config?apiKey="+f.key, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("key in the original query: %d %q", resp.StatusCode, body)
	}
	resp, body, _ = f.envoyGRPC(t, nil, http.MethodGet, "/api/sdk/events", nil)
	expectRefused(t, resp, body, 401, "AUTH_FAILED")
	resp, body, _ = f.envoyGRPC(t, map[string]string{"scopes": "admin"}, http.MethodGet, "/api/", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 403, "FORBIDDEN")

	token, err := devenv.SignDevJWT(f.s.hmac, "dev-admin", []string{"admin"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, body, raw := f.envoyGRPC(t, map[string]string{"auth": "jwt", "scopes": "admin"}, http.MethodDelete, "/admin/users/1",
		hdr("Authorization", "Bearer "+token, "X-Auth-Key-Id", "forged"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Subject") != "dev-admin" ||
		!slices.Contains(raw.GetOkResponse().GetHeadersToRemove(), "x-auth-key-id") {
		t.Fatalf("JWT: %d %q, upstream headers %v, removed %v", resp.StatusCode, body, resp.Header, raw.GetOkResponse().GetHeadersToRemove())
	}

	ext := map[string]string{"policy": f.ns + "/tight"}
	for range 2 {
		if resp, body, _ = f.envoyGRPC(t, ext, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key)); resp.StatusCode != 200 {
			t.Fatalf("within the limit: %d %q", resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Policy") == "" {
			t.Fatalf("no RateLimit-Policy for the client: %v", resp.Header)
		}
	}
	resp, body, _ = f.envoyGRPC(t, ext, http.MethodPost, "/api/sdk/events", hdr("X-API-Key", f.key))
	expectRefused(t, resp, body, 429, "RATE_LIMITED")
}
