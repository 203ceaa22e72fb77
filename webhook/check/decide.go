package check

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/keygate-dev/keygate/webhook/index"
	"github.com/keygate-dev/keygate/webhook/jwtauth"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
	"github.com/keygate-dev/keygate/webhook/usage"
)

// Index is the auth server's index, holding the limiter's compiled policies.
type Index = index.Index[*ratelimit.Policy]

// NewIndex makes an empty index that compiles policies with ratelimit.Compile.
func NewIndex(log logr.Logger) *Index { return index.New(ratelimit.Compile, log) }

// Request is the original request a proxy asks about, as the transport
// read it: nothing here is HTTP- or gRPC-specific.
type Request struct {
	Method string
	// Path is the original path as the proxy handed it over, without the
	// query; Decide decodes and cleans it before rules match it.
	Path     string
	RawQuery string // the original URL's query (where apiKey may be)
	Host     string
	// Header holds the client's headers as the proxy forwarded them, by
	// canonical name.
	Header http.Header
	// Body is the forwarded body, BodyLen its length (-1: unknown); nil
	// when none was forwarded. It is read only to find _apiKey.
	Body    io.Reader
	BodyLen int64
	// Peer is the TCP peer (host:port) of the proxy, or the downstream
	// address the proxy reported.
	Peer string
	// At is when the check began, as the transport read the clock for its
	// latency metric (with the monotonic reading); zero means Decide reads
	// the clock itself. Expiry and rate limits use it, so a check reads
	// the clock once.
	At time.Time
}

// Decider decides checks from the index, the JWT verifier and the limiter.
type Decider struct {
	Index    *Index
	Verifier TokenVerifier
	Limiter  RateLimiter
	// Clock decides expiry; nil means the real clock.
	Clock clock.PassiveClock
	// TrustedHops is the number of proxies that append to X-Forwarded-For
	// in front of the auth server; 0 uses the peer.
	TrustedHops int
	// IPv4Prefix and IPv6Prefix are the prefix lengths by which by: ip
	// rules count clients; 0 means DefaultIPv4Prefix and DefaultIPv6Prefix.
	IPv4Prefix, IPv6Prefix int
	// MaxBodyBytes bounds the body read for _apiKey; 0 means
	// DefaultMaxBodyBytes, negative turns body reading off.
	MaxBodyBytes int64
	// LimiterErrors counts limiter errors (may be nil).
	LimiterErrors interface{ Inc() }
	// MissingForwardedFor counts checks without X-Forwarded-For while
	// TrustedHops > 0 (may be nil); the first one is also logged.
	MissingForwardedFor interface{ Inc() }
	missingXFFOnce      sync.Once
	Log                 logr.Logger
	// Usage notes each admitted API key for the usage report (nil: off).
	Usage *usage.Recorder
}

// DefaultMaxBodyBytes bounds how much of a forwarded body is read to find
// _apiKey.
const DefaultMaxBodyBytes = 64 << 10

// timeOf is the time a check is decided at: the Decider's clock when one
// is set (tests), else the check's start, else the real clock.
func (d *Decider) timeOf(r *Request) time.Time {
	switch {
	case d.Clock != nil:
		return d.Clock.Now()
	case !r.At.IsZero():
		return r.At
	}
	return time.Now()
}

func (d *Decider) maxBody() int64 {
	if d.MaxBodyBytes == 0 {
		return DefaultMaxBodyBytes
	}
	return d.MaxBodyBytes
}

// Decide decides one request under the route's options o, which must be
// valid (o.Err() == nil): rate limits by ip and header first, then the
// credential, then rate limits by apiKey and subject. When a policy applies,
// a path CleanPath refuses is refused with 400 BAD_REQUEST. An admission
// under the hide option carries what the request's cookies become; an
// admitted API key is noted for the usage report.
func (d *Decider) Decide(ctx context.Context, o *Options, r *Request) Verdict {
	v := d.decide(ctx, o, r)
	if v.Refusal == nil {
		d.Usage.Record(v.Identity.Entry) // nil unless an API key was admitted
	}
	if o.Hide && v.Refusal == nil {
		v.Hide, v.Cookie = true, WithoutSessionCookie(r.Header["Cookie"])
	}
	return v
}

func (d *Decider) decide(ctx context.Context, o *Options, r *Request) Verdict {
	v := Verdict{Auth: o.Auth}
	if d.TrustedHops > 0 && len(r.Header["X-Forwarded-For"]) == 0 {
		d.missingForwardedFor()
	}
	policies, missing := d.policies(o)
	if missing != "" {
		v.Refusal = policyNotFound(missing)
		return v
	}
	var lr *ratelimit.Request
	if len(policies) > 0 {
		p, err := CleanPath(r.Path)
		if err != nil {
			v.Refusal = BadRequest(CodeBadRequest, err.Error())
			return v
		}
		lr = &ratelimit.Request{Method: r.Method, Path: p, IP: d.RateLimitIP(ClientIP(r.Header, r.Peer, d.TrustedHops)), Header: r.Header.Get, At: r.At}
		if v.Limit, v.Refusal = d.limit(ctx, ratelimit.BeforeAuth, policies, lr); v.Refusal != nil {
			return v
		}
	}
	v.Identity, v.Refusal = d.authenticate(ctx, o, r)
	if v.Refusal != nil || lr == nil || v.Identity.Method == MethodNone {
		return v
	}
	lr.Subject, lr.SharedSubject = v.Identity.subjects()
	lr.APIKeyUID = v.Identity.keyUID()
	lr.Plan = v.Identity.JWT.Plan // a JWT's plan claim; overrides select ApiKeys by UID
	after, rf := d.limit(ctx, ratelimit.AfterAuth, policies, lr)
	v.Limit, v.Refusal = v.Limit.Merge(after), rf
	return v
}

