package controllers

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/keygate-dev/keygate/internal/record"
)

// Record Secrets: one per compiled object, in keygate's namespace. Owner
// references cannot cross namespaces, so a record names its source in
// labels, and a reconcile of a source that is gone deletes it.

// recordKey is the record Secret of the object kind ns/name.
func (o Options) recordKey(kind string, src types.NamespacedName) types.NamespacedName {
	return types.NamespacedName{Namespace: o.Namespace, Name: record.SecretName(kind, src.Namespace, src.Name)}
}

// getSecret reads a Secret; nil when it does not exist.
func getSecret(ctx context.Context, c client.Reader, key types.NamespacedName) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	return s, nil
}

// recordOf reports whether a record Secret was compiled from the object
// with this UID (and not from an earlier object of the same name).
func recordOf(s *corev1.Secret, uid types.UID) bool {
	return s != nil && s.Labels[record.LabelSourceUID] == string(uid) && s.Type == record.SecretType
}

// writeRecord makes the record Secret hold v, compiled from src; existing
// is the current record Secret or nil. It writes nothing when the data,
// labels and annotations already match, and reports whether it wrote. The
// data itself is compared, not only its hash annotation, so a record whose
// data was edited by hand (say, a hash added) is always rewritten.
func writeRecord(ctx context.Context, c client.Client, key types.NamespacedName, existing *corev1.Secret, kind string, src *metav1.ObjectMeta, v any) (bool, error) {
	want, err := record.NewSecret(key.Namespace, kind, record.Source{Namespace: src.Namespace, Name: src.Name, UID: string(src.UID)}, v)
	if err != nil {
		return false, err
	}
	want.Name = key.Name
	if existing != nil && bytes.Equal(existing.Data[record.DataKey], want.Data[record.DataKey]) && len(existing.Data) == 1 &&
		labelsMatch(existing.Annotations, want.Annotations) && labelsMatch(existing.Labels, want.Labels) {
		return false, nil
	}
	s := want
	if existing != nil {
		// Keep what others added (labels, annotations); set keygate's.
		s = existing.DeepCopy()
		s.Type, s.Data = want.Type, want.Data
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			s.Labels[k] = v
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range want.Annotations {
			s.Annotations[k] = v
		}
	}
	if existing == nil {
		err = c.Create(ctx, s)
	} else {
		err = c.Update(ctx, s)
	}
	if err != nil {
		return false, fmt.Errorf("writing record Secret %s: %w", key, err)
	}
	return true, nil
}

// labelsMatch reports whether have holds every entry of want (labels or
// annotations).
func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// deleteRecord deletes the record Secret of kind src, if there is one.
func deleteRecord(ctx context.Context, c client.Client, o Options, kind string, src types.NamespacedName) (bool, error) {
	key := o.recordKey(kind, src)
	s, err := getSecret(ctx, c, key)
	if err != nil || s == nil || s.Labels[record.LabelKind] != kind {
		return false, err
	}
	err = c.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &s.ResourceVersion})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("deleting record Secret %s of deleted %s %s: %w", key, kind, src, err)
	}
	return err == nil, nil
}

// recordSource maps a record Secret of kind to a request for its source
// object, so that deleting a source (even while the controller was down:
// the informer lists every record at start-up) removes its record, and a
// deleted or edited record is rewritten.
func recordSource(o Options, kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		l := obj.GetLabels()
		ns, name := l[record.LabelSourceNamespace], obj.GetAnnotations()[record.AnnotationSourceName]
		if obj.GetNamespace() != o.Namespace || l[record.LabelKind] != kind || ns == "" || name == "" || !o.watches(ns) {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	})
}

// sourceGone handles a reconcile whose ApiKey or RateLimitPolicy no longer
// exists: its remembered status is forgotten and its record deleted.
func sourceGone(ctx context.Context, c client.Client, o Options, memo *statusMemo, kind string, src types.NamespacedName) (ctrl.Result, error) {
	memo.forget(src)
	deleted, err := deleteRecord(ctx, c, o, kind, src)
	if deleted {
		logf.FromContext(ctx).Info("deleted the record of a deleted source", "kind", kind)
	}
	return requeueOnConflict(ctx, err)
}
