// Package controllers compiles ApiKeys and RateLimitPolicies into record
// Secrets in keygate's namespace, and delivers generated keys to Secrets in
// the ApiKeys' own namespaces. It is a compiler: resources in, Secrets out.
package controllers

// The controller's ClusterRole. Secrets are written in users' namespaces
// (delivery Secrets) and in keygate's namespace (records); the cache holds
// only Secrets labelled as keygate's. Only the verbs the code uses: it
// never writes an ApiKey or RateLimitPolicy (only their status, with
// Update), and writes Secrets with Create, Update and Delete, never Patch.
//
// +kubebuilder:rbac:groups=keygate.dev,resources=apikeys;ratelimitpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=keygate.dev,resources=apikeys/status;ratelimitpolicies/status,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch
