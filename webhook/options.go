package webhook

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// AuthMode is the auth option of a route.
type AuthMode uint8

const (
	AuthAny AuthMode = iota
	AuthAPIKey
	AuthJWT
	AuthNone
)

// keyTypeSecret and keyTypePublic are the bits of the keyTypes option.
const (
	keyTypeSecret uint8 = 1 << iota
	keyTypePublic
)

// routeOptions are the per-route options of one check URL, parsed once and
// cached by their raw text.
type routeOptions struct {
	auth       AuthMode
	scopes     []string
	keyTypes   uint8
	namespaces []string
	policies   []string
	compat     bool
	err        error // set when the options are invalid

	// resolved caches the policies' compiled form for one index generation.
	resolved atomic.Pointer[resolvedPolicies]
}

type resolvedPolicies struct {
	gen     uint64
	list    []*ratelimit.Policy
	missing string
}

var defaultOptions = routeOptions{auth: AuthAny, keyTypes: keyTypeSecret}

// CheckOptions reports whether raw (the query text of a check URL, such as
// "auth=jwt&scopes=a") holds valid options.
func CheckOptions(raw string) error { return parseOptions(raw).err }

// parseOptions reads the options of a check URL's query text. Unknown or
// repeated parameters and invalid values are errors: a typo must not
// silently drop a requirement.
func parseOptions(raw string) *routeOptions {
	o := &routeOptions{auth: AuthAny, keyTypes: keyTypeSecret}
	q, err := url.ParseQuery(raw)
	if err != nil {
		o.err = fmt.Errorf("the check URL's query cannot be parsed: %w", err)
		return o
	}
	// compat first, so that an error in another option is still shaped
	// for nginx.
	o.compat = len(q["compat"]) > 0 && q["compat"][0] == "nginx"
	for name, vals := range q {
		if len(vals) != 1 {
			o.err = fmt.Errorf("option %q is given %d times; give it once", name, len(vals))
			return o
		}
		if err := o.set(name, vals[0]); err != nil {
			o.err = err
			return o
		}
	}
	if o.auth == AuthNone && (len(o.scopes) > 0 || len(o.namespaces) > 0 || q.Has("keyTypes")) {
		// auth=none reads no credential, so these could never be checked.
		o.err = fmt.Errorf("options scopes, keyTypes and namespaces need a credential; they cannot be used with auth=none")
	}
	return o
}

func (o *routeOptions) set(name, v string) error {
	var err error
	switch name {
	case "auth":
		o.auth, err = parseAuth(v)
	case "scopes":
		o.scopes, err = commaList(name, v, validScope)
	case "keyTypes":
		o.keyTypes, err = parseKeyTypes(v)
	case "namespaces":
		o.namespaces, err = commaList(name, v, validNamespace)
	case "policy":
		o.policies, err = commaList(name, v, validPolicyName)
	case "compat":
		if v != "nginx" {
			err = fmt.Errorf("option compat=%q is not known; the only value is nginx", v)
		}
		o.compat = true
	default:
		err = fmt.Errorf("option %q is not known; options are auth, scopes, keyTypes, namespaces, policy, compat", name)
	}
	return err
}

func parseAuth(v string) (AuthMode, error) {
	switch v {
	case "any":
		return AuthAny, nil
	case "apikey":
		return AuthAPIKey, nil
	case "jwt":
		return AuthJWT, nil
	case "none":
		return AuthNone, nil
	}
	return 0, fmt.Errorf("option auth=%q is not known; use any, apikey, jwt or none", v)
}

func parseKeyTypes(v string) (uint8, error) {
	var bits uint8
	for _, t := range strings.Split(v, ",") {
		switch t {
		case "secret":
			bits |= keyTypeSecret
		case "public":
			bits |= keyTypePublic
		default:
			return 0, fmt.Errorf("option keyTypes: %q is not a key type; use secret, public or both", t)
		}
	}
	return bits, nil
}

// commaList splits a comma list and checks each item. An empty value
// (often an unset template variable) is an error, like an empty item
// ("a,,b"): it would otherwise mean "no requirement".
func commaList(name, v string, valid func(string) bool) ([]string, error) {
	if v == "" {
		return nil, fmt.Errorf("option %s is empty; remove it or give it a value", name)
	}
	items := strings.Split(v, ",")
	for _, it := range items {
		if !valid(it) {
			return nil, fmt.Errorf("option %s: %q is not a valid item", name, it)
		}
	}
	return items, nil
}

func validScope(s string) bool {
	return s != "" && len(s) <= 128 && !strings.ContainsAny(s, " \t\r\n")
}

// validNamespace checks a DNS-1123 label.
func validNamespace(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func validPolicyName(s string) bool {
	ns, name, ok := strings.Cut(s, "/")
	return ok && validNamespace(ns) && name != "" && len(name) <= 253 && !strings.Contains(name, "/")
}

// optionsCache keeps parsed options by raw text, so the common case of a
// few check URLs parses nothing per request. It is bounded: past max
// entries, new texts are parsed on every request instead of cached.
type optionsCache struct {
	mu  sync.RWMutex
	m   map[string]*routeOptions
	max int
}

func newOptionsCache(max int) *optionsCache {
	return &optionsCache{m: map[string]*routeOptions{"": &defaultOptions}, max: max}
}

func (c *optionsCache) get(raw string) *routeOptions {
	c.mu.RLock()
	o, ok := c.m[raw]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = parseOptions(raw)
	c.mu.Lock()
	if len(c.m) < c.max {
		c.m[raw] = o
	}
	c.mu.Unlock()
	return o
}
