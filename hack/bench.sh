#!/usr/bin/env bash
# keygate's benchmarks, on this machine:
#  1. go test -bench: the decision for a valid key without HTTP (target
#     <= 1 us/op, 0 allocs/op) and the handler with and without the seed
#     policy, and the ext_authz gRPC Check.
#  2. HTTP load on loopback with wrk (32 connections, BENCH_DURATION each):
#     keygate's /check against the floor, a minimal handler that only looks
#     the key up by SHA-256 in a map, both served by hack/benchserver in one
#     process. Targets: keygate >= 75% of the floor's requests/s, and >= 70%
#     with the seed's rate-limit rules applied.
#  3. The rate limiter: 3 matching rules in memory (target <= 300 ns/op,
#     0 allocs/op) and in a real redis-server (target >= 15,000 checks/s).
#  4. The controller at scale: KEYGATE_SCALE_KEYS ApiKeys (default 5,000) on
#     envtest; time until all are Ready, API writes per ApiKey, peak heap.
#     Skip it with BENCH_SCALE=0.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
duration="${BENCH_DURATION:-10s}"
conns="${BENCH_CONNECTIONS:-32}"
kport="${BENCH_KEYGATE_PORT:-18080}"
fport="${BENCH_FLOOR_PORT:-18081}"

if ! command -v wrk >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
	else
		echo "bench: wrk is not installed (Debian: apt-get install wrk)" >&2
		exit 1
	fi
fi

echo "== go test -bench (rate limiter: memory and real redis-server)"
"$go" test -run '^$' -bench 'CheckMemory3Rules|CheckRedis3Rules' -benchmem ./webhook/ratelimit/

echo "== go test -bench (decision, /check handler, ext_authz gRPC Check)"
"$go" test -run '^$' -bench 'DecideValidKey|CheckHandler|GRPCCheck' -benchmem -benchtime=2s ./webhook/

bin="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$bin"' EXIT
"$go" build -o "$bin/benchserver" ./hack/benchserver
"$bin/benchserver" -keygate "127.0.0.1:$kport" -floor "127.0.0.1:$fport" >"$bin/out" &
pid=$!
for _ in $(seq 100); do grep -q '^key=' "$bin/out" 2>/dev/null && break; sleep 0.1; done
key="$(sed -n 's/^key=//p' "$bin/out")"
[ -n "$key" ] || { echo "bench: benchserver did not start" >&2; exit 1; }

# load URL -> "requests/s p99" ; fails when any answer was not 2xx.
load() {
	local out rps p99
	out="$(wrk -t2 -c"$conns" -d"$duration" --latency \
		-H "X-API-Key: $key" -H "X-Original-URL: https://api.example.com/api/sdk/events" \
		-H "X-Original-Method: POST" -H "X-Forwarded-For: 203.0.113.7" "$1")"
	if grep -q 'Non-2xx' <<<"$out"; then
		echo "bench: non-2xx answers from $1:" >&2
		echo "$out" >&2
		return 1
	fi
	rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
	p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
	echo "$rps $p99"
}

report() { # name floor keygate target
	read -r frps fp99 <<<"$2"
	read -r krps kp99 <<<"$3"
	awk -v n="$1" -v f="$frps" -v fp="$fp99" -v k="$krps" -v kp="$kp99" -v t="$4" 'BEGIN {
		r = 100 * k / f
		printf "%-22s floor %9.0f req/s p99 %-8s keygate %9.0f req/s p99 %-8s ratio %5.1f%% (target >= %d%%) %s\n",
			n, f, fp, k, kp, r, t, (r >= t ? "OK" : "BELOW TARGET")
	}'
}

echo "== HTTP load: wrk, $conns connections, $duration per run"
load "http://127.0.0.1:$fport/check" >/dev/null # warm-up
floor="$(load "http://127.0.0.1:$fport/check")"
plain="$(load "http://127.0.0.1:$kport/check?scopes=events:write")"
floor2="$(load "http://127.0.0.1:$fport/check")"
seed="$(load "http://127.0.0.1:$kport/check?scopes=events:write&policy=bench/seed")"
report "valid key" "$floor" "$plain" 75
report "valid key, seed policy" "$floor2" "$seed" 70

if [ "${BENCH_SCALE:-1}" != 0 ]; then
	echo "== controller scale: ${KEYGATE_SCALE_KEYS:-5000} ApiKeys on envtest"
	KUBEBUILDER_ASSETS="$(./hack/setup-envtest.sh)" "$go" test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 30m ./controllers/
fi
