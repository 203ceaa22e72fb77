package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RateLimitPolicySpec is a set of rules; a request is counted by every rule
// whose match fits it and refused when any of them is over its limit.
type RateLimitPolicySpec struct {
	// Rules of the policy. Names are unique. A policy lists at most 256
	// paths and path prefixes over all its rules, and at most 16 overrides:
	// so its compiled record stays far below a Secret's 1 MiB (see
	// docs/rate-limits.md).
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.map(r, has(r.match) ? (has(r.match.paths) ? size(r.match.paths) : 0) + (has(r.match.pathPrefixes) ? size(r.match.pathPrefixes) : 0) : 0).sum() <= 256",message="a policy lists at most 256 paths and pathPrefixes over all its rules; split it into several policies"
	// +kubebuilder:validation:XValidation:rule="self.map(r, has(r.overrides) ? size(r.overrides) : 0).sum() <= 16",message="a policy lists at most 16 overrides over all its rules; split it into several policies"
	Rules []RateLimitRule `json:"rules"`
}

// RateLimitRule counts requests for each value of by. With period, it
// admits a burst of limit requests, and after that at most limit requests
// per period (GCRA, a rolling window). With calendar, it admits limit
// requests per calendar day, week or month, and the count starts again at
// the window's start. Overrides give selected credentials another limit.
// +kubebuilder:validation:XValidation:rule="has(self.period) != has(self.calendar)",message="set exactly one of period (a rolling limit, 1s to 744h) and calendar (a quota per day, week or month)"
// +kubebuilder:validation:XValidation:rule="!has(self.period) || (duration(self.period) >= duration('1s') && duration(self.period) <= duration('744h'))",message="period must be between 1s and 744h (31 days); for a quota per calendar month, use calendar: month"
// +kubebuilder:validation:XValidation:rule="!has(self.period) || self.limit <= duration(self.period).getMilliseconds() * 1000",message="limit must be at most one request per microsecond of period (1000000 per 1s): keygate counts time in microseconds"
// +kubebuilder:validation:XValidation:rule="!has(self.timeZone) || has(self.calendar)",message="timeZone applies to calendar quotas only"
// +kubebuilder:validation:XValidation:rule="!has(self.overrides) || self.by in ['apiKey', 'subject', 'sharedSubject']",message="overrides select credentials, so they apply only to rules counted after authentication: by apiKey, subject or sharedSubject"
// +kubebuilder:validation:XValidation:rule="!has(self.overrides) || has(self.period) || self.overrides.all(o, !has(o.period))",message="an override of a calendar quota sets its limit only, not a period"
// +kubebuilder:validation:XValidation:rule="!has(self.overrides) || !has(self.period) || self.overrides.all(o, has(o.period) || o.limit <= duration(self.period).getMilliseconds() * 1000)",message="an override's limit must be at most one request per microsecond of the rule's period: keygate counts time in microseconds"
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

	// Period is the rolling window the limit applies to (Go duration, 1s
	// to 744h, that is 31 days). Exactly one of period and calendar is set.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Period metav1.Duration `json:"period,omitzero"`

	// Calendar makes the rule a quota: limit requests per calendar day,
	// week (from Monday) or month, starting again at 00:00 of the day, the
	// Monday or the 1st in timeZone. A refusal is 429 QUOTA_EXCEEDED with
	// Retry-After counting the seconds to the reset.
	// +optional
	Calendar CalendarWindow `json:"calendar,omitempty"`

	// TimeZone of a calendar quota: an IANA name such as Europe/Paris.
	// Default UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

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

	// Overrides give selected credentials their own limit (a plan). The
	// first override that selects the request's credential applies; with
	// none, the rule's own limit does. Only for rules by apiKey, subject or
	// sharedSubject.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Overrides []RateLimitOverride `json:"overrides,omitempty"`
}

// CalendarWindow is the window of a quota.
// +kubebuilder:validation:Enum=day;week;month
type CalendarWindow string

// Calendar windows.
const (
	CalendarDay   CalendarWindow = "day"
	CalendarWeek  CalendarWindow = "week"
	CalendarMonth CalendarWindow = "month"
)

// RateLimitOverride selects credentials and gives them another limit (and,
// for a rolling rule, optionally another period). It selects ApiKeys of
// the policy's own namespace, by label or by subject, and JWTs by the value
// of their plan claim (named per issuer in the auth server's JWT config).
// An ApiKey's labels are the selection, never its spec: who may label
// ApiKeys in this namespace may choose among these plans.
// +kubebuilder:validation:XValidation:rule="has(self.apiKeySelector) || has(self.subjects) || has(self.jwtPlans)",message="an override selects credentials: set apiKeySelector, subjects or jwtPlans"
// +kubebuilder:validation:XValidation:rule="!has(self.period) || (duration(self.period) >= duration('1s') && duration(self.period) <= duration('744h'))",message="period must be between 1s and 744h (31 days)"
// +kubebuilder:validation:XValidation:rule="!has(self.period) || self.limit <= duration(self.period).getMilliseconds() * 1000",message="limit must be at most one request per microsecond of period (1000000 per 1s): keygate counts time in microseconds"
// +kubebuilder:validation:XValidation:rule="!has(self.apiKeySelector) || ((!has(self.apiKeySelector.matchLabels) || size(self.apiKeySelector.matchLabels) <= 8) && (!has(self.apiKeySelector.matchExpressions) || size(self.apiKeySelector.matchExpressions) <= 8))",message="apiKeySelector holds at most 8 matchLabels and 8 matchExpressions"
type RateLimitOverride struct {
	// Name of the override (a plan name such as pro), shown in errors.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Limit replaces the rule's limit for the selected credentials.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	Limit int64 `json:"limit"`

	// Period replaces the rule's period (rolling rules only). Default: the
	// rule's.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Period metav1.Duration `json:"period,omitzero"`

	// APIKeySelector selects ApiKeys of the policy's namespace by label,
	// such as keygate.dev/plan: pro. ApiKeys of other namespaces are never
	// selected.
	// +optional
	APIKeySelector *metav1.LabelSelector `json:"apiKeySelector,omitempty"`

	// Subjects selects ApiKeys of the policy's namespace whose
	// spec.subject is one of these.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[^\s,]+$`
	Subjects []string `json:"subjects,omitempty"`

	// JWTPlans selects JWTs whose plan claim (planClaim of the token's
	// issuer in the auth server's JWT config) is one of these values. A
	// token of an issuer without planClaim is never selected.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9][A-Za-z0-9:._/+-]*$`
	JWTPlans []string `json:"jwtPlans,omitempty"`
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
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^/(?:(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+)(?:/(?:[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.[^./%;?#\\[:cntrl:] ][^/%;?#\\[:cntrl:] ]*|\.\.[^/%;?#\\[:cntrl:] ]+))*/?)?$`
	Paths []string `json:"paths,omitempty"`

	// PathPrefixes matched as string prefixes of the path, written clean
	// as paths are.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
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
