package ratelimit

import (
	"errors"
	"fmt"
	"time"

	"github.com/keygate-dev/keygate/internal/record"
)

// params is a limit that applies to a request: a rule's own, or one of its
// overrides (a plan). Everything the hot path needs is precomputed.
type params struct {
	override string // "" for the rule's own limit
	limit    int64
	window   time.Duration // a rolling rule's period; 0 for a quota
	ns       gcra          // in nanoseconds (memory)
	us       gcra          // in microseconds (Redis)
	// usArgs are us's interval and capacity boxed once for the script; for
	// a quota, one request (what a refund gives back) and the limit.
	usArgs [2]any
}

// minInterval is the shortest emission interval keygate counts: Redis
// counts time in microseconds, so a rule of more than one request per
// microsecond would be capped at that rate there. Such a rule is refused
// rather than silently enforced at another rate than it says.
const minInterval = time.Microsecond

func newParams(override string, limit int64, period time.Duration, cal *calendar) (params, error) {
	if limit < 1 || limit > maxLimit {
		return params{}, fmt.Errorf("limit %d is not between 1 and %d", limit, maxLimit)
	}
	p := params{override: override, limit: limit}
	if cal != nil {
		p.usArgs = [2]any{int64(1), limit}
		return p, nil
	}
	if period < minPeriod || period > maxPeriod {
		return params{}, fmt.Errorf("period %s is not between %s and %s (31 days)", period, minPeriod, maxPeriod)
	}
	if period/minInterval < time.Duration(limit) {
		return params{}, fmt.Errorf("limit %d per %s is more than one request per microsecond, which keygate cannot count: "+
			"at most %d per %s", limit, period, int64(period/minInterval), period)
	}
	p.window = period
	p.ns = newGCRA(period, limit, time.Nanosecond)
	p.us = newGCRA(period, limit, time.Microsecond)
	p.usArgs = [2]any{p.us.interval, p.us.capacity}
	return p, nil
}

// compileOverrides checks a rule's overrides and compiles their limits.
func compileOverrides(in *record.Rule, stage Stage, cal *calendar) ([]params, error) {
	if len(in.Overrides) == 0 {
		return nil, nil
	}
	if stage != AfterAuth {
		return nil, errors.New("overrides select credentials: only rules by apiKey, subject or sharedSubject have them")
	}
	if len(in.Overrides) > maxOverrides {
		return nil, fmt.Errorf("at most %d overrides, got %d", maxOverrides, len(in.Overrides))
	}
	out := make([]params, len(in.Overrides))
	for i := range in.Overrides {
		o := &in.Overrides[i]
		if !ruleNameRE.MatchString(o.Name) || len(o.Name) > 63 {
			return nil, fmt.Errorf("override name %q must be 1 to 63 characters of a-z, 0-9 and '-'", o.Name)
		}
		period := o.Period
		if period == 0 {
			period = in.Period
		} else if cal != nil {
			return nil, fmt.Errorf("override %s: an override of a calendar quota has no period", o.Name)
		}
		p, err := newParams(o.Name, o.Limit, period, cal)
		if err != nil {
			return nil, fmt.Errorf("override %s: %w", o.Name, err)
		}
		out[i] = p
	}
	return out, nil
}

// planRow gives, for one credential, the override each rule of a policy
// applies: 0 for the rule's own limit, k for its overrides[k-1].
type planRow []uint8

// compilePlans builds the policy's lookups from credential to planRow: the
// first override of a rule that lists the credential wins.
func (p *Policy) compilePlans(rec *record.RateLimitPolicy) error {
	keys := 0
	for i := range rec.Rules {
		for j := range rec.Rules[i].Overrides {
			o := &rec.Rules[i].Overrides[j]
			if keys += len(o.APIKeys); keys > record.MaxPlanKeys {
				return fmt.Errorf("overrides list more than %d ApiKeys", record.MaxPlanKeys)
			}
			p.keyPlans = p.addPlan(p.keyPlans, o.APIKeys, i, j)
			p.jwtPlans = p.addPlan(p.jwtPlans, o.JWTPlans, i, j)
		}
	}
	return nil
}

func (p *Policy) addPlan(m map[string]planRow, ids []string, rule, override int) map[string]planRow {
	for _, id := range ids {
		if m == nil {
			m = map[string]planRow{}
		}
		row := m[id]
		if row == nil {
			row = make(planRow, len(p.rules))
			m[id] = row
		}
		if row[rule] == 0 {
			row[rule] = uint8(override + 1)
		}
	}
	return m
}

// planFor is the request's credential's planRow in the policy, nil when no
// override selects it: an ApiKey by its UID, a JWT by its plan claim.
func (p *Policy) planFor(req *Request) planRow {
	switch {
	case req.APIKeyUID != "":
		return p.keyPlans[req.APIKeyUID]
	case req.Plan != "":
		return p.jwtPlans[req.Plan]
	}
	return nil
}

// paramsFor is the limit rule i applies under row.
func (r *rule) paramsFor(row planRow, i int) *params {
	if i < len(row) && row[i] > 0 {
		return &r.overrides[row[i]-1]
	}
	return &r.own
}
