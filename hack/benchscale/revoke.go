package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/keygate-dev/keygate/hack/benchscale/records"
)

// revoke deletes the record Secret of each record in idx, one at a time,
// and returns how long each took from the delete being sent to the key
// being refused by s (polled every 2ms). Each key must be admitted first.
func revoke(ctx context.Context, s *server, w *records.Writer, keys map[int]string, idx []int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(idx))
	for _, i := range idx {
		key := keys[i]
		if st, err := s.status(key); err != nil || st != http.StatusOK {
			return nil, fmt.Errorf("before revocation, record %d's key got %d (%v), want 200", i, st, err)
		}
		start := time.Now()
		if err := w.Delete(ctx, i); err != nil {
			return nil, err
		}
		for {
			st, err := s.status(key)
			if err != nil {
				return nil, err
			}
			if st == http.StatusUnauthorized {
				break
			}
			if st != http.StatusOK {
				return nil, fmt.Errorf("while revoking record %d, its key got %d, want 200 then 401", i, st)
			}
			if time.Since(start) > 30*time.Second {
				return nil, fmt.Errorf("record %d's key is still admitted 30s after its record was deleted", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		out = append(out, time.Since(start))
		delete(keys, i)
	}
	return out, nil
}
