#!/usr/bin/env bash
# Puts kube-apiserver, etcd and kubectl for envtest in bin/k8s/<version>/ and
# prints that folder, for KUBEBUILDER_ASSETS.
#
# First it tries setup-envtest, which downloads release binaries. Where that
# cannot reach its download site, it builds the same binaries from Go modules
# through the module proxy: kube-apiserver and kubectl from k8s.io/kubernetes
# (with every staging module pinned to its published version), etcd from
# go.etcd.io/etcd/server/v3. Building takes several minutes on two cores, so the
# result is cached and reused; nothing is rebuilt while the binaries exist.
# They are also cached outside the clone ($KEYGATE_CACHE, or
# $XDG_CACHE_HOME/keygate, or ~/.cache/keygate: k8s/<version>/), so a second
# clone on the same machine copies them in seconds.
#
# Progress goes to stderr; stdout carries only the folder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-go}

# The Kubernetes version follows client-go in go.mod: v0.37.2 -> 1.37.2.
CLIENT_GO=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$ROOT/go.mod")
[[ "$CLIENT_GO" =~ ^v0\.[0-9]+\.[0-9]+$ ]] || { log "ERROR: cannot read the k8s.io/client-go version from go.mod"; exit 1; }
K8S_VERSION=${ENVTEST_K8S_VERSION:-1.${CLIENT_GO#v0.}}
# etcd at the version k8s.io/kubernetes itself requires.
ETCD_VERSION=${ENVTEST_ETCD_VERSION:-v3.7.0}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-release-0.25}

DEST="$ROOT/bin/k8s/$K8S_VERSION"
CACHE="${KEYGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keygate}/k8s/$K8S_VERSION"
BINARIES=(kube-apiserver etcd kubectl)
log() { echo "setup-envtest: $*" >&2; }

have_all() { # DIR
	local b
	for b in "${BINARIES[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}

# copy_all FROM TO: each binary through a temporary name, so that a reader
# never sees half a file.
copy_all() {
	local b
	mkdir -p "$2"
	for b in "${BINARIES[@]}"; do
		cp "$1/$b" "$2/$b.tmp.$$" && mv "$2/$b.tmp.$$" "$2/$b" || return 1
	done
}

if have_all "$DEST"; then
	echo "$DEST"
	exit 0
fi
if have_all "$CACHE" && copy_all "$CACHE" "$DEST"; then
	log "Kubernetes $K8S_VERSION binaries from the cache $CACHE"
	echo "$DEST"
	exit 0
fi
mkdir -p "$DEST"

# One build at a time: a second caller waits for the first and reuses it.
exec 9>"$ROOT/bin/k8s/.lock"
if ! flock -n 9; then
	log "another setup-envtest is building into bin/k8s; waiting for it"
	flock 9
fi
if have_all "$DEST"; then
	echo "$DEST"
	exit 0
fi

try_download() {
	log "trying setup-envtest $SETUP_ENVTEST_VERSION for Kubernetes $K8S_VERSION"
	local tmp
	tmp=$(mktemp -d)
	local dir
	if dir=$(GOFLAGS=-mod=mod timeout 120 "$GO" run \
		"sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
		use "$K8S_VERSION" --bin-dir "$tmp" -p path 2>/dev/null) && [[ -x "$dir/kube-apiserver" ]]; then
		cp "$dir/kube-apiserver" "$dir/etcd" "$dir/kubectl" "$DEST/"
		rm -rf "$tmp"
		return 0
	fi
	rm -rf "$tmp"
	return 1
}

build_from_modules() {
	log "setup-envtest could not download; building from Go modules instead"
	local work
	work=$(mktemp -d)

	# kube-apiserver and kubectl.
	mkdir -p "$work/kube"
	(
		cd "$work/kube"
		"$GO" mod init keygate.local/envtest-kube >/dev/null 2>&1
		"$GO" mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
		# k8s.io/kubernetes replaces every k8s.io/... staging module with a
		# local path; a module that requires it must point each one at the
		# published version instead.
		local modfile
		modfile=$(GOFLAGS=-mod=mod "$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		local staged
		staged=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$modfile")
		local m
		for m in $staged; do
			"$GO" mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"
		done
		cat >tools.go <<'GOEOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GOEOF
		log "resolving k8s.io/kubernetes v$K8S_VERSION modules"
		GOFLAGS=-mod=mod "$GO" mod tidy -e >/dev/null 2>&1 || true
		log "building kube-apiserver (about 5 minutes on two cores)"
		GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -o "$DEST/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
		log "building kubectl"
		GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -o "$DEST/kubectl" k8s.io/kubernetes/cmd/kubectl
	)

	# etcd: a three-line main around etcdmain.Main.
	mkdir -p "$work/etcd"
	(
		cd "$work/etcd"
		"$GO" mod init keygate.local/envtest-etcd >/dev/null 2>&1
		cat >main.go <<'GOEOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GOEOF
		"$GO" mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
		log "resolving etcd $ETCD_VERSION modules"
		GOFLAGS=-mod=mod "$GO" mod tidy >/dev/null 2>&1
		log "building etcd (about 1 minute)"
		GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -o "$DEST/etcd" .
	)
	rm -rf "$work"
}

fail() {
	log "ERROR: could neither download nor build the envtest binaries into $DEST"
	log "install kube-apiserver, etcd and kubectl for Kubernetes $K8S_VERSION by hand and set KUBEBUILDER_ASSETS"
	exit 1
}
trap fail ERR

if [[ "${ENVTEST_NO_DOWNLOAD:-}" == "" ]] && try_download; then
	log "downloaded release binaries"
else
	# Not called from a condition, so that set -e stops at the first failure.
	build_from_modules
	log "built kube-apiserver, kubectl and etcd from Go modules"
fi
have_all "$DEST" || fail
copy_all "$DEST" "$CACHE" 2>/dev/null || log "could not write the cache $CACHE (continuing without it)"
echo "$DEST"
