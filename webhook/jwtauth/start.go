package jwtauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"
)

// reloadSyncTimeout bounds how long a reloaded config may wait for the
// objects it newly references; past it the reload fails and the previous
// config stays in use.
const reloadSyncTimeout = 30 * time.Second

// Start watches the config file and the objects it references and keeps
// the JWKS fresh, until ctx is done; then it stops all of it and returns
// nil. It is a controller-runtime manager.Runnable.
func (a *Authenticator) Start(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("jwtauth: Start called twice")
	}
	if a.opts.ConfigPath == "" {
		<-ctx.Done()
		return nil
	}
	defer a.shutdown()
	a.applyMu.Lock()
	a.runCtx = ctx
	err := a.activate(ctx, a.cur.Load(), 0, false)
	a.applyMu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("loading the objects the JWT config references: %w", err)
	}
	poll := time.NewTicker(a.poll)
	defer poll.Stop()
	prune := time.NewTicker(a.pruneE)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			a.reload(ctx)
		case <-prune.C:
			a.revocations.prune()
		}
	}
}

// shutdown stops the JWKS refreshers and informers.
func (a *Authenticator) shutdown() {
	a.applyMu.Lock()
	for src, cancel := range a.jwksRuns {
		cancel()
		delete(a.jwksRuns, src)
	}
	a.applyMu.Unlock()
	a.jwksWG.Wait()
	a.objects.retain(nil)
}

// reload reads the config file and, when its content changed, validates
// and activates it. A file that is unreadable or invalid leaves the config
// in use as it is; the failure is logged once per distinct content.
func (a *Authenticator) reload(ctx context.Context) {
	data, err := os.ReadFile(a.opts.ConfigPath)
	if err != nil {
		a.reloadFailed(fmt.Errorf("reading JWT config: %w", err), [32]byte{1})
		return
	}
	hash := sha256.Sum256(data)
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if hash == a.lastHash {
		return
	}
	a.lastHash = hash
	if err := a.apply(ctx, data); err != nil {
		configReloads.WithLabelValues("error").Inc()
		a.log.Error(err, "JWT config not reloaded; the previous config stays in use", "path", a.opts.ConfigPath)
		return
	}
	configReloads.WithLabelValues("success").Inc()
	a.log.Info("JWT config reloaded", "path", a.opts.ConfigPath, "issuers", len(a.cur.Load().issuers))
}

// reloadFailed reports a failure that has no content to hash, once.
func (a *Authenticator) reloadFailed(err error, marker [32]byte) {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if a.lastHash == marker {
		return
	}
	a.lastHash = marker
	configReloads.WithLabelValues("error").Inc()
	a.log.Error(err, "JWT config not reloaded; the previous config stays in use", "path", a.opts.ConfigPath)
}

// apply parses, compiles and activates new config content. The caller
// holds applyMu.
func (a *Authenticator) apply(ctx context.Context, data []byte) error {
	cfg, err := ParseConfig(data)
	if err != nil {
		return err
	}
	snap, err := a.compile(cfg)
	if err != nil {
		return err
	}
	if err := a.activate(ctx, snap, reloadSyncTimeout, true); err != nil {
		a.objects.retain(a.cur.Load().refs())
		return err
	}
	return nil
}

// activate makes snap the config in use once the objects it references
// have been read. On a reload (requireRevocation), a revocation source
// that does not exist fails the reload: a misspelt name must not silently
// un-revoke every token. The caller holds applyMu.
func (a *Authenticator) activate(ctx context.Context, snap *snapshot, timeout time.Duration, requireRevocation bool) error {
	refs := snap.refs()
	if err := a.objects.ensure(refs); err != nil {
		return err
	}
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := a.objects.waitSynced(wctx, refs); err != nil {
		return err
	}
	if requireRevocation && snap.revocation != nil {
		if _, ok := a.objects.data(*snap.revocation); !ok {
			return fmt.Errorf("revocation %s not found in namespace %s", snap.revocation, a.opts.Namespace)
		}
	}
	a.revMu.Lock()
	a.loadRevocations(snap)
	a.cur.Store(snap)
	a.revMu.Unlock()
	a.runJWKS(snap)
	a.objects.retain(refs)
	issuersLoaded.Set(float64(len(snap.issuers)))
	a.activated.Store(true)
	a.markReady()
	for _, ref := range refs {
		a.checkObject(snap, ref)
	}
	return nil
}

// runJWKS starts a refresher for each JWKS of snap that has none and
// stops those of JWKS no longer used. The caller holds applyMu.
func (a *Authenticator) runJWKS(snap *snapshot) {
	used := map[*jwksSource]bool{}
	for _, is := range snap.issuers {
		if is.jwks == nil {
			continue
		}
		used[is.jwks] = true
		if _, running := a.jwksRuns[is.jwks]; running {
			continue
		}
		ctx, cancel := context.WithCancel(a.runCtx)
		a.jwksRuns[is.jwks] = cancel
		a.jwksWG.Add(1)
		go func(s *jwksSource) {
			defer a.jwksWG.Done()
			s.run(ctx)
		}(is.jwks)
	}
	for src, cancel := range a.jwksRuns {
		if !used[src] {
			cancel()
			delete(a.jwksRuns, src)
		}
	}
}

// markReady sets Ready once the config is active and its revocation
// source, if any, exists.
func (a *Authenticator) markReady() {
	if a.ready.Load() || !a.activated.Load() {
		return
	}
	snap := a.cur.Load()
	if snap.revocation != nil {
		if _, ok := a.objects.data(*snap.revocation); !ok {
			a.log.Info("waiting for the revocation list before becoming ready", "object", snap.revocation.String(), "namespace", a.opts.Namespace)
			return
		}
	}
	a.ready.Store(true)
	a.log.Info("JWT authenticator ready", "issuers", len(snap.issuers))
}
