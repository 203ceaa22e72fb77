package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMerge(t *testing.T) {
	none := Decision{Allowed: true}
	ipOK := Decision{Allowed: true, Counted: true, Rule: "global", Remaining: 50, Reset: time.Second}
	keyOK := Decision{Allowed: true, Counted: true, Rule: "sdk", Remaining: 10, Reset: time.Second}
	keyOKLater := Decision{Allowed: true, Counted: true, Rule: "sdk2", Remaining: 10, Reset: 2 * time.Second}
	ipNo := Decision{Counted: true, Rule: "auth", RetryAfter: 3 * time.Second}
	keyNo := Decision{Counted: true, Rule: "sdk", RetryAfter: 5 * time.Second}
	tests := []struct {
		name   string
		a, b   Decision
		wantRl string
	}{
		{"nothing counted", none, none, ""},
		{"only before", ipOK, none, "global"},
		{"only after", none, keyOK, "sdk"},
		{"zero value gives way", Decision{}, keyOK, "sdk"},
		{"fewest remaining", ipOK, keyOK, "sdk"},
		{"fewest remaining, either order", keyOK, ipOK, "sdk"},
		{"tie: later reset", keyOK, keyOKLater, "sdk2"},
		{"refusal wins", ipNo, keyOK, "auth"},
		{"refusal wins, either order", keyOK, ipNo, "auth"},
		{"longer wait", ipNo, keyNo, "sdk"},
		{"longer wait, either order", keyNo, ipNo, "sdk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.a.Merge(tt.b)
			if got.Rule != tt.wantRl {
				t.Fatalf("Merge reported %q, want %q", got.Rule, tt.wantRl)
			}
			if wantAllowed := (tt.a.Allowed || !tt.a.Counted) && (tt.b.Allowed || !tt.b.Counted); got.Allowed != wantAllowed {
				t.Fatalf("Merge allowed %v, want %v", got.Allowed, wantAllowed)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{100 * time.Millisecond, 1},
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2},
		{59*time.Second + 999*time.Millisecond, 60},
		{0, 1}, // a refusal always says to wait
	} {
		d := Decision{Counted: true, RetryAfter: tt.wait}
		if got := d.RetryAfterSeconds(); got != tt.want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", tt.wait, got, tt.want)
		}
	}
	if got := (Decision{Allowed: true, Counted: true, RetryAfter: time.Second}).RetryAfterSeconds(); got != 0 {
		t.Errorf("admitted: RetryAfterSeconds = %d, want 0", got)
	}
}

func TestAppendHeaders(t *testing.T) {
	h := http.Header{}
	Decision{Allowed: true}.AppendHeaders(h)
	if len(h) != 0 {
		t.Fatalf("uncounted decision set %v", h)
	}
	// The contract's example: 600 per minute, one request made.
	Decision{Allowed: true, Counted: true, Rule: "sdk", Limit: 600, Window: time.Minute, Remaining: 599, Reset: 100 * time.Millisecond}.AppendHeaders(h)
	if got := h.Get("RateLimit-Policy"); got != `"sdk";q=600;w=60` {
		t.Errorf("RateLimit-Policy = %s", got)
	}
	if got := h.Get("RateLimit"); got != `"sdk";r=599;t=1` {
		t.Errorf("RateLimit = %s", got)
	}
	if got := h.Get("Retry-After"); got != "" {
		t.Errorf("Retry-After on an admission: %s", got)
	}
	h = http.Header{}
	Decision{Counted: true, Rule: "auth", Limit: 10, Window: time.Minute, Reset: 59500 * time.Millisecond, RetryAfter: 5500 * time.Millisecond}.AppendHeaders(h)
	if h.Get("RateLimit") != `"auth";r=0;t=60` || h.Get("Retry-After") != "6" {
		t.Errorf("refusal headers: %v", h)
	}
}

// TestAppendHeadersKeysAndValuesStandAlone: the headers are keyed as
// http.Header.Set keys them (so Get, Del and a second Set find them), and
// the two values, which share their storage, cannot write into each other.
func TestAppendHeadersKeysAndValuesStandAlone(t *testing.T) {
	for _, k := range []string{policyHeader, rateLimitHeader} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
	}
	h := http.Header{}
	d := Decision{Allowed: true, Counted: true, Rule: "a-rule-with-a-long-name-\"quoted\"-" + strings.Repeat("x", 200), Limit: 1 << 40, Window: time.Hour, Remaining: 7, Reset: time.Second}
	d.AppendHeaders(h)
	h.Add("RateLimit-Policy", "extra")
	want := strconv.Quote(d.Rule) + ";r=7;t=1"
	if got := h.Values("RateLimit"); len(got) != 1 || got[0] != want {
		t.Errorf("RateLimit = %q after adding to RateLimit-Policy, want [%s]", got, want)
	}
	if got := h.Values("RateLimit-Policy"); len(got) != 2 || got[0] != strconv.Quote(d.Rule)+";q=1099511627776;w=3600" {
		t.Errorf("RateLimit-Policy = %q", got)
	}
	h.Set("RateLimit", "replaced")
	if len(h) != 2 {
		t.Errorf("Set added a second key beside AppendHeaders': %v", h)
	}
}

// TestAppendHeadersAllocations: the headers of an admitted request of a
// policy cost two allocations (http.Header.Set would make six).
func TestAppendHeadersAllocations(t *testing.T) {
	d := Decision{Allowed: true, Counted: true, Rule: "sdk", Limit: 600, Window: time.Minute, Remaining: 599, Reset: time.Second}
	if n := testing.AllocsPerRun(100, func() { d.AppendHeaders(http.Header{}) }); n > 2 {
		t.Errorf("AppendHeaders allocates %v times, want at most 2 (one string, one slice)", n)
	}
}
