// Package webhook is keygate's external-auth server: it reads the compiled
// record Secrets, keeps an in-memory index, and answers /check for
// ingress-nginx, Traefik ForwardAuth and Envoy ext_authz.
package webhook

// The auth server's Role: read Secrets in keygate's own namespace, nothing
// else, and write nothing.
//
// +kubebuilder:rbac:groups="",namespace=keygate-system,resources=secrets;configmaps,verbs=get;list;watch
