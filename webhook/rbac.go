package webhook

// The auth server's Role: read Secrets in keygate's own namespace (the
// record Secrets, which it lists and watches by label, and the JWT HMAC
// Secrets, read by name: RBAC can restrict neither by label, and the
// HMAC Secrets' names are the JWT config's), and one ConfigMap, the JWT
// revocation list keygate-revoked-jtis (watched by name, which RBAC can
// restrict). The one thing it writes is its own UsageReport, by
// server-side apply (create and patch; it never reads one back), in
// keygate's namespace only. RBAC cannot restrict create by
// name, so the ValidatingAdmissionPolicy keygate-usage-report
// (config/auth-server/usage-report-policy.yaml) lets a service account
// write only the report named after the pod its token is bound to.
//
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=configmaps,resourceNames=keygate-revoked-jtis,verbs=get;list;watch
// +kubebuilder:rbac:groups=keygate.dev,namespace=keygate-system,resources=usagereports,verbs=create;patch
