package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/webhook/check"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

func TestRateLimitBeforeAndAfterAuth(t *testing.T) {
	h := newHarness(t)
	req := func(hdr ...string) *http.Request {
		return nginxReq("?policy=acme/strict", "https://api.acme.com/k/x", append([]string{"X-Forwarded-For", "203.0.113.7"}, hdr...)...)
	}
	// per-key (1/min, after auth) admits one; the second is 429.
	w := h.do(req("X-API-Key", keySecret))
	if code(t, w) != "" || w.Header().Get("RateLimit-Policy") == "" || w.Header().Get("RateLimit") == "" {
		t.Fatalf("first: %d %v", w.Code, w.Header())
	}
	w = h.do(req("X-API-Key", keySecret))
	if code(t, w) != check.CodeRateLimited || w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if !strings.Contains(w.Body.String(), "per-key") {
		t.Fatalf("429 does not name the rule: %s", w.Body)
	}
	// per-ip (2/min, before auth) has counted both; a failed login counts
	// too: the next request is refused before its credential is looked at.
	w = h.do(req("X-API-Key", keyUnknown))
	if got := code(t, w); got != check.CodeRateLimited {
		t.Fatalf("third from the same IP: %q, want RATE_LIMITED before auth", got)
	}
	// Another client IP is not affected by the first one's count.
	w = h.do(nginxReq("?policy=acme/strict", "https://api.acme.com/other", "X-Forwarded-For", "203.0.113.8", "X-API-Key", keyUnknown))
	if got := code(t, w); got != check.CodeAuthFailed || w.Header().Get("RateLimit") == "" {
		t.Fatalf("other IP: %q %v", got, w.Header())
	}
	// After Retry-After, admitted again.
	h.clock.SetTime(h.clock.Now().Add(61 * time.Second))
	if got := code(t, h.do(req("X-API-Key", keySecret))); got != "" {
		t.Fatalf("after Retry-After: %q", got)
	}
}

func TestSpoofedForwardedForDoesNotEscapeIPLimits(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		// The client prepends a fresh address each time; the proxy appends
		// the real one, which is what counts with --trusted-hops 1.
		xff := fmt.Sprintf("198.51.100.%d, 203.0.113.9", i)
		w := h.do(nginxReq("?policy=acme/strict&auth=none", "https://api.acme.com/x", "X-Forwarded-For", xff))
		want := ""
		if i >= 2 {
			want = check.CodeRateLimited
		}
		if got := code(t, w); got != want {
			t.Fatalf("request %d: %q, want %q", i, got, want)
		}
	}
}

func TestCompatNginx(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		hdr        []string
		wantStatus int
		wantErr    string
	}{
		{"429 as 403 via X-Sent-From", "?policy=acme/strict&auth=none", []string{"X-Sent-From", "nginx-ingress-controller"}, 403, "429"},
		{"429 as 403 via compat=nginx", "?policy=acme/strict&auth=none&compat=nginx", nil, 403, "429"},
		{"401 stays 401 with X-Error-*", "?compat=nginx", nil, 401, "401"},
		{"500 policy not found as 403", "?compat=nginx&policy=acme/none", nil, 403, "500"},
		{"400 options as 403", "?compat=nginx&auth=bad", nil, 403, "400"},
		{"no compat: real 429", "?policy=acme/strict&auth=none", nil, 429, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var w = h.do(nginxReq(tc.query, orig, tc.hdr...))
			for i := 0; i < 2; i++ { // exhaust per-ip (2/min) where a policy applies
				w = h.do(nginxReq(tc.query, orig, tc.hdr...))
			}
			if w.Code != tc.wantStatus || w.Header().Get("X-Error-Status") != tc.wantErr {
				t.Fatalf("status %d X-Error-Status %q, want %d %q", w.Code, w.Header().Get("X-Error-Status"), tc.wantStatus, tc.wantErr)
			}
			if tc.wantErr == "" {
				return
			}
			body := w.Body.String()
			if w.Header().Get("X-Error-Body") != body || strings.Contains(body, "\n") || w.Header().Get("X-Error-Code") == "" {
				t.Fatalf("X-Error-Body %q, body %q", w.Header().Get("X-Error-Body"), body)
			}
			if tc.wantErr == "429" && w.Header().Get("Retry-After") == "" {
				t.Fatal("compat 429 without Retry-After")
			}
		})
	}
}

// failingLimiter stands in for a Redis limiter with --redis-on-error=deny
// while Redis is down; the real one is tested in its package.
type failingLimiter struct{}

func (failingLimiter) Check(context.Context, ratelimit.Stage, []*ratelimit.Policy, *ratelimit.Request) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, fmt.Errorf("redis: connection refused: %w", ratelimit.ErrUnavailable)
}

func TestLimiterUnavailable(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limiter = failingLimiter{} })
	w := h.do(nginxReq("?policy=acme/seed", orig, "X-API-Key", keySecret))
	if got := code(t, w); got != check.CodeLimiterUnavailable || w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d %q", w.Code, got)
	}
	// Without a policy the limiter is not consulted at all.
	if got := code(t, h.do(nginxReq("", orig, "X-API-Key", keySecret))); got != "" {
		t.Fatalf("no policy: %q", got)
	}
}

func TestPolicyNotFoundMessage(t *testing.T) {
	h := newHarness(t)
	w := h.do(nginxReq("?policy=acme/seed,acme/gone", orig, "X-API-Key", keySecret))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "acme/gone") ||
		!strings.Contains(w.Body.String(), "exists and is Ready") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// The policy appears: the cached resolution follows the index.
	h.ix.Apply(recordSecret(t, "ratelimitpolicy", "rlp.acme.gone", func() any {
		p := seedPolicy(t, 1)
		p.Source.Name = "gone"
		return p
	}()))
	if got := code(t, h.do(nginxReq("?policy=acme/seed,acme/gone", orig, "X-API-Key", keySecret))); got != "" {
		t.Fatalf("after the policy loads: %q", got)
	}
	h.ix.Remove("keygate-system", "rlp.acme.gone")
	if got := code(t, h.do(nginxReq("?policy=acme/seed,acme/gone", orig, "X-API-Key", keySecret))); got != check.CodePolicyNotFound {
		t.Fatalf("after the policy goes: %q", got)
	}
}
