package webhook

import (
	"context"
	"errors"
	"net/http"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// policies resolves the route's policy names to compiled policies. The
// result is cached on the route's options until the index's policies
// change, so a check does not build the list again.
func (s *Server) policies(o *routeOptions) ([]*ratelimit.Policy, string) {
	if len(o.policies) == 0 {
		return nil, ""
	}
	gen := s.cfg.Index.PolicyGeneration()
	if rp := o.resolved.Load(); rp != nil && rp.gen == gen {
		return rp.list, rp.missing
	}
	list, missing := s.cfg.Index.Policies(o.policies, make([]*ratelimit.Policy, 0, len(o.policies)))
	o.resolved.Store(&resolvedPolicies{gen: gen, list: list, missing: missing})
	return list, missing
}

// limitRequest is what the rules look at: the original method and path, and
// the client IP per the trust rule.
func (s *Server) limitRequest(r *http.Request, orig *original) *ratelimit.Request {
	return &ratelimit.Request{
		Method: orig.method,
		Path:   orig.path,
		IP:     clientIP(r, s.cfg.TrustedHops),
		Header: r.Header.Get,
	}
}

// limit runs one stage. A limiter error is counted and logged; the
// limiter's configured fallback (--redis-on-error) has already decided,
// and its decision stands. With --redis-on-error=deny an unreachable Redis
// is ErrUnavailable: 503 RATE_LIMIT_UNAVAILABLE.
func (s *Server) limit(ctx context.Context, stage ratelimit.Stage, policies []*ratelimit.Policy, req *ratelimit.Request) (ratelimit.Decision, *refusal) {
	d, err := s.cfg.Limiter.Check(ctx, stage, policies, req)
	if err != nil {
		limiterErrors.Inc()
		s.cfg.Log.V(1).Info("rate limiter error; its fallback decided", "error", err.Error())
		if errors.Is(err, ratelimit.ErrUnavailable) || (!d.Allowed && d.RetryAfter <= 0) {
			return d, refLimiterDown
		}
	}
	if !d.Allowed {
		return d, rateLimited(d.Rule)
	}
	return d, nil
}
