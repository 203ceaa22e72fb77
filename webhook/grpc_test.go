package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// These tests call the ext_authz gRPC service over a real gRPC connection
// on loopback, as Envoy's ext_authz filter does. Envoy itself is not in
// this system's package registry, so the CheckRequests are written here in
// the shape Envoy sends (lower-case headers, path with query, source peer).

type grpcClient struct {
	authz  authv3.AuthorizationClient
	health healthpb.HealthClient
}

func (h *harness) grpc(t *testing.T) grpcClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := h.srv.NewGRPCServer()
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return grpcClient{authz: authv3.NewAuthorizationClient(conn), health: healthpb.NewHealthClient(conn)}
}

// envoyCheck is a CheckRequest as Envoy sends it for method and
// request-target, from 198.51.100.1 with X-Forwarded-For set to xff.
func envoyCheck(method, target string, ext map[string]string, hdr ...string) *authv3.CheckRequest {
	headers := map[string]string{":method": method, ":path": target, ":authority": "api.acme.example",
		"x-forwarded-for": "203.0.113.5", "x-request-id": "r-1"}
	for i := 0; i+1 < len(hdr); i += 2 {
		headers[strings.ToLower(hdr[i])] = hdr[i+1]
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 41000}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: target, Host: "api.acme.example", Scheme: "https", Protocol: "HTTP/1.1", Headers: headers}},
		ContextExtensions: ext,
	}}
}

func (c grpcClient) check(t *testing.T, req *authv3.CheckRequest) *authv3.CheckResponse {
	t.Helper()
	resp, err := c.authz.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check: the RPC failed (%v); a refusal must be a denied response, never an error", err)
	}
	return resp
}

// asHTTP turns a CheckResponse into the answer Envoy gives: for a denial
// the status, headers and body of the denied response; for an admission a
// 200 whose headers are those added upstream and downstream.
func asHTTP(t *testing.T, resp *authv3.CheckResponse) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if ok := resp.GetOkResponse(); ok != nil {
		if resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("an ok_response with gRPC status %d", resp.GetStatus().GetCode())
		}
		for _, o := range append(append([]*corev3.HeaderValueOption{}, ok.GetHeaders()...), ok.GetResponseHeadersToAdd()...) {
			if o.GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
				t.Errorf("header %s is appended, not overwritten: a client's own value would survive", o.GetHeader().GetKey())
			}
			w.Header().Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
		}
		w.WriteHeader(http.StatusOK)
		return w
	}
	denied := resp.GetDeniedResponse()
	if denied == nil {
		t.Fatalf("neither ok_response nor denied_response: %v", resp)
	}
	if c := resp.GetStatus().GetCode(); c == int32(codes.OK) {
		t.Fatalf("a denied response with gRPC status OK: Envoy would let it through")
	}
	for _, o := range denied.GetHeaders() {
		w.Header().Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	w.WriteHeader(int(denied.GetStatus().GetCode()))
	_, _ = w.WriteString(denied.GetBody())
	return w
}

