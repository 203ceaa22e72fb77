package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/keygate-dev/keygate/test/testenv"
)

// The CRDs' validation rules, checked against a real API server: each case
// mutates a valid object and names the text the refusal must contain. Every
// invalid case is also applied with kubectl, as a user would.

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.New(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

type validationCase struct {
	name   string
	mutate func(obj map[string]any)
	// wantErr is a substring of the API server's message; empty = accepted.
	wantErr string
}

func validAPIKey() map[string]any {
	return map[string]any{
		"apiVersion": "keygate.dev/v1alpha1",
		"kind":       "ApiKey",
		"metadata":   map[string]any{"name": "acme-sdk", "namespace": "default"},
		"spec": map[string]any{
			"subject":        "acme",
			"prefix":         "wfx_",
			"scopes":         []any{"events:write"},
			"allowedOrigins": []any{"https://app.acme.com", "http://localhost:3000"},
			"expiresAt":      "2027-01-01T00:00:00Z",
			"rotation":       map[string]any{"every": "720h", "gracePeriod": "24h"},
		},
	}
}

func validPolicy() map[string]any {
	return map[string]any{
		"apiVersion": "keygate.dev/v1alpha1",
		"kind":       "RateLimitPolicy",
		"metadata":   map[string]any{"name": "breakground", "namespace": "default"},
		"spec": map[string]any{
			"rules": []any{
				map[string]any{"name": "global", "limit": int64(100), "period": "1m", "by": "ip"},
				map[string]any{"name": "auth", "limit": int64(10), "period": "1m", "by": "ip",
					"match": map[string]any{"pathPrefixes": []any{"/api/auth/"}}},
				map[string]any{"name": "admin-write", "limit": int64(20), "period": "1m", "by": "subject",
					"match": map[string]any{"pathPrefixes": []any{"/api/admin/"}, "methods": []any{"POST", "PUT", "PATCH", "DELETE"}}},
				map[string]any{"name": "tenant", "limit": int64(5), "period": "1s", "by": "header:X-Tenant-Id"},
			},
		},
	}
}

func spec(o map[string]any) map[string]any { return o["spec"].(map[string]any) }

func set(key string, v any) func(map[string]any) {
	return func(o map[string]any) { spec(o)[key] = v }
}

func rule(i int, key string, v any) func(map[string]any) {
	return func(o map[string]any) { spec(o)["rules"].([]any)[i].(map[string]any)[key] = v }
}

func gitops(o map[string]any) {
	s := spec(o)
	delete(s, "rotation")
	s["keyHashes"] = []any{
		map[string]any{"sha256": strings.Repeat("9f", 32)},
		map[string]any{"sha256": strings.Repeat("60", 32), "notAfter": "2026-12-01T00:00:00Z"},
	}
}

var apiKeyCases = []validationCase{
	{name: "valid generated key", mutate: func(map[string]any) {}},
	{name: "valid gitops key", mutate: gitops},
	{name: "valid public key", mutate: set("type", "public")},
	{name: "subject missing", mutate: func(o map[string]any) { delete(spec(o), "subject") }, wantErr: `spec.subject: Required value`},
	{name: "subject empty", mutate: set("subject", ""), wantErr: `spec.subject: Invalid value: "": spec.subject in body should be at least 1 chars long`},
	{name: "subject with a comma", mutate: set("subject", "a,b"), wantErr: `spec.subject in body should match`},
	{name: "unknown type", mutate: set("type", "private"), wantErr: `spec.type: Unsupported value: "private": supported values: "secret", "public"`},
	{name: "prefix without underscore", mutate: set("prefix", "wfx"), wantErr: `spec.prefix in body should match '^[a-z][a-z0-9]{0,15}_$'`},
	{name: "prefix uppercase", mutate: set("prefix", "WFX_"), wantErr: `spec.prefix in body should match`},
	{name: "prefix too long", mutate: set("prefix", "abcdefghijklmnopq_"), wantErr: `spec.prefix in body should match`},
	{name: "sha256 not hex", mutate: func(o map[string]any) {
		gitops(o)
		spec(o)["keyHashes"].([]any)[0].(map[string]any)["sha256"] = strings.Repeat("zz", 32)
	}, wantErr: `spec.keyHashes[0].sha256 in body should match '^[0-9a-f]{64}$'`},
	{name: "sha256 uppercase", mutate: func(o map[string]any) {
		gitops(o)
		spec(o)["keyHashes"].([]any)[0].(map[string]any)["sha256"] = strings.Repeat("9F", 32)
	}, wantErr: `spec.keyHashes[0].sha256 in body should match`},
	{name: "sha256 short", mutate: func(o map[string]any) {
		gitops(o)
		spec(o)["keyHashes"].([]any)[0].(map[string]any)["sha256"] = "9f86d081"
	}, wantErr: `spec.keyHashes[0].sha256 in body should match`},
	{name: "sha256 duplicated", mutate: func(o map[string]any) {
		gitops(o)
		spec(o)["keyHashes"].([]any)[1].(map[string]any)["sha256"] = strings.Repeat("9f", 32)
	}, wantErr: `spec.keyHashes[1]: Duplicate value`},
	{name: "keyHashes with secretName", mutate: func(o map[string]any) { gitops(o); spec(o)["secretName"] = "acme" },
		wantErr: `secretName and rotation apply to keys that keygate generates; remove them when keyHashes is set (GitOps mode)`},
	{name: "keyHashes with rotation", mutate: func(o map[string]any) {
		gitops(o)
		spec(o)["rotation"] = map[string]any{"every": "720h"}
	}, wantErr: `secretName and rotation apply to keys that keygate generates`},
	{name: "keyHashes empty", mutate: set("keyHashes", []any{}), wantErr: `spec.keyHashes: Invalid value: 0: spec.keyHashes in body should have at least 1 items`},
	{name: "rotation every under 1h", mutate: set("rotation", map[string]any{"every": "30m", "gracePeriod": "10m"}), wantErr: `rotation.every must be at least 1h`},
	{name: "grace not shorter than every", mutate: set("rotation", map[string]any{"every": "24h", "gracePeriod": "24h"}), wantErr: `rotation.gracePeriod must be shorter than rotation.every`},
	{name: "default grace longer than every", mutate: set("rotation", map[string]any{"every": "12h"}), wantErr: `rotation.gracePeriod must be shorter than rotation.every`},
	{name: "every not a duration", mutate: set("rotation", map[string]any{"every": "monthly"}), wantErr: `spec.rotation.every in body should match`},
	{name: "rotation without every", mutate: set("rotation", map[string]any{"gracePeriod": "1h"}), wantErr: `spec.rotation.every: Required value`},
	{name: "origin with path", mutate: set("allowedOrigins", []any{"https://app.acme.com/login"}), wantErr: `spec.allowedOrigins[0] in body should match`},
	{name: "origin without scheme", mutate: set("allowedOrigins", []any{"app.acme.com"}), wantErr: `spec.allowedOrigins[0] in body should match`},
	{name: "origin wildcard", mutate: set("allowedOrigins", []any{"https://*.acme.com"}), wantErr: `spec.allowedOrigins[0] in body should match`},
	{name: "scope with a space", mutate: set("scopes", []any{"events write"}), wantErr: `spec.scopes[0] in body should match`},
	{name: "secretName not a DNS name", mutate: set("secretName", "Acme_SDK"), wantErr: `spec.secretName in body should match`},
	{name: "expiresAt not a time", mutate: set("expiresAt", "next year"), wantErr: `spec.expiresAt`},
}

var policyCases = []validationCase{
	{name: "valid seed policy", mutate: func(map[string]any) {}},
	{name: "no rules", mutate: set("rules", []any{}), wantErr: `spec.rules: Invalid value: 0: spec.rules in body should have at least 1 items`},
	{name: "duplicate rule names", mutate: rule(1, "name", "global"), wantErr: `spec.rules[1]: Duplicate value: {"name":"global"}`},
	{name: "rule name with spaces", mutate: rule(0, "name", "Global Limit"), wantErr: `spec.rules[0].name in body should match`},
	{name: "limit zero", mutate: rule(0, "limit", int64(0)), wantErr: `spec.rules[0].limit: Invalid value: 0: spec.rules[0].limit in body should be greater than or equal to 1`},
	{name: "limit negative", mutate: rule(0, "limit", int64(-5)), wantErr: `spec.rules[0].limit in body should be greater than or equal to 1`},
	{name: "period under 1s", mutate: rule(0, "period", "500ms"), wantErr: `period must be between 1s and 744h (31 days); for a quota per calendar month, use calendar: month`},
	{name: "period of 31 days", mutate: rule(0, "period", "744h")},
	{name: "period over 31 days", mutate: rule(0, "period", "745h"), wantErr: `period must be between 1s and 744h (31 days)`},
	{name: "a million per second", mutate: func(o map[string]any) { rule(3, "limit", int64(1_000_000))(o) }},
	{name: "more than one per microsecond", mutate: rule(3, "limit", int64(1_000_001)),
		wantErr: `limit must be at most one request per microsecond of period (1000000 per 1s): keygate counts time in microseconds`},
	{name: "calendar quota", mutate: func(o map[string]any) {
		r := spec(o)["rules"].([]any)[0].(map[string]any)
		delete(r, "period")
		r["calendar"], r["timeZone"] = "month", "Europe/Paris"
	}},
	{name: "period and calendar", mutate: rule(0, "calendar", "day"),
		wantErr: `set exactly one of period (a rolling limit, 1s to 744h) and calendar (a quota per day, week or month)`},
	{name: "neither period nor calendar", mutate: func(o map[string]any) { delete(spec(o)["rules"].([]any)[0].(map[string]any), "period") },
		wantErr: `set exactly one of period`},
	{name: "unknown calendar", mutate: func(o map[string]any) {
		r := spec(o)["rules"].([]any)[0].(map[string]any)
		delete(r, "period")
		r["calendar"] = "year"
	}, wantErr: `Unsupported value: "year"`},
	{name: "timeZone without calendar", mutate: rule(0, "timeZone", "UTC"), wantErr: `timeZone applies to calendar quotas only`},
	{name: "timeZone not a zone name", mutate: func(o map[string]any) {
		r := spec(o)["rules"].([]any)[0].(map[string]any)
		delete(r, "period")
		r["calendar"], r["timeZone"] = "day", "../etc/passwd"
	}, wantErr: `timeZone in body should match`},
	{name: "overrides", mutate: rule(2, "overrides", []any{
		map[string]any{"name": "pro", "limit": int64(100), "apiKeySelector": map[string]any{"matchLabels": map[string]any{"keygate.dev/plan": "pro"}}, "jwtPlans": []any{"pro"}},
		map[string]any{"name": "vip", "limit": int64(1000), "period": "1h", "subjects": []any{"bigcorp"}},
	})},
	{name: "override on an ip rule", mutate: rule(0, "overrides", []any{map[string]any{"name": "pro", "limit": int64(100), "jwtPlans": []any{"pro"}}}),
		wantErr: `overrides select credentials, so they apply only to rules counted after authentication: by apiKey, subject or sharedSubject`},
	{name: "override selecting nothing", mutate: rule(2, "overrides", []any{map[string]any{"name": "pro", "limit": int64(100)}}),
		wantErr: `an override selects credentials: set apiKeySelector, subjects or jwtPlans`},
	{name: "override too fast", mutate: rule(2, "overrides", []any{map[string]any{"name": "pro", "limit": int64(61_000_000), "jwtPlans": []any{"pro"}}}),
		wantErr: `an override's limit must be at most one request per microsecond of the rule's period`},
	{name: "override period on a quota", mutate: func(o map[string]any) {
		r := spec(o)["rules"].([]any)[2].(map[string]any)
		delete(r, "period")
		r["calendar"] = "month"
		r["overrides"] = []any{map[string]any{"name": "pro", "limit": int64(100), "period": "1h", "jwtPlans": []any{"pro"}}}
	}, wantErr: `an override of a calendar quota sets its limit only, not a period`},
	{name: "duplicate override names", mutate: rule(2, "overrides", []any{
		map[string]any{"name": "pro", "limit": int64(100), "jwtPlans": []any{"pro"}},
		map[string]any{"name": "pro", "limit": int64(200), "jwtPlans": []any{"gold"}},
	}), wantErr: `Duplicate value: {"name":"pro"}`},
	{name: "path over 256 characters", mutate: rule(1, "match", map[string]any{"paths": []any{"/" + strings.Repeat("a", 256)}}),
		wantErr: `Too long: may not be more than 256`},
	{name: "period not a duration", mutate: rule(0, "period", "1 minute"), wantErr: `spec.rules[0].period in body should match`},
	{name: "by sharedSubject", mutate: rule(0, "by", "sharedSubject")},
	{name: "unknown by", mutate: rule(0, "by", "user"), wantErr: `by must be ip, apiKey, subject, sharedSubject or header:<Name> with a valid HTTP header name`},
	{name: "header without name", mutate: rule(0, "by", "header:"), wantErr: `by must be ip, apiKey, subject, sharedSubject or header:<Name>`},
	{name: "header name with a space", mutate: rule(0, "by", "header:X Tenant"), wantErr: `by must be ip, apiKey, subject, sharedSubject or header:<Name>`},
	{name: "unknown method", mutate: rule(2, "match", map[string]any{"methods": []any{"FETCH"}}), wantErr: `spec.rules[2].match.methods[0]: Unsupported value: "FETCH"`},
	{name: "lowercase method", mutate: rule(2, "match", map[string]any{"methods": []any{"post"}}), wantErr: `Unsupported value: "post"`},
	{name: "path prefix without slash", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"api/auth/"}}), wantErr: `spec.rules[1].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path without slash", mutate: rule(1, "match", map[string]any{"paths": []any{"login"}}), wantErr: `spec.rules[1].match.paths[0] in body should match '^/(?:`},
	{name: "path with a double slash", mutate: rule(1, "match", map[string]any{"paths": []any{"/api//auth"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a double slash", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api//auth"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a dot segment", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/./auth"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a dot segment", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/./auth"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a dot-dot segment", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/../auth"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a dot-dot segment", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/../auth"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a trailing dot-dot", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/.."}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a trailing dot-dot", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/.."}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a percent", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/%61uth"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a percent", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/%61uth"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a semicolon", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth;x"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a semicolon", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth;x"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a backslash", mutate: rule(1, "match", map[string]any{"paths": []any{"/api\\auth"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a backslash", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api\\auth"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a query", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth?x"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a query", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth?x"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a fragment", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth#x"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a fragment", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth#x"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a space", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth login"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a space", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth login"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a tab", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth\tlogin"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a tab", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth\tlogin"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "path with a control character", mutate: rule(1, "match", map[string]any{"paths": []any{"/api/auth\r"}}), wantErr: `].match.paths[0] in body should match '^/(?:`},
	{name: "path prefix with a control character", mutate: rule(1, "match", map[string]any{"pathPrefixes": []any{"/api/auth\r"}}), wantErr: `].match.pathPrefixes[0] in body should match '^/(?:`},
	{name: "clean paths, case-insensitive", mutate: rule(1, "match", map[string]any{"paths": []any{"/", "/api/auth/login/", "/a/.well-known/x", "/a/..."},
		"pathPrefixes": []any{"/api/Auth/"}, "caseInsensitivePaths": true})},
}

func TestApiKeyValidation(t *testing.T)          { runValidation(t, validAPIKey, apiKeyCases) }
func TestRateLimitPolicyValidation(t *testing.T) { runValidation(t, validPolicy, policyCases) }

func runValidation(t *testing.T, valid func() map[string]any, cases []validationCase) {
	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := valid()
			obj["metadata"].(map[string]any)["name"] = fmt.Sprintf("case-%d", i)
			tc.mutate(obj)
			u := &unstructured.Unstructured{Object: obj}
			err := env.Client.Create(context.Background(), u)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("valid object refused: %v", err)
			case tc.wantErr == "":
				t.Cleanup(func() { deleteObject(t, u) })
				return
			case err == nil:
				t.Fatalf("invalid object accepted; want an error containing %q", tc.wantErr)
			case !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			kubectlRefuses(t, kubeconfig, obj, tc.wantErr)
		})
	}
}

