package ratelimit

import (
	"fmt"
	"sync/atomic"
	"time"

	_ "time/tzdata" // calendar quotas name IANA zones; the image has no zoneinfo

	"github.com/keygate-dev/keygate/internal/record"
)

// A calendar quota counts requests per calendar day, week (from Monday) or
// month in a time zone. Its counter is stored where a GCRA TAT is, as one
// number: the window's end plus the count (in the backend's unit). A
// number from an earlier window is below the current end, since a count
// (at most a billion nanoseconds or microseconds, 1000 s) is far shorter
// than a window (at least 23 hours): it reads as zero, so a quota starts
// again at the window's start without any reset. And like a TAT, the
// number is in the past once the window is over, so the sweeper and
// Redis's expiry drop it.

// calendar is a quota's window kind and zone, and the window now in
// force, cached so that a check computes no date.
type calendar struct {
	kind string
	loc  *time.Location
	cur  atomic.Pointer[window]
}

// window is [start, end) in Unix nanoseconds.
type window struct{ start, end int64 }

// maxCount bounds a count read back from a stored number: above it, the
// number is not of this window.
const maxCount = 1 << 30

func newCalendar(kind, zone string) (*calendar, error) {
	switch kind {
	case "":
		return nil, nil
	case record.CalendarDay, record.CalendarWeek, record.CalendarMonth:
	default:
		return nil, fmt.Errorf("calendar %q is not day, week or month", kind)
	}
	loc := time.UTC
	if zone != "" && zone != "UTC" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, fmt.Errorf("timeZone %q: %w", zone, err)
		}
		loc = l
	}
	return &calendar{kind: kind, loc: loc}, nil
}

// at is the window that holds now (Unix nanoseconds).
func (c *calendar) at(now int64) window {
	if w := c.cur.Load(); w != nil && now >= w.start && now < w.end {
		return *w
	}
	w := c.compute(now)
	c.cur.Store(&w)
	return w
}

func (c *calendar) compute(now int64) window {
	t := time.Unix(0, now).In(c.loc)
	y, m, d := t.Date()
	var start, end time.Time
	switch c.kind {
	case record.CalendarDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, c.loc)
		end = time.Date(y, m, d+1, 0, 0, 0, 0, c.loc)
	case record.CalendarWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, c.loc)
		end = time.Date(y, m, d-back+7, 0, 0, 0, 0, c.loc)
	default:
		start = time.Date(y, m, 1, 0, 0, 0, 0, c.loc)
		end = time.Date(y, m+1, 1, 0, 0, 0, 0, c.loc)
	}
	return window{start: start.UnixNano(), end: end.UnixNano()}
}

// quotaCount reads the count of the window ending at end from a stored
// number; a number of another window, or none, is zero.
func quotaCount(stored, end int64) int64 {
	if stored < end || stored-end > maxCount {
		return 0
	}
	return stored - end
}
