package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/keygate-dev/keygate/internal/app"
)

// DevOptions configure keygate dev.
type DevOptions struct {
	// Assets holds kube-apiserver, etcd and kubectl.
	Assets string
	// CRDs is the folder of keygate's CRDs; Samples the folder of samples.
	CRDs, Samples string
	// Addr is where the auth server serves /check; GRPCAddr, when set,
	// where it serves Envoy's ext_authz over gRPC.
	Addr, GRPCAddr string
	// StateDir keeps etcd's data between runs, the JWT config and the
	// kubeconfig (KubeconfigOut, when it is not set elsewhere).
	StateDir, KubeconfigOut string
	Out                     io.Writer
	Log                     logr.Logger
}

// dev is one run of keygate dev.
type dev struct {
	o       DevOptions
	start   time.Time
	env     *envtest.Environment
	cfg     *rest.Config
	c       client.Client
	keygate *Keygate
}

// RunDev runs the control plane, keygate and the samples until ctx ends,
// then stops everything it started.
func RunDev(ctx context.Context, o DevOptions) (err error) {
	d := &dev{o: o, start: time.Now()}
	defer func() { err = errors.Join(err, d.stop()) }()
	if err := d.startControlPlane(); err != nil {
		return err
	}
	hmac, err := d.prepare(ctx)
	if err != nil {
		return err
	}
	if err := d.startKeygate(ctx); err != nil {
		return err
	}
	key, err := d.applySamples(ctx)
	if err != nil {
		return err
	}
	kubeconfig, err := d.writeKubeconfig()
	if err != nil {
		return err
	}
	d.progress("serving on %s (ready %.1fs after start)", o.Addr, time.Since(d.start).Seconds())
	kubectl, _ := filepath.Abs(filepath.Join(o.Assets, "kubectl"))
	if kubeconfig, err = filepath.Abs(kubeconfig); err != nil {
		return err
	}
	if err := printHowTo(o.Out, howTo{addr: o.Addr, grpcAddr: o.GRPCAddr, key: key, hmac: hmac, kubeconfig: kubeconfig, kubectl: kubectl}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		d.progress("stopping")
		return nil
	case <-d.keygate.Done():
		return errors.New("keygate stopped on its own")
	}
}

func (d *dev) progress(format string, args ...any) {
	fmt.Fprintf(d.o.Out, "keygate dev: "+format+"\n", args...)
}

func (d *dev) startControlPlane() error {
	d.progress("starting kube-apiserver and etcd from %s", d.o.Assets)
	etcdDir := filepath.Join(d.o.StateDir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return err
	}
	d.env = &envtest.Environment{
		BinaryAssetsDirectory: d.o.Assets,
		CRDDirectoryPaths:     []string{d.o.CRDs},
		ErrorIfCRDPathMissing: true,
	}
	d.env.ControlPlane.Etcd = &envtest.Etcd{DataDir: etcdDir}
	cfg, err := d.env.Start()
	if err != nil {
		d.env = nil
		return fmt.Errorf("starting the control plane (binaries in %s): %w", d.o.Assets, err)
	}
	d.cfg = cfg
	s, err := app.Scheme()
	if err != nil {
		return err
	}
	d.c, err = client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	d.progress("control plane up; CRDs installed (%.1fs)", time.Since(d.start).Seconds())
	return nil
}

// prepare makes keygate's namespace, the dev JWT issuer's Secret and the
// JWT config file, and returns the issuer's HMAC secret.
func (d *dev) prepare(ctx context.Context) ([]byte, error) {
	ns := &corev1.Namespace{}
	ns.Name = Namespace
	if err := d.c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return nil, fmt.Errorf("creating namespace %s: %w", Namespace, err)
	}
	hmac, err := EnsureHMACSecret(ctx, d.c, Namespace)
	if err != nil {
		return nil, err
	}
	return hmac, WriteJWTConfig(d.jwtConfigPath(), DevJWTConfig())
}

func (d *dev) jwtConfigPath() string { return filepath.Join(d.o.StateDir, "jwt.yaml") }

func (d *dev) startKeygate(ctx context.Context) error {
	d.progress("starting the controller and the auth server on %s", d.o.Addr)
	k, err := StartKeygate(ctx, KeygateOptions{Config: d.cfg, Addr: d.o.Addr, GRPCAddr: d.o.GRPCAddr, JWTConfigPath: d.jwtConfigPath(), Log: d.o.Log})
	if err != nil {
		return err
	}
	d.keygate = k
	return nil
}

// stop stops keygate, then the control plane.
func (d *dev) stop() error {
	var errs []error
	if d.keygate != nil {
		errs = append(errs, d.keygate.Stop())
	}
	if d.env != nil {
		errs = append(errs, d.env.Stop())
		d.progress("stopped kube-apiserver and etcd")
	}
	return errors.Join(errs...)
}
