package webhook

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMissingForwardedForIsCountedAndLoggedOnce: with --trusted-hops > 0
// a check without X-Forwarded-For falls back to the TCP peer, which is the
// proxy: every client then shares one by: ip bucket. A proxy that does not
// forward the header (Envoy Gateway's headersToExtAuth leaves it out
// unless listed) must show up in a metric and in the log, once.
func TestMissingForwardedForIsCountedAndLoggedOnce(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	sink := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{})
	h := newHarness(t, func(c *Config) { c.Log = sink })
	for range 3 {
		h.do(nginxReq("?auth=none", "https://api.acme.com/x"))
	}
	h.do(nginxReq("?auth=none", "https://api.acme.com/x", "X-Forwarded-For", "203.0.113.7"))
	if got := testutil.ToFloat64(h.srv.metrics.missingForwardedFor); got != 3 {
		t.Errorf("keygate_check_missing_forwarded_for_total = %v, want 3", got)
	}
	n := 0
	for _, l := range logged {
		if strings.Contains(l, "X-Forwarded-For") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("logged the missing X-Forwarded-For %d times, want once: %v", n, logged)
	}

	direct := newHarness(t, func(c *Config) { c.TrustedHops = 0 })
	direct.do(nginxReq("?auth=none", "https://api.acme.com/x"))
	if got := testutil.ToFloat64(direct.srv.metrics.missingForwardedFor); got != 0 {
		t.Errorf("with --trusted-hops 0: counted %v", got)
	}
}
