package e2e_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/test/testenv"
)

// TestAlertMetricsExist checks that every metric the shipped alerts
// (config/prometheus/alerts.yaml) query is exported by a running keygate,
// so a renamed metric cannot leave an alert that never fires.
func TestAlertMetricsExist(t *testing.T) {
	s := getStack(t)
	rules, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Traffic, and a reload of the JWT config, so that the series of
	// counters with labels exist.
	get(t, http.MethodGet, s.authURL+"/check", nil)
	jwtPath := filepath.Join(s.dir, "jwt.yaml")
	data, err := os.ReadFile(jwtPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jwtPath, append(data, []byte("# touched\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	// The auth server and the controller are separate processes, each
	// with its own /metrics, as in an install.
	exported := map[string]bool{}
	scrape := func(url string) {
		_, body := get(t, http.MethodGet, url, nil)
		for _, line := range strings.Split(body, "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				exported[strings.Fields(name)[0]] = true
			}
		}
	}
	eventually(t, 10*time.Second, "the JWT config reload counted", func() bool {
		scrape(s.authURL + "/metrics")
		return exported["keygate_jwt_config_reloads_total"]
	})
	eventually(t, 10*time.Second, "the controller's metrics", func() bool {
		scrape(s.controllerMetrics)
		return exported["controller_runtime_reconcile_total"]
	})
	names := regexp.MustCompile(`\b(keygate_[a-z_]+|controller_runtime_[a-z_]+)\b`).FindAllString(string(rules), -1)
	if len(names) < 5 {
		t.Fatalf("found only %v in the alerts", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "keygate_apikey_") {
			// One series per ApiKey in a given state (expiring, rotated,
			// used), absent from a scrape without one; test/manifests
			// checks these names against the controller's registration.
			continue
		}
		base := n
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !exported[base] {
			t.Errorf("alerts query %s, which keygate does not export", n)
		}
	}
}
