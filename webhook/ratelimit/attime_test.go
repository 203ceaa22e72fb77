package ratelimit

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/keygate-dev/keygate/internal/record"
)

// TestRequestAtStandsInForTheClock checks that a memory limiter on the
// real clock counts a request at its At (monotonic reading included), and
// that one with a clock of its own ignores At.
func TestRequestAtStandsInForTheClock(t *testing.T) {
	ps := []*Policy{mustCompile(t, "at", record.Rule{Name: "one", Limit: 1, Period: time.Minute, By: "ip"})}
	ctx := context.Background()

	real := NewMemory(MemoryOptions{SweepInterval: -1})
	defer real.Close()
	at := time.Now()
	req := &Request{Method: "GET", Path: "/", IP: "203.0.113.1", At: at}
	if d, err := real.Check(ctx, BeforeAuth, ps, req); err != nil || !d.Allowed {
		t.Fatalf("first request: %+v %v", d, err)
	}
	req.At = at.Add(30 * time.Second)
	if d, _ := real.Check(ctx, BeforeAuth, ps, req); d.Allowed {
		t.Fatal("a second request 30s later (by At) was allowed by a 1/min rule")
	}
	req.At = at.Add(61 * time.Second)
	if d, _ := real.Check(ctx, BeforeAuth, ps, req); !d.Allowed {
		t.Fatalf("a request 61s later (by At) was refused: %+v", d)
	}

	clk := clocktesting.NewFakePassiveClock(at)
	fake := NewMemory(MemoryOptions{Clock: clk, SweepInterval: -1})
	defer fake.Close()
	req = &Request{Method: "GET", Path: "/", IP: "203.0.113.2", At: at}
	if d, _ := fake.Check(ctx, BeforeAuth, ps, req); !d.Allowed {
		t.Fatal("first request refused")
	}
	req.At = at.Add(time.Hour)
	if d, _ := fake.Check(ctx, BeforeAuth, ps, req); d.Allowed {
		t.Fatal("a limiter with its own clock counted by Request.At")
	}
}
