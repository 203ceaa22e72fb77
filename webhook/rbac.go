package webhook

// The auth server's Role: read Secrets in keygate's own namespace, nothing
// else, and write nothing.
//
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=secrets;configmaps,verbs=get;list;watch
