package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	keygatev1alpha1 "github.com/keygate-dev/keygate/api/v1alpha1"
	"github.com/keygate-dev/keygate/internal/record"
)

// The delivery Secret holds a generated key in the ApiKey's namespace. It is
// the source of truth for the current key: the plaintext and what is known
// about it travel in one write, so status can always be derived from it and
// a lost status write never causes another rotation.
const (
	// DeliveryDataKey is the data key of the plaintext key.
	DeliveryDataKey = "apiKey"
	// LabelDelivery marks a delivery Secret; its value is the UID of the
	// ApiKey that controls it, so the Secrets of one ApiKey are found by a
	// label lookup rather than by scanning a namespace.
	LabelDelivery = "keygate.dev/delivery-for"
	// AnnotationIssuedAt is when the delivered key was made (RFC 3339).
	AnnotationIssuedAt = "keygate.dev/issued-at"
	// AnnotationRotateHandled is the last keygate.dev/rotate value acted on.
	AnnotationRotateHandled = "keygate.dev/rotate-handled"
	// AnnotationKeyID is the keyId of the delivered key; a plaintext that
	// does not match it was edited by hand.
	AnnotationKeyID = "keygate.dev/key-id"
)

// delivered is a key found in (or just written to) a delivery Secret.
type delivered struct {
	Key           string
	Prefix        string
	Hash          record.Hash
	IssuedAt      time.Time
	RotateHandled string
}

// readDelivery reads the key of a delivery Secret; ok is false when the
// Secret does not hold a well-formed key that keygate wrote there.
func readDelivery(s *corev1.Secret) (d delivered, ok bool) {
	key := string(s.Data[DeliveryDataKey])
	prefix, err := record.SplitKey(key)
	if err != nil {
		return delivered{}, false
	}
	h := record.HashKey(key)
	if s.Annotations[AnnotationKeyID] != h.KeyID() {
		return delivered{}, false
	}
	issued, err := time.Parse(time.RFC3339Nano, s.Annotations[AnnotationIssuedAt])
	if err != nil {
		return delivered{}, false
	}
	return delivered{
		Key:           key,
		Prefix:        prefix,
		Hash:          h,
		IssuedAt:      issued,
		RotateHandled: s.Annotations[AnnotationRotateHandled],
	}, true
}

// deliverySecretName is the Secret that receives ak's generated key.
func deliverySecretName(ak *keygatev1alpha1.ApiKey) string {
	if ak.Spec.SecretName != "" {
		return ak.Spec.SecretName
	}
	return ak.Name
}

// deliverySecret is existing (or a new Secret when nil) holding d for ak.
// Other data keys, labels and annotations on an existing Secret are kept.
func deliverySecret(existing *corev1.Secret, ak *keygatev1alpha1.ApiKey, d delivered) *corev1.Secret {
	s := &corev1.Secret{}
	if existing != nil {
		s = existing.DeepCopy()
	} else {
		s.Namespace, s.Name = ak.Namespace, deliverySecretName(ak)
		s.Type = corev1.SecretTypeOpaque
		s.OwnerReferences = []metav1.OwnerReference{
			*metav1.NewControllerRef(ak, keygatev1alpha1.GroupVersion.WithKind("ApiKey")),
		}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels[record.LabelManagedBy] = record.ManagedByValue
	s.Labels[LabelDelivery] = string(ak.UID)
	// Never a record's labels, whoever put them there: a delivery Secret
	// must not look like a record to anything that selects records.
	delete(s.Labels, record.LabelKind)
	delete(s.Labels, record.LabelSourceNamespace)
	delete(s.Labels, record.LabelSourceUID)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationKeyID] = d.Hash.KeyID()
	s.Annotations[AnnotationIssuedAt] = d.IssuedAt.UTC().Format(time.RFC3339Nano)
	if d.RotateHandled != "" {
		s.Annotations[AnnotationRotateHandled] = d.RotateHandled
	} else {
		delete(s.Annotations, AnnotationRotateHandled)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[DeliveryDataKey] = []byte(d.Key)
	return s
}

// newDelivered makes the delivered form of a freshly generated key.
func newDelivered(key string, ak *keygatev1alpha1.ApiKey, now time.Time) delivered {
	return delivered{
		Key:           key,
		Prefix:        wantPrefix(ak),
		Hash:          record.HashKey(key),
		IssuedAt:      now,
		RotateHandled: ak.Annotations[keygatev1alpha1.AnnotationRotate],
	}
}
