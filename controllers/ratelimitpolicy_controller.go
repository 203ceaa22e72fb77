package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// RateLimitPolicyReconciler compiles RateLimitPolicies into record Secrets.
type RateLimitPolicyReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client  client.Client
	Options Options
	memo    statusMemo
}

// SetupWithManager watches RateLimitPolicies (not their status) and their
// records.
func (r *RateLimitPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options = r.Options.withDefaults()
	return ctrl.NewControllerManagedBy(mgr).
		Named("ratelimitpolicy").
		For(&keygatev1alpha1.RateLimitPolicy{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&corev1.Secret{}, recordSource(r.Options, record.KindRateLimitPolicy)).
		Watches(&keygatev1alpha1.ApiKey{}, handler.EnqueueRequestsFromMapFunc(r.policiesSelecting),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile compiles the policy, writes its record when it changed, and
// sets Ready; a policy that is gone loses its record.
func (r *RateLimitPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &keygatev1alpha1.RateLimitPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("reading RateLimitPolicy %s: %w", req.NamespacedName, err)
		}
		return sourceGone(ctx, r.Client, r.Options, &r.memo, record.KindRateLimitPolicy, req.NamespacedName)
	}
	key := r.Options.recordKey(record.KindRateLimitPolicy, req.NamespacedName)
	existing, err := getSecret(ctx, r.Client, key)
	reserved := p.Namespace == r.Options.Namespace // where the records live: nothing is compiled there
	var invalid error
	switch {
	case err != nil:
	case reserved:
		_, err = deleteRecord(ctx, r.Client, r.Options, record.KindRateLimitPolicy, req.NamespacedName)
	default:
		var rec *record.RateLimitPolicy
		if rec, invalid, err = r.compile(ctx, p); rec != nil {
			_, err = writeRecord(ctx, r.Client, key, existing, record.KindRateLimitPolicy, &p.ObjectMeta, rec)
		}
	}
	if isRace(err) {
		return requeueOnConflict(ctx, err)
	}
	st := *p.Status.DeepCopy()
	cond := metav1.Condition{
		Type: keygatev1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: p.Generation,
		LastTransitionTime: *statusTime(r.Options.Clock.Now()),
	}
	cond.Reason, cond.Message = compiledCondition(p)
	if invalid != nil {
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonInvalidSpec
		if errors.Is(invalid, errTooLarge) {
			cond.Reason = ReasonTooLarge
		}
		cond.Message = "Not compiled: " + invalid.Error() + ". The policy's previous record, if any, stays in effect."
	}
	if reserved {
		cond.Status, cond.Reason = metav1.ConditionFalse, keygatev1alpha1.ReasonReservedNamespace
		cond.Message = fmt.Sprintf("Namespace %s is keygate's own: its records live there, so keygate compiles nothing in it. Create this RateLimitPolicy in another namespace.", p.Namespace)
	}
	if err != nil {
		cond.Status, cond.Reason = metav1.ConditionFalse, keygatev1alpha1.ReasonWriteFailed
		cond.Message = "Writing the compiled Secret failed; keygate retries. Details in the controller's log."
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if serr := r.writeStatus(ctx, p, st); serr != nil && err == nil {
		return requeueOnConflict(ctx, serr)
	}
	return ctrl.Result{}, err
}

// writeStatus writes st when it differs from the policy's status and from
// the last status written.
func (r *RateLimitPolicyReconciler) writeStatus(ctx context.Context, p *keygatev1alpha1.RateLimitPolicy, st keygatev1alpha1.RateLimitPolicyStatus) error {
	key := client.ObjectKeyFromObject(p)
	if equality.Semantic.DeepEqual(p.Status, st) || r.memo.written(key, p.UID, st) {
		return nil
	}
	updated := p.DeepCopy()
	updated.Status = st
	if err := r.Client.Status().Update(ctx, updated); err != nil {
		return fmt.Errorf("writing RateLimitPolicy status: %w", err)
	}
	r.memo.remember(key, p.UID, st)
	return nil
}

// compile is the policy's record, or why it cannot be compiled (invalid),
// or the error reading the ApiKeys its overrides select.
func (r *RateLimitPolicyReconciler) compile(ctx context.Context, p *keygatev1alpha1.RateLimitPolicy) (rec *record.RateLimitPolicy, invalid, err error) {
	keys, err := r.planKeys(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if rec, invalid = CompilePolicy(p, keys); invalid != nil {
		return nil, invalid, nil
	}
	data, _, err := record.Encode(rec)
	if err != nil {
		return nil, nil, err
	}
	if len(data) > record.MaxPolicyRecordBytes {
		return nil, fmt.Errorf("%w: the compiled record would take %d bytes; a record takes at most %d", errTooLarge, len(data), record.MaxPolicyRecordBytes), nil
	}
	return rec, nil, nil
}
