package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UsageReportSpec is what one auth-server replica saw admitted: which keys
// of which ApiKeys, and when, to the resolution of its flush interval.
type UsageReportSpec struct {
	// FlushedAt is when the replica last wrote this report. A replica
	// writes only when what it saw changed.
	// +required
	FlushedAt metav1.Time `json:"flushedAt"`

	// Interval is the replica's flush interval. Each lastUsedAt is the
	// start of the interval in which the key was last admitted.
	// +required
	Interval metav1.Duration `json:"interval"`

	// APIKeys are the ApiKeys of which the replica admitted a key, with
	// each such key. The report holds at most 10,000 keys and about
	// 1 MiB: beyond that the least recently used are left out and
	// counted in dropped.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10000
	APIKeys []APIKeyUsage `json:"apiKeys,omitempty"`

	// Dropped is how many keys the replica left out of this report
	// because it was full.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Dropped int64 `json:"dropped,omitempty"`
}

// APIKeyUsage is one ApiKey in a usage report.
type APIKeyUsage struct {
	// Namespace and Name of the ApiKey.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Keys are the ApiKey's keys that the replica admitted.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Keys []KeyUsage `json:"keys"`
}

// KeyUsage is when a replica last admitted one key. It never holds the
// key.
type KeyUsage struct {
	// KeyID is the first 12 hex characters of the key's SHA-256.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{12}$`
	KeyID string `json:"keyId"`

	// LastUsedAt is the start of the flush interval in which the
	// replica last admitted the key.
	// +required
	LastUsedAt metav1.Time `json:"lastUsedAt"`
}

// UsageReport is written by one auth-server replica, in keygate's
// namespace and named after its pod, to tell the controller which keys it
// admitted and when. The controller merges every replica's report into
// the ApiKeys' status.lastUsedAt and status.keys[].lastUsedAt, and deletes
// reports that no replica has written for long. Users do not write it.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Flushed",type=date,JSONPath=`.spec.flushedAt`
// +kubebuilder:printcolumn:name="Dropped",type=integer,JSONPath=`.spec.dropped`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type UsageReport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec UsageReportSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// UsageReportList is a list of UsageReports.
type UsageReportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UsageReport `json:"items"`
}
