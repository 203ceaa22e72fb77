package webhook

import (
	"context"
	"net/http"
	"time"

	"github.com/keygate-dev/keygate/webhook/jwtauth"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// check answers /check and /check/...: any method.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method, code := s.decide(w, r)
	decisionCounter(code, method).Inc()
	checkDuration.Observe(time.Since(start).Seconds())
}

// decide writes the answer and returns the metric labels.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) (method, code string) {
	if !s.Ready() {
		writeRefusal(w, refNotReady, ratelimit.Decision{}, AuthAny, s.compatHeader(r))
		return methodNone, refNotReady.code
	}
	t, err := checkTarget(r, s.cfg.Proxy)
	if err != nil {
		return s.refuse(w, r, badRequest(CodeBadRequest, err.Error()), ratelimit.Decision{}, &defaultOptions)
	}
	o := s.options.get(t.opts)
	if o.err != nil {
		return s.refuse(w, r, badRequest(CodeInvalidOptions, o.err.Error()), ratelimit.Decision{}, o)
	}
	orig, err := readOriginal(r, s.cfg.Proxy, t)
	if err != nil {
		return s.refuse(w, r, badRequest(CodeBadRequest, err.Error()), ratelimit.Decision{}, o)
	}
	return s.decideOriginal(w, r, o, &orig)
}

// decideOriginal decides for the original request orig, once the route's
// options are known: r carries the client's headers, body and address.
func (s *Server) decideOriginal(w http.ResponseWriter, r *http.Request, o *routeOptions, orig *original) (method, code string) {
	policies, missing := s.policies(o)
	if missing != "" {
		return s.refuse(w, r, policyNotFound(missing), ratelimit.Decision{}, o)
	}
	var req *ratelimit.Request
	var d ratelimit.Decision
	if len(policies) > 0 {
		req = s.limitRequest(r, orig)
		var rf *refusal
		if d, rf = s.limit(r.Context(), ratelimit.BeforeAuth, policies, req); rf != nil {
			return s.refuse(w, r, rf, d, o)
		}
	}
	id, rf := s.authenticate(r, o, orig)
	if rf != nil {
		return s.refuseAs(w, r, orNone(id.method), rf, d, o)
	}
	if req != nil && id.method != methodNone {
		req.Subject, req.APIKeyUID = id.subject(), id.keyUID()
		after, rf := s.limit(r.Context(), ratelimit.AfterAuth, policies, req)
		if d = d.Merge(after); rf != nil {
			return s.refuseAs(w, r, id.method, rf, d, o)
		}
	}
	writeAllowed(w, &id, d)
	return id.method, codeOK
}

// refuse answers a refusal made before any credential was read.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, rf *refusal, d ratelimit.Decision, o *routeOptions) (string, string) {
	return s.refuseAs(w, r, methodNone, rf, d, o)
}

// refuseAs writes a refusal, shaped for ingress-nginx when the route or the
// request asks for it, and returns the metric labels.
func (s *Server) refuseAs(w http.ResponseWriter, r *http.Request, method string, rf *refusal, d ratelimit.Decision, o *routeOptions) (string, string) {
	writeRefusal(w, rf, d, o.auth, o.compat || s.compatHeader(r))
	return method, rf.code
}

func orNone(method string) string {
	if method == "" {
		return methodNone
	}
	return method
}

// compatHeader reports whether ingress-nginx sent the check request.
func (s *Server) compatHeader(r *http.Request) bool {
	return first(r.Header, "X-Sent-From") == "nginx-ingress-controller"
}

// authenticate runs the route's auth mode. auth=any tries a JWT first when
// one is presented; when it is not valid and an API key is presented too,
// the key decides, and its error is the one reported (doc.go).
func (s *Server) authenticate(r *http.Request, o *routeOptions, orig *original) (identity, *refusal) {
	switch o.auth {
	case AuthNone:
		return identity{method: methodNone}, nil
	case AuthJWT:
		tok := tokenFrom(r.Header)
		if tok == "" {
			return identity{}, refNoToken
		}
		return s.tokenIdentity(r.Context(), tok, o)
	case AuthAPIKey:
		key := apiKeyFrom(r, orig.rawQuery, s.cfg.MaxBodyBytes)
		if key == "" {
			return identity{}, refNoCredential
		}
		return s.keyIdentity(r, key, o)
	}
	if tok := tokenFrom(r.Header); tok != "" {
		id, rf := s.tokenIdentity(r.Context(), tok, o)
		if rf == nil || rf.status == http.StatusForbidden {
			return id, rf // the token is valid: its authorisation stands
		}
		if key := apiKeyFrom(r, orig.rawQuery, s.cfg.MaxBodyBytes); key != "" {
			return s.keyIdentity(r, key, o)
		}
		return id, rf
	}
	key := apiKeyFrom(r, orig.rawQuery, s.cfg.MaxBodyBytes)
	if key == "" {
		return identity{}, refNoKeyOrToken
	}
	return s.keyIdentity(r, key, o)
}

func (s *Server) keyIdentity(r *http.Request, key string, o *routeOptions) (identity, *refusal) {
	e, rf := decideKey(s.cfg.Index, key, o, first(r.Header, "Origin"), first(r.Header, "Referer"), s.cfg.Clock.Now())
	return identity{method: methodAPIKey, entry: e}, rf
}

func (s *Server) tokenIdentity(ctx context.Context, tok string, o *routeOptions) (identity, *refusal) {
	if s.cfg.Verifier == nil {
		return identity{method: methodJWT}, tokenRefusal(jwtauth.ErrNotConfigured)
	}
	id, rf := decideToken(ctx, s.cfg.Verifier, tok, o)
	return identity{method: methodJWT, jwt: id}, rf
}

func (id *identity) subject() string {
	switch id.method {
	case methodAPIKey:
		return id.entry.Key.Record.Subject
	case methodJWT:
		return id.jwt.Subject
	}
	return ""
}

func (id *identity) keyUID() string {
	if id.method == methodAPIKey {
		return id.entry.Key.UID
	}
	return ""
}
