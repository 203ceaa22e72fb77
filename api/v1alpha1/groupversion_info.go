// Package v1alpha1 holds the keygate.dev/v1alpha1 API: ApiKey and
// RateLimitPolicy, and UsageReport, which the auth server writes for the
// controller.
// +kubebuilder:object:generate=true
// +groupName=keygate.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of keygate's API.
	GroupVersion = schema.GroupVersion{Group: "keygate.dev", Version: "v1alpha1"}

	// SchemeBuilder registers keygate's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds keygate's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers every keygate kind under GroupVersion, with the
// meta/v1 types (ListOptions, Status, ...) that clients expect beside them.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ApiKey{}, &ApiKeyList{},
		&RateLimitPolicy{}, &RateLimitPolicyList{},
		&UsageReport{}, &UsageReportList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
