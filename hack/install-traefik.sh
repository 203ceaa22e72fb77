#!/usr/bin/env bash
# Puts a Traefik binary, built from its Go module at a pinned version, in
# bin/traefik-<version>, and prints its path. The end-to-end tests run it.
#
# Traefik is in none of the package registries this project can reach, so
# it is built from github.com/traefik/traefik/v3 through the Go module
# proxy: go mod download, then go build ./cmd/traefik in a writable copy of
# the module (its go.mod has replace directives, so it cannot be built as a
# dependency of another module). That takes about 6 minutes on two cores the
# first time; the binary is cached outside the clone ($KEYGATE_CACHE, or
# $XDG_CACHE_HOME/keygate, or ~/.cache/keygate: tools/), so a second clone
# copies it in a second. v3.7.x does not build here (some of its
# dependencies' versions are not served). Progress goes to stderr.
#
#   hack/install-traefik.sh            builds or copies it, prints its path
#   hack/install-traefik.sh --version  prints the pinned version only (the
#                                      one pin: hack/third-party-crds.sh reads
#                                      Traefik's CRDs at the same version)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}
TRAEFIK_VERSION=${TRAEFIK_VERSION:-v3.6.12}
if [[ "${1:-}" == --version ]]; then
	echo "$TRAEFIK_VERSION"
	exit 0
fi
DEST="$ROOT/bin/traefik-$TRAEFIK_VERSION"
CACHE="${KEYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate}/tools/traefik-$TRAEFIK_VERSION"
log() { echo "install-traefik: $*" >&2; }

if [[ -x "$DEST" ]]; then
	echo "$DEST"
	exit 0
fi
mkdir -p "$ROOT/bin"
exec 9>"$ROOT/bin/.traefik.lock"
flock 9
if [[ -x "$DEST" ]]; then
	echo "$DEST"
	exit 0
fi
if [[ -x "$CACHE" ]]; then
	cp "$CACHE" "$DEST.tmp" && mv "$DEST.tmp" "$DEST"
	log "Traefik $TRAEFIK_VERSION from the cache $CACHE"
	echo "$DEST"
	exit 0
fi

fail() {
	log "ERROR: could not build Traefik $TRAEFIK_VERSION from the Go module proxy"
	log "pin a version that builds with TRAEFIK_VERSION (v3.6.12 is known to)"
	exit 1
}
trap fail ERR

log "downloading github.com/traefik/traefik/v3@$TRAEFIK_VERSION"
dir=$(cd / && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -d "$dir" ]]
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$dir" "$work/traefik"
chmod -R u+w "$work/traefik"
log "building Traefik $TRAEFIK_VERSION (about 6 minutes on two cores the first time)"
(cd "$work/traefik" && GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -trimpath -o "$DEST.tmp" ./cmd/traefik)
mv "$DEST.tmp" "$DEST"
"$DEST" version >&2
if mkdir -p "$(dirname "$CACHE")" 2>/dev/null && cp "$DEST" "$CACHE.tmp.$$" 2>/dev/null; then
	mv "$CACHE.tmp.$$" "$CACHE"
else
	log "could not write the cache $CACHE (continuing without it)"
fi
echo "$DEST"
