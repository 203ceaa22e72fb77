package check

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

// Options are the per-route options of one check URL (or of an ext_authz
// gRPC route), parsed once and cached by their raw text.
type Options struct {
	Auth       AuthMode
	scopes     []string
	keyTypes   uint8
	namespaces []string
	policies   []string
	// Compat asks for ingress-nginx's shape of a refusal (compat=nginx).
	Compat bool
	// Hide keeps an admitted request's credentials from the upstream
	// (hide=true; see hide.go).
	Hide bool
	err  error // set when the options are invalid

	// resolved caches the policies' compiled form for one index generation.
	resolved atomic.Pointer[resolvedPolicies]
}

type resolvedPolicies struct {
	gen     uint64
	list    []*ratelimit.Policy
	missing string
}

// DefaultOptions are the options of a check URL without a query.
var DefaultOptions = &Options{Auth: AuthAny, keyTypes: keyTypeSecret}

// Err is why the options are invalid, nil when they are valid.
func (o *Options) Err() error { return o.err }

// CheckOptions reports whether raw (the query text of a check URL, such as
// "auth=jwt&scopes=a") holds valid options.
func CheckOptions(raw string) error { return ParseOptions(raw).err }

// ParseOptions reads the options of a check URL's query text. Unknown or
// repeated parameters and invalid values are errors: a typo must not
// silently drop a requirement.
func ParseOptions(raw string) *Options {
	o := &Options{Auth: AuthAny, keyTypes: keyTypeSecret}
	q, err := url.ParseQuery(raw)
	if err != nil {
		o.err = fmt.Errorf("the check URL's query cannot be parsed: %w", err)
		return o
	}
	// compat first, so that an error in another option is still shaped
	// for nginx.
	o.Compat = len(q["compat"]) > 0 && q["compat"][0] == "nginx"
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
	if o.Auth == AuthNone && (len(o.scopes) > 0 || len(o.namespaces) > 0 || q.Has("keyTypes")) {
		// auth=none reads no credential, so these could never be checked.
		o.err = fmt.Errorf("options scopes, keyTypes and namespaces need a credential; they cannot be used with auth=none")
	}
	return o
}

func (o *Options) set(name, v string) error {
	var err error
	switch name {
	case "auth":
		o.Auth, err = parseAuth(v)
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
		o.Compat = true
	case "hide":
		o.Hide, err = parseBool(name, v)
	default:
		err = fmt.Errorf("option %q is not known; options are auth, scopes, keyTypes, namespaces, policy, compat, hide", name)
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

// parseBool reads true or false, and no other spelling.
func parseBool(name, v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("option %s=%q is not known; use true or false", name, v)
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

// OptionsCache keeps parsed options by raw text, so the common case of a
// few check URLs parses nothing per request. Reads take no lock (the map
// is replaced, never changed, when an entry is added), so concurrent
// checks on every core do not contend. It is bounded: past max entries,
// new texts are parsed on every request instead of cached.
type OptionsCache struct {
	m   atomic.Pointer[map[string]*Options]
	mu  sync.Mutex // serialises writers
	max int
}

// NewOptionsCache makes a cache of at most max parsed option texts.
func NewOptionsCache(max int) *OptionsCache {
	c := &OptionsCache{max: max}
	c.m.Store(&map[string]*Options{"": DefaultOptions})
	return c
}

// Get returns the parsed options of raw.
func (c *OptionsCache) Get(raw string) *Options {
	if o, ok := (*c.m.Load())[raw]; ok {
		return o
	}
	o := ParseOptions(raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.m.Load()
	if cached, ok := old[raw]; ok {
		return cached
	}
	if len(old) < c.max {
		next := make(map[string]*Options, len(old)+1)
		for k, v := range old {
			next[k] = v
		}
		next[raw] = o
		c.m.Store(&next)
	}
	return o
}

// Len is the number of cached option texts.
func (c *OptionsCache) Len() int { return len(*c.m.Load()) }
