package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// finish writes the ApiKey's status once, only when it changed, emits the
// events of status transitions, and requeues exactly when the outcome next
// changes by itself (rotation, a key's end, expiry, a lifecycle warning).
func (r *ApiKeyReconciler) finish(ctx context.Context, run *akRun, err error) (ctrl.Result, error) {
	if isRace(err) {
		return requeueOnConflict(ctx, err)
	}
	ak := run.in.APIKey
	st := apiKeyStatus(run, err)
	lifeWake := r.Options.lifecycle().setLifecycle(&st, ak, run.in.Now)
	key := client.ObjectKeyFromObject(ak)
	if !equality.Semantic.DeepEqual(ak.Status, st) && !r.memo.written(key, ak.UID, st) {
		updated := ak.DeepCopy()
		updated.Status = st
		if uerr := r.Client.Status().Update(ctx, updated); uerr != nil {
			if err != nil {
				return ctrl.Result{}, err
			}
			if isRace(uerr) {
				return requeueOnConflict(ctx, uerr)
			}
			return ctrl.Result{}, fmt.Errorf("writing ApiKey status: %w", uerr)
		}
		r.memo.remember(key, ak.UID, st)
		r.transitionEvents(ak, ak.Status, st)
		r.lifecycleEvents(ak, ak.Status, st)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var res ctrl.Result
	if wake := earlier(nextWake(ak, run.current, run.compiled, run.in.Now), lifeWake); !wake.IsZero() {
		res.RequeueAfter = wake.Sub(run.in.Now)
	}
	if run.conflict && (res.RequeueAfter == 0 || res.RequeueAfter > conflictRecheck) {
		// The conflicting Secret is not keygate's, so it is not in the
		// cache and its deletion brings no event: look again later.
		res.RequeueAfter = conflictRecheck
	}
	return res, nil
}

// conflictRecheck is how often an ApiKey in SecretConflict looks again.
const conflictRecheck = time.Minute

func isRace(err error) bool {
	return err != nil && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err))
}

// apiKeyStatus derives the status from what is true after the run. After a
// failed write it keeps the last status and says that writing failed.
func apiKeyStatus(run *akRun, writeErr error) keygatev1alpha1.ApiKeyStatus {
	ak, now := run.in.APIKey, run.in.Now
	if writeErr != nil {
		st := *ak.Status.DeepCopy()
		setReady(&st, ak, now, metav1.ConditionFalse, keygatev1alpha1.ReasonWriteFailed,
			"Writing the compiled Secrets failed; keygate retries. Details in the controller's log.")
		return st
	}
	st := keygatev1alpha1.ApiKeyStatus{Conditions: append([]metav1.Condition(nil), ak.Status.Conditions...)}
	if cur := run.current; cur != nil {
		st.KeyID, st.Hint = cur.Hash.KeyID(), record.Hint(cur.Key)
		st.IssuedAt = statusTime(cur.IssuedAt)
		if next, ok := nextRotation(ak, *cur); ok {
			st.NextRotationAt = statusTime(next)
		}
	} else if len(ak.Spec.KeyHashes) > 0 && run.compiled != nil {
		st.KeyID = gitOpsKeyID(run.compiled)
	}
	if run.compiled != nil {
		for _, k := range run.compiled.Keys {
			if run.compiled.ValidAt(k, now) {
				st.ActiveKeys++
			}
		}
	}
	// Last use is the usage controller's (usage_controller.go): kept.
	st.LastUsedAt = ak.Status.LastUsedAt
	st.Keys = statusKeys(run.compiled, st.KeyID, ak.Status.Keys, now)
	status, reason, msg := readiness(run, st.ActiveKeys)
	setReady(&st, ak, now, status, reason, msg)
	return st
}

