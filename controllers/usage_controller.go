package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
)

// The usage controller reads the auth servers' UsageReports (its cache
// holds those of keygate's namespace only) and deletes the reports no
// replica has written for long. It writes the ApiKeys' status with Update,
// as the ApiKey controller does.
//
// +kubebuilder:rbac:groups=keygate.dev,resources=usagereports,verbs=get;list;watch;delete

// UsageReportExpiry is how long a report nobody writes is kept: a replica
// that is gone (or idle: a replica writes only when what it saw changed)
// has its report deleted after max(UsageReportExpiry, 2 x granularity),
// once it is merged. An idle replica that admits a key again writes a new
// one.
const UsageReportExpiry = 24 * time.Hour

// UsageReconciler merges every auth-server replica's UsageReport into the
// ApiKeys' status.lastUsedAt and status.keys[].lastUsedAt, at most one
// write per ApiKey per window, none for an ApiKey never used. It has one
// work item: any report change, and any change of an ApiKey's key ids
// (a rotation), merges all reports again.
type UsageReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client  client.Client
	Options Options

	mu sync.Mutex
	// wrote is the window of this process's last usage write per ApiKey,
	// kept for the current window only.
	wrote map[types.UID]time.Time
}

func setupUsage(mgr ctrl.Manager, opts Options) error {
	r := &UsageReconciler{Client: mgr.GetClient(), Options: opts}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the usage controller: %w", err)
	}
	return nil
}

// SetupWithManager watches the UsageReports of keygate's namespace and the
// key ids in ApiKey status.
func (r *UsageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Options.Namespace, Name: "usage"}}}
	})
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Options.Namespace })
	return ctrl.NewControllerManagedBy(mgr).
		Named("usage").
		Watches(&keygatev1alpha1.UsageReport{}, all, builder.WithPredicates(ours)).
		Watches(&keygatev1alpha1.ApiKey{}, all, builder.WithPredicates(keyIDsChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		Complete(r)
}

// keyIDsChanged passes an ApiKey whose status.keys gained a key id: a use
// of that key may be waiting in a report.
func keyIDsChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*keygatev1alpha1.ApiKey)
			n, ok2 := e.ObjectNew.(*keygatev1alpha1.ApiKey)
			if !ok1 || !ok2 {
				return false
			}
			for _, k := range n.Status.Keys {
				if !slices.ContainsFunc(o.Status.Keys, func(x keygatev1alpha1.KeyStatus) bool { return x.KeyID == k.KeyID }) {
					return true
				}
			}
			return false
		},
	}
}

// Reconcile merges the reports, writes what moved forward, and deletes
// the reports that expired; it requeues when a write held back by its
// window may be made, or a report expires.
func (r *UsageReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	var reports keygatev1alpha1.UsageReportList
	if err := r.Client.List(ctx, &reports, client.InNamespace(r.Options.Namespace)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing usage reports: %w", err)
	}
	now := r.Options.Clock.Now()
	retry, err := r.merge(ctx, mergeReports(reports.Items, now), now)
	if err != nil {
		return requeueOnConflict(ctx, err)
	}
	expires, err := r.collect(ctx, reports.Items, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wake := earlier(retry, expires); !wake.IsZero() {
		return ctrl.Result{RequeueAfter: max(wake.Sub(now), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// merge decides for every ApiKey in the reports, then writes, at most
// MaxConcurrentReconciles at once. It returns the earliest retry of a
// write held back by its window.
func (r *UsageReconciler) merge(ctx context.Context, used map[types.NamespacedName]map[string]time.Time, now time.Time) (time.Time, error) {
	var retry time.Time
	var todo []*keygatev1alpha1.ApiKey // status moved forward
	window := now.Truncate(r.Options.UsageGranularity)
	r.forgetBefore(window)
	for key, keys := range used {
		if !r.Options.compiles(key.Namespace) {
			continue
		}
		ak := &keygatev1alpha1.ApiKey{}
		if err := r.Client.Get(ctx, key, ak); err != nil {
			if apierrors.IsNotFound(err) {
				continue // deleted; its report entry goes with the replica's next write
			}
			return retry, fmt.Errorf("reading ApiKey %s: %w", key, err)
		}
		d := decideUsage(usageInput{Status: ak.Status, Used: keys, Now: now, Granularity: r.Options.UsageGranularity, WroteIn: r.wroteIn(ak.UID)})
		retry = earlier(retry, d.RetryAt)
		if d.Status != nil {
			ak.Status = *d.Status
			todo = append(todo, ak)
		}
	}
	return retry, r.write(ctx, todo)
}

// write updates the ApiKeys' status. The update carries the
// resourceVersion read, so it never overwrites a status the ApiKey
// controller wrote since: that write fails with a conflict and the merge
// runs again.
func (r *UsageReconciler) write(ctx context.Context, todo []*keygatev1alpha1.ApiKey) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, r.Options.MaxConcurrentReconciles)
	for _, ak := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.Client.Status().Update(ctx, ak); err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			// The window the write was made in, which a long merge may
			// have left behind.
			r.remember(ak.UID, r.Options.Clock.Now().Truncate(r.Options.UsageGranularity))
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		logf.FromContext(ctx).V(1).Info("some ApiKey last-use writes failed; merging again", "failed", len(errs), "of", len(todo))
		if apierrors.IsConflict(errs[0]) {
			return errs[0]
		}
		return fmt.Errorf("writing ApiKey last use: %w", errors.Join(errs...))
	}
	return nil
}

// collect deletes the reports nobody has written for the expiry, and
// returns when the next one expires.
func (r *UsageReconciler) collect(ctx context.Context, reports []keygatev1alpha1.UsageReport, now time.Time) (time.Time, error) {
	expiry := max(UsageReportExpiry, 2*r.Options.UsageGranularity)
	var next time.Time
	for i := range reports {
		rep := &reports[i]
		at := rep.Spec.FlushedAt.Add(expiry)
		if now.Before(at) {
			next = earlier(next, at)
			continue
		}
		err := r.Client.Delete(ctx, rep, client.Preconditions{UID: &rep.UID, ResourceVersion: &rep.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return next, fmt.Errorf("deleting expired usage report %s: %w", rep.Name, err)
		}
		logf.FromContext(ctx).Info("deleted a usage report no replica has written for long", "report", rep.Name,
			"flushedAt", rep.Spec.FlushedAt.UTC().Format(time.RFC3339))
	}
	return next, nil
}

func (r *UsageReconciler) wroteIn(uid types.UID) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wrote[uid]
}

func (r *UsageReconciler) remember(uid types.UID, window time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wrote == nil {
		r.wrote = map[types.UID]time.Time{}
	}
	r.wrote[uid] = window
}

// forgetBefore drops the writes of past windows: only the current one
// limits a write.
func (r *UsageReconciler) forgetBefore(window time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, w := range r.wrote {
		if w.Before(window) {
			delete(r.wrote, uid)
		}
	}
}
