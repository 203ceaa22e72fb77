package cli

import (
	"io"
	"testing"
	"time"
)

// TestUsageFlags: the report is named after the pod ($POD_NAME) unless
// --usage-report-name says otherwise; a name that is no object name, a
// flush interval under a second and a granularity under a second are
// refused; 0 turns reporting off.
func TestUsageFlags(t *testing.T) {
	t.Setenv(podNameEnv, "keygate-auth-server-7d9c8-x2x4q")
	f, err := parseAuthServerFlags(nil, io.Discard)
	if err != nil || f.opts.UsageReportName != "keygate-auth-server-7d9c8-x2x4q" || f.opts.UsageFlushInterval != time.Minute {
		t.Fatalf("defaults in a pod: %q every %v, %v; want the pod's name every 1m", f.opts.UsageReportName, f.opts.UsageFlushInterval, err)
	}
	f, err = parseAuthServerFlags([]string{"--usage-report-name=replica-1", "--usage-flush-interval=0"}, io.Discard)
	if err != nil || f.opts.UsageReportName != "replica-1" || f.opts.UsageFlushInterval != 0 {
		t.Fatalf("flags: %q every %v, %v", f.opts.UsageReportName, f.opts.UsageFlushInterval, err)
	}
	for _, bad := range [][]string{{"--usage-flush-interval=500ms"}, {"--usage-flush-interval=-1s"}, {"--usage-report-name=Replica_1"}} {
		if _, err := parseAuthServerFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	c, err := parseControllerFlags([]string{"--usage-granularity=15m"}, io.Discard)
	if err != nil || c.opts.UsageGranularity != 15*time.Minute {
		t.Fatalf("--usage-granularity=15m: %v, %v", c.opts.UsageGranularity, err)
	}
	if c, err := parseControllerFlags(nil, io.Discard); err != nil || c.opts.UsageGranularity != time.Hour {
		t.Fatalf("default granularity %v, %v; want 1h", c.opts.UsageGranularity, err)
	}
	if _, err := parseControllerFlags([]string{"--usage-granularity=500ms"}, io.Discard); err == nil {
		t.Error("--usage-granularity=500ms: no error")
	}
}
