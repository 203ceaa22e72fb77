package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/go-logr/logr"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/keygate-dev/keygate/webhook/check"
)

// Envoy's ext_authz over gRPC (envoy.service.auth.v3.Authorization). The
// CheckRequest carries what Envoy's HTTP ext_authz would send, as fields:
// the method, the request-target (path and query), the headers, the body
// when with_request_body is set, and the downstream peer. It is decided by
// the same code as /check and answered with the same status, headers and
// JSON body, as an OkHttpResponse or a DeniedHttpResponse.
//
// Options: --grpc-options, with each option the route's context_extensions
// set (auth, scopes, keyTypes, namespaces, policy, hide) replacing that one
// option. Like the check URL, they come from the proxy's or the server's
// configuration, never from the client. Unknown keys are INVALID_OPTIONS.
//
// Client IP: Envoy's source address stands for the TCP peer, and
// X-Forwarded-For is read with --trusted-hops exactly as for /check.

// grpcAuthz serves Authorization.Check from a Server.
type grpcAuthz struct {
	authv3.UnimplementedAuthorizationServer
	s *Server
}

// grpcHealth serves grpc.health.v1.Health.Check from a Server.
type grpcHealth struct {
	healthpb.UnimplementedHealthServer
	s *Server
}

// NewGRPCServer makes a gRPC server that answers Envoy's ext_authz Check
// and the gRPC health check (SERVING once /readyz would say ok) from s.
func (s *Server) NewGRPCServer() *grpc.Server {
	g := grpc.NewServer(
		grpc.MaxRecvMsgSize(grpcMaxMessage),
		grpc.ConnectionTimeout(readHeaderTimeout),
		grpc.UnaryInterceptor(s.recoverCheck),
	)
	authv3.RegisterAuthorizationServer(g, &grpcAuthz{s: s})
	healthpb.RegisterHealthServer(g, &grpcHealth{s: s})
	return g
}

// grpcMaxMessage bounds a CheckRequest. A larger one is an RPC error,
// which Envoy answers per its failure_mode_allow, so the bound is far
// above what Envoy forwards with its defaults; a body larger than
// --max-body-bytes inside it is ignored, as over HTTP.
const grpcMaxMessage = 16 << 20

// recoverCheck turns a panic while deciding into a denied 500: grpc-go,
// unlike net/http, would let it end the process, and an RPC error could
// be an admission under failure_mode_allow.
func (s *Server) recoverCheck(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Log.Error(fmt.Errorf("panic: %T", p), "a gRPC call failed", "method", info.FullMethod, "stack", string(debug.Stack()))
			if info.FullMethod != authv3.Authorization_Check_FullMethodName {
				resp, err = nil, status.Error(codes.Internal, "internal error")
				return
			}
			v := check.Refused(check.RefInternal, check.DefaultOptions)
			s.metrics.observe(&v, nil, time.Now())
			resp, err = checkResponse(&v), nil
		}
	}()
	return handler(ctx, req)
}

// Check answers one ext_authz request. It never returns an error: every
// refusal, including a request it cannot read, is a DeniedHttpResponse, so
// that Envoy's failure_mode_allow can never turn it into an admission.
func (a *grpcAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	orig := check.Request{At: time.Now()}
	v := a.decide(ctx, req, &orig)
	resp := checkResponse(&v)
	a.s.metrics.observe(&v, &orig, orig.At)
	return resp, nil
}

// decide reads the original request into r (empty when the check is
// refused before that; its At is kept) and decides.
func (a *grpcAuthz) decide(ctx context.Context, req *authv3.CheckRequest, r *check.Request) check.Verdict {
	s := a.s
	if !s.Ready() {
		return check.Refused(check.RefNotReady, check.DefaultOptions)
	}
	o := s.options.Get(mergeOptions(s.cfg.GRPCOptions, req.GetAttributes().GetContextExtensions()))
	at := r.At
	var err error
	*r, err = grpcOriginal(ctx, req)
	r.At = at
	if err != nil {
		return check.Refused(check.BadRequest(check.CodeBadRequest, err.Error()), o)
	}
	if o.Err() != nil {
		return check.Refused(check.BadRequest(check.CodeInvalidOptions, o.Err().Error()), o)
	}
	return s.decider.Decide(ctx, o, r)
}

// grpcOriginal reads the original request of a CheckRequest. Envoy passes
// every status through, so the ingress-nginx shape of a refusal is never
// wanted and X-Sent-From is not read.
func grpcOriginal(ctx context.Context, req *authv3.CheckRequest) (check.Request, error) {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	if h == nil || h.GetMethod() == "" || h.GetPath() == "" {
		return check.Request{}, fmt.Errorf("%w: the ext_authz CheckRequest has no HTTP method or path", errBadRequest)
	}
	r := check.Request{Method: h.GetMethod(), Host: h.GetHost(), Header: grpcHeaders(h), Peer: sourceAddr(ctx, attrs.GetSource())}
	r.Path, r.RawQuery = splitTarget(h.GetPath()) // Envoy's :path, origin-form
	if body := grpcBody(h); len(body) > 0 {
		r.Body, r.BodyLen = bytes.NewReader(body), int64(len(body))
	}
	return r, nil
}

