package controllers

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/app/kube"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
)

// One API server for the package. Everything the controllers log, and every
// event they record, is captured; at the end the suite fails if any
// plaintext key seen during the run appears in them, in a status, in a
// record Secret, or in an Event object.
var (
	env      *testenv.Env
	captured = &capture{}
	issued   = &keySet{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.New(captured.sink()))
	e, err := testenv.New(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	if code == 0 && !testing.Short() {
		if err := checkNoPlaintext(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	_ = e.Stop()
	os.Exit(code)
}

// capture collects log lines and event notes.
type capture struct {
	off    atomic.Bool // the scale benchmark keeps no log lines
	mu     sync.Mutex
	lines  []string
	events []capturedEvent
}

type capturedEvent struct {
	Object, Type, Reason, Note string
}

func (c *capture) sink() logr.LogSink {
	return funcr.New(func(prefix, args string) {
		if c.off.Load() {
			return
		}
		c.mu.Lock()
		c.lines = append(c.lines, prefix+" "+args)
		c.mu.Unlock()
	}, funcr.Options{Verbosity: 10}).GetSink()
}

func (c *capture) texts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.lines...)
	for _, e := range c.events {
		out = append(out, e.Note)
	}
	return out
}

// eventsFor returns the events recorded on the object ns/name.
func (c *capture) eventsFor(ns, name string) []capturedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []capturedEvent
	for _, e := range c.events {
		if e.Object == ns+"/"+name {
			out = append(out, e)
		}
	}
	return out
}

// recorder captures events and forwards them to next (when not nil).
type recorder struct {
	c    *capture
	next events.EventRecorder
}

func (r recorder) Eventf(regarding, related runtime.Object, typ, reason, action, note string, args ...any) {
	o := regarding.(metav1.Object)
	r.c.mu.Lock()
	r.c.events = append(r.c.events, capturedEvent{o.GetNamespace() + "/" + o.GetName(), typ, reason, fmt.Sprintf(note, args...)})
	r.c.mu.Unlock()
	if r.next != nil {
		r.next.Eventf(regarding, related, typ, reason, action, note, args...)
	}
}

// keySet remembers every plaintext key the tests saw in delivery Secrets.
type keySet struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (s *keySet) add(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]bool{}
	}
	s.keys[k] = true
}

func (s *keySet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.keys {
		out = append(out, k)
	}
	return out
}

// leak returns the first text containing one of the keys, or its secret
// part (a key's 64 hex characters without the prefix).
func leak(keys, texts []string) (string, bool) {
	for _, k := range keys {
		secret := k[len(k)-record.SecretLen:]
		for _, t := range texts {
			if strings.Contains(t, secret) {
				return t, true
			}
		}
	}
	return "", false
}

// checkNoPlaintext looks for every issued key in logs, events, statuses,
// record Secrets and Event objects.
func checkNoPlaintext() error {
	keys := issued.list()
	if f := flag.Lookup("test.run"); len(keys) < 10 && (f == nil || f.Value.String() == "") {
		return fmt.Errorf("only %d keys were seen during the suite; the plaintext check would prove nothing", len(keys))
	}
	texts := captured.texts()
	ctx := context.Background()
	var aks keygatev1alpha1.ApiKeyList
	var secrets corev1.SecretList
	var evs eventsv1.EventList
	for _, l := range []client.ObjectList{&aks, &secrets, &evs} {
		if err := env.Client.List(ctx, l); err != nil {
			return err
		}
	}
	for _, ak := range aks.Items {
		texts = append(texts, fmt.Sprintf("%+v", ak.Status))
	}
	records := 0
	for _, s := range secrets.Items {
		if s.Type == record.SecretType {
			records++
			texts = append(texts, string(s.Data[record.DataKey]), fmt.Sprint(s.Annotations, s.Labels))
		}
	}
	for _, e := range evs.Items {
		texts = append(texts, e.Note)
	}
	if t, ok := leak(keys, texts); ok {
		return fmt.Errorf("a plaintext key leaked into: %.300s", t)
	}
	fmt.Printf("plaintext check: %d keys, none in %d log lines and events, %d ApiKey statuses, %d record Secrets, %d Event objects\n",
		len(keys), len(captured.texts()), len(aks.Items), records, len(evs.Items))
	return nil
}

func TestLeakFindsKeys(t *testing.T) {
	k, _ := record.NewKey("sk_")
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"issued " + k, true},
		{"secret part only " + k[3:], true},
		{"keyId " + record.HashKey(k).KeyID(), false},
		{"", false},
	} {
		if _, got := leak([]string{k}, []string{tc.text}); got != tc.want {
			t.Errorf("leak(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// counter counts the writes made through a client, and can fail the Nth.
type counter struct {
	n      atomic.Int64
	failAt int64 // 0: never
}

func (w *counter) hit() error {
	if n := w.n.Add(1); n == w.failAt {
		return fmt.Errorf("injected failure of write %d", n)
	}
	return nil
}

// wrap returns c with writes counted (and the failAt-th failing).
func (w *counter) wrap(c client.Client) client.Client { return &countingClient{Client: c, w: w} }

type countingClient struct {
	client.Client
	w *counter
}

func (c *countingClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	if err := c.w.hit(); err != nil {
		return err
	}
	return c.Client.Create(ctx, o, opts...)
}

func (c *countingClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	if err := c.w.hit(); err != nil {
		return err
	}
	return c.Client.Update(ctx, o, opts...)
}

func (c *countingClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	if err := c.w.hit(); err != nil {
		return err
	}
	return c.Client.Patch(ctx, o, p, opts...)
}

func (c *countingClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	if err := c.w.hit(); err != nil {
		return err
	}
	return c.Client.Delete(ctx, o, opts...)
}

func (c *countingClient) Status() client.SubResourceWriter {
	return &countingStatus{SubResourceWriter: c.Client.Status(), w: c.w}
}

type countingStatus struct {
	client.SubResourceWriter
	w *counter
}

func (s *countingStatus) Update(ctx context.Context, o client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.w.hit(); err != nil {
		return err
	}
	return s.SubResourceWriter.Update(ctx, o, opts...)
}

func (s *countingStatus) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.w.hit(); err != nil {
		return err
	}
	return s.SubResourceWriter.Patch(ctx, o, p, opts...)
}

// startManager runs the controllers in a manager of their own until the
// returned stop function is called (or the test ends); mut, if any,
// changes the manager's options (the scale benchmark's resync period).
func startManager(t testing.TB, opts Options, writes *counter, mut ...func(*kube.ManagerOptions)) (stop func()) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	mopts := kube.ManagerOptions{Cache: CacheOptions(opts), SkipNameValidation: true}
	for _, m := range mut {
		m(&mopts)
	}
	if writes != nil {
		mopts.NewClient = func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return writes.wrap(c), nil
		}
	}
	mgr, err := kube.NewManager(cfg, mopts)
	if err != nil {
		t.Fatal(err)
	}
	if opts.EventRecorder == nil {
		opts.EventRecorder = recorder{c: captured, next: mgr.GetEventRecorder("keygate-controller")}
	}
	if err := Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	return stop
}

// eventually polls cond every 50ms for up to 30s of real time: it waits for
// the controller to act, never for time in the product to pass (that is
// the fake clock's job).
func eventually(t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s (last error: %v)", what, lastErr)
}
