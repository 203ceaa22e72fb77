package cli

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keygate-dev/keygate/internal/app"
	"github.com/keygate-dev/keygate/webhook"
)

// TestAuthServerFlagsFillTheWiringsOptions: no flag gives the wiring's
// defaults (the ones keygate dev and the tests use), and each flag sets
// its one field.
func TestAuthServerFlagsFillTheWiringsOptions(t *testing.T) {
	t.Setenv(podNameEnv, "") // in a pod, --usage-report-name defaults to it
	f, err := parseAuthServerFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.opts, app.DefaultAuthServerOptions()) {
		t.Fatalf("no flags gave %+v, want the defaults %+v", f.opts, app.DefaultAuthServerOptions())
	}
	f, err = parseAuthServerFlags([]string{"--namespace=kg", "--addr=:1", "--metrics-bind-address=:2", "--jwt-config=/j",
		"--redis-url=redis://r:6379", "--redis-on-error=deny", "--trusted-hops=2", "--max-body-bytes=-1",
		"--grpc-addr=:3", "--grpc-options=auth=jwt", "--proxy=traefik", "--ip-prefix-v4=24", "--ip-prefix-v6=56",
		"--source-namespaces=acme, globex"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultAuthServerOptions()
	want.Namespace, want.Addr, want.MetricsAddr, want.JWTConfigPath = "kg", ":1", ":2", "/j"
	want.RedisURL, want.RedisOnError, want.TrustedHops, want.MaxBodyBytes = "redis://r:6379", "deny", 2, -1
	want.GRPCAddr, want.GRPCOptions, want.Proxy = ":3", "auth=jwt", webhook.ProxyTraefik
	want.IPv4Prefix, want.IPv6Prefix = 24, 56
	want.SourceNamespaces = []string{"acme", "globex"}
	if !reflect.DeepEqual(f.opts, want) {
		t.Fatalf("flags gave %+v, want %+v", f.opts, want)
	}
	for _, bad := range [][]string{{"--trusted-hops=-1"}, {"--proxy=haproxy"}, {"--grpc-options=scope=x"}, {"extra"},
		{"--ip-prefix-v4=0"}, {"--ip-prefix-v4=33"}, {"--ip-prefix-v6=0"}, {"--ip-prefix-v6=129"}} {
		if _, err := parseAuthServerFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// TestRedisURLFromFileOrEnvironment: the Redis URL, which may hold a
// password, can come from a file (a mounted Secret) or KEYGATE_REDIS_URL
// instead of the command line, and no error shows it.
func TestRedisURLFromFileOrEnvironment(t *testing.T) {
	const secretURL = "redis://:s3cret@r:6379/0"
	file := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(file, []byte(secretURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseAuthServerFlags([]string{"--redis-url-file=" + file}, io.Discard)
	if err != nil || f.opts.RedisURL != secretURL {
		t.Fatalf("--redis-url-file: %q, %v", f.opts.RedisURL, err)
	}
	t.Setenv(redisURLEnv, "redis://:from-env@r:6379/0")
	if f, err = parseAuthServerFlags(nil, io.Discard); err != nil || f.opts.RedisURL != "redis://:from-env@r:6379/0" {
		t.Fatalf("%s: %q, %v", redisURLEnv, f.opts.RedisURL, err)
	}
	if f, err = parseAuthServerFlags([]string{"--redis-url-file=" + file}, io.Discard); err != nil || f.opts.RedisURL != secretURL {
		t.Fatalf("the file must win over the environment: %q, %v", f.opts.RedisURL, err)
	}
	for _, bad := range [][]string{
		{"--redis-url=" + secretURL, "--redis-url-file=" + file},
		{"--redis-url-file=" + filepath.Join(t.TempDir(), "missing")},
		{"--redis-url=redis://:s3cret@r:6379/notadb"},
		{"--redis-url=redis://:s3cret%zz@r:6379/0"},
	} {
		_, err := parseAuthServerFlags(bad, io.Discard)
		if err == nil {
			t.Errorf("%v: no error", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: the error shows the password: %v", bad, err)
		}
	}
}

func TestControllerFlagsFillTheWiringsOptions(t *testing.T) {
	f, err := parseControllerFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.opts, app.DefaultControllerOptions()) {
		t.Fatalf("no flags gave %+v, want the defaults %+v", f.opts, app.DefaultControllerOptions())
	}
	f, err = parseControllerFlags([]string{"--namespace=kg", "--watch-namespaces= a, ,b", "--metrics-bind-address=0",
		"--health-probe-bind-address=:4", "--leader-elect=false", "--max-concurrent-reconciles=3",
		"--expiry-warnings=72h, 90m", "--unused-after=0", "--apikey-metrics=false"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultControllerOptions()
	want.Namespace, want.WatchNamespaces, want.MetricsAddr, want.ProbeAddr = "kg", []string{"a", "b"}, "0", ":4"
	want.LeaderElection, want.MaxConcurrentReconciles = false, 3
	want.ExpiryWarnings, want.UnusedAfter, want.APIKeyMetrics = []time.Duration{72 * time.Hour, 90 * time.Minute}, 0, false
	if !reflect.DeepEqual(f.opts, want) {
		t.Fatalf("flags gave %+v, want %+v", f.opts, want)
	}
	if _, err := parseControllerFlags([]string{"--nope"}, io.Discard); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag: %v", err)
	}
	for _, bad := range []string{"--expiry-warnings=0s", "--expiry-warnings=-1h", "--expiry-warnings=soon"} {
		if _, err := parseControllerFlags([]string{bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "expiry-warnings") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if f, err := parseControllerFlags([]string{"--expiry-warnings="}, io.Discard); err != nil || len(f.opts.ExpiryWarnings) != 0 {
		t.Errorf("--expiry-warnings= (none): %v, %v", f, err)
	}
}
