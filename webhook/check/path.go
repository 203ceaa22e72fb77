package check

import (
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
)

// CleanPath percent-decodes and cleans a path so that rules cannot be
// dodged with /api/%61uth/, /api//auth/, /api/auth;x=1/ (path parameters,
// which some upstreams strip) or a stray invalid escape next to a valid
// one. Every change can only make a path match more rules, never fewer. A
// clean path is returned as it is, without allocating.
func CleanPath(p string) string {
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

// ClientIP applies the trust rule (webhook's doc): with hops > 0, the
// hops-th address from the right of X-Forwarded-For (all header lines read
// as one list); when the list is shorter or that entry is not an IP
// address, the peer. With hops == 0, the peer.
func ClientIP(h http.Header, peer string, hops int) string {
	if hops > 0 {
		if ip, ok := fromForwardedFor(h["X-Forwarded-For"], hops); ok {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return peer
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
