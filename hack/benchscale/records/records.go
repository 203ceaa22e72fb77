// Package records writes API-key record Secrets straight into an API
// server, as keygate's controller writes them (record.NewSecret builds the
// same Secret), for the load and scale benchmarks of hack/: the controller
// is not what they measure, and creating the records directly is much
// faster than compiling ApiKeys.
//
// Record i compiles the ApiKey <SourceNamespace>/k<i> (UID uid-k<i>,
// subject tenant-<i>) with one fresh key that grants Scope.
package records

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/keygate-dev/keygate/internal/record"
)

// Scope is the one scope every key grants; the benchmarks' checks ask for it.
const Scope = "events:write"

// Writer creates and deletes API-key records in Namespace whose sources
// live in SourceNamespace (which must differ from Namespace: the auth
// server ignores records of keygate's own namespace).
type Writer struct {
	Client          client.Client
	Namespace       string
	SourceNamespace string
	// Workers is how many creates or deletes are in flight; default 8.
	Workers int
}

// Record is record i, holding the key hash h.
func (w *Writer) Record(i int, h record.Hash) *record.APIKey {
	return &record.APIKey{
		Version: record.Version,
		Source:  record.Source{Namespace: w.SourceNamespace, Name: fmt.Sprint("k", i), UID: fmt.Sprint("uid-k", i)},
		Subject: fmt.Sprint("tenant-", i),
		Type:    "secret",
		Prefix:  "sk_",
		Scopes:  []string{Scope},
		Keys:    []record.KeyHash{{SHA256: h.String()}},
	}
}

// Create writes records from..to-1, each with a fresh key, and returns the
// keys in order.
func (w *Writer) Create(ctx context.Context, from, to int) ([]string, error) {
	keys := make([]string, to-from)
	for i := range keys {
		k, err := record.NewKey("sk_")
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	err := w.each(ctx, from, to, func(ctx context.Context, i int) error {
		rec := w.Record(i, record.HashKey(keys[i-from]))
		s, err := record.NewSecret(w.Namespace, record.KindAPIKey, rec.Source, rec)
		if err != nil {
			return err
		}
		if err := w.Client.Create(ctx, s); err != nil {
			return fmt.Errorf("creating record Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		return nil
	})
	return keys, err
}

// Delete deletes the record Secret of record i.
func (w *Writer) Delete(ctx context.Context, i int) error {
	s := &corev1.Secret{}
	s.Namespace, s.Name = w.Namespace, record.SecretName(record.KindAPIKey, w.SourceNamespace, fmt.Sprint("k", i))
	if err := w.Client.Delete(ctx, s); err != nil {
		return fmt.Errorf("deleting record Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// each runs f for from..to-1 on Workers goroutines and returns the first
// error; after one, no new call starts.
func (w *Writer) each(ctx context.Context, from, to int, f func(context.Context, int) error) error {
	workers := w.Workers
	if workers <= 0 {
		workers = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	next.Store(int64(from))
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < to && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}
