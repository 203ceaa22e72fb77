// Command benchstack is the Kubernetes side of hack/bench.sh's load runs: it
// starts an API server (envtest, with keygate's CRDs), writes -keys API-key
// record Secrets and the BreakGround seed policy's record Secret into
// keygate's namespace, and writes an admin kubeconfig, so that the real
// `keygate auth-server` binary can run against it in a process of its own.
//
// The record Secrets are created directly with the API client, not by
// running the controller: the controller is not what is measured, and
// record.NewSecret builds exactly the Secret the controller writes.
//
// When everything is written it prints, on stdout, one line each:
//
//	key=<a valid API key, the last one created>
//	hashes=<file with the hex SHA-256 of every key, one a line, for hack/floor>
//	policy=<namespace>/<name of the seed policy, for ?policy=>
//	kubeconfig=<admin kubeconfig>
//	ready
//
// It then serves until stdin reaches end of file or it gets SIGINT or
// SIGTERM, and stops the API server and etcd. Run it with a stdin that
// stays open (bench.sh gives it a FIFO that the script holds): with
// /dev/null it stops at once.
//
// KUBEBUILDER_ASSETS must name the folder of kube-apiserver and etcd, or
// test/testenv runs hack/setup-envtest.sh to find it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/keygate-dev/keygate/hack/benchscale/records"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/golden"
	"github.com/keygate-dev/keygate/test/testenv"
)

// Where the records' sources live: any namespace works, the records are in
// keygate's namespace whatever their source.
const (
	sourceNamespace = "bench"
	policyName      = "breakground"
)

func main() {
	nkeys := flag.Int("keys", 10000, "API-key record Secrets to create (each with one key)")
	scale := flag.Int64("policy-scale", 100_000, "multiply the seed policy's limits by this, so that a load from one IP and one key meets no 429")
	dir := flag.String("dir", "", "folder for the kubeconfig and the hashes file (default: a new temporary folder, removed on exit)")
	workers := flag.Int("workers", 8, "concurrent creates")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*nkeys, *scale, *dir, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "benchstack:", err)
		os.Exit(1)
	}
}

func run(nkeys int, scale int64, dir string, workers int) error {
	if nkeys < 1 {
		return fmt.Errorf("-keys must be 1 or more")
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "keygate-benchstack-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}
	start := time.Now()
	env, err := testenv.New(testenv.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	fmt.Fprintf(os.Stderr, "benchstack: API server up in %v\n", time.Since(start).Round(time.Millisecond))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start = time.Now()
	key, hashes, err := createKeys(ctx, env, nkeys, workers)
	if err != nil {
		return err
	}
	policy, err := createPolicy(ctx, env, scale)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchstack: %d API-key records and the seed policy written in %v\n", nkeys, time.Since(start).Round(time.Millisecond))
	hashesFile := filepath.Join(dir, "hashes")
	if err := os.WriteFile(hashesFile, []byte(strings.Join(hashes, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	kubeconfig, err := env.Kubeconfig(dir)
	if err != nil {
		return err
	}
	fmt.Printf("key=%s\nhashes=%s\npolicy=%s\nkubeconfig=%s\nready\n", key, hashesFile, policy, kubeconfig)

	go func() { // end of stdin ends the run, like a signal
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	<-ctx.Done()
	return nil
}

// createKeys writes n API-key records with one fresh key each
// (hack/benchscale/records), and returns the last key and every key's hash.
func createKeys(ctx context.Context, env *testenv.Env, n, workers int) (string, []string, error) {
	w := &records.Writer{Client: env.Client, Namespace: testenv.Namespace, SourceNamespace: sourceNamespace, Workers: workers}
	keys, err := w.Create(ctx, 0, n)
	if err != nil {
		return "", nil, err
	}
	hashes := make([]string, n)
	for i, k := range keys {
		hashes[i] = record.HashKey(k).String()
	}
	return keys[n-1], hashes, nil
}

// createPolicy writes the BreakGround seed policy's record, limits scaled,
// and returns what ?policy= names it by.
func createPolicy(ctx context.Context, env *testenv.Env, scale int64) (string, error) {
	rec, err := golden.BreakGround(sourceNamespace, policyName, scale)
	if err != nil {
		return "", err
	}
	s, err := record.NewSecret(testenv.Namespace, record.KindRateLimitPolicy, record.SourceOf(rec), rec)
	if err != nil {
		return "", err
	}
	if err := env.Client.Create(ctx, s); err != nil {
		return "", fmt.Errorf("creating record Secret %s: %w", s.Name, err)
	}
	return rec.Source.Namespace + "/" + rec.Source.Name, nil
}
