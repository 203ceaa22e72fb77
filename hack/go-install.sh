#!/usr/bin/env bash
# Installs a Go tool at a pinned version into bin/, as DEST (a versioned
# name such as bin/golangci-lint-v2.15.0), reusing a copy cached outside the
# clone, so that a second clone on the same machine builds nothing again.
#
#   hack/go-install.sh DEST PACKAGE@VERSION
#
# The cache is $KEYGATE_CACHE, or $XDG_CACHE_HOME/keygate, or
# ~/.cache/keygate (tools/ below it). Progress goes to stderr.
set -euo pipefail

dest=$1
pkg=$2
GO=${GO:-go}
cache="${KEYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate}/tools"
cached="$cache/$(basename "$dest")"
log() { echo "go-install: $*" >&2; }

mkdir -p "$(dirname "$dest")"
if [[ -x "$cached" ]]; then
	cp "$cached" "$dest.tmp" && mv "$dest.tmp" "$dest"
	log "$(basename "$dest") from the cache $cache"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "building $pkg (the first time on a machine can take minutes)"
if ! GOBIN="$tmp" "$GO" install "$pkg"; then
	log "ERROR: go install $pkg failed; if the module proxy refuses this version, pin another in the Makefile"
	exit 1
fi
bin=$(find "$tmp" -maxdepth 1 -type f -perm -u+x | head -n 1)
[[ -n "$bin" ]] || { log "ERROR: go install $pkg produced no binary"; exit 1; }
mv "$bin" "$dest"
if mkdir -p "$cache" 2>/dev/null && cp "$dest" "$cached.tmp.$$" 2>/dev/null; then
	mv "$cached.tmp.$$" "$cached"
else
	log "could not write the cache $cache (continuing without it)"
fi
