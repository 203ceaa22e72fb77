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

// step charges one request against the number the slot's counter holds
// (s.tat, as stored) at now: it returns the number to store after the
// charge, and whether the request is over the limit. params picks the
// GCRA parameters in the backend's unit.
func (s *slot) step(now int64, params func(*params) gcra) (next int64, over bool) {
	if s.r.cal == nil {
		next, wait := params(s.p).step(s.tat, now)
		return next, wait > 0
	}
	c := quotaCount(s.tat, s.win.end)
	return s.win.end + c + 1, c+1 > s.p.limit
}

// found turns the number stored into the slot's tat as decide reads it:
// a TAT stays; a quota's number becomes now plus its count.
func (s *slot) found(now int64) {
	if s.r.cal != nil {
		s.tat = now + quotaCount(s.tat, s.win.end)
	}
}

// decide sets d, the Decision, from the slots' TATs after a check at now:
// the TATs stored after the charge when admitted, the TATs found when not
// (a quota's: now plus its count). unit is the time unit of now, the TATs
// and params.
func decide(d *Decision, slots []slot, now int64, admitted bool, params func(*params) gcra, unit time.Duration) {
	*d = Decision{Allowed: admitted, Counted: true}
	best := -1
	var bestRemaining, bestReset, bestWait int64
	for i := range slots {
		s := &slots[i]
		remaining, reset, wait := s.state(now, params)
		if !admitted {
			if wait > 0 && (best < 0 || wait > bestWait) {
				best, bestWait, bestReset = i, wait, reset
			}
			continue
		}
		if best < 0 || remaining < bestRemaining || (remaining == bestRemaining && reset > bestReset) {
			best, bestRemaining, bestReset = i, remaining, reset
		}
	}
	if best < 0 { // unreachable: a refusal has a rule over its limit
		best = 0
	}
	s := &slots[best]
	r, p := s.r, s.p
	d.Policy, d.Rule, d.Override, d.Limit, d.Window = r.policy, r.name, p.override, p.limit, p.window
	if r.cal != nil {
		d.Quota, d.Calendar, d.Window = true, r.cal.kind, time.Duration(s.win.end-s.win.start)*unit
	}
	d.Remaining = bestRemaining
	d.Reset = time.Duration(bestReset) * unit
	d.RetryAfter = time.Duration(bestWait) * unit
}

// state is what a slot reports after a check at now: the requests it still
// admits, the time until it is fully recovered (a quota: until its window
// ends), and when the request was over its limit, the wait until a retry
// is admitted (0 otherwise).
func (s *slot) state(now int64, params func(*params) gcra) (remaining, reset, wait int64) {
	if s.r.cal != nil {
		count := s.tat - now
		reset = max(s.win.end-now, 1)
		if count >= s.p.limit {
			wait = reset
		}
		return max(s.p.limit-count, 0), reset, wait
	}
	g := params(s.p)
	tat := max(s.tat, now)
	_, wait = g.step(tat, now)
	reset = tat - now
	return (g.capacity - reset) / g.interval, reset, max(wait, 0)
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

func nsParams(p *params) gcra { return p.ns }
func usParams(p *params) gcra { return p.us }