// readiness is the Ready condition's status, reason and message.
func readiness(run *akRun, active int32) (metav1.ConditionStatus, string, string) {
	ak, now := run.in.APIKey, run.in.Now
	switch {
	case run.reserved:
		return metav1.ConditionFalse, keygatev1alpha1.ReasonReservedNamespace, fmt.Sprintf(
			"Namespace %s is keygate's own: its records live there, so keygate compiles nothing in it. Create this ApiKey in another namespace.",
			ak.Namespace)
	case run.conflict:
		return metav1.ConditionFalse, keygatev1alpha1.ReasonSecretConflict, fmt.Sprintf(
			"Secret %s exists and is not controlled by this ApiKey, so keygate does not write to it. Delete that Secret or set spec.secretName to a free name.",
			deliverySecretName(ak))
	case ak.Spec.Disabled:
		return metav1.ConditionFalse, keygatev1alpha1.ReasonDisabled,
			"spec.disabled is true: every key of this ApiKey is refused. Set it to false to accept the same keys again."
	case ak.Spec.ExpiresAt != nil && !now.Before(ak.Spec.ExpiresAt.Time):
		return metav1.ConditionFalse, keygatev1alpha1.ReasonExpired, fmt.Sprintf(
			"spec.expiresAt (%s) has passed: every key of this ApiKey is refused. Move expiresAt to the future to accept them again.",
			ak.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	case len(run.lost) > 0:
		return metav1.ConditionFalse, keygatev1alpha1.ReasonDuplicateKeyHash, fmt.Sprintf(
			"Key(s) %s of spec.keyHashes are listed by another ApiKey that claimed them first, so the auth server serves them for that one, not this one; %d key(s) of this ApiKey are served. Make a new key (keygate keygen) and list its hash instead.",
			strings.Join(run.lost, ", "), active)
	case active == 0:
		return metav1.ConditionFalse, keygatev1alpha1.ReasonNoValidKey,
			"No key is valid: every spec.keyHashes entry is past its notAfter. Add the hash of a new key (keygate keygen)."
	}
	msg := fmt.Sprintf("%d key(s) served by the auth server.", active)
	if run.compiled != nil && run.compiled.Generated && len(run.compiled.Keys) >= record.MaxKeys {
		msg += fmt.Sprintf(" That is the most a record holds (%d): the next rotation ends the oldest grace key at once.", record.MaxKeys)
	}
	return metav1.ConditionTrue, keygatev1alpha1.ReasonCompiled, msg
}

func setReady(st *keygatev1alpha1.ApiKeyStatus, ak *keygatev1alpha1.ApiKey, now time.Time, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: keygatev1alpha1.ConditionReady, Status: s, Reason: reason, Message: msg,
		ObservedGeneration: ak.Generation, LastTransitionTime: *statusTime(now),
	})
}

// statusTime is t as the API server stores it (whole seconds, UTC), so that
// a status read back compares equal to the one computed.
func statusTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// gitOpsKeyID is the keyId of the GitOps key that lasts longest (one with
// no notAfter first, in manifest order).
func gitOpsKeyID(r *record.APIKey) string {
	var best *record.KeyHash
	for i := range r.Keys {
		k := &r.Keys[i]
		if best == nil || (best.NotAfter != nil && (k.NotAfter == nil || k.NotAfter.After(*best.NotAfter))) {
			best = k
		}
	}
	if best == nil {
		return ""
	}
	return best.SHA256[:record.KeyIDLen]
}

// transitionEvents warns when the ApiKey enters a conflict, expires, loses
// a hash to its first claimant or sits in keygate's namespace.
func (r *ApiKeyReconciler) transitionEvents(ak *keygatev1alpha1.ApiKey, old, now keygatev1alpha1.ApiKeyStatus) {
	was, is := meta.FindStatusCondition(old.Conditions, keygatev1alpha1.ConditionReady), meta.FindStatusCondition(now.Conditions, keygatev1alpha1.ConditionReady)
	if is == nil || (was != nil && was.Reason == is.Reason) {
		return
	}
	switch is.Reason {
	case keygatev1alpha1.ReasonSecretConflict, keygatev1alpha1.ReasonExpired,
		keygatev1alpha1.ReasonDuplicateKeyHash, keygatev1alpha1.ReasonReservedNamespace:
		r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeWarning, is.Reason, "Compile", "%s", is.Message)
	}
}
