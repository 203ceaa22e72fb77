package ratelimit

import (
	"fmt"
	"strings"
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
	for _, p := range r.paths {
		if path == p {
			return true
		}
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
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
	}
	return "", false
}

// slot is one rule counting one request.
type slot struct {
	r     *rule
	value string
	key   memKey
	shard uint64
	tat   int64 // the rule's TAT after the check, in the backend's unit
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
		for i := range p.rules {
			r := &p.rules[i]
			if r.stage != stage || !r.matches(req.Method, req.Path) {
				continue
			}
			if v, ok := r.value(req); ok {
				dst = append(dst, slot{r: r, value: v})
			}
		}
	}
	return dst
}
