package chart_test

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
)

// allOn turns every option of values.yaml on (Redis bundled; redisSecret
// is the other Redis mode).
const allOn = `
image:
  repository: registry.example/keygate
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: Always
imagePullSecrets: [regcred]
controller:
  replicas: 2
  resources: {requests: {cpu: 10m, memory: 32Mi}, limits: {memory: 1Gi}}
  watchNamespaces: [acme, globex]
  extraArgs: [--max-concurrent-reconciles=4]
  podAnnotations: {example.com/team: platform}
  nodeSelector: {kubernetes.io/os: linux}
  tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        preference: {matchExpressions: [{key: example.com/pool, operator: In, values: [infra]}]}
authServer:
  replicas: 3
  resources: {requests: {cpu: 200m, memory: 128Mi}, limits: {memory: 512Mi}}
  proxy: traefik
  trustedHops: 1
  extraArgs: [--ip-prefix-v6=56]
  podAnnotations: {example.com/team: platform}
  nodeSelector: {kubernetes.io/os: linux}
  tolerations: [{key: dedicated, operator: Exists}]
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        podAffinityTerm:
          topologyKey: topology.kubernetes.io/zone
          labelSelector: {matchLabels: {app.kubernetes.io/component: auth-server}}
  podDisruptionBudget: {enabled: true, minAvailable: 2}
networkPolicy:
  enabled: true
  proxyNamespaces: [ingress-nginx, traefik]
jwt:
  config:
    issuers:
    - issuer: https://login.acme.example/
      audiences: [https://api.acme.example]
      algorithms: [RS256]
      jwksURL: https://login.acme.example/.well-known/jwks.json
      leeway: 30s
redis:
  mode: bundled
  onError: deny
metrics:
  serviceMonitor: {enabled: true, interval: 15s, prometheusNamespace: observability, labels: {release: prom}}
  prometheusRule: {enabled: true, labels: {release: prom}}
  grafanaDashboard: {enabled: true, namespace: observability, labels: {grafana_dashboard: "1", release: prom}, annotations: {grafana_folder: keygate}}
`

// redisSecret is the other Redis mode: the URL from a Secret.
const redisSecret = `
redis:
  mode: secret
  secret: {name: keygate-redis-url, key: url}
  onError: allow
`

// TestLint runs helm lint (strict: warnings count) with the defaults and
// with every option on.
func TestLint(t *testing.T) {
	for name, vals := range map[string]string{"defaults": "", "all options": allOn, "redis secret": redisSecret} {
		l := action.NewLint()
		l.Strict = true
		res := l.Run([]string{repoPath("charts", "keygate")}, values(t, vals))
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: helm lint: %s", name, m)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("%s: helm lint: %v", name, err)
		}
		if res.TotalChartsLinted != 1 {
			t.Errorf("%s: helm lint linted %d charts, want 1", name, res.TotalChartsLinted)
		}
	}
}

// TestSchemaRefusesBadValues: a value of the wrong shape stops helm before
// anything renders, and the message names the value.
func TestSchemaRefusesBadValues(t *testing.T) {
	ch := loadChart(t)
	cases := []struct{ values, want string }{
		{"authServer: {proxy: haproxy}", "/authServer/proxy"},
		{"authServer: {trustedHops: -1}", "/authServer/trustedHops"},
		{"authServer: {trustedHops: \"1\"}", "/authServer/trustedHops"},
		{"authServer: {replica: 3}", "replica"},
		{"redis: {mode: secret}", "/redis"},
		{"redis: {mode: secret, secret: {name: \"\"}}", "/redis/secret/name"},
		{"redis: {mode: true}", "/redis/mode"},
		{"redis: {onError: ignore}", "/redis/onError"},
		{"redis: {mode: secret, secret: {name: s, key: ../../etc/passwd}}", "/redis/secret/key"},
		{"image: {digest: latest}", "/image/digest"},
		{"image: {repository: \"evil\\n  hostNetwork: true\"}", "/image/repository"},
		{"networkPolicy: {proxyNamespaces: [Ingress_Nginx]}", "/networkPolicy/proxyNamespaces/0"},
		{"networkPolicy: {proxyNamespaces: []}", "/networkPolicy/proxyNamespaces"},
		{"controller: {extraArgs: [\"-v\"]}", "/controller/extraArgs/0"},
		{"controller: {watchNamespaces: [\"a,b\"]}", "/controller/watchNamespaces/0"},
		{"controller: {resources: {limits: {memory: lots}}}", "/controller/resources/limits/memory"},
		{"jwt: {config: {issuers: none}}", "/jwt/config/issuers"},
		{"metrics: {serviceMonitor: {interval: often}}", "/metrics/serviceMonitor/interval"},
		{"metrics: {grafanaDashboard: {namespace: Monitoring}}", "/metrics/grafanaDashboard/namespace"},
		{"metrics: {grafanaDashboard: {labels: {grafana_dashboard: 1}}}", "/metrics/grafanaDashboard/labels/grafana_dashboard"},
	}
	for _, c := range cases {
		_, err := template(ch, values(t, c.values))
		if err == nil {
			t.Errorf("values %s: rendered, want a refusal", c.values)
			continue
		}
		if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("values %s: error %q does not name %s", c.values, err, c.want)
		}
	}
}

