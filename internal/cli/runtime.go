package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
)

// startRuntime sets up what a long-running subcommand needs before its
// manager: JSON logs on stderr (debug with -v) and the kubeconfig (flag
// --kubeconfig, $KUBECONFIG or in-cluster).
func startRuntime(verbose bool, stderr io.Writer) (*rest.Config, logr.Logger, error) {
	level := slog.LevelInfo
	if verbose {
		level = slog.Level(-1)
	}
	log := logr.FromSlogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log)
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, log, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return cfg, log, nil
}