// grpcHeaders reads the headers of either encoding: the map (lower-case
// names, repeated headers joined by Envoy) or, with encode_raw_headers,
// the list. Pseudo-headers (:path, :method, ...) are fields of their own.
func grpcHeaders(h *authv3.AttributeContext_HttpRequest) http.Header {
	out := make(http.Header, len(h.GetHeaders())+len(h.GetHeaderMap().GetHeaders()))
	for k, v := range h.GetHeaders() {
		if !strings.HasPrefix(k, ":") {
			out[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
		}
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		if k := hv.GetKey(); !strings.HasPrefix(k, ":") {
			v := hv.GetValue()
			if len(hv.GetRawValue()) > 0 {
				v = string(hv.GetRawValue())
			}
			out.Add(k, v)
		}
	}
	return out
}

func grpcBody(h *authv3.AttributeContext_HttpRequest) []byte {
	if len(h.GetRawBody()) > 0 {
		return h.GetRawBody()
	}
	return []byte(h.GetBody())
}

// sourceAddr is Envoy's downstream peer as host:port, or the gRPC peer
// (Envoy itself) when Envoy sent none: never a made-up client.
func sourceAddr(ctx context.Context, src *authv3.AttributeContext_Peer) string {
	if sa := src.GetAddress().GetSocketAddress(); sa.GetAddress() != "" {
		return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// mergeOptions writes the options of a gRPC check in check-URL form:
// base (--grpc-options) with each option that ext (the route's
// context_extensions) sets replaced. Keys are sorted, so that equal
// options share one cache entry. A base that cannot be parsed is returned
// as it is, so that its error is reported (INVALID_OPTIONS), never dropped.
func mergeOptions(base string, ext map[string]string) string {
	if len(ext) == 0 {
		return base
	}
	q, err := url.ParseQuery(base)
	if err != nil {
		return base
	}
	for k, v := range ext {
		q[k] = []string{v}
	}
	return q.Encode()
}

// checkResponse renders a verdict as Envoy's CheckResponse: the same
// status, headers and JSON body as /check would answer.
func checkResponse(v *check.Verdict) *authv3.CheckResponse {
	if v.Allowed() {
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: okResponse(v)}}
	}
	rf := v.Refusal
	h := make(http.Header, 8)
	refusalHeaders(h, rf, v.Limit, v.Auth)
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(rf.Status)},
		Body: string(rf.Body()), Headers: headerOptions(h)}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(grpcCode(rf.Status)), Message: http.StatusText(rf.Status)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied}}
}

// okResponse sets the identity headers the verdict gives, removes the
// others from the upstream request, and adds the rate-limit headers to the
// client's response. With hide it also removes the credential headers and
// the apiKey query parameter, and sets the cookies that remain.
func okResponse(v *check.Verdict) *authv3.OkHttpResponse {
	ok := &authv3.OkHttpResponse{}
	for i, name := range check.UpstreamHeaders {
		if val := v.UpstreamHeader(i); val != nil {
			ok.Headers = append(ok.Headers, headerOption(name, strings.Join(val, ",")))
		}
	}
	ok.HeadersToRemove, _ = v.ClearedHeaders()
	if v.Hide {
		if v.Cookie != "" {
			ok.Headers = append(ok.Headers, headerOption("cookie", v.Cookie))
		}
		ok.QueryParametersToRemove = check.HiddenQueryParameters
	}
	if v.Limit.Counted {
		h := make(http.Header, 3)
		v.Limit.AppendHeaders(h)
		ok.ResponseHeadersToAdd = headerOptions(h)
	}
	return ok
}

// headerOptions lists h as header options, sorted by name.
func headerOptions(h http.Header) []*corev3.HeaderValueOption {
	out := make([]*corev3.HeaderValueOption, 0, len(h))
	for k, v := range h {
		out = append(out, headerOption(k, strings.Join(v, ",")))
	}
	slices.SortFunc(out, func(a, b *corev3.HeaderValueOption) int { return strings.Compare(a.Header.Key, b.Header.Key) })
	return out
}

// headerOption sets a header, replacing any value the request or the
// response already had.
func headerOption(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}

// grpcCode names a refusal's status for Envoy's logs and stats. Envoy
// denies on every code but OK; the HTTP status it answers is the denied
// response's.
func grpcCode(status int) codes.Code {
	switch status {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusInternalServerError:
		return codes.Internal
	}
	return codes.PermissionDenied
}

// authorizationService is the ext_authz service's full name.
const authorizationService = "envoy.service.auth.v3.Authorization"

// Check of grpc.health.v1: SERVING once the first full load is in memory,
// as /readyz. Only the server as a whole ("") and the Authorization service
// are known.
func (h *grpcHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if svc := req.GetService(); svc != "" && svc != authorizationService {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", svc)
	}
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if h.s.Ready() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// ServeGRPC serves g on l until ctx ends, then stops gracefully: checks in
// flight are answered, for at most shutdownTimeout.
func ServeGRPC(ctx context.Context, l net.Listener, g *grpc.Server) error {
	log := logr.FromContextOrDiscard(ctx)
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(l) }()
	log.Info("ext_authz gRPC server listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("ext_authz gRPC server on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownTimeout):
		g.Stop()
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
