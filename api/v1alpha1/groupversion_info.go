// Package v1alpha1 holds the keygate.dev/v1alpha1 API: ApiKey and
// RateLimitPolicy.
// +kubebuilder:object:generate=true
// +groupName=keygate.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of keygate's API.
	GroupVersion = schema.GroupVersion{Group: "keygate.dev", Version: "v1alpha1"}

	// SchemeBuilder registers keygate's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds keygate's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
