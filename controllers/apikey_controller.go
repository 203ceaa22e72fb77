package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// ApiKeyReconciler compiles ApiKeys into record Secrets and, in generated
// mode, issues, delivers and rotates their keys.
type ApiKeyReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server, to confirm what the cache shows
	// before a new key is issued.
	APIReader client.Reader
	// Claims reads ApiKeys, records and delivery Secrets through the
	// cache's indexes (indexKeyHash, indexGeneratedHash, indexDelivery).
	// Default: the manager's cache.
	Claims  client.Reader
	Options Options
	memo    statusMemo
}

// akRun is one reconcile of one ApiKey: what was read, and what is true
// after the writes it made.
type akRun struct {
	in keyInput
	// recordSecret is the record Secret as read (possibly another object's).
	recordSecret *corev1.Secret
	// compiled is the record the auth server has after this run.
	compiled *record.APIKey
	// current is the key the delivery Secret holds after this run.
	current  *delivered
	conflict bool
	// lost are the keyIds of spec.keyHashes that another source claimed
	// first; reserved: the ApiKey is in keygate's own namespace.
	lost     []string
	reserved bool
}

// SetupWithManager watches ApiKeys (spec, labels and annotations; not
// status), the delivery Secrets they control, and their records; and, so
// that a later claimant of a key hash takes it over when the first one lets
// it go, the other ApiKeys and generated records that list their hashes.
func (r *ApiKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	if r.Claims == nil {
		r.Claims = mgr.GetCache()
	}
	if err := r.indexClaims(mgr); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("apikey").
		For(&keygatev1alpha1.ApiKey{}, builder.WithPredicates(specOrMetaChanged())).
		Owns(&corev1.Secret{}).
		Watches(&corev1.Secret{}, recordSource(r.Options, record.KindAPIKey)).
		Watches(&keygatev1alpha1.ApiKey{}, handler.EnqueueRequestsFromMapFunc(r.otherClaimants),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.generatedClaimants)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// specOrMetaChanged passes creates and deletes, updates that change what
// is compiled, and a new use of an ApiKey marked Unused (usedAgain); the
// controller's own status writes do not come back.
func specOrMetaChanged() predicate.Predicate {
	return predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{},
		usedAgain())
}

// Reconcile gathers the ApiKey's inputs, decides, writes, then records the
// outcome in status once.
func (r *ApiKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ak := &keygatev1alpha1.ApiKey{}
	if err := r.Client.Get(ctx, req.NamespacedName, ak); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading ApiKey %s: %w", req.NamespacedName, err)
		}
		return sourceGone(ctx, r.Client, r.Options, &r.memo, record.KindAPIKey, req.NamespacedName)
	}
	if ak.Namespace == r.Options.Namespace {
		run := &akRun{in: keyInput{Now: r.Options.Clock.Now(), APIKey: ak}, reserved: true}
		_, err := deleteRecord(ctx, r.Client, r.Options, record.KindAPIKey, req.NamespacedName)
		return r.finish(ctx, run, err)
	}
	run, err := r.gather(ctx, r.Client, ak)
	if err == nil {
		if len(ak.Spec.KeyHashes) > 0 {
			err = r.compileGitOps(ctx, run)
		} else {
			err = r.compileGenerated(ctx, run)
		}
	}
	if err == nil {
		err = r.pruneDeliveries(ctx, run)
	}
	return r.finish(ctx, run, err)
}

// gather reads the ApiKey's delivery Secret and record through c.
func (r *ApiKeyReconciler) gather(ctx context.Context, c client.Reader, ak *keygatev1alpha1.ApiKey) (*akRun, error) {
	run := &akRun{in: keyInput{Now: r.Options.Clock.Now(), APIKey: ak}}
	var err error
	key := types.NamespacedName{Namespace: ak.Namespace, Name: deliverySecretName(ak)}
	if run.in.Delivery, err = getSecret(ctx, c, key); err != nil {
		return run, err
	}
	rk := r.Options.recordKey(record.KindAPIKey, client.ObjectKeyFromObject(ak))
	if run.recordSecret, err = getSecret(ctx, c, rk); err != nil {
		return run, err
	}
	if recordOf(run.recordSecret, ak.UID) {
		// An unreadable record (say, a newer format) is rewritten from scratch.
		if rec, err := record.DecodeAPIKey(run.recordSecret.Data[record.DataKey]); err == nil {
			run.in.Record = rec
		}
	}
	run.compiled = run.in.Record
	return run, nil
}

