// Package kube is the Kubernetes runtime of keygate's processes: the one
// scheme and the one place a controller-runtime manager is constructed.
// internal/app builds the controller and the auth server on it; the
// controllers' envtest suite builds its managers with it too. It sits
// below the controllers (it imports none of keygate's packages but the
// API types), so their tests can use it without an import cycle.
package kube

import (
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// Scheme returns a scheme with client-go's types and keygate's.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("registering client-go's types: %w", err)
	}
	if err := keygatev1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("registering keygate's types: %w", err)
	}
	return s, nil
}

// ManagerOptions are what differs between keygate's managers.
type ManagerOptions struct {
	// Cache says what the manager's cache holds (each side's CacheOptions).
	Cache cache.Options
	// MetricsAddr and ProbeAddr: "" or "0" turns either server off.
	MetricsAddr, ProbeAddr string
	// LeaderElection, with a lease named LeaderElectionID in
	// LeaderElectionNamespace, released when the manager stops.
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	Logger                  logr.Logger
	// NewClient replaces the manager's client (tests count writes).
	NewClient client.NewClientFunc
	// SkipNameValidation lets a process start controllers of the same name
	// again (go test -count=N).
	SkipNameValidation bool
}

// NewManager constructs a manager with keygate's scheme.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	opts := ctrl.Options{
		Scheme:                        s,
		Cache:                         o.Cache,
		Metrics:                       metricsserver.Options{BindAddress: orOff(o.MetricsAddr)},
		HealthProbeBindAddress:        orOff(o.ProbeAddr),
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: o.LeaderElection,
		Logger:                        o.Logger,
		NewClient:                     o.NewClient,
	}
	if o.SkipNameValidation {
		skip := true
		opts.Controller = config.Controller{SkipNameValidation: &skip}
	}
	m, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	return m, nil
}

func orOff(addr string) string {
	if addr == "" {
		return "0"
	}
	return addr
}