// kubectlRefuses applies obj with kubectl and expects the refusal message.
func kubectlRefuses(t *testing.T, kubeconfig string, obj map[string]any, want string) {
	t.Helper()
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(env.KubectlPath(), "--kubeconfig", kubeconfig, "apply", "-f", f).CombinedOutput()
	if err == nil {
		t.Fatalf("kubectl apply accepted an invalid manifest:\n%s", out)
	}
	if !strings.Contains(string(out), want) {
		t.Fatalf("kubectl apply output does not contain %q:\n%s", want, out)
	}
}

func TestDefaults(t *testing.T) {
	ctx := context.Background()
	obj := validAPIKey()
	obj["metadata"].(map[string]any)["name"] = "defaults"
	s := spec(obj)
	delete(s, "prefix")
	s["rotation"] = map[string]any{"every": "720h"}
	u := &unstructured.Unstructured{Object: obj}
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteObject(t, u) })
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	if err := env.Client.Get(ctx, keyOf(u), got); err != nil {
		t.Fatal(err)
	}
	typ, _, _ := unstructured.NestedString(got.Object, "spec", "type")
	grace, _, _ := unstructured.NestedString(got.Object, "spec", "rotation", "gracePeriod")
	if typ != "secret" {
		t.Errorf("spec.type defaulted to %q, want secret", typ)
	}
	if grace != "24h" {
		t.Errorf("spec.rotation.gracePeriod defaulted to %q, want 24h", grace)
	}
}

// deleteObject deletes what a test created, so that the suite can run
// again against the same API server (go test -count=N).
func deleteObject(t *testing.T, u *unstructured.Unstructured) {
	if err := env.Client.Delete(context.Background(), u); err != nil {
		t.Errorf("deleting %s: %v", u.GetName(), err)
	}
}
