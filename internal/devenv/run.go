package devenv

import (
	"context"
	"net"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/keygate-dev/keygate/internal/app"
)

// Namespace is keygate's namespace in dev mode, as in an install.
const Namespace = app.DefaultNamespace

// Usage reporting in dev mode: shorter than an install's (1m, 1h).
const (
	DevUsageFlushInterval = 2 * time.Second
	DevUsageGranularity   = time.Minute
)

// KeygateOptions say how keygate dev runs the controller and the auth
// server: the install's defaults (app.Default*Options), served on local
// addresses, with no leader election and no extra metrics or probe ports,
// and the ApiKeys' last use reported every DevUsageFlushInterval at a
// DevUsageGranularity, so that kubectl shows it right after a curl.
type KeygateOptions struct {
	Config *rest.Config
	// Listener is where the auth server serves /check; Addr when nil.
	Listener net.Listener
	Addr     string
	// GRPCListener, or GRPCAddr, is where Envoy's ext_authz gRPC service
	// is served; off when both are empty.
	GRPCListener net.Listener
	GRPCAddr     string
	// JWTConfigPath is the auth server's JWT config file.
	JWTConfigPath string
	Log           logr.Logger
}

// Keygate is the controller and the auth server running in this process,
// each in its own manager, as in an install (where they are two
// Deployments).
type Keygate = app.Running

// StartKeygate starts the managers and returns at once; Stop ends them.
func StartKeygate(ctx context.Context, o KeygateOptions) (*Keygate, error) {
	c := app.DefaultControllerOptions()
	c.MetricsAddr, c.ProbeAddr, c.LeaderElection = "0", "0", false
	c.UsageGranularity = DevUsageGranularity
	cm, err := app.NewControllerManager(o.Config, c, o.Log.WithName("controller"))
	if err != nil {
		return nil, err
	}
	a := app.DefaultAuthServerOptions()
	a.Addr, a.Listener, a.GRPCAddr, a.GRPCListener = o.Addr, o.Listener, o.GRPCAddr, o.GRPCListener
	a.JWTConfigPath = o.JWTConfigPath
	a.UsageReportName, a.UsageFlushInterval = "keygate-dev", DevUsageFlushInterval
	am, err := app.NewAuthServerManager(o.Config, a, o.Log.WithName("auth-server"))
	if err != nil {
		return nil, err
	}
	return app.Start(ctx, cm, am), nil
}
