#!/usr/bin/env bash
# The third-party CRDs keygate's samples are checked against, from their own
# Go modules, at pinned versions (the one place they are pinned). Prints one
# line per set, "name=folder", with the folder of CRD YAML files in the Go
# module cache (outside the clone, so a second clone downloads nothing).
#
#   envoy-gateway        github.com/envoyproxy/gateway, charts/gateway-crds-helm/templates/generated/
#                        (Helm templates: the reader drops the {{ }} lines)
#   prometheus-operator  github.com/prometheus-operator/prometheus-operator, example/prometheus-operator-crd/
#   gateway-api          sigs.k8s.io/gateway-api, config/crd/standard/
#
# A version the module proxy refuses, or one that needs a newer Go than this
# machine's (gateway-api v1.7.0 needs go 1.27), fails with a clear message:
# pin another here. Progress goes to stderr.
set -euo pipefail
GO=${GO:-go}

ENVOY_GATEWAY_VERSION=${ENVOY_GATEWAY_VERSION:-v1.9.1}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.6.3}

log() { echo "third-party-crds: $*" >&2; }

# fetch NAME MODULE VERSION SUBDIR
fetch() {
	local out dir
	if ! out=$(cd / && GOFLAGS=-mod=mod "$GO" mod download -json "$2@$3" 2>&1); then
		log "ERROR: cannot download $2@$3 from the Go module proxy:"
		echo "$out" >&2
		log "pin another version in hack/third-party-crds.sh"
		exit 1
	fi
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out")
	if [[ -z "$dir" || ! -d "$dir/$4" ]]; then
		log "ERROR: $2@$3 has no folder $4"
		exit 1
	fi
	echo "$1=$dir/$4"
}

fetch envoy-gateway github.com/envoyproxy/gateway "$ENVOY_GATEWAY_VERSION" charts/gateway-crds-helm/templates/generated
fetch prometheus-operator github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd
fetch gateway-api sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" config/crd/standard
