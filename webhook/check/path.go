package check

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
)

// ErrAmbiguousPath is wrapped by every error of CleanPath: the path means
// different things to different upstreams, so no rule can be chosen for it.
var ErrAmbiguousPath = errors.New("the path is ambiguous")

var (
	errEncodedSeparator = fmt.Errorf("%w: it encodes /, \\, . or %% (%%2F, %%5C, %%2E, %%25), which upstreams decode differently", ErrAmbiguousPath)
	errBadEscape        = fmt.Errorf("%w: it has a %% that is not followed by two hex digits", ErrAmbiguousPath)
	errEncodedControl   = fmt.Errorf("%w: it encodes a control character", ErrAmbiguousPath)
	errBackslash        = fmt.Errorf("%w: it has a \\, which some upstreams read as /", ErrAmbiguousPath)
	errDotSegment       = fmt.Errorf("%w: it has a . or .. segment (also ..;), which some upstreams resolve and others do not", ErrAmbiguousPath)
)

// CleanPath turns the path as the proxy handed it over (still escaped) into
// the path rules match, decoding it exactly once: ";..." path parameters
// are dropped from each segment (/a;x=1/b is /a/b), then valid %XX escapes
// are decoded, then repeated slashes are merged; a trailing slash is kept.
// Each step can only make a path match more rules, never fewer.
//
// A path whose meaning depends on who decodes it is refused with an error
// wrapping ErrAmbiguousPath: an escape of /, \, . or % (%2F, %5C, %2E,
// %25), a % without two hex digits, an escaped control character, a
// backslash, or a . or .. segment (after dropping parameters, so ..; is
// one too). A clean path is returned as it is, without allocating.
func CleanPath(p string) (string, error) {
	if isClean(p) {
		return p, nil
	}
	if err := checkRawPath(p); err != nil {
		return "", err
	}
	p = stripPathParams(p)
	if hasDotSegment(p) {
		return "", errDotSegment
	}
	p = unescapeEach(p)
	trailing := strings.HasSuffix(p, "/")
	p = path.Clean("/" + p) // no dot segment is left: this merges slashes
	if trailing && p != "/" {
		p += "/"
	}
	return p, nil
}

// checkRawPath refuses the escapes and bytes whose meaning depends on the
// upstream.
func checkRawPath(p string) error {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			return errBackslash
		case '%':
			if i+2 >= len(p) || !ishex(p[i+1]) || !ishex(p[i+2]) {
				return errBadEscape
			}
			switch c := unhex(p[i+1])<<4 | unhex(p[i+2]); {
			case c == '/' || c == '\\' || c == '.' || c == '%':
				return errEncodedSeparator
			case c < 0x20 || c == 0x7f:
				return errEncodedControl
			}
			i += 2
		}
	}
	return nil
}

// hasDotSegment reports whether a segment of p is . or ..
func hasDotSegment(p string) bool {
	for s := range strings.SplitSeq(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// unescapeEach decodes every %XX escape (checkRawPath has made sure that
// every % starts one).
func unescapeEach(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
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

// stripPathParams drops ";..." from each segment of the raw path, before
// decoding (as Tomcat and Jetty do): /a;x=1/b is /a/b, and an encoded ;
// (%3B) is data.
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
