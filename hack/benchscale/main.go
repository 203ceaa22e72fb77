// Command benchscale is the auth-server part of make bench-scale
// (hack/bench.sh, BENCH_ONLY=scale-auth): it measures what one
// `keygate auth-server` process costs as the number of API keys grows.
//
// It starts an API server (envtest, test/testenv) and writes API-key record
// Secrets straight into it with the API client (hack/benchscale/records),
// as the controller would write them: the controller is not measured here,
// and going through it would take far longer. For each size N of -sizes it
// adds records until N are stored, starts the real binary (-keygate) on
// them, and reports:
//
//   - the time from process start to /readyz answering 200, and that the
//     index holds N keys (keygate_apikeys_loaded);
//   - memory after the load: RSS and peak RSS (/proc), the Go heap in use
//     (/metrics), and the heap marked live by the last collection (the
//     process runs with GODEBUG=gctrace=1), and from it bytes per key;
//   - CPU while idle, from /proc, over -idle;
//   - /check requests/s, p99 and CPU per request for a valid key with wrk,
//     in rounds interleaved with a second auth server that reads a
//     namespace holding one record (N = 1) and runs for the whole
//     benchmark: on a shared machine only figures measured side by side
//     compare;
//   - revocation: -revocations times, the time from deleting one record
//     Secret to its key being refused (p50, p99).
//
// It prints the tables, writes them as Markdown and an SVG plot to -out,
// and exits 1 when a server does not start or answers wrongly. It stops
// every process it started and removes its temporary files on exit,
// SIGINT or SIGTERM. KUBEBUILDER_ASSETS names envtest's binaries (or
// test/testenv runs hack/setup-envtest.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

type config struct {
	keygate      string
	sizes        []int
	workers      int
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	conns        int
	revocations  int
	idle         time.Duration
	readyTimeout time.Duration
	out          string
	hz           float64
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(2)
	}
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

func parseFlags() (*config, error) {
	cfg := &config{}
	sizes := flag.String("sizes", "1000,10000,100000", "comma-separated numbers of API-key records to measure (N = 1 always runs, as the baseline)")
	flag.StringVar(&cfg.keygate, "keygate", "bin/keygate", "the keygate binary to run as auth-server")
	flag.IntVar(&cfg.workers, "workers", 32, "concurrent record creates")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "each wrk round (whole seconds)")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "a wrk warm-up run of each server before the rounds")
	flag.IntVar(&cfg.rounds, "rounds", 9, "interleaved wrk rounds (N = 1, N, N = 1, N, ...)")
	flag.IntVar(&cfg.conns, "connections", 32, "wrk connections")
	flag.IntVar(&cfg.revocations, "revocations", 20, "records deleted one at a time at each size, timing until the key is refused")
	flag.DurationVar(&cfg.idle, "idle", 5*time.Second, "how long idle CPU is measured")
	flag.DurationVar(&cfg.readyTimeout, "ready-timeout", 5*time.Minute, "fail when a server is not ready after this long")
	flag.StringVar(&cfg.out, "out", "", "folder for results.md and auth-server.svg (empty: none)")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-sizes: %q is not a number of records (1 or more)", s)
		}
		if len(cfg.sizes) > 0 && n <= cfg.sizes[len(cfg.sizes)-1] {
			return nil, fmt.Errorf("-sizes must grow: %d after %d", n, cfg.sizes[len(cfg.sizes)-1])
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if cfg.duration < time.Second || cfg.warmup < time.Second || cfg.rounds < 1 || cfg.revocations < 1 {
		return nil, errors.New("-duration and -warmup must be 1s or more, -rounds and -revocations 1 or more")
	}
	cfg.hz = clockTicks()
	return cfg, nil
}

func run(ctx context.Context, cfg *config) error {
	dir, err := os.MkdirTemp("", "keygate-benchscale-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	b, err := newBench(ctx, cfg, dir)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.baseline(ctx); err != nil {
		return err
	}
	for _, n := range cfg.sizes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.measure(ctx, n); err != nil {
			return fmt.Errorf("at %d records: %w", n, err)
		}
	}
	return b.report()
}