// TestGRPCDecidesAsCheck: every request gets over gRPC the status, error
// code, identity and rate-limit headers that the same request gets from
// /check through Envoy's HTTP ext_authz. A request sent n times is
// compared on its last answer.
func TestGRPCDecidesAsCheck(t *testing.T) {
	tests := []struct {
		name, method, target string
		ext                  map[string]string
		hdr                  []string
		want                 string
		n                    int
	}{
		{"key in header", "POST", "/api/sdk/events", nil, []string{"X-API-Key", keySecret}, "", 1},
		{"key in the query", "GET", "/api/sdk/events?apiKey=" + keySecret, nil, nil, "", 1},
		{"unknown key", "GET", "/api/x", nil, []string{"X-API-Key", keyUnknown}, check.CodeAuthFailed, 1},
		{"disabled key", "GET", "/api/x", nil, []string{"X-API-Key", keyDisabled}, check.CodeAuthFailed, 1},
		{"no credential", "GET", "/api/x", nil, nil, check.CodeAuthFailed, 1},
		{"missing scope", "GET", "/api/x", map[string]string{"scopes": "admin"}, []string{"X-API-Key", keySecret}, check.CodeForbidden, 1},
		{"scopes held", "GET", "/api/x", map[string]string{"scopes": "read,events:write"}, []string{"X-API-Key", keySecret}, "", 1},
		{"public key refused by default", "GET", "/api/x", nil, []string{"X-API-Key", keyPublic, "Origin", "https://app.acme.com"}, check.CodeForbidden, 1},
		{"public key, allowed origin", "GET", "/api/x", map[string]string{"keyTypes": "public"}, []string{"X-API-Key", keyPublic, "Origin", "https://app.acme.com"}, "", 1},
		{"public key, foreign origin", "GET", "/api/x", map[string]string{"keyTypes": "public"}, []string{"X-API-Key", keyPublic, "Origin", "https://evil.example"}, check.CodeForbidden, 1},
		{"namespace not allowed", "GET", "/api/x", map[string]string{"namespaces": "other"}, []string{"X-API-Key", keySecret}, check.CodeAuthFailed, 1},
		{"JWT", "GET", "/admin/x", map[string]string{"auth": "jwt", "scopes": "admin"}, []string{"Authorization", "Bearer jwt-admin"}, "", 1},
		{"JWT in the cookie", "GET", "/admin/x", map[string]string{"auth": "jwt"}, []string{"Cookie", "a=b; session_token=jwt-user"}, "", 1},
		{"revoked JWT", "GET", "/admin/x", map[string]string{"auth": "jwt"}, []string{"Authorization", "Bearer jwt-revoked"}, check.CodeTokenRevoked, 1},
		{"no token", "GET", "/admin/x", map[string]string{"auth": "jwt"}, nil, check.CodeNoToken, 1},
		{"auth none", "GET", "/public", map[string]string{"auth": "none"}, nil, "", 1},
		{"seed policy", "GET", "/api/sdk/events", map[string]string{"policy": "acme/seed"}, []string{"X-API-Key", keySecret}, "", 1},
		{"missing policy", "GET", "/api/x", map[string]string{"policy": "acme/missing"}, []string{"X-API-Key", keySecret}, check.CodePolicyNotFound, 1},
		{"unknown option", "GET", "/api/x", map[string]string{"scope": "admin"}, []string{"X-API-Key", keySecret}, check.CodeInvalidOptions, 1},
		{"a client's own auth=none in the query", "GET", "/api/x?auth=none", nil, nil, check.CodeAuthFailed, 1},
		// acme/strict allows one request a minute per key under /k/: a
		// URL in the query or the path must not move the request out.
		{"path rule, URL in the query", "GET", "/k/x?next=https://a.example/", map[string]string{"policy": "acme/strict"}, []string{"X-API-Key", keySecret}, check.CodeRateLimited, 2},
		{"path rule, URL in the path", "GET", "/k/http://a.example/b", map[string]string{"policy": "acme/strict"}, []string{"X-API-Key", keySecret}, check.CodeRateLimited, 2},
		{"path rule, encoded path", "GET", "/%6B/x", map[string]string{"policy": "acme/strict"}, []string{"X-API-Key", keySecret}, check.CodeRateLimited, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, sent := compareWithCheck(t, true, tc.n, tc.method, tc.target, tc.ext, tc.hdr, "")
			if !sent {
				t.Fatal("the request could not be sent to /check")
			}
			if got != tc.want {
				t.Fatalf("both answered %q, the table says %q", got, tc.want)
			}
		})
	}
}

