package devenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/controllers"
	"github.com/keygate-dev/keygate/webhook"
)

// Namespace is keygate's namespace in dev mode, as in an install.
const Namespace = "keygate-system"

// KeygateOptions say how to run the controller and the auth server.
type KeygateOptions struct {
	// Config reaches the API server. The auth server may get a different
	// one (AuthConfig), to run it with another identity.
	Config, AuthConfig *rest.Config
	Namespace          string
	// Listener is where the auth server serves /check; Addr when nil.
	Listener net.Listener
	Addr     string
	// GRPCListener, or GRPCAddr, is where Envoy's ext_authz gRPC service
	// is served; off when both are empty.
	GRPCListener net.Listener
	GRPCAddr     string
	// JWTConfigPath is the auth server's JWT config file.
	JWTConfigPath string
	// NoController runs only the auth server.
	NoController bool
	Log          logr.Logger
}

// Keygate is the controller and the auth server running in this process,
// each in its own manager, as in an install (where they are two
// Deployments).
type Keygate struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	errs   []error
}

// Scheme has client-go's and keygate's types.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = keygatev1alpha1.AddToScheme(s)
	return s
}

// StartKeygate starts the managers and returns at once; Stop ends them.
func StartKeygate(ctx context.Context, o KeygateOptions) (*Keygate, error) {
	if o.Namespace == "" {
		o.Namespace = Namespace
	}
	if o.AuthConfig == nil {
		o.AuthConfig = o.Config
	}
	var mgrs []ctrl.Manager
	if !o.NoController {
		m, err := controllerManager(o)
		if err != nil {
			return nil, err
		}
		mgrs = append(mgrs, m)
	}
	m, err := authServerManager(o)
	if err != nil {
		return nil, err
	}
	mgrs = append(mgrs, m)
	ctx, cancel := context.WithCancel(ctx)
	k := &Keygate{cancel: cancel, done: make(chan struct{})}
	for _, m := range mgrs {
		k.wg.Add(1)
		go k.run(ctx, m)
	}
	return k, nil
}

func (k *Keygate) run(ctx context.Context, m ctrl.Manager) {
	defer k.wg.Done()
	if err := m.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		k.mu.Lock()
		k.errs = append(k.errs, err)
		k.mu.Unlock()
	}
	k.once.Do(func() { close(k.done) })
}

// Done is closed when a manager has stopped, by Stop or on its own (the
// auth server cannot listen, the API server went away).
func (k *Keygate) Done() <-chan struct{} { return k.done }

// Stop stops both managers, waits for them, and returns what failed.
func (k *Keygate) Stop() error {
	k.cancel()
	k.wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	return errors.Join(k.errs...)
}

func controllerManager(o KeygateOptions) (ctrl.Manager, error) {
	opts := controllers.Options{Namespace: o.Namespace}
	m, err := ctrl.NewManager(o.Config, ctrl.Options{
		Scheme:                 Scheme(),
		Cache:                  controllers.CacheOptions(opts),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 o.Log.WithName("controller"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the controller's manager: %w", err)
	}
	if err := controllers.Setup(m, opts); err != nil {
		return nil, err
	}
	return m, nil
}

func authServerManager(o KeygateOptions) (ctrl.Manager, error) {
	m, err := ctrl.NewManager(o.AuthConfig, ctrl.Options{
		Scheme:                 Scheme(),
		Cache:                  webhook.CacheOptions(o.Namespace),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 o.Log.WithName("auth-server"),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the auth server's manager: %w", err)
	}
	err = webhook.Setup(m, webhook.Options{
		Namespace:     o.Namespace,
		Addr:          o.Addr,
		Listener:      o.Listener,
		GRPCAddr:      o.GRPCAddr,
		GRPCListener:  o.GRPCListener,
		JWTConfigPath: o.JWTConfigPath,
		TrustedHops:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up the auth server: %w", err)
	}
	return m, nil
}