// TestNotes: after an install, NOTES.txt prints the check URL in the
// release namespace and the annotations for ingress-nginx and Traefik.
func TestNotes(t *testing.T) {
	rel, err := template(loadChart(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://keygate-auth-server." + namespace + ".svc.cluster.local/check"
	for _, want := range []string{
		"nginx.ingress.kubernetes.io/auth-url: \"" + url + "\"",
		"nginx.ingress.kubernetes.io/auth-response-headers: \"X-Auth-Subject,X-Auth-Method,X-Auth-Key-Id,X-Auth-Key-Type,X-Auth-Scopes,X-Auth-Issuer\"",
		"address: " + url,
		"traefik.ingress.kubernetes.io/router.middlewares:",
		"ingress-nginx",
	} {
		if !strings.Contains(rel.Info.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, rel.Info.Notes)
		}
	}
	// The headers list must be the one the ingress-nginx guide documents.
	guide, err := os.ReadFile(repoPath("docs", "ingress-nginx.md"))
	if err != nil {
		t.Fatal(err)
	}
	hdrs := regexp.MustCompile(`auth-response-headers: "[^"]+"`).Find(guide)
	if hdrs == nil || !strings.Contains(rel.Info.Notes, string(hdrs)) {
		t.Errorf("NOTES.txt's auth-response-headers differ from docs/ingress-nginx.md's %s", hdrs)
	}
}

// TestChartCopiesAreCurrent: the CRDs, the generated roles and the alerts
// in the chart are those of config/ (make manifests copies them), and
// Chart.yaml carries the Makefile's VERSION.
func TestChartCopiesAreCurrent(t *testing.T) {
	for copyPath, src := range map[string]string{
		"crds/keygate.dev_apikeys.yaml":           "config/crd/bases/keygate.dev_apikeys.yaml",
		"crds/keygate.dev_ratelimitpolicies.yaml": "config/crd/bases/keygate.dev_ratelimitpolicies.yaml",
		"crds/keygate.dev_usagereports.yaml":      "config/crd/bases/keygate.dev_usagereports.yaml",
		"files/controller-role.yaml":              "config/rbac/controller/role.yaml",
		"files/auth-server-role.yaml":             "config/rbac/auth-server/role.yaml",
		"files/alerts.yaml":                       "config/prometheus/alerts.yaml",
	} {
		a, errA := os.ReadFile(repoPath("charts", "keygate", copyPath))
		b, errB := os.ReadFile(repoPath(src))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("charts/keygate/%s is not a copy of %s (%v, %v): run make manifests", copyPath, src, errA, errB)
		}
	}
	mk, err := os.ReadFile(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION \?= v(\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no VERSION ?= line in the Makefile")
	}
	md := loadChart(t).Metadata
	if md.Version != string(m[1]) || md.AppVersion != "v"+string(m[1]) {
		t.Errorf("Chart.yaml has version %s, appVersion %s; the Makefile's VERSION is v%s: run make chart", md.Version, md.AppVersion, m[1])
	}
}
