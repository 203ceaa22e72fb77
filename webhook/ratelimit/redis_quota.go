package ratelimit

import "time"

// appendArgs appends a slot's two script arguments (see gcraScript): a
// rolling rule's interval and capacity, boxed once at compile time; or for
// a quota, minus its limit and the end of its current window in Unix
// microseconds.
func appendArgs(args []any, s *slot) []any {
	if s.r.cal == nil {
		return append(args, s.p.usArgs[:]...)
	}
	s.usWindow()
	return append(args, -s.p.limit, s.win.end)
}

// usWindow sets a quota slot's window, in microseconds, unless it is set.
// The window is this replica's idea of the calendar (its clock and zone
// data); Redis's clock decides everything else, so around a window's end,
// replicas whose clocks differ by d may count a request up to d early or
// late in the next window.
func (s *slot) usWindow() {
	if s.r.cal == nil || s.win.end != 0 {
		return
	}
	w := s.r.cal.at(time.Now().UnixNano())
	s.win = window{start: w.start / int64(time.Microsecond), end: w.end / int64(time.Microsecond)}
}
