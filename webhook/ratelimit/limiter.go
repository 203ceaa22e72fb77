package ratelimit

import (
	"context"
	"errors"
	"time"

	"k8s.io/utils/clock"
)

// MemoryOptions configure a limiter that keeps its counters in this process.
type MemoryOptions struct {
	// MaxEntries is the hard bound on counters held (one per rule and
	// client); 0 means DefaultMaxEntries (1,000,000, about 60 MB at most).
	MaxEntries int
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// SweepInterval is how often recovered counters are dropped; 0 means
	// DefaultSweepInterval, a negative value turns the sweeper off.
	SweepInterval time.Duration
	// Metrics counts evictions and tracked entries; nil means collectors
	// that nothing exports.
	Metrics *Metrics
}

// Limiter counts requests against compiled policies. It is safe for
// concurrent use.
type Limiter struct {
	mem   *memStore   // the memory limiter, or Redis's local fallback
	redis *redisStore // nil for a memory limiter
}

// NewMemory returns a limiter that keeps its counters in memory, bounded by
// MaxEntries. Close stops its background sweeper.
func NewMemory(opts MemoryOptions) *Limiter {
	return &Limiter{mem: newMemStore(opts.MaxEntries, opts.Clock, opts.SweepInterval, opts.Metrics)}
}

// errNilRequest is returned by Check for a nil request.
var errNilRequest = errors.New("ratelimit: nil request")

// Check counts the request with every rule of the policies that belongs to
// stage and matches it. The request is refused when any of those rules is
// over its limit, and then none of them is charged. A request no rule
// counts is allowed with Counted false.
func (l *Limiter) Check(ctx context.Context, stage Stage, policies []*Policy, req *Request) (Decision, error) {
	if req == nil {
		return Decision{}, errNilRequest
	}
	if l.redis != nil {
		return l.checkRedis(ctx, stage, policies, req)
	}
	var buf [maxInline]slot
	slots := collect(buf[:0], stage, policies, req)
	if len(slots) == 0 {
		return Decision{Allowed: true}, nil
	}
	var d Decision
	l.mem.check(slots, req.At, &d)
	return d, nil
}

// checkRedis is Check for a Redis limiter. It is kept apart so that the
// memory path's slots stay on the stack.
func (l *Limiter) checkRedis(ctx context.Context, stage Stage, policies []*Policy, req *Request) (Decision, error) {
	slots := collect(make([]slot, 0, 4), stage, policies, req)
	if len(slots) == 0 {
		return Decision{Allowed: true}, nil
	}
	return l.redis.check(ctx, slots)
}

// FallbackActive reports whether a Redis limiter is applying its OnError
// mode because Redis is unreachable. It is false for a memory limiter.
func (l *Limiter) FallbackActive() bool {
	return l.redis != nil && l.redis.fallback.Load()
}

// Close stops the limiter's background work and closes its Redis client.
func (l *Limiter) Close() error {
	var err error
	if l.redis != nil {
		err = l.redis.close()
	}
	if l.mem != nil {
		l.mem.close()
	}
	return err
}
