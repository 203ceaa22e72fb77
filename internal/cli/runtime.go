package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"

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
	setMemoryLimit(os.Getenv, debug.SetMemoryLimit, log)
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, log, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return cfg, log, nil
}

// memoryLimitEnv carries the container's memory limit in bytes: the
// Deployments set it from the downward API (resourceFieldRef
// limits.memory).
const memoryLimitEnv = "KEYGATE_MEMORY_LIMIT"

// setMemoryLimit gives the Go runtime a soft memory limit of 90 % of the
// container's, from $KEYGATE_MEMORY_LIMIT: the garbage collector then
// collects harder as the heap nears it, instead of letting the heap grow
// to twice what is live and the container be killed. A GOMEMLIMIT of the
// user's own wins. It returns the limit set, 0 for none.
func setMemoryLimit(getenv func(string) string, set func(int64) int64, log logr.Logger) int64 {
	raw := getenv(memoryLimitEnv)
	if raw == "" {
		return 0
	}
	if g := getenv("GOMEMLIMIT"); g != "" {
		log.Info("the Go memory limit is GOMEMLIMIT's, not 90% of the container's", "GOMEMLIMIT", g)
		return 0
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		log.Info("no Go memory limit: "+memoryLimitEnv+" is not a number of bytes", "value", raw)
		return 0
	}
	soft := limit - limit/10
	set(soft)
	log.Info("Go memory limit set to 90% of the container's", "containerBytes", limit, "goBytes", soft)
	return soft
}
