package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keygate-dev/keygate/hack/benchscale/records"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

const (
	scope = records.Scope
	// The measured server reads keygate's namespace; the N = 1 server a
	// namespace of its own holding one record.
	bigNamespace  = testenv.Namespace
	baseNamespace = "keygate-bench-one"
)

// bench is the running benchmark: the API server, the records written so
// far and the N = 1 server.
type bench struct {
	cfg        *config
	dir        string
	env        *testenv.Env
	kubeconfig string
	big        *records.Writer
	keys       map[int]string // live records of bigNamespace, by index
	next       int            // index of the next record
	base       *server
	baseKey    string
	baseRow    row
	rows       []row
	etcd       etcdSizes
}

// row is what one size measured.
type row struct {
	N           int
	Created     int           // records created for this size
	CreateTime  time.Duration // time to create them
	EtcdPerRec  float64       // growth of etcd's database per record created
	Ready       time.Duration
	Loaded      float64 // keygate_apikeys_loaded
	Mem         memory  // after /readyz
	LiveAfter   int64   // live heap after the load runs
	BaseLive    int64   // the N = 1 server's, at the same moment
	IdleCPU     float64 // share of one core
	Load        comparison
	Revocations []time.Duration
}

func newBench(ctx context.Context, cfg *config, dir string) (*bench, error) {
	start := time.Now()
	env, err := testenv.New(testenv.Options{})
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, dir: dir, env: env, keys: map[int]string{}}
	fmt.Printf("== envtest API server and etcd up in %v\n", time.Since(start).Round(time.Millisecond))
	if b.kubeconfig, err = env.Kubeconfig(dir); err != nil {
		b.close()
		return nil, err
	}
	if err := env.CreateNamespace(baseNamespace); err != nil {
		b.close()
		return nil, err
	}
	// Writes without client-side rate limiting, as many as -workers at once.
	rc := rest.CopyConfig(env.Config)
	rc.QPS, rc.Burst = -1, 0
	c, err := client.New(rc, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.close()
		return nil, err
	}
	b.big = &records.Writer{Client: c, Namespace: bigNamespace, SourceNamespace: "bench", Workers: cfg.workers}
	baseW := &records.Writer{Client: c, Namespace: baseNamespace, SourceNamespace: "bench-one", Workers: 1}
	keys, err := baseW.Create(ctx, 0, 1)
	if err != nil {
		b.close()
		return nil, err
	}
	b.baseKey = keys[0]
	return b, nil
}

func (b *bench) close() {
	b.base.stop()
	if err := b.env.Stop(); err != nil {
		fmt.Println("benchscale: stopping envtest:", err)
	}
}

// baseline measures an N = 1 server like the others (but for load and
// revocation).
func (b *bench) baseline(ctx context.Context) error {
	fmt.Println("== N = 1: the baseline auth server (one record in a namespace of its own)")
	s, r, err := b.startMeasured(ctx, 1, baseNamespace, "base")
	defer s.stop()
	if err != nil {
		return err
	}
	b.baseRow = r
	b.printRow(r)
	return nil
}

// measure adds records until n are stored and measures a fresh server.
func (b *bench) measure(ctx context.Context, n int) error {
	fmt.Printf("== N = %d\n", n)
	r := row{N: n}
	if err := b.grow(ctx, &r); err != nil {
		return err
	}
	s, m, err := b.startMeasured(ctx, n, bigNamespace, fmt.Sprint("n", n))
	defer s.stop()
	if err != nil {
		return err
	}
	m.Created, m.CreateTime, m.EtcdPerRec = r.Created, r.CreateTime, r.EtcdPerRec
	r = m
	if err := b.answers(s); err != nil {
		return err
	}
	// A fresh N = 1 server beside it, so that both have run as long.
	b.base, err = startServer(b.cfg.keygate, b.kubeconfig, baseNamespace, filepath.Join(b.dir, fmt.Sprint("base", n, ".log")))
	if err != nil {
		return err
	}
	defer b.base.stop()
	if _, err := b.base.waitReady(ctx, b.cfg.readyTimeout); err != nil {
		return err
	}
	fmt.Printf("  /check load, valid key, wrk -c%d: %d rounds of %v, this server and a fresh N = 1 server in turn (ABBA)\n",
		b.cfg.conns, b.cfg.rounds, b.cfg.duration)
	if r.Load, err = compare(ctx, b.cfg, b.base, s, b.baseKey, b.anyKey()); err != nil {
		return err
	}
	r.LiveAfter, r.BaseLive = s.liveHeap(), b.base.liveHeap()
	if r.Revocations, err = revoke(ctx, s, b.big, b.keys, b.spread(b.cfg.revocations)); err != nil {
		return err
	}
	b.rows = append(b.rows, r)
	b.printRow(r)
	return nil
}