// compareWithCheck sends a request n times over gRPC and n times to
// /check as Envoy's HTTP ext_authz would (each on a fresh server), fails
// the test where the last answers differ, and returns the error code both
// gave ("" for an admission). sent is false when the request is not one
// Envoy's HTTP service could send. With overNetwork false the gRPC
// service is called in process (for the fuzzer).
func compareWithCheck(t *testing.T, overNetwork bool, n int, method, target string, ext map[string]string, hdr []string, body string) (errCode string, sent bool) {
	t.Helper()
	checkURL := "/check" + envoyOptionsSegment(ext) + target
	if _, err := url.ParseRequestURI(checkURL); err != nil || !strings.HasPrefix(target, "/") || !httpguts.ValidHeaderFieldName(method) ||
		strings.ContainsFunc(checkURL, func(r rune) bool { return r <= ' ' || r == 0x7f }) { // no request line holds these
		return "", false
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if !httpguts.ValidHeaderFieldName(hdr[i]) || !httpguts.ValidHeaderFieldValue(hdr[i+1]) {
			return "", false
		}
	}
	gh, h := newHarness(t), newHarness(t)
	send := func(req *authv3.CheckRequest) *authv3.CheckResponse {
		resp, err := (&grpcAuthz{s: gh.srv}).Check(context.Background(), req)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return resp
	}
	if overNetwork {
		c := gh.grpc(t)
		send = func(req *authv3.CheckRequest) *authv3.CheckResponse { return c.check(t, req) }
	}
	var viaGRPC, viaHTTP *httptest.ResponseRecorder
	for range n {
		req := envoyCheck(method, target, ext, hdr...)
		req.Attributes.Request.Http.Body = body
		viaGRPC = asHTTP(t, send(req))
		r := httptest.NewRequest(method, checkURL, strings.NewReader(body))
		r.RemoteAddr = "198.51.100.1:41000"
		r.Header.Set("X-Forwarded-For", "203.0.113.5")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		viaHTTP = h.do(r)
	}
	got, want := code(t, viaGRPC), code(t, viaHTTP)
	if got != want || viaGRPC.Code != viaHTTP.Code {
		t.Fatalf("%s %s %v: gRPC answered %d %q, /check %d %q", method, target, ext, viaGRPC.Code, got, viaHTTP.Code, want)
	}
	for _, k := range []string{"X-Auth-Subject", "X-Auth-Method", "X-Auth-Key-Id", "X-Auth-Key-Type", "X-Auth-Scopes", "WWW-Authenticate", "RateLimit", "RateLimit-Policy", "Retry-After"} {
		if g, w := viaGRPC.Header().Get(k), viaHTTP.Header().Get(k); g != w {
			t.Errorf("%s: gRPC %q, /check %q", k, g, w)
		}
	}
	if viaGRPC.Code != http.StatusOK && viaGRPC.Body.String() != viaHTTP.Body.String() {
		t.Errorf("body: gRPC %q, /check %q", viaGRPC.Body, viaHTTP.Body)
	}
	return want, true
}

// envoyOptionsSegment writes options as the ;-segment of an Envoy HTTP
// path prefix.
func envoyOptionsSegment(ext map[string]string) string {
	if len(ext) == 0 {
		return ""
	}
	return ";" + strings.ReplaceAll(mergeOptions("", ext), "%2C", ",")
}

