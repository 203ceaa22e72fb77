package usage

import (
	"sync/atomic"
	"time"

	"github.com/keygate-dev/keygate/webhook/index"
)

// Recorder notes admitted keys on their index entries. The zero value is
// not usable; call NewRecorder. A nil *Recorder records nothing.
type Recorder struct {
	// now is the time Record stores: unix seconds of the start of the
	// current flush interval. Read on every admission and written once
	// per interval, it has a cache line of its own.
	now atomic.Int64
	_   [56]byte
}

// NewRecorder makes a recorder whose first interval starts at now.
func NewRecorder(now time.Time) *Recorder {
	r := &Recorder{}
	r.Advance(now)
	return r
}

// Record notes that e was admitted. It does nothing on a nil Recorder
// (usage reporting off) or a nil entry (the check admitted no API key).
// It never allocates, locks or reads the clock, and writes the entry only
// when its time moves forward.
func (r *Recorder) Record(e *index.Entry) {
	if r == nil || e == nil {
		return
	}
	now := r.now.Load()
	for old := e.LastUsed.Load(); old < now; old = e.LastUsed.Load() {
		if e.LastUsed.CompareAndSwap(old, now) {
			return
		}
	}
}

// Advance starts a new interval at t (whole seconds). Time never moves
// backwards: an earlier t is ignored.
func (r *Recorder) Advance(t time.Time) {
	s := t.Unix()
	for old := r.now.Load(); old < s; old = r.now.Load() {
		if r.now.CompareAndSwap(old, s) {
			return
		}
	}
}
