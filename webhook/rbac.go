package webhook

// The auth server's Role: read Secrets in keygate's own namespace (the
// record Secrets, which it lists and watches by label, and the JWT HMAC
// Secrets, read by name: RBAC can restrict neither by label, and the
// HMAC Secrets' names are the JWT config's), and one ConfigMap, the JWT
// revocation list keygate-revoked-jtis (watched by name, which RBAC can
// restrict). It writes nothing.
//
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=configmaps,resourceNames=keygate-revoked-jtis,verbs=get;list;watch
