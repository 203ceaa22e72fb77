package webhook

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/test/testenv"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

// The auth server's record feed against a real API server: the first list
// makes it ready, then keys come and go with their record Secrets as the
// watch delivers them (a deleted record is revoked, a record that no
// longer decodes is refused), Secrets that are not keygate's records are
// never read, and --source-namespaces loads one shard of the records.
func TestRecordFeed(t *testing.T) {
	env := testenv.Start(t, testenv.Options{})
	c := env.Client
	kAcme, kGlobex, kNew, kRotated := hexKey("sk_", 'a'), hexKey("sk_", 'b'), hexKey("sk_", 'c'), hexKey("sk_", 'd')
	putRecord(t, c, "acme", "sdk", kAcme)
	putRecord(t, c, "globex", "sdk", kGlobex)
	// A Secret of keygate's namespace that is not a record: never listed.
	stray, err := record.NewSecret(testenv.Namespace, record.KindAPIKey, record.Source{Namespace: "acme", Name: "stray"},
		testRecord("acme", "stray", kNew))
	if err != nil {
		t.Fatal(err)
	}
	delete(stray.Labels, record.LabelManagedBy)
	if err := c.Create(context.Background(), stray); err != nil {
		t.Fatal(err)
	}

	all := startFeed(t, env, nil)
	shard := startFeed(t, env, []string{"acme"})
	waitStatus(t, all, kAcme, http.StatusOK)
	waitStatus(t, all, kGlobex, http.StatusOK)
	waitStatus(t, all, kNew, http.StatusUnauthorized) // the stray Secret's key
	waitStatus(t, shard, kAcme, http.StatusOK)
	waitStatus(t, shard, kGlobex, http.StatusUnauthorized) // another shard's key

	putRecord(t, c, "globex", "new", kNew) // created after the first list
	waitStatus(t, all, kNew, http.StatusOK)
	putRecord(t, c, "acme", "sdk", kRotated) // rotated: the old key goes
	waitStatus(t, all, kRotated, http.StatusOK)
	waitStatus(t, all, kAcme, http.StatusUnauthorized)
	waitStatus(t, shard, kRotated, http.StatusOK)

	// Revocation: the record Secret is deleted.
	s := &corev1.Secret{}
	s.Namespace, s.Name = testenv.Namespace, record.SecretName(record.KindAPIKey, "globex", "new")
	if err := c.Delete(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, all, kNew, http.StatusUnauthorized)

	// Fail closed: the record no longer decodes.
	s.Name = record.SecretName(record.KindAPIKey, "globex", "sdk")
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(s), s); err != nil {
		t.Fatal(err)
	}
	s.Data[record.DataKey] = []byte(`{"version":1,"keys":[{"sha256":"zz"}]}`)
	if err := c.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, all, kGlobex, http.StatusUnauthorized)
	if got := all.cfg.Index.Stats().Keys; got != 1 {
		t.Errorf("keys loaded = %d, want 1 (acme's rotated key)", got)
	}
}

func testRecord(ns, name, key string) *record.APIKey {
	return &record.APIKey{Version: record.Version, Source: record.Source{Namespace: ns, Name: name, UID: "uid-" + ns + "-" + name},
		Subject: ns, Type: "secret", Prefix: "sk_", Keys: []record.KeyHash{{SHA256: record.HashKey(key).String()}}}
}

// putRecord creates or updates the record of ApiKey ns/name, holding key.
func putRecord(t *testing.T, c client.Client, ns, name, key string) {
	t.Helper()
	rec := testRecord(ns, name, key)
	want, err := record.NewSecret(testenv.Namespace, record.KindAPIKey, rec.Source, rec)
	if err != nil {
		t.Fatal(err)
	}
	var have corev1.Secret
	err = c.Get(context.Background(), client.ObjectKeyFromObject(want), &have)
	if err == nil {
		have.Data = want.Data
		err = c.Update(context.Background(), &have)
	} else {
		err = c.Create(context.Background(), want)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// startFeed runs a server whose index is fed from the API server, as
// Setup wires it, until the test ends, and waits until it is ready.
func startFeed(t *testing.T, env *testenv.Env, sourceNamespaces []string) *Server {
	t.Helper()
	feed, err := newRecordFeed(env.Config, testenv.Namespace, sourceNamespaces)
	if err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.NewMemory(ratelimit.MemoryOptions{SweepInterval: -1})
	t.Cleanup(func() { _ = lim.Close() })
	srv := NewServer(Config{Index: NewIndex(logr.Discard()), Verifier: &fakeVerifier{}, Limiter: lim, Log: logr.Discard()})
	store := srv.cfg.Index.Store()
	srv.MarkSynced(store.HasSynced)
	if srv.Ready() {
		t.Fatal("ready before the first list")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { feed.run(ctx, store); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(30 * time.Second); !srv.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the record feed did not sync in 30s")
		}
	}
	return srv
}

// waitStatus waits up to 10s for a check with key to be answered want.
func waitStatus(t *testing.T, srv *Server, key string, want int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		h := &harness{srv: srv}
		if got = h.do(nginxReq("", "https://api.example.com/v1/x", "X-API-Key", key)).Code; got == want {
			return
		}
	}
	t.Fatalf("key %s...: status %d, want %d", key[:6], got, want)
}
