package record

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SourceOf is the source a record names; the zero Source for other values.
func SourceOf(v any) Source {
	switch r := v.(type) {
	case *APIKey:
		return r.Source
	case *RateLimitPolicy:
		return r.Source
	}
	return Source{}
}

// NewSecret is the record Secret, in keygate's namespace, of the object of
// kind named by src, holding the record v: the one shape the controller
// writes and the auth server's cache selects. Tests and benchmarks build
// their fixtures with it too, so that they cannot drift from it.
func NewSecret(namespace, kind string, src Source, v any) (*corev1.Secret, error) {
	data, hash, err := Encode(v)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      SecretName(kind, src.Namespace, src.Name),
			Labels: map[string]string{
				LabelManagedBy:       ManagedByValue,
				LabelKind:            kind,
				LabelSourceNamespace: src.Namespace,
				LabelSourceUID:       src.UID,
			},
			Annotations: map[string]string{AnnotationSourceName: src.Name, AnnotationDataHash: hash},
		},
		Type: SecretType,
		Data: map[string][]byte{DataKey: data},
	}, nil
}
