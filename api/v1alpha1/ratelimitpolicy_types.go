package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimitPolicySpec is a set of rules; a request is counted by every rule
// whose match fits it and refused when any of them is over its limit.
type RateLimitPolicySpec struct {
	// Rules of the policy. Names are unique.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Rules []RateLimitRule `json:"rules"`
}

// RateLimitRule admits a burst of limit requests, and after that at most
// limit requests per period, for each value of by.
// +kubebuilder:validation:XValidation:rule="duration(self.period) >= duration('1s') && duration(self.period) <= duration('24h')",message="period must be between 1s and 24h"
type RateLimitRule struct {
	// Name of the rule, shown in the RateLimit headers and in errors.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Limit is the number of requests admitted per period (and the burst).
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Limit int64 `json:"limit"`

	// Period is the window the limit applies to (Go duration, 1s to 24h).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Period metav1.Duration `json:"period"`

	// By is what is counted: ip (the client address, checked before
	// authentication; IPv6 clients per /64 unless the auth server is told
	// otherwise), apiKey (one count per ApiKey, shared by its current and
	// grace keys), subject (the key's subject, or the JWT sub of one
	// issuer: the same text from another issuer or an ApiKey is another
	// count), sharedSubject (one count per subject text, whether an ApiKey
	// or any issuer's token carries it), or header:<Name> (the value of a
	// request header).
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self in ['ip', 'apiKey', 'subject', 'sharedSubject'] || self.matches('^header:[!#$%&\\'*+.^_`|~0-9A-Za-z-]+$')",message="by must be ip, apiKey, subject, sharedSubject or header:<Name> with a valid HTTP header name"
	By string `json:"by"`

	// Match limits the rule to some requests. Empty matches every request.
	// +optional
	Match *RequestMatch `json:"match,omitempty"`
}

// HTTPMethod is an HTTP request method.
// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;PATCH;DELETE;OPTIONS;CONNECT;TRACE
type HTTPMethod string

// RequestMatch selects requests by path and method. A request matches when
// its path is one of paths or starts with one of pathPrefixes (or both lists
// are empty), and its method is one of methods (or methods is empty). The
// path is the request's, decoded once and cleaned (see docs/rate-limits.md).
type RequestMatch struct {
	// Paths matched exactly; a trailing slash on either side is ignored
	// (/login/ is /login). Each is written as the auth server cleans the
	// request's path: starting with /, decoded, without //, . or ..
	// segments, %, ;, \, ?, #, white space or control characters.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^/(?:(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+)(?:/(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+))*/?)?$`
	Paths []string `json:"paths,omitempty"`

	// PathPrefixes matched as string prefixes of the path, written clean
	// as paths are.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=1024
	// +kubebuilder:validation:items:Pattern=`^/(?:(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+)(?:/(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+))*/?)?$`
	PathPrefixes []string `json:"pathPrefixes,omitempty"`

	// CaseInsensitivePaths matches paths and pathPrefixes without regard
	// to letter case, for upstreams that route that way (Express by
	// default, ASP.NET). Methods stay case-sensitive.
	// +optional
	CaseInsensitivePaths bool `json:"caseInsensitivePaths,omitempty"`

	// Methods matched; empty matches every method.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=9
	Methods []HTTPMethod `json:"methods,omitempty"`
}

// RateLimitPolicyStatus is what keygate last did with the policy.
type RateLimitPolicyStatus struct {
	// Conditions: Ready says whether the policy is served by the auth server.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RateLimitPolicy declares rate limits that routes apply with the check
// URL's policy option.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rlp,categories=keygate
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RateLimitPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec   RateLimitPolicySpec   `json:"spec"`
	Status RateLimitPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RateLimitPolicyList is a list of RateLimitPolicies.
type RateLimitPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RateLimitPolicy `json:"items"`
}