func TestGRPCUpstreamHeaders(t *testing.T) {
	c := newHarness(t).grpc(t)
	resp := c.check(t, envoyCheck("GET", "/admin/x", map[string]string{"auth": "jwt"}, "Authorization", "Bearer jwt-admin",
		"X-Auth-Key-Id", "forged", "X-Auth-Subject", "forged"))
	ok := resp.GetOkResponse()
	set := map[string]string{}
	for _, o := range ok.GetHeaders() {
		set[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	if set["x-auth-subject"] != "alice" || set["x-auth-method"] != "jwt" || set["x-auth-scopes"] != "read admin" {
		t.Fatalf("upstream headers %v", set)
	}
	// A JWT has no key id or key type: a client's own must not pass.
	if rm := ok.GetHeadersToRemove(); len(rm) != 2 || rm[0] != "x-auth-key-id" || rm[1] != "x-auth-key-type" {
		t.Fatalf("headers_to_remove = %v, want x-auth-key-id and x-auth-key-type", rm)
	}
	if len(ok.GetResponseHeadersToAdd()) != 0 {
		t.Errorf("no rate-limit rule counted, yet response headers %v", ok.GetResponseHeadersToAdd())
	}
	resp = c.check(t, envoyCheck("GET", "/public", map[string]string{"auth": "none"}, "X-Auth-Subject", "forged"))
	if rm := resp.GetOkResponse().GetHeadersToRemove(); len(rm) != len(check.UpstreamHeaders) {
		t.Fatalf("auth=none removes %v, want every identity header", rm)
	}
}

// The strict policy counts 2 a minute per client IP, read from
// X-Forwarded-For with one trusted hop as for /check.
func TestGRPCRateLimit(t *testing.T) {
	c := newHarness(t).grpc(t)
	ext := map[string]string{"policy": "acme/strict", "auth": "none"}
	for i := range 2 {
		resp := c.check(t, envoyCheck("GET", "/x", ext))
		w := asHTTP(t, resp)
		if w.Code != http.StatusOK || w.Header().Get("RateLimit-Policy") == "" || w.Header().Get("RateLimit") == "" {
			t.Fatalf("request %d: %d, RateLimit-Policy %q, RateLimit %q", i+1, w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"))
		}
	}
	// A client prepending its own X-Forwarded-For entry is still counted
	// by the entry Envoy wrote.
	spoofed := envoyCheck("GET", "/x", ext, "X-Forwarded-For", "9.9.9.9, 203.0.113.5")
	if got := code(t, asHTTP(t, c.check(t, spoofed))); got != check.CodeRateLimited {
		t.Fatalf("a spoofed X-Forwarded-For escaped the limit: %q", got)
	}
	// A client asking for ingress-nginx's 403 shape gets the real 429.
	resp := c.check(t, envoyCheck("GET", "/x", ext, "X-Sent-From", "nginx-ingress-controller"))
	w := asHTTP(t, resp)
	if code(t, w) != check.CodeRateLimited || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" ||
		resp.GetStatus().GetCode() != int32(codes.ResourceExhausted) {
		t.Fatalf("third request: %d %s, Retry-After %q, gRPC code %d", w.Code, w.Body, w.Header().Get("Retry-After"), resp.GetStatus().GetCode())
	}
	other := envoyCheck("GET", "/x", ext, "X-Forwarded-For", "203.0.113.6")
	if w := asHTTP(t, c.check(t, other)); w.Code != http.StatusOK {
		t.Fatalf("another client IP was limited too: %d %s", w.Code, w.Body)
	}
}

func TestGRPCRequestShapes(t *testing.T) {
	c := newHarness(t).grpc(t)
	body := envoyCheck("POST", "/api/sdk/events", nil, "Content-Type", "text/plain")
	body.Attributes.Request.Http.Body = `{"_apiKey":"` + keySecret + `"}`
	if w := asHTTP(t, c.check(t, body)); w.Code != http.StatusOK {
		t.Errorf("key in the forwarded body: %d %s", w.Code, w.Body)
	}
	raw := envoyCheck("POST", "/api/sdk/events", nil)
	raw.Attributes.Request.Http.RawBody = []byte(`{"_apiKey":"` + keySecret + `"}`)
	if w := asHTTP(t, c.check(t, raw)); w.Code != http.StatusOK {
		t.Errorf("key in a body packed as bytes: %d %s", w.Code, w.Body)
	}
	// encode_raw_headers: a list instead of the map.
	enc := envoyCheck("GET", "/api/x", nil)
	enc.Attributes.Request.Http.Headers = nil
	enc.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":path", RawValue: []byte("/api/x")}, {Key: "x-api-key", Value: keyUnknown, RawValue: []byte(keySecret)}}}
	if w := asHTTP(t, c.check(t, enc)); w.Code != http.StatusOK {
		t.Errorf("raw headers (raw_value wins over value): %d %s", w.Code, w.Body)
	}
	big := envoyCheck("POST", "/api/sdk/events", nil, "X-API-Key", keySecret)
	big.Attributes.Request.Http.Body = strings.Repeat("x", 1<<20)
	if w := asHTTP(t, c.check(t, big)); w.Code != http.StatusOK {
		t.Errorf("a 1 MiB body, past --max-body-bytes, with a valid key: %d %s", w.Code, w.Body)
	}
	empty := &authv3.CheckRequest{}
	if w := asHTTP(t, c.check(t, empty)); code(t, w) != check.CodeBadRequest {
		t.Errorf("an empty CheckRequest: %d %s", w.Code, w.Body)
	}
}

func TestGRPCDefaultOptions(t *testing.T) {
	c := newHarness(t, func(cfg *Config) { cfg.GRPCOptions = "scopes=admin" }).grpc(t)
	tests := []struct {
		ext  map[string]string
		want string
	}{
		{nil, check.CodeForbidden},                                      // --grpc-options applies
		{map[string]string{"policy": "acme/seed"}, check.CodeForbidden}, // a route's other options keep it
		{map[string]string{"scopes": "read"}, ""},                       // a route's own scopes replace it
		{map[string]string{"auth": "none"}, check.CodeInvalidOptions},   // merged, scopes with auth=none
		{map[string]string{"scopes": "read", "keyTypes": "nope"}, check.CodeInvalidOptions},
	}
	for _, tc := range tests {
		if got := code(t, asHTTP(t, c.check(t, envoyCheck("GET", "/api/sdk/events", tc.ext, "X-API-Key", keySecret)))); got != tc.want {
			t.Errorf("--grpc-options scopes=admin, context_extensions %v: %q, want %q", tc.ext, got, tc.want)
		}
	}
	if err := CheckOptions("scope=admin"); err == nil {
		t.Error("CheckOptions accepted an unknown option")
	}
	// A --grpc-options that cannot be parsed is reported, never dropped.
	bad := newHarness(t, func(cfg *Config) { cfg.GRPCOptions = "scopes=%zz" }).grpc(t)
	for _, ext := range []map[string]string{nil, {"policy": "acme/seed"}} {
		if got := code(t, asHTTP(t, bad.check(t, envoyCheck("GET", "/x", ext, "X-API-Key", keySecret)))); got != check.CodeInvalidOptions {
			t.Errorf("an unparsable --grpc-options with context_extensions %v: %q", ext, got)
		}
	}
}

