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
#   traefik              github.com/traefik/traefik/v3, docs/content/reference/dynamic-configuration/
#                        (kubernetes-crd-definition-v1.yml, its CRDs, and the RBAC
#                        files of its providers; printed only when asked for by
#                        name: the folder holds other YAML too)
#
# With set names as arguments, prints only those sets:
#
#   hack/third-party-crds.sh traefik
#
# Traefik's version is the one hack/install-traefik.sh builds (one pin).
# A version the module proxy refuses, or one that needs a newer Go than this
# machine's (gateway-api v1.7.0 needs go 1.27), fails with a clear message:
# pin another here. Progress goes to stderr.
set -euo pipefail
GO=${GO:-go}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ENVOY_GATEWAY_VERSION=${ENVOY_GATEWAY_VERSION:-v1.9.1}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
GATEWAY_API_VERSION=${GATEWAY_API_VERSION:-v1.6.3}
TRAEFIK_VERSION=${TRAEFIK_VERSION:-$("$ROOT/hack/install-traefik.sh" --version)}

log() { echo "third-party-crds: $*" >&2; }

# fetch NAME MODULE VERSION SUBDIR
fetch() {
	local out dir
	if ! out=$(cd / && GOFLAGS=-mod=mod "$GO" mod download -json "$2@$3" 2>&1); then
		log "ERROR: cannot download $2@$3 from the Go module proxy:"
		echo "$out" >&2
		log "pin another version in hack/third-party-crds.sh (Traefik: in hack/install-traefik.sh)"
		exit 1
	fi
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$out")
	if [[ -z "$dir" || ! -d "$dir/$4" ]]; then
		log "ERROR: $2@$3 has no folder $4"
		exit 1
	fi
	echo "$1=$dir/$4"
}

# fetch_set NAME: prints one set
fetch_set() {
	case "$1" in
	envoy-gateway) fetch envoy-gateway github.com/envoyproxy/gateway "$ENVOY_GATEWAY_VERSION" charts/gateway-crds-helm/templates/generated ;;
	prometheus-operator) fetch prometheus-operator github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" example/prometheus-operator-crd ;;
	gateway-api) fetch gateway-api sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" config/crd/standard ;;
	traefik)
		local line
		line=$(fetch traefik github.com/traefik/traefik/v3 "$TRAEFIK_VERSION" docs/content/reference/dynamic-configuration)
		if [[ ! -f "${line#traefik=}/kubernetes-crd-definition-v1.yml" ]]; then
			log "ERROR: github.com/traefik/traefik/v3@$TRAEFIK_VERSION has no kubernetes-crd-definition-v1.yml"
			exit 1
		fi
		echo "$line"
		;;
	*)
		log "ERROR: no CRD set $1; sets: envoy-gateway prometheus-operator gateway-api traefik"
		exit 1
		;;
	esac
}

if [[ $# -eq 0 ]]; then
	set -- envoy-gateway prometheus-operator gateway-api
fi
for name in "$@"; do
	fetch_set "$name"
done
