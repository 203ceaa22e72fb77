package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/keygate-dev/keygate/internal/devenv"
)

func runDev(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", "Runs the whole product locally with no cluster: a control plane (kube-apiserver and etcd\nfrom --assets), keygate's CRDs, the controller and the auth server in this process, and the\nsamples. State (etcd data, JWT config) is kept in --state-dir, so a second start is fast and\nkeeps the same keys.", stderr)
	assets := fs.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "folder with kube-apiserver, etcd and kubectl (make dev passes hack/setup-envtest.sh's)")
	addr := fs.String("addr", ":8080", "address of the auth server (/check, /healthz, /readyz, /metrics)")
	grpcAddr := fs.String("grpc-addr", ":9001", "address of Envoy's ext_authz gRPC service (empty: off)")
	samples := fs.String("samples", "config/samples", "folder of manifests applied at start")
	crds := fs.String("crds", filepath.Join("config", "crd", "bases"), "folder of keygate's CRDs")
	stateDir := fs.String("state-dir", filepath.Join("bin", "dev"), "folder kept between runs: etcd data and the JWT config")
	kubeconfig := fs.String("kubeconfig-out", filepath.Join("bin", "dev", "kubeconfig"), "where the admin kubeconfig is written")
	verbose := fs.Bool("v", false, "log the controller's and the auth server's info messages too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *assets == "" {
		return fmt.Errorf("no --assets and no KUBEBUILDER_ASSETS: run make dev, or pass the folder that ./hack/setup-envtest.sh prints")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := logr.FromSlogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devenv.RunDev(ctx, devenv.DevOptions{
		Assets: *assets, CRDs: *crds, Samples: *samples, Addr: *addr, GRPCAddr: *grpcAddr,
		StateDir: *stateDir, KubeconfigOut: *kubeconfig, Out: stdout, Log: log,
	})
}
