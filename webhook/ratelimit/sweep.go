package ratelimit

import "time"

// sweepEvery drops recovered counters every interval until close.
func (m *memStore) sweepEvery(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweep drops every counter that has fully recovered (TAT <= now): such a
// counter behaves exactly like a missing one. A shard left with under a
// quarter of its peak is copied into a fresh map, because Go maps do not
// give back memory when entries are deleted.
func (m *memStore) sweep() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		now := m.now()
		for k, tat := range s.m {
			if tat <= now {
				delete(s.m, k)
			}
		}
		if s.peak > 1024 && len(s.m) < s.peak/4 {
			s.remake()
		}
		s.mu.Unlock()
	}
}

// Len returns the number of counters held.
func (m *memStore) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// close stops the sweeper and takes the store off the entries gauge.
func (m *memStore) close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.metrics.untrack(m)
	})
}
