package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// memKey names one counter: a rule and the value it counts by, hashed to
// 128 bits with per-process random seeds so that building it allocates
// nothing and two counters collide with probability about 2^-128.
type memKey struct{ hi, lo uint64 }

var ruleSeedA, ruleSeedB = maphash.MakeSeed(), maphash.MakeSeed()

// ruleID hashes a rule's policy and name for its memory keys.
func ruleID(policy, name string) (uint64, uint64) {
	var a, b maphash.Hash
	a.SetSeed(ruleSeedA)
	b.SetSeed(ruleSeedB)
	for _, h := range []*maphash.Hash{&a, &b} {
		_, _ = h.WriteString(policy)
		_ = h.WriteByte(0)
		_, _ = h.WriteString(name)
	}
	return a.Sum64(), b.Sum64()
}

const (
	// DefaultMaxEntries bounds the counters of a memory limiter when
	// MemoryOptions.MaxEntries is 0.
	DefaultMaxEntries = 1_000_000
	// DefaultSweepInterval is how often recovered counters are dropped.
	DefaultSweepInterval = time.Minute
	numShards            = 64
	// evictSample is how many entries an insert into a full shard looks at.
	evictSample = 16
)

// shard is one lock stripe: a map from key to TAT (Unix nanoseconds),
// padded to its own cache line.
type shard struct {
	mu   sync.Mutex
	m    map[memKey]int64
	peak int // most entries since the map was made
	// inserts counts new keys since the map was made: Go maps keep the
	// room of deleted entries, so a shard under churn (a flood at the
	// bound) is copied into a fresh map every perShard inserts, which
	// keeps its memory bounded at an amortized cost of one copy per insert.
	inserts int
	_       [32]byte
}

// memStore holds GCRA counters in memory, in lock-striped shards of at most
// perShard entries each.
type memStore struct {
	metrics      *Metrics
	clock        clock.PassiveClock
	realClock    bool      // no clock was given: Request.At may stand in
	base         time.Time // the clock's time at creation
	baseUnix     int64
	seedA, seedB maphash.Seed
	shards       []shard
	mask         uint64
	perShard     int
	stop         chan struct{}
	done         chan struct{}
	closeOnce    sync.Once
}

func newMemStore(maxEntries int, clk clock.PassiveClock, sweep time.Duration, metrics *Metrics) *memStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	realClock := clk == nil
	if realClock {
		clk = clock.RealClock{}
	}
	n := numShards
	for n > 1 && n > maxEntries {
		n /= 2
	}
	m := &memStore{
		clock: clk, realClock: realClock, base: clk.Now(), seedA: maphash.MakeSeed(), seedB: maphash.MakeSeed(),
		shards: make([]shard, n), mask: uint64(n - 1), perShard: maxEntries / n,
		stop: make(chan struct{}), done: make(chan struct{}), metrics: orUnexported(metrics),
	}
	m.baseUnix = m.base.UnixNano()
	for i := range m.shards {
		m.shards[i].m = make(map[memKey]int64)
	}
	m.metrics.track(m)
	if sweep == 0 {
		sweep = DefaultSweepInterval
	}
	if sweep > 0 {
		go m.sweepEvery(sweep)
	} else {
		close(m.done)
	}
	return m
}

// hashKeys sets every slot's key and shard. The shard comes from the
// value alone, so the rules counting one client share one lock; rules that
// count the same value (ip rules) hash it once.
func (m *memStore) hashKeys(slots []slot) {
	var ha, hb uint64
	for i := range slots {
		s := &slots[i]
		if i == 0 || s.value != slots[i-1].value {
			ha, hb = maphash.String(m.seedA, s.value), maphash.String(m.seedB, s.value)
		}
		s.key = memKey{hi: ha ^ s.r.idA, lo: hb ^ s.r.idB}
		s.shard = ha & m.mask
	}
}

// now returns the time in Unix nanoseconds. It goes through Since, which
// reads only the monotonic clock (one clock read, not two as Now).
func (m *memStore) now() int64 {
	return m.baseUnix + int64(m.clock.Since(m.base))
}

// nowAt is now at the instant at, a time.Now reading the caller already
// made: on the monotonic clock too, and no clock read. A zero at, or a
// store with a clock of its own, reads the clock.
func (m *memStore) nowAt(at time.Time) int64 {
	if at.IsZero() || !m.realClock {
		return m.now()
	}
	return m.baseUnix + int64(at.Sub(m.base))
}

// check counts the request against every slot's counter, all or nothing,
// holding the locks of all the shards involved (taken in index order).
func (m *memStore) check(slots []slot, at time.Time, d *Decision) {
	m.hashKeys(slots)
	var orderBuf [maxInline]uint64
	order := orderBuf[:0]
	for i := range slots {
		order = insertSorted(order, slots[i].shard)
	}
	for _, i := range order {
		m.shards[i].mu.Lock()
	}
	now := m.nowAt(at)
	admitted := m.charge(slots, now)
	for _, i := range order {
		m.shards[i].mu.Unlock()
	}
	decide(d, slots, now, admitted, nsParams, time.Nanosecond)
	count(slots, d)
}

// charge reads every slot's TAT and, when none is over its limit, stores
// the charged TATs. The caller holds the shards' locks.
func (m *memStore) charge(slots []slot, now int64) bool {
	admitted := true
	for i := range slots {
		s := &slots[i]
		s.tat = m.shards[s.shard].m[s.key]
		if s.r.cal != nil {
			s.win = s.r.cal.at(now)
		}
		if _, over := s.step(now, nsParams); over {
			admitted = false
		}
	}
	if !admitted {
		for i := range slots {
			slots[i].found(now)
		}
		return false
	}
	for i := range slots {
		s := &slots[i]
		sh := &m.shards[s.shard]
		isNew := s.tat == 0
		if isNew && len(sh.m) >= m.perShard {
			if sh.evict(now) {
				m.metrics.evictions.Inc()
			}
		}
		s.tat, _ = s.step(now, nsParams)
		sh.m[s.key] = s.tat
		s.found(now)
		sh.peak = max(sh.peak, len(sh.m))
		if isNew {
			if sh.inserts++; sh.inserts >= m.perShard {
				sh.remake()
			}
		}
	}
	return true
}

// remake copies the shard's entries into a fresh map, giving back the
// room of deleted ones.
func (s *shard) remake() {
	fresh := make(map[memKey]int64, len(s.m))
	for k, tat := range s.m {
		fresh[k] = tat
	}
	s.m, s.peak, s.inserts = fresh, len(fresh), 0
}

// evict makes room in a full shard: it looks at evictSample entries (Go
// starts each map iteration at a random place) and drops the recovered
// ones; when none had recovered, it drops the one with the smallest TAT,
// the client closest to recovery. It reports whether it dropped a client
// that had not recovered (an eviction).
func (s *shard) evict(now int64) bool {
	seen, dropped := 0, 0
	victim, victimTAT := memKey{}, int64(math.MaxInt64)
	for k, tat := range s.m {
		if tat <= now {
			delete(s.m, k)
			dropped++
		} else if tat < victimTAT {
			victim, victimTAT = k, tat
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if dropped == 0 && victimTAT != math.MaxInt64 {
		delete(s.m, victim)
		return true
	}
	return false
}

func insertSorted(s []uint64, v uint64) []uint64 {
	i := 0
	for i < len(s) && s[i] < v {
		i++
	}
	if i < len(s) && s[i] == v {
		return s
	}
	s = append(s, 0)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}
