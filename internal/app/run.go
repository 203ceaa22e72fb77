package app

import (
	"context"
	"errors"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Running is a set of managers started together in one process, as keygate
// dev runs the controller and the auth server (two Deployments in an
// install).
type Running struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	errs   []error
}

// Start starts the managers and returns at once; Stop ends them.
func Start(ctx context.Context, mgrs ...ctrl.Manager) *Running {
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{cancel: cancel, done: make(chan struct{})}
	for _, m := range mgrs {
		r.wg.Add(1)
		go r.run(ctx, m)
	}
	return r
}

func (r *Running) run(ctx context.Context, m ctrl.Manager) {
	defer r.wg.Done()
	if err := m.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
	r.once.Do(func() { close(r.done) })
}

// Done is closed when a manager has stopped, by Stop or on its own (the
// auth server cannot listen, the API server went away).
func (r *Running) Done() <-chan struct{} { return r.done }

// Stop stops every manager, waits for them, and returns what failed.
func (r *Running) Stop() error {
	r.cancel()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.errs...)
}
