package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/webhook"
)

// TestDecisionLogFlags: refusals by default, every admission under all
// unless sampled, and a clear error for a mode or a sample that means
// nothing.
func TestDecisionLogFlags(t *testing.T) {
	f, err := parseAuthServerFlags(nil, io.Discard)
	if err != nil || f.opts.DecisionLog != (webhook.DecisionLog{Mode: webhook.DecisionLogRefusals, Sample: 1}) {
		t.Fatalf("default %+v, %v", f.opts.DecisionLog, err)
	}
	f, err = parseAuthServerFlags([]string{"--decision-log=all", "--decision-log-sample=100"}, io.Discard)
	if err != nil || f.opts.DecisionLog != (webhook.DecisionLog{Mode: webhook.DecisionLogAll, Sample: 100}) {
		t.Fatalf("all, 1 in 100: %+v, %v", f.opts.DecisionLog, err)
	}
	if f, err = parseAuthServerFlags([]string{"--decision-log=off"}, io.Discard); err != nil || f.opts.DecisionLog.Mode != webhook.DecisionLogOff {
		t.Fatalf("off: %+v, %v", f.opts.DecisionLog, err)
	}
	for bad, msg := range map[string]string{"--decision-log=verbose": "off, refusals or all", "--decision-log-sample=0": "1 or more",
		"--decision-log-sample=-1": "invalid value"} {
		if _, err := parseAuthServerFlags([]string{bad}, io.Discard); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want an error saying %q", bad, err, msg)
		}
	}
}
