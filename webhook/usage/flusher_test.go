package usage

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
	"github.com/keygate-dev/keygate/webhook/index"
)

// flushFixture is an index with two ApiKeys (three keys), a recorder, and
// a flusher that writes to a real API server (envtest, RBAC on).
type flushFixture struct {
	env   *testenv.Env
	ix    *index.Index[struct{}]
	clock *clocktesting.FakeClock
	f     *Flusher
	keys  [3]string
}

// apiServer is one API server for the package's flusher tests, started
// on first use; TestMain stops it.
var apiServer struct {
	once sync.Once
	env  *testenv.Env
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiServer.env != nil {
		_ = apiServer.env.Stop()
	}
	os.Exit(code)
}

// newFlushFixture makes a fixture whose report is named after the test.
func newFlushFixture(t *testing.T) *flushFixture {
	apiServer.once.Do(func() { apiServer.env, apiServer.err = testenv.New(testenv.Options{RBAC: true}) })
	if apiServer.err != nil {
		t.Fatal(apiServer.err)
	}
	env := apiServer.env
	x := &flushFixture{env: env, clock: clocktesting.NewFakeClock(t0)}
	x.ix = index.New(func(*record.RateLimitPolicy) (struct{}, error) { return struct{}{}, nil }, logr.Discard())
	for i := range x.keys {
		x.keys[i], _ = record.NewKey("sk_")
	}
	for _, rec := range []*record.APIKey{
		{Source: record.Source{Namespace: "acme", Name: "sdk", UID: "u1"}, Keys: []record.KeyHash{{SHA256: record.HashKey(x.keys[0]).String()}, {SHA256: record.HashKey(x.keys[1]).String()}}},
		{Source: record.Source{Namespace: "acme", Name: "ci", UID: "u2"}, Keys: []record.KeyHash{{SHA256: record.HashKey(x.keys[2]).String()}}},
	} {
		rec.Version, rec.Subject, rec.Type, rec.Prefix = record.Version, "acme", "secret", "sk_"
		s, err := record.NewSecret(testenv.Namespace, record.KindAPIKey, rec.Source, rec)
		if err != nil {
			t.Fatal(err)
		}
		x.ix.Apply(s)
	}
	x.f = &Flusher{Client: env.Client, Entries: x.ix.AppendEntries, Recorder: NewRecorder(t0), Namespace: testenv.Namespace,
		Name: strings.ToLower(t.Name()), Interval: time.Minute, Clock: x.clock, Metrics: NewMetrics(), Log: logr.Discard()}
	return x
}

// use admits key i at the recorder's current interval.
func (x *flushFixture) use(t *testing.T, i int) {
	t.Helper()
	e, ok := x.ix.Lookup(record.HashKey(x.keys[i]))
	if !ok {
		t.Fatal("key not in the index")
	}
	x.f.Recorder.Record(e)
}

// report reads the report back, nil when there is none.
func (x *flushFixture) report(t *testing.T) *keygatev1alpha1.UsageReport {
	t.Helper()
	r := &keygatev1alpha1.UsageReport{}
	err := x.env.Client.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: x.f.Name}, r)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (x *flushFixture) flush(t *testing.T, wantWrote bool) {
	t.Helper()
	wrote, err := x.f.Flush(context.Background())
	if err != nil || wrote != wantWrote {
		t.Fatalf("Flush at %v: wrote %v, %v; want wrote %v", x.clock.Now(), wrote, err, wantWrote)
	}
}

