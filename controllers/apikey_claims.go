package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// Key hashes are public: they are in Git and in every ApiKey's spec. So
// anyone who may create an ApiKey can list another's hash. The first
// claimant keeps it (record.APIKey.ClaimsBefore: a generated key, then the
// older ApiKey, then namespace/name); a later GitOps ApiKey leaves the hash
// out of its record and goes Ready=False, DuplicateKeyHash. The auth server
// resolves the same way, should two records still list one hash.

// Cache indexes (controller-runtime field indexers) that find claimants.
const (
	// indexKeyHash: ApiKeys by spec.keyHashes[].sha256.
	indexKeyHash = "keygate.dev/spec.keyHashes.sha256"
	// indexGeneratedHash: record Secrets of generated ApiKeys by key hash.
	indexGeneratedHash = "keygate.dev/generated-key-hash"
	// indexDelivery: delivery Secrets by the UID of their ApiKey (the
	// label LabelDelivery), so that a reconcile finds its own without
	// matching the label of every Secret of the namespace: with 20,000
	// ApiKeys in one namespace that scan made the controller quadratic
	// (docs/scale.md).
	indexDelivery = "keygate.dev/delivery-for"
)

// deliveryFor is the index function of indexDelivery.
func deliveryFor(o client.Object) []string {
	if uid := o.GetLabels()[LabelDelivery]; uid != "" {
		return []string{uid}
	}
	return nil
}

// specHashes is the index function of indexKeyHash.
func specHashes(o client.Object) []string {
	ak, ok := o.(*keygatev1alpha1.ApiKey)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(ak.Spec.KeyHashes))
	for _, h := range ak.Spec.KeyHashes {
		out = append(out, h.SHA256)
	}
	return out
}

// generatedHashes is the index function of indexGeneratedHash: the keys of
// a generated ApiKey's record in keygate's namespace.
func (o Options) generatedHashes(obj client.Object) []string {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Namespace != o.Namespace || s.Labels[record.LabelKind] != record.KindAPIKey {
		return nil
	}
	rec, err := record.DecodeAPIKey(s.Data[record.DataKey])
	if err != nil || !rec.Generated {
		return nil
	}
	out := make([]string, 0, len(rec.Keys))
	for _, k := range rec.Keys {
		out = append(out, k.SHA256)
	}
	return out
}

// indexClaims registers the indexes on the manager's cache.
func (r *ApiKeyReconciler) indexClaims(mgr ctrl.Manager) error {
	ctx := context.Background()
	fi := mgr.GetFieldIndexer()
	if err := fi.IndexField(ctx, &keygatev1alpha1.ApiKey{}, indexKeyHash, specHashes); err != nil {
		return fmt.Errorf("indexing ApiKeys by key hash: %w", err)
	}
	if err := fi.IndexField(ctx, &corev1.Secret{}, indexGeneratedHash, r.Options.generatedHashes); err != nil {
		return fmt.Errorf("indexing records by generated key hash: %w", err)
	}
	if err := fi.IndexField(ctx, &corev1.Secret{}, indexDelivery, deliveryFor); err != nil {
		return fmt.Errorf("indexing delivery Secrets by ApiKey: %w", err)
	}
	return nil
}

// claimedFirst reports whether another source claimed hash h before ak:
// a generated key's record, or an older ApiKey that lists it.
func (r *ApiKeyReconciler) claimedFirst(ctx context.Context, ak *keygatev1alpha1.ApiKey, h string) (bool, error) {
	var recs corev1.SecretList
	if err := r.Claims.List(ctx, &recs, client.InNamespace(r.Options.Namespace), client.MatchingFields{indexGeneratedHash: h}); err != nil {
		return false, fmt.Errorf("listing records by key hash: %w", err)
	}
	for i := range recs.Items {
		if recs.Items[i].Labels[record.LabelSourceUID] != string(ak.UID) {
			return true, nil
		}
	}
	var aks keygatev1alpha1.ApiKeyList
	if err := r.Claims.List(ctx, &aks, client.MatchingFields{indexKeyHash: h}); err != nil {
		return false, fmt.Errorf("listing ApiKeys by key hash: %w", err)
	}
	me := source(&ak.ObjectMeta)
	for i := range aks.Items {
		o := &aks.Items[i]
		if o.UID != ak.UID && r.Options.compiles(o.Namespace) && source(&o.ObjectMeta).Before(me) {
			return true, nil
		}
	}
	return false, nil
}

// unclaimed returns keys without those another source claimed first, and
// the keyIds of those (the only thing said about them: never the other
// ApiKey, which the reader of this status may not be allowed to see).
func (r *ApiKeyReconciler) unclaimed(ctx context.Context, ak *keygatev1alpha1.ApiKey, keys []record.KeyHash) ([]record.KeyHash, []string, error) {
	out := keys[:0:0]
	var lost []string
	for _, k := range keys {
		first, err := r.claimedFirst(ctx, ak, k.SHA256)
		if err != nil {
			return nil, nil, err
		}
		if first {
			lost = append(lost, k.SHA256[:record.KeyIDLen])
			continue
		}
		out = append(out, k)
	}
	return out, lost, nil
}

// otherClaimants maps an ApiKey (created, changed or deleted) to the other
// ApiKeys listing one of its hashes, so a later claimant takes a hash over
// as soon as the first one lets it go.
func (r *ApiKeyReconciler) otherClaimants(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.claimantsOf(ctx, obj.GetUID(), specHashes(obj))
}

// generatedClaimants maps a generated ApiKey's record to the ApiKeys that
// list one of its hashes.
func (r *ApiKeyReconciler) generatedClaimants(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.claimantsOf(ctx, "", r.Options.generatedHashes(obj))
}

func (r *ApiKeyReconciler) claimantsOf(ctx context.Context, except types.UID, hashes []string) []reconcile.Request {
	var out []reconcile.Request
	for _, h := range hashes {
		var aks keygatev1alpha1.ApiKeyList
		if err := r.Claims.List(ctx, &aks, client.MatchingFields{indexKeyHash: h}); err != nil {
			logf.FromContext(ctx).Error(err, "listing the claimants of a key hash", "keyId", h[:record.KeyIDLen])
			continue
		}
		for i := range aks.Items {
			if aks.Items[i].UID != except {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&aks.Items[i])})
			}
		}
	}
	return out
}
