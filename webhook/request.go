package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
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

// original is the request the proxy asks about.
type original struct {
	method   string
	path     string // cleaned, percent-decoded, without the query
	rawQuery string // the original URL's query (where apiKey may be)
	host     string
}

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
	// The escaped path: a %2F in the options segment (policy=ns%2Fname)
	// must not end the segment. The rest is decoded by cleanPath.
	p := r.URL.RawPath
	if p == "" {
		p = r.URL.Path
	}
	rest := strings.TrimPrefix(p, checkPath)
	switch {
	case mode == ProxyNginx || mode == ProxyTraefik:
		return target{opts: r.URL.RawQuery}, nil
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

// readOriginal finds the original request per the proxy mode.
func readOriginal(r *http.Request, mode Proxy, t target) (original, error) {
	h := r.Header
	if t.envoy {
		return original{method: r.Method, path: cleanPath(t.rest), rawQuery: r.URL.RawQuery, host: r.Host}, nil
	}
	if mode == ProxyAuto && len(h["X-Original-Url"]) > 0 && len(h["X-Forwarded-Uri"]) > 0 {
		// ingress-nginx sends only the first, Traefik only the second, and
		// both pass client headers on: one of them was written by the client.
		return original{}, fmt.Errorf("%w: the request carries both X-Original-URL (ingress-nginx) and X-Forwarded-Uri (Traefik), so a client wrote one of them; pin the proxy with --proxy", errBadRequest)
	}
	if u := first(h, "X-Original-Url"); u != "" && mode != ProxyTraefik {
		p, q, host := splitURL(u)
		return original{method: orDefault(first(h, "X-Original-Method"), r.Method), path: cleanPath(p), rawQuery: q, host: host}, nil
	}
	if u := first(h, "X-Forwarded-Uri"); u != "" && mode != ProxyNginx {
		p, q := splitTarget(u) // Traefik sends the request URI, origin-form
		return original{method: orDefault(first(h, "X-Forwarded-Method"), r.Method), path: cleanPath(p), rawQuery: q, host: first(h, "X-Forwarded-Host")}, nil
	}
	switch mode {
	case ProxyNginx:
		return original{}, fmt.Errorf("%w: X-Original-URL is missing (the auth server runs with --proxy=nginx)", errBadRequest)
	case ProxyTraefik:
		return original{}, fmt.Errorf("%w: X-Forwarded-Uri is missing (the auth server runs with --proxy=traefik)", errBadRequest)
	}
	return original{method: r.Method, path: "/", host: r.Host}, nil
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
func splitURL(u string) (p, query, host string) {
	if i := strings.Index(u, "://"); i > 0 && !strings.ContainsAny(u[:i], "/?#") {
		rest := u[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 {
			return "/", "", rest
		}
		host, u = rest[:j], rest[j:]
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	p, query, _ = strings.Cut(u, "?")
	return p, query, host
}

// splitTarget splits an origin-form request-target (/path?query#frag)
// into path and query: no scheme or host is ever read from it.
func splitTarget(u string) (p, query string) {
	u, _, _ = strings.Cut(u, "#")
	p, query, _ = strings.Cut(u, "?")
	return p, query
}

// cleanPath percent-decodes and cleans a path so that rules cannot be
// dodged with /api/%61uth/, /api//auth/, /api/auth;x=1/ (path parameters,
// which some upstreams strip) or a stray invalid escape next to a valid
// one. Every change can only make a path match more rules, never fewer. A
// clean path is returned as it is, without allocating.
func cleanPath(p string) string {
	if isClean(p) {
		return p
	}
	p = stripPathParams(unescapeEach(p))
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean("/" + p)
	if trailing && p != "/" {
		p += "/"
	}
	return p
}

// unescapeEach decodes every valid %XX escape and leaves invalid ones as
// they are (url.PathUnescape gives up on the whole path at the first).
func unescapeEach(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && ishex(p[i+1]) && ishex(p[i+2]) {
			b.WriteByte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			i += 2
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// stripPathParams drops ";..." from each segment: /a;x=1/b is /a/b.
func stripPathParams(p string) string {
	if !strings.Contains(p, ";") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return strings.Join(segs, "/")
}

func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', '\\', ';':
			return false
		case '/':
			rest := p[i+1:]
			if strings.HasPrefix(rest, "/") || rest == "." || rest == ".." ||
				strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
				return false
			}
		}
	}
	return true
}

// clientIP applies the trust rule of doc.go: with hops > 0, the hops-th
// address from the right of X-Forwarded-For (all header lines read as one
// list); when the list is shorter or that entry is not an IP address, the
// TCP peer. With hops == 0, the TCP peer.
func clientIP(r *http.Request, hops int) string {
	if hops > 0 {
		if ip, ok := fromForwardedFor(r.Header["X-Forwarded-For"], hops); ok {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func fromForwardedFor(lines []string, hops int) (string, bool) {
	n := 0
	for l := len(lines) - 1; l >= 0; l-- {
		s := lines[l]
		for s != "" {
			i := strings.LastIndexByte(s, ',')
			entry := strings.TrimSpace(s[i+1:])
			if i < 0 {
				s = ""
			} else {
				s = s[:i]
			}
			if entry == "" {
				continue
			}
			if n++; n == hops {
				return validIP(entry)
			}
		}
	}
	return "", false
}

func validIP(s string) (string, bool) {
	if _, err := netip.ParseAddr(s); err == nil {
		return s, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String(), true
	}
	return "", false
}
