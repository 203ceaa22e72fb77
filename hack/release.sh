#!/usr/bin/env bash
# Writes a release of keygate to dist/ (make release VERSION=v0.1.0 runs it
# after building the static binary):
#
#   keygate-linux-ARCH          the static binary (make build-static)
#   keygate-VERSION.oci.tar     the image as an OCI image layout tarball,
#                               built from the binary with no container engine
#   image-digest.txt            the image's digest
#   install.yaml                config/default, the image pinned by digest
#   crds.yaml                   the CRDs alone
#   keygate-X.Y.Z.tgz           the Helm chart (image pinned by digest)
#   keygate.cdx.json            CycloneDX SBOM of the binary (cyclonedx-gomod)
#   SHA256SUMS                  sha256sum of every file above
#
#   hack/release.sh VERSION BINARY
#
# Every timestamp in the image is SOURCE_DATE_EPOCH, or the time of the
# commit: the same commit gives the same image digest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
version=${1:?usage: hack/release.sh VERSION BINARY}
binary=${2:?usage: hack/release.sh VERSION BINARY}
arch=${GOARCH:-$("$GO" env GOARCH)}
repository=${IMAGE_REPOSITORY:-ghcr.io/keygate-dev/keygate}
cyclonedx=${CYCLONEDX_GOMOD:?set CYCLONEDX_GOMOD to the cyclonedx-gomod binary (make cyclonedx-gomod)}
ca_certs=${CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
dist=$ROOT/dist
log() { echo "release: $*" >&2; }

cd "$ROOT"
revision=$(git rev-parse HEAD 2>/dev/null) || { log "ERROR: not a git clone: the commit names the release"; exit 1; }
created=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
if [[ ! -f $ca_certs ]]; then
	log "ERROR: no CA bundle at $ca_certs: install Debian's ca-certificates (apt-get install ca-certificates) or set CA_CERTS"
	exit 1
fi
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
	log "warning: the working tree has uncommitted changes; the release is not that of commit $revision"
fi

# Everything but the binary is rewritten.
find "$dist" -mindepth 1 -maxdepth 1 ! -name "$(basename "$binary")" -exec rm -rf {} +

"$GO" run ./hack/release -version "$version" -binary "$binary" -arch "$arch" \
	-created "$created" -revision "$revision" -repository "$repository" -ca-certs "$ca_certs" -out "$dist"
"$cyclonedx" bin -json -version "$version" -output "$dist/keygate.cdx.json" "$binary"

cd "$dist"
sums=$(find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum)
echo "$sums" > SHA256SUMS
log "wrote $dist:"
cat SHA256SUMS >&2
