#!/usr/bin/env bash
# Keeps charts/keygate in step with config/ (run by make manifests and make
# chart, so that make verify catches a chart left behind):
#
#   - the CRDs of config/crd/bases into charts/keygate/crds/ (Helm installs
#     crds/ before the templates, and never upgrades or deletes them);
#   - the generated RBAC roles, the alerts and the Grafana dashboard into
#     charts/keygate/files/, which the templates read as data;
#   - VERSION (v0.1.0) into Chart.yaml: version 0.1.0, appVersion v0.1.0.
#
#   hack/chart-sync.sh VERSION
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:?usage: hack/chart-sync.sh VERSION (e.g. v0.1.0)}
if [[ ! $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "chart-sync: VERSION $version is not a release tag like v0.1.0" >&2
	exit 1
fi
chart=$ROOT/charts/keygate

rm -f "$chart"/crds/*.yaml
cp "$ROOT"/config/crd/bases/*.yaml "$chart/crds/"
cp "$ROOT/config/rbac/controller/role.yaml" "$chart/files/controller-role.yaml"
cp "$ROOT/config/rbac/auth-server/role.yaml" "$chart/files/auth-server-role.yaml"
cp "$ROOT/config/prometheus/alerts.yaml" "$chart/files/alerts.yaml"
cp "$ROOT/config/prometheus/keygate-dashboard.json" "$chart/files/keygate-dashboard.json"
sed -i -e "s/^version: .*/version: ${version#v}/" -e "s/^appVersion: .*/appVersion: $version/" "$chart/Chart.yaml"
