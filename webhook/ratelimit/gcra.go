package ratelimit

import "time"

// gcra holds one rule's GCRA parameters in one time unit: the emission
// interval T (period/limit, rounded up so the sustained rate never exceeds
// limit per period) and the capacity limit*T, the most a TAT may run ahead of
// now, so that limit requests can go at once.
type gcra struct {
	interval int64
	capacity int64
}

func newGCRA(period time.Duration, limit int64, unit time.Duration) gcra {
	p := int64(period / unit)
	t := (p + limit - 1) / limit
	return gcra{interval: t, capacity: t * limit}
}

// step charges one request against a TAT at now. It returns the TAT after
// the charge and, when that is over capacity, the wait (> 0) until the same
// request would be admitted.
func (g gcra) step(tat, now int64) (next, wait int64) {
	if tat < now {
		tat = now
	}
	next = tat + g.interval
	return next, next - now - g.capacity
}

// decide builds the Decision from the slots' TATs after a check at now:
// the TATs stored after the charge when admitted, the TATs found when not.
// unit is the time unit of now, the TATs and params.
func decide(slots []slot, now int64, admitted bool, params func(*rule) gcra, unit time.Duration) Decision {
	d := Decision{Allowed: admitted, Counted: true}
	best := -1
	var bestRemaining, bestReset, bestWait int64
	for i := range slots {
		s := &slots[i]
		g := params(s.r)
		tat := max(s.tat, now)
		if !admitted {
			_, wait := g.step(tat, now)
			if wait > 0 && (best < 0 || wait > bestWait) {
				best, bestWait, bestReset = i, wait, tat-now
			}
			continue
		}
		reset := tat - now
		remaining := (g.capacity - reset) / g.interval
		if best < 0 || remaining < bestRemaining || (remaining == bestRemaining && reset > bestReset) {
			best, bestRemaining, bestReset = i, remaining, reset
		}
	}
	if best < 0 { // unreachable: a refusal has a rule over its limit
		best = 0
	}
	r := slots[best].r
	d.Policy, d.Rule, d.Limit, d.Window = r.policy, r.name, r.limit, r.window
	d.Remaining = bestRemaining
	d.Reset = time.Duration(bestReset) * unit
	d.RetryAfter = time.Duration(bestWait) * unit
	return d
}

// count records the decision in the per-rule metrics: every counting rule
// of an admitted check, and the rule named by a refusal.
func count(slots []slot, d *Decision) {
	for i := range slots {
		r := slots[i].r
		switch {
		case d.Allowed:
			r.allowed.Inc()
		case r.name == d.Rule && r.policy == d.Policy:
			r.refused.Inc()
			return
		}
	}
}

func nsParams(r *rule) gcra { return r.ns }
func usParams(r *rule) gcra { return r.us }
