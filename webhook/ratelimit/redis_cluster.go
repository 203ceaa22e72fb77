package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// On a Redis Cluster one script may only touch keys of one slot. A key's
// hash tag is its counted value's hash (see redisKey), so the rules of a
// check that count the same client (the usual case: several limits per
// API key, or per IP) are one script call, one round trip, all or nothing.
// A check whose rules count different values (one rule by ip, another by
// header) runs one script per value, concurrently, and keeps all or
// nothing by refunding: when any group is refused, the groups that were
// charged are given their charge back. Between the charge and the refund
// a concurrent check of those clients sees the charge, so the limit errs
// towards refusing for that moment, never towards admitting.

// refundScript gives back one charge per key: KEYS[i]'s number goes back
// by ARGV[i], the first of the slot's script arguments (a rolling rule's
// emission interval, or a quota's one request), keeping the key's expiry
// (which at worst outlives a TAT a little; an expired or past TAT is full
// recovery either way). A key that expired meanwhile stays gone.
var refundScript = redis.NewScript(`
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat then
    redis.call('SET', KEYS[i], string.format('%d', tat - tonumber(ARGV[i])), 'KEEPTTL')
  end
end
return 1
`)

// sameTag reports whether every slot counts the same value, so that all
// their keys share one hash tag.
func sameTag(slots []slot) bool {
	for i := 1; i < len(slots); i++ {
		if slots[i].value != slots[0].value {
			return false
		}
	}
	return true
}

// tagGroup is the slots of one check that share a hash tag, copied out of
// the check's slots, and where they came from.
type tagGroup struct {
	slots    []slot
	index    []int
	admitted bool
	now      int64
	err      error
}

// groupByTag splits the slots by counted value, in order of first use.
func groupByTag(slots []slot) []*tagGroup {
	var groups []*tagGroup
	byValue := make(map[string]*tagGroup, 2)
	for i := range slots {
		g := byValue[slots[i].value]
		if g == nil {
			g = &tagGroup{}
			byValue[slots[i].value] = g
			groups = append(groups, g)
		}
		g.slots = append(g.slots, slots[i])
		g.index = append(g.index, i)
	}
	return groups
}

// runCluster counts slots of several hash tags: one script per tag, run
// concurrently (go-redis sends each to its slot's master), then refunds
// the charged groups if any group was refused.
func (s *redisStore) runCluster(ctx context.Context, slots []slot) (Decision, error) {
	groups := groupByTag(slots)
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() { g.admitted, g.now, g.err = s.runScript(ctx, g.slots) })
	}
	wg.Wait()
	admitted, failed := true, false
	var errs []error
	for _, g := range groups {
		admitted = admitted && g.err == nil && g.admitted
		failed = failed || g.err != nil
		errs = append(errs, g.err)
	}
	if !admitted {
		s.refund(ctx, groups)
	}
	if failed {
		return Decision{}, errors.Join(errs...)
	}
	// Each master has its own clock: TATs are moved onto the first's.
	now := groups[0].now
	var decided []slot
	for _, g := range groups {
		for j := range g.slots {
			g.slots[j].tat += now - g.now
			slots[g.index[j]].tat = g.slots[j].tat
		}
		// A refusal is decided on the refused groups' TATs as found; the
		// charged groups were under their limits.
		if !g.admitted {
			decided = append(decided, g.slots...)
		}
	}
	if admitted {
		decided = slots
	}
	return decideRedis(decided, now, admitted), nil
}

// refund gives the charged groups their charge back. It runs even when
// the check's context is done: a charge left in place would refuse the
// client's next requests for nothing. A refund that fails is logged.
func (s *redisStore) refund(ctx context.Context, groups []*tagGroup) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.interval)
	defer cancel()
	for _, g := range groups {
		if g.err != nil || !g.admitted {
			continue
		}
		keys := make([]string, len(g.slots))
		args := make([]any, len(g.slots))
		for i := range g.slots {
			keys[i] = redisKey(g.slots[i].r, g.slots[i].value)
			args[i] = g.slots[i].p.usArgs[0]
		}
		if err := refundScript.Run(ctx, s.scripter, keys, args...).Err(); err != nil {
			s.log.Error(fmt.Errorf("rate-limit refund: %w", err), "a refused check's charge on other rules could not be given back")
		}
	}
}