// panicLimiter stands in for a limiter with a bug.
type panicLimiter struct{}

func (panicLimiter) Check(context.Context, ratelimit.Stage, []*ratelimit.Policy, *ratelimit.Request) (ratelimit.Decision, error) {
	panic("limiter bug")
}

func TestGRPCPanicIsADenial(t *testing.T) {
	c := newHarness(t, func(cfg *Config) { cfg.Limiter = panicLimiter{} }).grpc(t)
	resp := c.check(t, envoyCheck("GET", "/api/x", map[string]string{"policy": "acme/seed"}, "X-API-Key", keySecret))
	if w := asHTTP(t, resp); w.Code != http.StatusInternalServerError || code(t, w) != check.CodeInternal {
		t.Fatalf("a panic while deciding: %d %s", w.Code, w.Body)
	}
	if w := asHTTP(t, c.check(t, envoyCheck("GET", "/api/x", nil, "X-API-Key", keySecret))); w.Code != http.StatusOK {
		t.Fatalf("the server after a panic: %d %s", w.Code, w.Body)
	}
}

// With --trusted-hops 0 the client IP is Envoy's source address; without
// one, the gRPC peer (Envoy itself): counted, never unlimited.
func TestGRPCClientIP(t *testing.T) {
	c := newHarness(t, func(cfg *Config) { cfg.TrustedHops = 0 }).grpc(t)
	ext := map[string]string{"policy": "acme/strict", "auth": "none"}
	from := func(addr string) *authv3.CheckRequest {
		req := envoyCheck("GET", "/x", ext, "X-Forwarded-For", "192.0.2."+addr)
		if addr == "" {
			req.Attributes.Source = nil
		} else {
			req.Attributes.Source.Address.GetSocketAddress().Address = "198.51.100." + addr
		}
		return req
	}
	for _, addr := range []string{"1", "1", "2", "", ""} {
		if w := asHTTP(t, c.check(t, from(addr))); w.Code != http.StatusOK {
			t.Fatalf("source %q within its limit: %d %s", addr, w.Code, w.Body)
		}
	}
	for _, addr := range []string{"1", ""} {
		if got := code(t, asHTTP(t, c.check(t, from(addr)))); got != check.CodeRateLimited {
			t.Errorf("source %q over its limit: %q", addr, got)
		}
	}
}

func TestGRPCNotReady(t *testing.T) {
	h := newHarness(t)
	c := h.grpc(t)
	h.srv.MarkSynced(func() bool { return false })
	resp := c.check(t, envoyCheck("GET", "/api/x", nil, "X-API-Key", keySecret))
	if w := asHTTP(t, resp); code(t, w) != check.CodeNotReady || w.Code != http.StatusServiceUnavailable {
		t.Fatalf("before sync: %d %s", w.Code, w.Body)
	}
	hc, err := c.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health before sync: %v %v", hc, err)
	}
	h.srv.MarkSynced(func() bool { return true })
	hc, err = c.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: authorizationService})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after sync: %v %v", hc, err)
	}
	if _, err := c.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "other"}); status.Code(err) != codes.NotFound {
		t.Fatalf("health of an unknown service: %v", err)
	}
}

func TestServeGRPCStopsWithTheContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeGRPC(ctx, l, newHarness(t).srv.NewGRPCServer()) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), envoyCheck("GET", "/", nil)); err != nil {
		t.Fatalf("serving: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeGRPC after the context ended: %v", err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("still listening after shutdown")
	}
}
