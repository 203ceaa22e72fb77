package cli

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/keygate-dev/keygate/internal/app"
	"github.com/keygate-dev/keygate/webhook"
)

// TestAuthServerFlagsFillTheWiringsOptions: no flag gives the wiring's
// defaults (the ones keygate dev and the tests use), and each flag sets
// its one field.
func TestAuthServerFlagsFillTheWiringsOptions(t *testing.T) {
	f, err := parseAuthServerFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.opts, app.DefaultAuthServerOptions()) {
		t.Fatalf("no flags gave %+v, want the defaults %+v", f.opts, app.DefaultAuthServerOptions())
	}
	f, err = parseAuthServerFlags([]string{"--namespace=kg", "--addr=:1", "--metrics-bind-address=:2", "--jwt-config=/j",
		"--redis-url=redis://r:6379", "--redis-on-error=deny", "--trusted-hops=2", "--max-body-bytes=-1",
		"--grpc-addr=:3", "--grpc-options=auth=jwt", "--proxy=traefik"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultAuthServerOptions()
	want.Namespace, want.Addr, want.MetricsAddr, want.JWTConfigPath = "kg", ":1", ":2", "/j"
	want.RedisURL, want.RedisOnError, want.TrustedHops, want.MaxBodyBytes = "redis://r:6379", "deny", 2, -1
	want.GRPCAddr, want.GRPCOptions, want.Proxy = ":3", "auth=jwt", webhook.ProxyTraefik
	if !reflect.DeepEqual(f.opts, want) {
		t.Fatalf("flags gave %+v, want %+v", f.opts, want)
	}
	for _, bad := range [][]string{{"--trusted-hops=-1"}, {"--proxy=haproxy"}, {"--grpc-options=scope=x"}, {"extra"}} {
		if _, err := parseAuthServerFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
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
		"--health-probe-bind-address=:4", "--leader-elect=false", "--max-concurrent-reconciles=3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := app.DefaultControllerOptions()
	want.Namespace, want.WatchNamespaces, want.MetricsAddr, want.ProbeAddr = "kg", []string{"a", "b"}, "0", ":4"
	want.LeaderElection, want.MaxConcurrentReconciles = false, 3
	if !reflect.DeepEqual(f.opts, want) {
		t.Fatalf("flags gave %+v, want %+v", f.opts, want)
	}
	if _, err := parseControllerFlags([]string{"--nope"}, io.Discard); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag: %v", err)
	}
}
