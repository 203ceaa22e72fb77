package ratelimit

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// methodSet is a bit set of the methods a rule matches; zero matches all.
type methodSet uint16

// methodBits lists the methods a rule may name, as the CRD's enum does.
var methodBits = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func parseMethods(in []string) (methodSet, error) {
	var s methodSet
	for _, m := range in {
		bit := methodBit(m)
		if bit == 0 {
			return 0, fmt.Errorf("method %q is not one of %s", m, strings.Join(methodBits[:], ", "))
		}
		s |= bit
	}
	return s, nil
}

// methodBit returns the bit of an HTTP method, or 0 for a method no rule
// can name. Methods are case-sensitive (RFC 9110).
func methodBit(m string) methodSet {
	for i, name := range methodBits {
		if m == name {
			return 1 << i
		}
	}
	return 0
}

// matches reports whether the rule's match fits the request: the path is
// one of paths or starts with one of prefixes (or both are empty), and the
// method is one of methods (or methods is empty).
func (r *rule) matches(method, path string) bool {
	if r.methods != 0 && r.methods&methodBit(method) == 0 {
		return false
	}
	if len(r.paths) == 0 && len(r.prefixes) == 0 {
		return true
	}
	// Routers treat /login/ as /login: an exact path ignores a trailing
	// slash on either side (compile trimmed the rule's).
	exact := trimSlash(path)
	for _, p := range r.paths {
		if exact == p || r.fold && equalFold(exact, p) {
			return true
		}
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
		if r.fold {
			if _, ok := foldPrefix(path, p); ok {
				return true
			}
		}
	}
	return false
}

// trimSlash drops the trailing slashes of a path other than /.
func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

func equalFold(s, t string) bool {
	n, ok := foldPrefix(s, t)
	return ok && n == len(s)
}

// foldPrefix reports whether s starts with prefix when letter case is
// ignored, and how many bytes of s that prefix covers. It folds at least
// as much as the routers that ignore case: ASCII (Express), Unicode
// simple folding (Go's EqualFold: K is the Kelvin sign's) and invariant
// upper- and lower-casing (.NET's OrdinalIgnoreCase: ſ is S, ı is I), so a
// spelling one of them routes to the rule's path cannot escape the rule.
func foldPrefix(s, prefix string) (int, bool) {
	i := 0
	for j := 0; j < len(prefix); {
		if i >= len(s) {
			return 0, false
		}
		if c, d := s[i], prefix[j]; c < utf8.RuneSelf && d < utf8.RuneSelf {
			if lower(c) != lower(d) {
				return 0, false
			}
			i, j = i+1, j+1
			continue
		}
		a, na := utf8.DecodeRuneInString(s[i:])
		b, nb := utf8.DecodeRuneInString(prefix[j:])
		if (na == 1 || nb == 1) && (a == utf8.RuneError || b == utf8.RuneError) {
			if s[i] != prefix[j] { // invalid UTF-8 compares as bytes
				return 0, false
			}
			i, j = i+1, j+1
			continue
		}
		if !foldRune(a, b) {
			return 0, false
		}
		i, j = i+na, j+nb
	}
	return i, true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func foldRune(a, b rune) bool {
	if a == b || unicode.ToUpper(a) == unicode.ToUpper(b) || unicode.ToLower(a) == unicode.ToLower(b) {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// checkRulePath refuses a rule path that the path a request is matched by
// (check.CleanPath's) can never be or start with: it must start with /,
// and hold no empty, . or .. segment, no %, ;, \, ?, # and no white space
// or control character.
func checkRulePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`%;\?#`, c) >= 0 {
			return fmt.Errorf("path %q must not hold %q: write the path decoded, without parameters, query or fragment", p, c)
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path %q must not hold a . or .. segment", p)
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("path %q must not hold //", p)
	}
	return nil
}

// unknownIP is the one bucket of requests whose client address the server
// could not determine: they are counted together, never let through
// uncounted.
const unknownIP = "unknown"

// value returns what the rule counts the request by, and false when the rule
// does not count the request: apiKey and subject rules skip requests without
// that identity (ip rules cover anonymous traffic). A header rule counts a
// missing or empty header as one bucket of its own, so leaving the header
// out does not escape the rule.
func (r *rule) value(req *Request) (string, bool) {
	switch r.by {
	case byIP:
		if req.IP == "" {
			return unknownIP, true
		}
		return req.IP, true
	case byHeader:
		if req.Header == nil {
			return "", true
		}
		return req.Header(r.header), true
	case byAPIKey:
		return req.APIKeyUID, req.APIKeyUID != ""
	case bySubject:
		return req.Subject, req.Subject != ""
	case bySharedSubject:
		return req.SharedSubject, req.SharedSubject != ""
	}
	return "", false
}

// slot is one rule counting one request.
type slot struct {
	r     *rule
	p     *params // the limit that applies: the rule's own or an override's
	value string
	key   memKey
	shard uint64
	// tat is the rule's TAT after the check, in the backend's unit; for a
	// quota, now plus the count (so that it moves with the clock as a TAT
	// does).
	tat int64
	// win is a quota's window, in the backend's unit.
	win window
}

// maxInline is how many counting rules a check holds on the stack; more
// still work, with an allocation.
const maxInline = 16

// collect appends a slot for every rule of the policies that belongs to
// stage, matches the request and has a value to count by.
func collect(dst []slot, stage Stage, policies []*Policy, req *Request) []slot {
	for _, p := range policies {
		if p == nil {
			continue
		}
		var row planRow
		if stage == AfterAuth {
			row = p.planFor(req)
		}
		for i := range p.rules {
			r := &p.rules[i]
			if r.stage != stage || !r.matches(req.Method, req.Path) {
				continue
			}
			if v, ok := r.value(req); ok {
				dst = grow(dst)
				s := &dst[len(dst)-1]
				s.r, s.p, s.value, s.tat = r, r.paramsFor(row, i), v, 0
			}
		}
	}
	return dst
}

// grow is dst one slot longer. Its new slot is set field by field by
// collect, not built and copied whole: a check builds one per matching
// rule, and the copy of a whole slot showed in its profile. The fields
// collect leaves are set before they are read (key and shard by hashKeys,
// tat by the store, win for a quota by charge).
func grow(dst []slot) []slot {
	if len(dst) < cap(dst) {
		return dst[:len(dst)+1]
	}
	return append(dst, slot{})
}
