package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/keygate-dev/keygate/webhook/check"
)

// Proxy pins which headers carry the original request. ProxyAuto follows
// the contract's order; pinning one closes the door on a client that sends
// another proxy's headers itself (see doc.go).
type Proxy string

const (
	ProxyAuto    Proxy = "auto"
	ProxyNginx   Proxy = "nginx"
	ProxyTraefik Proxy = "traefik"
	ProxyEnvoy   Proxy = "envoy"
)

// ParseProxy reads the --proxy flag.
func ParseProxy(s string) (Proxy, error) {
	switch p := Proxy(s); p {
	case ProxyAuto, ProxyNginx, ProxyTraefik, ProxyEnvoy:
		return p, nil
	}
	return "", fmt.Errorf("proxy %q is not known; use auto, nginx, traefik or envoy", s)
}

// checkPath is the endpoint; Envoy appends the original path to it.
const checkPath = "/check"

// errBadRequest marks a check request that cannot be understood.
var errBadRequest = errors.New("bad check request")

// target is what the check URL says: the raw option text and, for Envoy,
// the path after /check.
type target struct {
	opts  string
	rest  string
	envoy bool
}

// checkTarget splits the check URL. For nginx and Traefik the options are
// the query of the check URL. Envoy appends the client's path and query to
// its path prefix, so there the query belongs to the client: options come
// only from a ";"-segment of the configured prefix
// (/check;auth=jwt&scopes=a, with the / of a policy name written %2F), never
// from the query.
func checkTarget(r *http.Request, mode Proxy) (target, error) {
	if mode == ProxyNginx || mode == ProxyTraefik {
		return target{opts: r.URL.RawQuery}, nil
	}
	// The escaped path, as Envoy sent it: a %2F in the options segment
	// (policy=ns%2Fname) must not end the segment, and the rest is decoded
	// once, by check.CleanPath (r.URL.Path is decoded already).
	rest := strings.TrimPrefix(r.URL.EscapedPath(), checkPath)
	switch {
	case mode == ProxyAuto && rest == "":
		return target{opts: r.URL.RawQuery}, nil
	case mode == ProxyAuto && (len(r.Header["X-Original-Url"]) > 0 || len(r.Header["X-Forwarded-Uri"]) > 0):
		return target{}, fmt.Errorf("%w: the check URL has a path after /check (Envoy) and the request carries X-Original-URL or X-Forwarded-Uri; use the check URL /check with nginx and Traefik, or pin the proxy with --proxy", errBadRequest)
	}
	t := target{rest: rest, envoy: true}
	if strings.HasPrefix(rest, ";") {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			i = len(rest)
		}
		t.opts, t.rest = rest[1:i], rest[i:]
	}
	if t.rest == "" {
		t.rest = "/"
	}
	return t, nil
}

// readOriginal finds the original request per the proxy mode. Headers,
// body and peer are the check request's: the proxy forwards the client's.
func readOriginal(r *http.Request, mode Proxy, t target) (check.Request, error) {
	h := r.Header
	req := check.Request{Header: h, Body: r.Body, BodyLen: r.ContentLength, Peer: r.RemoteAddr}
	if t.envoy {
		req.Method, req.Path, req.RawQuery, req.Host = r.Method, t.rest, r.URL.RawQuery, r.Host
		return req, nil
	}
	if mode == ProxyAuto && len(h["X-Original-Url"]) > 0 && len(h["X-Forwarded-Uri"]) > 0 {
		// ingress-nginx sends only the first, Traefik only the second, and
		// both pass client headers on: one of them was written by the client.
		return req, fmt.Errorf("%w: the request carries both X-Original-URL (ingress-nginx) and X-Forwarded-Uri (Traefik), so a client wrote one of them; pin the proxy with --proxy", errBadRequest)
	}
	if u := first(h, "X-Original-Url"); u != "" && mode != ProxyTraefik {
		req.Method = orDefault(first(h, "X-Original-Method"), r.Method)
		var err error
		req.Path, req.RawQuery, req.Host, err = splitURL(u)
		return req, err
	}
	if u := first(h, "X-Forwarded-Uri"); u != "" && mode != ProxyNginx {
		req.Method = orDefault(first(h, "X-Forwarded-Method"), r.Method)
		req.Path, req.RawQuery = splitTarget(u) // Traefik sends the request URI, origin-form
		req.Host = first(h, "X-Forwarded-Host")
		return req, nil
	}
	switch mode {
	case ProxyNginx:
		return req, fmt.Errorf("%w: X-Original-URL is missing (the auth server runs with --proxy=nginx)", errBadRequest)
	case ProxyTraefik:
		return req, fmt.Errorf("%w: X-Forwarded-Uri is missing (the auth server runs with --proxy=traefik)", errBadRequest)
	}
	req.Method, req.Path, req.Host = r.Method, "/", r.Host
	return req, nil
}

// first returns the first value of a header by its canonical name, without
// allocating.
func first(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// splitURL splits an absolute URL or a request-target into path, query and
// host, without allocating. A fragment is dropped. Only a "://" before the
// first "/", "?" or "#" is a scheme: /k/x?next=https://a/ is the path /k/x,
// not a URL with the host k, so no client can move its path out of a rule.
//
// ingress-nginx writes $scheme://$http_host$request_uri, where the request
// URI always starts with / and Host cannot hold a /, so the authority ends
// at the first /. nginx accepts Host: h:1? and h:1# (it ignores what
// follows the port), so a ?, #, @, space or control character in the
// authority would move the path into the query or the fragment: such an
// authority is refused.
func splitURL(u string) (p, query, host string, err error) {
	if i := strings.Index(u, "://"); i > 0 && !strings.ContainsAny(u[:i], "/?#") {
		rest := u[i+3:]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			j = len(rest)
		}
		host, u = rest[:j], rest[j:]
		if !validAuthority(host) {
			return "", "", "", fmt.Errorf("%w: the authority of X-Original-URL holds ?, #, @, white space or a control character", errBadRequest)
		}
		if u == "" {
			return "/", "", host, nil
		}
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	p, query, _ = strings.Cut(u, "?")
	return p, query, host, nil
}

// validAuthority reports whether an authority holds none of the bytes that
// would end it early for one reader and not for another.
func validAuthority(a string) bool {
	for i := 0; i < len(a); i++ {
		if c := a[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '@' {
			return false
		}
	}
	return true
}

// splitTarget splits an origin-form request-target (/path?query#frag)
// into path and query: no scheme or host is ever read from it.
func splitTarget(u string) (p, query string) {
	u, _, _ = strings.Cut(u, "#")
	p, query, _ = strings.Cut(u, "?")
	return p, query
}
