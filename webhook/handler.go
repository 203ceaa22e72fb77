package webhook

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// check answers /check and /check/...: any method.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	req := check.Request{At: time.Now()}
	v, compat, envoy := s.decideHTTP(r, &req)
	writeVerdict(w, &v, compat, envoy)
	s.metrics.observe(&v, &req, req.At)
}

// decideHTTP reads the check request, decides, and says how to render:
// compat (ingress-nginx's shape of a refusal) and envoy (Envoy's HTTP
// ext_authz, which needs x-envoy-auth-headers-to-remove). The original
// request is read into req, which keeps only its At (the check's start)
// when the check is refused before that.
func (s *Server) decideHTTP(r *http.Request, req *check.Request) (v check.Verdict, compat, envoy bool) {
	compat = first(r.Header, "X-Sent-From") == "nginx-ingress-controller"
	if !s.Ready() {
		return check.Refused(check.RefNotReady, check.DefaultOptions), compat, false
	}
	t, err := checkTarget(r, s.cfg.Proxy)
	if err != nil {
		return check.Refused(check.BadRequest(check.CodeBadRequest, err.Error()), check.DefaultOptions), compat, false
	}
	o := s.options.Get(t.opts)
	compat = compat || o.Compat
	if o.Err() != nil {
		return check.Refused(check.BadRequest(check.CodeInvalidOptions, o.Err().Error()), o), compat, t.envoy
	}
	at := req.At
	*req, err = readOriginal(r, s.cfg.Proxy, t)
	req.At = at
	if err != nil {
		*req = check.Request{At: at}
		return check.Refused(check.BadRequest(check.CodeBadRequest, err.Error()), o), compat, t.envoy
	}
	return s.decider.Decide(r.Context(), o, req), compat, t.envoy
}

// writeVerdict renders a verdict as the HTTP answer of /check.
func writeVerdict(w http.ResponseWriter, v *check.Verdict, compat, envoy bool) {
	if v.Allowed() {
		writeAllowed(w, v, envoy)
		return
	}
	writeRefusal(w, v.Refusal, v.Limit, v.Auth, compat)
}

// writeAllowed answers 200 with the identity headers for the upstream.
// Envoy copies only the headers an answer has, so for Envoy the answer
// also lists those the upstream must lose; nginx and Traefik replace every
// header they are told to copy, set or not. With hide, the answer holds
// the request's cookies without session_token, and never X-API-Key or
// Authorization: a proxy told to copy those three replaces the client's.
func writeAllowed(w http.ResponseWriter, v *check.Verdict, envoy bool) {
	h := w.Header()
	for i, name := range check.UpstreamHeaders {
		if val := v.UpstreamHeader(i); val != nil {
			h[name] = val
		}
	}
	if v.Hide && v.Cookie != "" {
		h["Cookie"] = []string{v.Cookie}
	}
	if envoy {
		if _, joined := v.ClearedHeaders(); joined != nil {
			h["X-Envoy-Auth-Headers-To-Remove"] = joined
		}
	}
	v.Limit.AppendHeaders(h)
	w.WriteHeader(http.StatusOK)
}

// refusalHeaders are the headers of every refusal, whatever the transport.
func refusalHeaders(h http.Header, rf *check.Refusal, d ratelimit.Decision, mode check.AuthMode) {
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	d.AppendHeaders(h)
	if rf.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", check.WWWAuthenticate(mode, rf.Code))
	}
}

// writeRefusal answers a refusal. In ingress-nginx compat mode, statuses
// that nginx's auth_request would turn into a 500 (anything but 401 and
// 403) are sent as 403, and every refusal carries X-Error-Status,
// X-Error-Code and X-Error-Body so the nginx configuration can give the
// client the real status and body.
func writeRefusal(w http.ResponseWriter, rf *check.Refusal, d ratelimit.Decision, mode check.AuthMode, compat bool) {
	h := w.Header()
	body := rf.Body()
	refusalHeaders(h, rf, d, mode)
	status := rf.Status
	if compat {
		h.Set("X-Error-Status", strconv.Itoa(rf.Status))
		h.Set("X-Error-Code", rf.Code)
		h.Set("X-Error-Body", string(body))
		if status != http.StatusUnauthorized && status != http.StatusForbidden {
			status = http.StatusForbidden
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