// confirm re-reads from the API server what a decision that changes the
// current key depends on, so that a cache lagging behind the controller's
// own writes never causes a rotation nobody asked for. For an ApiKey the
// cache shows no trace of (neither record nor delivery Secret), only the
// delivery Secret is read, to find a Secret keygate does not own (it is not
// in the label-selected cache); if the cache is merely behind, the create
// of the record fails instead.
func (r *ApiKeyReconciler) confirm(ctx context.Context, run *akRun) (*akRun, error) {
	if run.recordSecret == nil && run.in.Delivery == nil {
		key := types.NamespacedName{Namespace: run.in.APIKey.Namespace, Name: deliverySecretName(run.in.APIKey)}
		s, err := getSecret(ctx, r.APIReader, key)
		run.in.Delivery = s
		return run, err
	}
	ak := &keygatev1alpha1.ApiKey{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(run.in.APIKey), ak); err != nil {
		return run, fmt.Errorf("reading ApiKey %s: %w", client.ObjectKeyFromObject(run.in.APIKey), err)
	}
	if ak.UID != run.in.APIKey.UID {
		return run, apierrors.NewConflict(keygatev1alpha1.GroupVersion.WithResource("apikeys").GroupResource(), ak.Name, fmt.Errorf("the ApiKey was replaced"))
	}
	return r.gather(ctx, r.APIReader, ak)
}

// needsConfirm: the plan changes the current key, or finds a conflict, or
// the cache shows a delivered key with no record. The record is always
// written before the delivery Secret, so the last case means either that
// the record was deleted or, far more often, that the record informer is
// behind the delivery Secret's (they can be separate per-namespace
// informers). Acting on the cache there would try to create a record that
// exists: a wasted write and a requeue.
func needsConfirm(in keyInput, p keyPlan) bool {
	if p.Conflict || p.Issue != issueNone || (in.Record == nil && in.Delivery != nil) {
		return true
	}
	cur := currentHash(in.Record)
	return in.Record != nil && (cur == "" || cur != p.Current.Hash.String())
}

// currentHash is the key of a generated record with no end of its own.
func currentHash(r *record.APIKey) string {
	if r == nil {
		return ""
	}
	for _, k := range r.Keys {
		if k.NotAfter == nil {
			return k.SHA256
		}
	}
	return ""
}

// compileGitOps writes the record from spec.keyHashes; nothing else.
func (r *ApiKeyReconciler) compileGitOps(ctx context.Context, run *akRun) error {
	ak := run.in.APIKey
	keys, lost, err := r.unclaimed(ctx, ak, compileGitOpsKeys(ak, run.in.Now))
	if err != nil {
		return err
	}
	run.lost = lost
	rec := compileAPIKey(ak, keys)
	if _, err := writeRecord(ctx, r.Client, r.Options.recordKey(record.KindAPIKey, client.ObjectKeyFromObject(ak)),
		run.recordSecret, record.KindAPIKey, &ak.ObjectMeta, rec); err != nil {
		return err
	}
	run.compiled = rec
	return nil
}

// pruneDeliveries deletes delivery Secrets this ApiKey controls but no
// longer uses (secretName changed, or GitOps mode): no stale plaintext stays.
func (r *ApiKeyReconciler) pruneDeliveries(ctx context.Context, run *akRun) error {
	ak := run.in.APIKey
	var list corev1.SecretList
	if err := r.Claims.List(ctx, &list, client.InNamespace(ak.Namespace), client.MatchingFields{indexDelivery: string(ak.UID)}); err != nil {
		return fmt.Errorf("listing delivery Secrets: %w", err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		if !metav1.IsControlledBy(s, ak) || (len(ak.Spec.KeyHashes) == 0 && s.Name == deliverySecretName(ak)) {
			continue
		}
		err := r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting unused delivery Secret %s: %w", s.Name, err)
		}
		logf.FromContext(ctx).Info("deleted an unused delivery Secret", "secret", s.Name)
	}
	return nil
}

// requeueOnConflict turns a lost optimistic-concurrency race into a quiet
// requeue: the watch brings the newer object anyway.
func requeueOnConflict(ctx context.Context, err error) (ctrl.Result, error) {
	if err != nil && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
		logf.FromContext(ctx).V(1).Info("lost a write race; requeueing", "reason", err.Error())
		return ctrl.Result{RequeueAfter: conflictRequeue}, nil
	}
	return ctrl.Result{}, err
}

// conflictRequeue is the retry after a lost write race, in case no watch
// event follows.
const conflictRequeue = time.Second
