// Package devenv runs keygate locally with no cluster: a control plane from
// the envtest binaries, keygate's CRDs and namespace, the dev JWT issuer,
// the controller and the auth server in one process (built by
// internal/app, as in an install), and the samples. It is what
// `keygate dev` runs.
package devenv
