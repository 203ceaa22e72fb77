package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
)

// startRuntime sets up what a long-running subcommand needs before its
// manager: JSON logs on stderr (debug with -v), the kubeconfig (flag
// --kubeconfig, $KUBECONFIG or in-cluster), and a scheme with client-go's
// types plus those add registers.
func startRuntime(verbose bool, stderr io.Writer, add ...func(*runtime.Scheme) error) (*rest.Config, *runtime.Scheme, error) {
	level := slog.LevelInfo
	if verbose {
		level = slog.Level(-1)
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})))
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, f := range append([]func(*runtime.Scheme) error{clientgoscheme.AddToScheme}, add...) {
		if err := f(scheme); err != nil {
			return nil, nil, err
		}
	}
	return cfg, scheme, nil
}
