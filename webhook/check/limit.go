package check

import (
	"context"
	"errors"

	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// policies resolves the route's policy names to compiled policies. The
// result is cached on the route's options until the index's policies
// change, so a check does not build the list again.
func (d *Decider) policies(o *Options) ([]*ratelimit.Policy, string) {
	if len(o.policies) == 0 {
		return nil, ""
	}
	gen := d.Index.PolicyGeneration()
	if rp := o.resolved.Load(); rp != nil && rp.gen == gen {
		return rp.list, rp.missing
	}
	list, missing := d.Index.Policies(o.policies, make([]*ratelimit.Policy, 0, len(o.policies)))
	o.resolved.Store(&resolvedPolicies{gen: gen, list: list, missing: missing})
	return list, missing
}

// limit runs one stage. A limiter error is counted and logged; the
// limiter's configured fallback (--redis-on-error) has already decided,
// and its decision stands. With --redis-on-error=deny an unreachable Redis
// is ErrUnavailable: 503 RATE_LIMIT_UNAVAILABLE.
func (d *Decider) limit(ctx context.Context, stage ratelimit.Stage, policies []*ratelimit.Policy, req *ratelimit.Request) (ratelimit.Decision, *Refusal) {
	dec, err := d.Limiter.Check(ctx, stage, policies, req)
	if err != nil {
		if d.LimiterErrors != nil {
			d.LimiterErrors.Inc()
		}
		d.Log.V(1).Info("rate limiter error; its fallback decided", "error", err.Error())
		if errors.Is(err, ratelimit.ErrUnavailable) || (!dec.Allowed && dec.RetryAfter <= 0) {
			return dec, refLimiterDown
		}
	}
	if !dec.Allowed {
		return dec, rateLimited(&dec)
	}
	return dec, nil
}
