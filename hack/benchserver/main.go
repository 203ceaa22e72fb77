// Command benchserver serves, for hack/bench.sh, keygate's /check handler
// with an index of API keys, and beside it the floor: a minimal net/http
// handler that only looks the X-API-Key header up by SHA-256 in a map. Both
// use the same http.Server settings. It prints one line, "key=<key>", when
// both listen, and serves until it is killed.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/go-logr/logr"

	"github.com/keygate-dev/keygate/internal/record"
	"github.com/keygate-dev/keygate/internal/seedpolicy"
	"github.com/keygate-dev/keygate/webhook"
	"github.com/keygate-dev/keygate/webhook/ratelimit"
)

func main() {
	keygateAddr := flag.String("keygate", "127.0.0.1:18080", "address of keygate's handler")
	floorAddr := flag.String("floor", "127.0.0.1:18081", "address of the floor handler")
	nkeys := flag.Int("keys", 10000, "API keys in the index")
	flag.Parse()
	if err := run(*keygateAddr, *floorAddr, *nkeys); err != nil {
		fmt.Fprintln(os.Stderr, "benchserver:", err)
		os.Exit(1)
	}
}

func run(keygateAddr, floorAddr string, nkeys int) error {
	ix := webhook.NewIndex(logr.Discard())
	floor := make(map[[sha256.Size]byte]struct{}, nkeys)
	var last string
	for i := 0; i < nkeys; i++ {
		key, err := record.NewKey("sk_")
		if err != nil {
			return err
		}
		h := record.HashKey(key)
		floor[h] = struct{}{}
		rec := &record.APIKey{Version: record.Version, Source: record.Source{Namespace: "bench", Name: fmt.Sprint("k", i), UID: fmt.Sprint("uid-", i)},
			Subject: fmt.Sprint("tenant-", i), Type: "secret", Prefix: "sk_", Scopes: []string{"events:write"},
			Keys: []record.KeyHash{{SHA256: h.String()}}}
		if err := apply(ix, record.KindAPIKey, fmt.Sprint("ak.bench.k", i), rec); err != nil {
			return err
		}
		last = key
	}
	// Limits scaled by a million: the load comes from one IP and one key,
	// so the run measures the cost of counting, not 429s.
	seed, err := seedpolicy.Record("bench", 1_000_000)
	if err != nil {
		return err
	}
	if err := apply(ix, record.KindRateLimitPolicy, "rlp.bench.seed", seed); err != nil {
		return err
	}
	lim := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	defer func() { _ = lim.Close() }()
	srv := webhook.NewServer(webhook.Config{Index: ix, Limiter: lim, TrustedHops: 1, Log: logr.Discard()})
	srv.MarkSynced(func() bool { return true })

	kl, err := net.Listen("tcp", keygateAddr)
	if err != nil {
		return err
	}
	fl, err := net.Listen("tcp", floorAddr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	errc := make(chan error, 2)
	go func() { errc <- webhook.Serve(ctx, kl, srv.Handler()) }()
	go func() { errc <- webhook.Serve(ctx, fl, floorHandler(floor)) }()
	fmt.Printf("key=%s\n", last)
	return <-errc
}

// floorHandler is the least an auth server can do: hash the header and
// look it up.
func floorHandler(keys map[[sha256.Size]byte]struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := keys[sha256.Sum256([]byte(r.Header.Get("X-Api-Key")))]; ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
}

func apply(ix *webhook.Index, kind, name string, rec any) error {
	s, err := record.NewSecret("keygate-system", kind, record.SourceOf(rec), rec)
	if err != nil {
		return err
	}
	s.Name = name
	ix.Apply(s)
	if s := ix.Stats(); s.DecodeErrors > 0 {
		return fmt.Errorf("record %s did not load", name)
	}
	return nil
}
