#!/usr/bin/env bash
# make bench-scale (hack/bench.sh scale): keygate at scale, in three parts
# chosen by BENCH_SCALE_PARTS (default "auth controller index"); the header
# of hack/bench.sh describes them and their settings. About 20 minutes on 2
# cores. Every process it starts, and everything they leave in the
# temporary folder (envtest's etcd data included), is gone when it ends,
# however it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."
go="${GO:-go}"
parts="${BENCH_SCALE_PARTS:-auth controller index}"
out="${BENCH_SCALE_OUT:-bin/bench-scale}"

die() {
	echo "bench-scale: $*" >&2
	exit 1
}
for p in $parts; do
	case "$p" in
	auth | controller | index) ;;
	*)
		echo "bench-scale: BENCH_SCALE_PARTS lists auth, controller and index, not $p" >&2
		exit 2
		;;
	esac
done
want() { [[ " $parts " == *" $1 "* ]]; }

# Each step runs in the background as $child, so that on an interrupt the
# whole tree below it (go test, the test binary, envtest's etcd and
# kube-apiserver, the auth servers) is stopped before the folder that
# TMPDIR points everything at is removed.
tmp="$(mktemp -d)"
export TMPDIR="$tmp"
child=""
kill_tree() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
	kill -TERM "$1" 2>/dev/null || true
}
cleanup() {
	if [ -n "$child" ]; then
		kill_tree "$child"
		wait "$child" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# step CMD...: runs CMD as $child and returns its status.
step() {
	local rc=0
	"$@" &
	child=$!
	wait "$child" || rc=$?
	child=""
	return "$rc"
}

mkdir -p "$out"
KUBEBUILDER_ASSETS="$(./hack/setup-envtest.sh)"
export KUBEBUILDER_ASSETS
start=$(date +%s)
echo "bench-scale: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), parts: $parts"

if want auth; then
	command -v wrk >/dev/null || die "wrk is not installed (Debian: apt-get install wrk)"
	echo "== auth server at scale: building keygate (go build .) and hack/benchscale"
	step "$go" build -o "$tmp/keygate" .
	step "$go" build -o "$tmp/benchscale" ./hack/benchscale
	step "$tmp/benchscale" -keygate "$tmp/keygate" -sizes "${BENCH_SCALE_SIZES:-1000,10000,100000}" \
		-revocations "${BENCH_SCALE_REVOCATIONS:-20}" -duration "${BENCH_DURATION:-5s}" -rounds "${BENCH_ROUNDS:-9}" \
		-connections "${BENCH_CONNECTIONS:-32}" -out "$out"
	echo "bench-scale: auth server part done after $(($(date +%s) - start))s"
fi

if want controller; then
	export KEYGATE_SCALE_KEYS="${KEYGATE_SCALE_KEYS:-20000}" KEYGATE_SCALE_RESYNC="${KEYGATE_SCALE_RESYNC:-1}"
	echo "== controller at scale: $KEYGATE_SCALE_KEYS ApiKeys on envtest, a restart, and a periodic resync (KEYGATE_SCALE_RESYNC=$KEYGATE_SCALE_RESYNC)"
	step "$go" test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 45m ./controllers/ > >(tee "$out/controller.txt") 2>&1
	echo "bench-scale: controller part done after $(($(date +%s) - start))s"
fi

if want index; then
	echo "== simulation: webhook/index for ${KEYGATE_INDEX_SIZES:-1000,100000,1000000} keys, no API server"
	step "$go" test -run '^$' -bench IndexScale -benchtime 1x -timeout 20m ./webhook/index/ > >(tee "$out/index.txt") 2>&1
fi
echo "bench-scale: done in $(($(date +%s) - start))s; tables and plot in $out"
