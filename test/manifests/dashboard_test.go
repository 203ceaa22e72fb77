package manifests_test

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/internal/app"
	"github.com/keygate-dev/keygate/internal/app/kube"
)

// grafanaDashboard is the part of Grafana's JSON model the test reads.
type grafanaDashboard struct {
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a collapsed row's
}

// grafanaVar is a Grafana variable in a query: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// promQL turns a Grafana query into PromQL: interval variables become 5m,
// any other variable (a label value) the string x.
func promQL(q string) string {
	return grafanaVar.ReplaceAllStringFunc(q, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		}
		return "x"
	})
}

// dashboardQueries reads config/prometheus/keygate-dashboard.json and
// returns its PromQL by where it is used, after checking that every panel
// queries the dashboard's Prometheus datasource variable.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(repoPath("config", "prometheus", "keygate-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("keygate-dashboard.json: %v", err)
	}
	out := map[string]string{}
	dsVar := ""
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource" && v.Query == "prometheus":
			dsVar = "${" + v.Name + "}"
		case v.Type == "query":
			q, _ := v.Query.(map[string]any)
			s, _ := q["query"].(string)
			// label_values(<PromQL>, label)
			if m := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`).FindStringSubmatch(s); m != nil {
				out["variable "+v.Name] = m[1]
			} else {
				t.Errorf("variable %s: query %v is not label_values(<selector>, <label>)", v.Name, v.Query)
			}
		}
	}
	if dsVar == "" {
		t.Fatal("the dashboard has no Prometheus datasource variable")
	}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsVar {
				t.Errorf("panel %q: datasource %+v, want prometheus %s", p.Title, p.Datasource, dsVar)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for i, tg := range p.Targets {
				out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	return out
}

// alertQueries returns the expression of each alert of alerts.yaml.
func alertQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(repoPath("config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// selectedMetrics parses q with Prometheus's parser and returns the metric
// names it selects.
func selectedMetrics(q string) ([]string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(promQL(q))
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	return names, nil
}

var registerKeygate struct {
	once sync.Once
	err  error
}

// keygateRegistered builds keygate's two processes as they ship, with the
// install's defaults, which registers their metrics on controller-runtime's
// registry, the one their /metrics serve: the auth server
// (app.NewAuthServerManager) and the controller's ApiKey metrics
// (controllers.Setup with app.DefaultControllerOptions; its controllers may
// be built by other tests of this process too, hence a manager that skips
// the controller name check). controller-runtime's own metrics and the JWT
// authenticator's register when their packages load. Nothing is started.
func keygateRegistered(t *testing.T) {
	t.Helper()
	registerKeygate.once.Do(func() {
		a := app.DefaultAuthServerOptions()
		a.Addr = "127.0.0.1:0"
		if _, err := app.NewAuthServerManager(env.Config, a, logr.Discard()); err != nil {
			registerKeygate.err = err
			return
		}
		c := app.DefaultControllerOptions()
		mgr, err := kube.NewManager(env.Config, kube.ManagerOptions{Cache: controllers.CacheOptions(c.Options), SkipNameValidation: true})
		if err == nil {
			err = controllers.Setup(mgr, c.Options)
		}
		registerKeygate.err = err
	})
	if registerKeygate.err != nil {
		t.Fatal(registerKeygate.err)
	}
}

// registered reports whether a collector on reg describes a metric named
// name: a probe of that name with a help text no real metric has is then
// refused as inconsistent. A probe that is accepted is withdrawn.
func registered(reg prometheus.Registerer, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "keygate test probe: is this name registered?"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// exported reports whether name, as a query selects it, is a series of a
// registered metric: the metric itself, or a histogram's _bucket, _sum or
// _count.
func exported(name string) bool {
	if registered(metrics.Registry, name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && registered(metrics.Registry, base) {
			return true
		}
	}
	return false
}

// TestDashboardAndAlertsQueryExportedMetrics parses every query of the
// Grafana dashboard (panel targets and variables) and every alert with
// Prometheus's parser, and checks that each metric they select is one
// keygate registers, so a renamed metric cannot leave an empty panel or an
// alert that never fires. The names come from the registry the processes
// fill, not from a list kept by hand.
func TestDashboardAndAlertsQueryExportedMetrics(t *testing.T) {
	keygateRegistered(t)
	if registered(metrics.Registry, "keygate_no_such_metric") {
		t.Fatal("the registration probe finds a metric nobody registered; it would prove nothing")
	}
	queries := dashboardQueries(t)
	alerts := alertQueries(t)
	if len(queries) < 10 || len(alerts) < 10 {
		t.Fatalf("found %d dashboard queries and %d alerts; the files hold more", len(queries), len(alerts))
	}
	used := map[string]bool{}
	check := func(queries map[string]string) (selected map[string]bool) {
		selected = map[string]bool{}
		for where, q := range queries {
			names, err := selectedMetrics(q)
			if err != nil {
				t.Errorf("%s: %v\n%s", where, err, q)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s selects no metric: %s", where, q)
			}
			for _, n := range names {
				used[n], selected[n] = true, true
				if !exported(n) {
					t.Errorf("%s queries %s, which keygate does not export", where, n)
				}
			}
		}
		return selected
	}
	check(alerts)
	shown := check(queries)
	// The dashboard's subjects, each by a metric it must show.
	for _, m := range []string{"keygate_check_decisions_total", "keygate_check_duration_seconds_bucket", "keygate_apikeys_loaded",
		"keygate_ratelimit_decisions_total", "keygate_ratelimit_redis_fallback_active", "keygate_apikey_expiration_timestamp_seconds"} {
		if !shown[m] {
			t.Errorf("no panel of the dashboard queries %s", m)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d dashboard queries and %d alerts select %d metrics: %s", len(queries), len(alerts), len(names), strings.Join(names, " "))
}
