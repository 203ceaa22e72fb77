package controllers

import (
	"context"
	"fmt"
	"net/textproto"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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
	switch {
	case err != nil:
	case reserved:
		_, err = deleteRecord(ctx, r.Client, r.Options, record.KindRateLimitPolicy, req.NamespacedName)
	default:
		_, err = writeRecord(ctx, r.Client, key, existing, record.KindRateLimitPolicy, &p.ObjectMeta, CompilePolicy(p))
	}
	if isRace(err) {
		return requeueOnConflict(ctx, err)
	}
	st := *p.Status.DeepCopy()
	cond := metav1.Condition{
		Type: keygatev1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: keygatev1alpha1.ReasonCompiled,
		Message: fmt.Sprintf("%d rule(s) served by the auth server.", len(p.Spec.Rules)), ObservedGeneration: p.Generation,
		LastTransitionTime: *statusTime(r.Options.Clock.Now()),
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

// CompilePolicy is the record of a policy: periods as durations, methods as
// strings, header names canonical (as net/http stores them).
func CompilePolicy(p *keygatev1alpha1.RateLimitPolicy) *record.RateLimitPolicy {
	rec := &record.RateLimitPolicy{Version: record.Version, Source: source(&p.ObjectMeta), Rules: []record.Rule{}}
	for _, in := range p.Spec.Rules {
		out := record.Rule{Name: in.Name, Limit: in.Limit, Period: in.Period.Duration, By: in.By}
		if name, ok := strings.CutPrefix(in.By, "header:"); ok {
			out.By = "header:" + textproto.CanonicalMIMEHeaderKey(name)
		}
		if m := in.Match; m != nil {
			out.Paths, out.PathPrefixes, out.CaseInsensitivePaths = m.Paths, m.PathPrefixes, m.CaseInsensitivePaths
			for _, meth := range m.Methods {
				out.Methods = append(out.Methods, string(meth))
			}
		}
		rec.Rules = append(rec.Rules, out)
	}
	return rec
}
