package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// compileGenerated runs the generated mode: decide, then publish the record
// (new hash first), then deliver the new plaintext. The order is what makes
// a crash safe: the delivery Secret never holds a key the record lacks.
func (r *ApiKeyReconciler) compileGenerated(ctx context.Context, run *akRun) error {
	plan := decideKey(run.in)
	if needsConfirm(run.in, plan) {
		fresh, err := r.confirm(ctx, run)
		if err != nil {
			return err
		}
		*run = *fresh
		plan = decideKey(run.in)
	}
	ak := run.in.APIKey
	var next *delivered
	var cur *record.Hash
	switch {
	case plan.Conflict:
		run.conflict = true
	case plan.Issue != issueNone:
		key, err := record.NewKey(wantPrefix(ak))
		if err != nil {
			return err
		}
		d := newDelivered(key, ak, run.in.Now)
		next, cur = &d, &d.Hash
	default:
		run.current, cur = plan.Current, &plan.Current.Hash
	}
	if plan.Conflict && run.recordSecret == nil {
		return nil // nothing was ever published; nothing to retire
	}
	rec := compileAPIKey(ak, r.capped(ak, compileGeneratedKeys(run.in.Record, cur, run.in.Now, gracePeriod(ak)), cur != nil))
	if _, err := writeRecord(ctx, r.Client, r.Options.recordKey(record.KindAPIKey, client.ObjectKeyFromObject(ak)),
		run.recordSecret, record.KindAPIKey, &ak.ObjectMeta, rec); err != nil {
		return err
	}
	run.compiled = rec
	if next == nil {
		return nil
	}
	if err := r.deliver(ctx, run, *next); err != nil {
		return err
	}
	r.issuedEvent(ctx, run, plan.Issue, *next)
	run.current = next
	return nil
}

// capped is keys cut to record.MaxKeys (capKeys), with a Warning event
// when grace keys end early because of it. The event may repeat if the
// record write that follows fails; the retry then cuts the same keys.
func (r *ApiKeyReconciler) capped(ak *keygatev1alpha1.ApiKey, keys []record.KeyHash, hasCurrent bool) []record.KeyHash {
	fixed := 0
	if hasCurrent {
		fixed = 1
	}
	keys, dropped := capKeys(keys, fixed)
	if dropped > 0 {
		r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeWarning, EventGraceKeysRetired, "Rotate",
			"Rotated faster than the grace period: a record holds at most %d keys, so the %d oldest grace key(s) stopped working now.",
			record.MaxKeys, dropped)
	}
	return keys
}

// deliver writes the key d into the delivery Secret (created, or updated at
// the version read, so a concurrent change makes the write fail instead of
// being overwritten).
func (r *ApiKeyReconciler) deliver(ctx context.Context, run *akRun, d delivered) error {
	s := deliverySecret(run.in.Delivery, run.in.APIKey, d)
	var err error
	if run.in.Delivery == nil {
		err = r.Client.Create(ctx, s)
	} else {
		err = r.Client.Update(ctx, s)
	}
	if err != nil {
		return fmt.Errorf("delivering key %s to Secret %s/%s: %w", d.Hash.KeyID(), s.Namespace, s.Name, err)
	}
	return nil
}

// issuedEvent records that a key was issued or rotated; it names keys by
// keyId only.
func (r *ApiKeyReconciler) issuedEvent(ctx context.Context, run *akRun, why issueReason, d delivered) {
	ak := run.in.APIKey
	secret := deliverySecretName(ak)
	log := logf.FromContext(ctx)
	if why == issueFirst {
		log.Info("issued a key", "keyId", d.Hash.KeyID(), "secret", secret)
		r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeNormal, EventIssued, "Issue",
			"Issued key %s into Secret %s", d.Hash.KeyID(), secret)
		return
	}
	old := "none"
	for _, k := range run.compiled.Keys {
		if k.SHA256 != d.Hash.String() && k.NotAfter != nil && k.SHA256 == currentHash(run.in.Record) {
			old = fmt.Sprintf("%s (valid until %s)", k.SHA256[:record.KeyIDLen], k.NotAfter.Format("2006-01-02T15:04:05Z07:00"))
		}
	}
	log.Info("rotated a key", "keyId", d.Hash.KeyID(), "reason", string(why), "secret", secret)
	r.Options.EventRecorder.Eventf(ak, nil, corev1.EventTypeNormal, EventRotated, "Rotate",
		"Rotated to key %s into Secret %s (%s); previous key: %s", d.Hash.KeyID(), secret, why, old)
}

// Event reasons, besides the condition reasons of api/v1alpha1.
const (
	EventIssued  = "Issued"
	EventRotated = "Rotated"
	EventExpired = keygatev1alpha1.ReasonExpired
	// EventGraceKeysRetired: a rotation left more keys than a record holds
	// (record.MaxKeys); the oldest grace keys ended early.
	EventGraceKeysRetired = "GraceKeysRetired"
)