// grow creates records until n are stored, and measures etcd's growth.
func (b *bench) grow(ctx context.Context, r *row) error {
	add := r.N - len(b.keys)
	if add <= 0 {
		return nil
	}
	before, _ := b.etcdSize(ctx)
	start := time.Now()
	keys, err := b.big.Create(ctx, b.next, b.next+add)
	if err != nil {
		return err
	}
	r.Created, r.CreateTime = add, time.Since(start)
	for i, k := range keys {
		b.keys[b.next+i] = k
	}
	b.next += add
	if after, err := b.etcdSize(ctx); err == nil && before > 0 {
		r.EtcdPerRec = float64(after-before) / float64(add)
	}
	fmt.Printf("  created %d record Secrets directly (not through the controller) in %v: %.0f/s with %d workers\n",
		add, r.CreateTime.Round(time.Millisecond), float64(add)/r.CreateTime.Seconds(), b.cfg.workers)
	if b.etcd.recordBytes == 0 {
		b.etcd, _ = b.objectSizes(ctx)
	}
	return nil
}

// startMeasured starts a server on namespace and measures its start,
// memory and idle CPU. The server is returned even on error, to be stopped.
func (b *bench) startMeasured(ctx context.Context, n int, namespace, name string) (*server, row, error) {
	r := row{N: n}
	s, err := startServer(b.cfg.keygate, b.kubeconfig, namespace, filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, r, err
	}
	if r.Ready, err = s.waitReady(ctx, b.cfg.readyTimeout); err != nil {
		return s, r, err
	}
	if r.Loaded, err = s.metric("keygate_apikeys_loaded"); err != nil {
		return s, r, err
	}
	if int(r.Loaded) != n {
		return s, r, fmt.Errorf("ready with %v keys loaded, want %d", r.Loaded, n)
	}
	time.Sleep(2 * time.Second) // let the start-up work settle
	if r.IdleCPU, err = idleCPU(s.cmd.Process.Pid, b.cfg.idle, b.cfg.hz); err != nil {
		return s, r, err
	}
	r.Mem, err = s.memory()
	return s, r, err
}

// answers checks that a valid key is admitted and an unknown one refused.
func (b *bench) answers(s *server) error {
	if st, err := s.status(b.anyKey()); err != nil || st != http.StatusOK {
		return fmt.Errorf("a valid key got %d (%v), want 200", st, err)
	}
	unknown, err := record.NewKey("sk_")
	if err != nil {
		return err
	}
	if st, err := s.status(unknown); err != nil || st != http.StatusUnauthorized {
		return fmt.Errorf("an unknown key got %d (%v), want 401", st, err)
	}
	return nil
}

// anyKey is the key of the most recent live record.
func (b *bench) anyKey() string {
	for i := b.next - 1; i >= 0; i-- {
		if k, ok := b.keys[i]; ok {
			return k
		}
	}
	return ""
}

// spread picks k live records spread evenly over the indexes, sparing the
// most recent one (anyKey's).
func (b *bench) spread(k int) []int {
	idx := make([]int, 0, len(b.keys))
	for i := range b.keys {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	idx = idx[:len(idx)-1]
	if k > len(idx) {
		k = len(idx)
	}
	out := make([]int, k)
	for j := range out {
		out[j] = idx[j*len(idx)/k]
	}
	return out
}