// authenticate runs the route's auth mode. auth=any tries a JWT first when
// one is presented; when it is not valid and an API key is presented too,
// the key decides, and its error is the one reported.
func (d *Decider) authenticate(ctx context.Context, o *Options, r *Request) (Identity, *Refusal) {
	switch o.Auth {
	case AuthNone:
		return Identity{Method: MethodNone}, nil
	case AuthJWT:
		tok := tokenFrom(r.Header)
		if tok == "" {
			return Identity{}, refNoToken
		}
		return d.tokenIdentity(ctx, tok, o)
	case AuthAPIKey:
		key := apiKeyFrom(r, d.maxBody())
		if key == "" {
			return Identity{}, refNoCredential
		}
		return d.keyIdentity(r, key, o)
	}
	if tok := tokenFrom(r.Header); tok != "" {
		id, rf := d.tokenIdentity(ctx, tok, o)
		if rf == nil || rf.Status == http.StatusForbidden {
			return id, rf // the token is valid: its authorisation stands
		}
		if key := apiKeyFrom(r, d.maxBody()); key != "" {
			return d.keyIdentity(r, key, o)
		}
		return id, rf
	}
	key := apiKeyFrom(r, d.maxBody())
	if key == "" {
		return Identity{}, refNoKeyOrToken
	}
	return d.keyIdentity(r, key, o)
}

func (d *Decider) keyIdentity(r *Request, key string, o *Options) (Identity, *Refusal) {
	e, rf := DecideKey(d.Index, key, o, first(r.Header, "Origin"), first(r.Header, "Referer"), d.timeOf(r))
	if rf != nil {
		return Identity{Method: MethodAPIKey, Refused: e}, rf
	}
	return Identity{Method: MethodAPIKey, Entry: e}, nil
}

func (d *Decider) tokenIdentity(ctx context.Context, tok string, o *Options) (Identity, *Refusal) {
	if d.Verifier == nil {
		return Identity{Method: MethodJWT}, tokenRefusal(jwtauth.ErrNotConfigured)
	}
	id, rf := decideToken(ctx, d.Verifier, tok, o)
	return Identity{Method: MethodJWT, JWT: id}, rf
}

// TokenVerifier is what the decision needs from the JWT authenticator.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (jwtauth.Identity, error)
	Ready() bool
}

// RateLimiter is what the decision needs from the rate limiter.
type RateLimiter interface {
	Check(ctx context.Context, stage ratelimit.Stage, policies []*ratelimit.Policy, req *ratelimit.Request) (ratelimit.Decision, error)
}

// first returns the first value of a header by its canonical name, without
// allocating.
func first(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// missingForwardedFor counts a check without X-Forwarded-For while
// TrustedHops > 0, and logs the first: its client IP is the TCP peer, the
// proxy, which every client then shares in by: ip rules.
func (d *Decider) missingForwardedFor() {
	if d.MissingForwardedFor != nil {
		d.MissingForwardedFor.Inc()
	}
	d.missingXFFOnce.Do(func() {
		d.Log.Info("a check carried no X-Forwarded-For although --trusted-hops > 0: its client IP is the proxy's, "+
			"shared by every client in by: ip rules; make the proxy forward X-Forwarded-For (logged once; "+
			"see keygate_check_missing_forwarded_for_total)", "trustedHops", d.TrustedHops)
	})
}

// Default prefix lengths of by: ip rules. A host commonly holds a whole
// IPv6 /64: counting its addresses one by one would give it 2^64 buckets.
const (
	DefaultIPv4Prefix = 32
	DefaultIPv6Prefix = 64
)

// RateLimitIP is what by: ip rules count for a client address: the
// address masked to the IPv4 or IPv6 prefix length, written as a prefix
// ("2001:db8::/64"). An IPv4-mapped IPv6 address counts as its IPv4
// address, and an IPv4 address at /32 is returned as it is, without an
// allocation. A string that is not an address is returned as it is. The
// mask is for counting only: what is logged or sent upstream is not this.
func (d *Decider) RateLimitIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	mapped := a.Is4In6()
	a = a.Unmap()
	bits := cmp.Or(d.IPv6Prefix, DefaultIPv6Prefix)
	if a.Is4() {
		bits = cmp.Or(d.IPv4Prefix, DefaultIPv4Prefix)
	}
	a = a.WithZone("")
	if bits >= a.BitLen() {
		if a.Is4() && !mapped {
			return ip // ParseAddr takes one spelling of an IPv4 address only
		}
		return a.String() // one spelling per IPv6 address: case, zero runs, zone
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip
	}
	return p.String()
}