// TestFlushWritesOnlyWhatChanged: nothing is written before a key is
// used, a report after, nothing again while nothing changes, and the new
// interval's time once a key is used again.
func TestFlushWritesOnlyWhatChanged(t *testing.T) {
	x := newFlushFixture(t)
	x.flush(t, false)
	if r := x.report(t); r != nil {
		t.Fatalf("a report before any key was used: %+v", r.Spec)
	}
	x.use(t, 0)
	x.use(t, 2)
	x.clock.Step(time.Minute)
	x.flush(t, true)
	r := x.report(t)
	if r == nil || len(r.Spec.APIKeys) != 2 || r.Spec.APIKeys[1].Name != "sdk" || len(r.Spec.APIKeys[1].Keys) != 1 ||
		r.Spec.APIKeys[1].Keys[0].KeyID != record.HashKey(x.keys[0]).KeyID() || !r.Spec.APIKeys[1].Keys[0].LastUsedAt.Time.Equal(t0) ||
		!r.Spec.FlushedAt.Time.Equal(t0.Add(time.Minute)) || r.Spec.Interval.Duration != time.Minute {
		t.Fatalf("report after two uses: %+v", r)
	}
	rv := r.ResourceVersion
	x.clock.Step(time.Minute)
	x.flush(t, false)
	if r := x.report(t); r.ResourceVersion != rv {
		t.Fatal("the report was written again although nothing changed")
	}
	x.use(t, 0) // in the interval that began at t0+2m
	x.clock.Step(time.Minute)
	x.flush(t, true)
	if got := x.report(t).Spec.APIKeys[1].Keys[0].LastUsedAt.Time; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("lastUsedAt %v after a use in the third interval, want %v", got, t0.Add(2*time.Minute))
	}
	if n := testutil.ToFloat64(x.f.Metrics.writes.WithLabelValues("ok")); n != 2 {
		t.Fatalf("keygate_usage_report_writes_total{result=ok} = %v, want 2", n)
	}
	if strings.Contains(toJSON(t, x.report(t)), strings.TrimPrefix(x.keys[0], "sk_")) {
		t.Fatal("the report holds a key")
	}
}

// TestFlushRetriesAFailedWrite: a write the API server refuses is
// counted, and the next flush writes the same report.
func TestFlushRetriesAFailedWrite(t *testing.T) {
	x := newFlushFixture(t)
	cfg := rest.CopyConfig(x.env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	denied, err := client.New(cfg, client.Options{Scheme: x.env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	admin := x.f.Client
	x.f.Client = denied
	x.use(t, 1)
	if wrote, err := x.f.Flush(context.Background()); wrote || !apierrors.IsForbidden(err) {
		t.Fatalf("Flush without the right to write: wrote %v, %v; want Forbidden", wrote, err)
	}
	if n := testutil.ToFloat64(x.f.Metrics.writes.WithLabelValues("error")); n != 1 {
		t.Fatalf("keygate_usage_report_writes_total{result=error} = %v, want 1", n)
	}
	x.f.Client = admin
	x.flush(t, true)
	if r := x.report(t); r == nil || r.Spec.APIKeys[0].Keys[0].KeyID != record.HashKey(x.keys[1]).KeyID() {
		t.Fatalf("report after the retry: %+v", r)
	}
}

// TestFlushIsBounded: over its limits a report keeps the most recent keys
// and says how many it left out, in spec.dropped and the metric.
func TestFlushIsBounded(t *testing.T) {
	x := newFlushFixture(t)
	x.f.Limits = Limits{Keys: 2}
	x.use(t, 2)
	x.clock.Step(time.Minute)
	x.f.Recorder.Advance(x.clock.Now())
	x.use(t, 0)
	x.use(t, 1)
	x.flush(t, true)
	r := x.report(t)
	if r.Spec.Dropped != 1 || len(r.Spec.APIKeys) != 1 || r.Spec.APIKeys[0].Name != "sdk" || len(r.Spec.APIKeys[0].Keys) != 2 {
		t.Fatalf("report over its limit: %+v; want sdk's two keys (the most recent) and 1 dropped", r.Spec)
	}
	if n := testutil.ToFloat64(x.f.Metrics.dropped); n != 1 {
		t.Fatalf("keygate_usage_report_dropped_keys = %v, want 1", n)
	}
}

// TestFlusherRunsAndFlushesOnShutdown: Start writes at each tick, and once
// more when it stops, so a replica shut down gracefully loses nothing.
func TestFlusherRunsAndFlushesOnShutdown(t *testing.T) {
	x := newFlushFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.f.Start(ctx) }()
	x.use(t, 0)
	for deadline := time.Now().Add(10 * time.Second); x.report(t) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no report after a tick")
		}
		x.clock.Step(time.Minute)
	}
	x.use(t, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := x.report(t); len(r.Spec.APIKeys) != 2 {
		t.Fatalf("report after shutdown: %+v; want the use made just before it", r.Spec)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
