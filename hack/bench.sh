#!/usr/bin/env bash
# keygate's benchmarks, on this machine:
#  1. go test -bench: the decision for a valid key without HTTP (target
#     <= 1 us/op, 0 allocs/op) and the handler with and without the seed
#     policy, and the ext_authz gRPC Check.
#  2. Load runs on loopback, each server in a process of its own:
#     - the real `keygate auth-server` binary (go build .), reading
#       BENCH_KEYS API-key records and the BreakGround seed policy from an
#       API server (envtest, started by hack/benchstack, which creates the
#       record Secrets directly with the API client, as the controller
#       would write them; the controller is not what is measured), with
#       last-use reporting on (--usage-report-name, which the Deployment
#       sets from the pod's name);
#     - the floor (hack/floor): the least an auth server can do, hash the
#       key header with SHA-256 and look it up in a map, over HTTP with
#       keygate's http.Server settings and as a bare ext_authz gRPC Check.
#     HTTP /check with wrk (BENCH_CONNECTIONS connections): a valid key
#     (target: keygate >= 0.90 of the floor's requests/s), and the same with
#     ?policy= naming the seed policy, its limits scaled up so that no
#     request is refused (reported against the same 0.90). ext_authz gRPC
#     Check with hack/loadgrpc (BENCH_GRPC_WORKERS goroutines over
#     BENCH_GRPC_CONNS connections; target >= 0.95 of the floor's checks/s).
#     Each case runs BENCH_ROUNDS interleaved rounds (floor, keygate, floor,
#     keygate, ...) of BENCH_DURATION after a BENCH_WARMUP run of each; a
#     round's ratio is keygate over that round's floor. Every round and the
#     median ratio are printed: on a shared machine only ratios measured
#     side by side mean anything. Beside requests/s, each run shows the CPU
#     time the server process used per request (from /proc), which depends
#     much less on what else the machine runs. The run fails when a server
#     does not start, or answers a non-2xx status or a non-OK check during
#     the load.
#  3. The rate limiter: 3 matching rules in memory (target <= 300 ns/op,
#     0 allocs/op), in a real redis-server and in a real 3-master Redis
#     Cluster (target >= 15,000 checks/s each), in the same run: the
#     cluster's one-client case (three rules by ip, one script a check) and
#     mixed case (by ip and by header, two scripts a check) beside the
#     single server's.
#  4. The controller at scale: KEYGATE_SCALE_KEYS ApiKeys (default 5,000,
#     half generated, half GitOps) on envtest; time until all are Ready, API
#     writes per ApiKey, heap and RSS, then a restart with all of them in
#     place (writes, which must be 0, and time until caught up); and last
#     use with every key in use (BenchmarkUsageScale): status writes per
#     ApiKey per window (at most 1) over 3 windows of KEYGATE_USAGE_WINDOW
#     (default 30s, standing in for the 1h --usage-granularity), what that
#     makes per second at 1h (target <= 2 for 5,000 keys), and how long the
#     last ApiKey takes to show a window. Skip it with BENCH_SCALE=0.
#
# BENCH_ONLY=go (1 and 3), load (2) or scale (4) runs one part only.
# BENCH_STRICT=1 also fails the run when a median ratio is below its target.
#
# `hack/bench.sh scale` (make bench-scale, about 20 minutes on 2 cores)
# measures keygate at scale instead, in three parts (BENCH_SCALE_PARTS,
# default "auth controller index"):
#  auth:       hack/benchscale: the real `keygate auth-server` on envtest at
#              N = 1 and BENCH_SCALE_SIZES records (default
#              1000,10000,100000), created directly with the API client
#              (not through the controller): time to /readyz, RSS, heap and
#              bytes per key, idle CPU, /check req/s and p99 with wrk beside
#              the N = 1 server in BENCH_ROUNDS rounds (default here 9:
#              one round's ratio varies by ±15 % on 2 cores), revocation
#              latency (p50/p99 of BENCH_SCALE_REVOCATIONS, default 20);
#  controller: part 4 with KEYGATE_SCALE_KEYS (default here 20,000) and one
#              periodic resync (KEYGATE_SCALE_RESYNC=1, the default here);
#  index:      a simulation with no API server: webhook/index built for
#              KEYGATE_INDEX_SIZES keys (default 1000,100000,1000000):
#              build time, bytes per key, lookup p99, cost of one change.
# The auth part writes its table and an SVG plot to BENCH_SCALE_OUT
# (default bin/bench-scale). docs/scale.md reads the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
only="${BENCH_ONLY:-}"
mode="${1:-bench}"

case "$mode" in
bench) ;;
scale)
	exec ./hack/benchscale/run.sh
	;;
*)
	echo "bench: the argument is scale (make bench-scale) or none (make bench), not $mode" >&2
	exit 2
	;;
esac
duration="${BENCH_DURATION:-10s}"
warmup="${BENCH_WARMUP:-2s}"
rounds="${BENCH_ROUNDS:-3}"
conns="${BENCH_CONNECTIONS:-32}"
grpc_conns="${BENCH_GRPC_CONNS:-4}"
grpc_workers="${BENCH_GRPC_WORKERS:-32}"
nkeys="${BENCH_KEYS:-10000}"
scope=events:write

case "$only" in
"" | go | load | scale) ;;
*)
	echo "bench: BENCH_ONLY is go, load or scale, not $only" >&2
	exit 2
	;;
esac
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
die() {
	echo "bench: $*" >&2
	exit 1
}

if want go; then
	echo "== go test -bench (rate limiter: memory, real redis-server, real Redis Cluster)"
	"$go" test -run '^$' -bench 'CheckMemory3Rules|CheckMemoryOneRule|CheckRedis3Rules|CheckRedisCluster3Rules' -benchmem ./webhook/ratelimit/

	echo "== go test -bench (decision, /check handler, ext_authz gRPC Check)"
	"$go" test -run '^$' -bench 'DecideValidKey|CheckHandler|GRPCCheck' -benchmem -benchtime=2s ./webhook/
fi

# ---- 2. load runs ----------------------------------------------------------

tmp=""
stack_pid="" floor_pid="" keygate_pid=""
cleanup() {
	local pid
	for pid in $keygate_pid $floor_pid; do
		kill "$pid" 2>/dev/null || true
	done
	if [ -n "$stack_pid" ]; then
		exec 7>&- # end of benchstack's stdin: it stops the API server
		for _ in $(seq 300); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$stack_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

# wait_for NAME PID FILE PATTERN SECONDS: until FILE has a line matching
# PATTERN; fails when the process ends first or time runs out.
wait_for() {
	local i
	for i in $(seq $(($5 * 10))); do
		if grep -q "$4" "$3" 2>/dev/null; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then
			echo "bench: $1 exited before it was ready; its output:" >&2
			tail -n 30 "$tmp/$1".* >&2 || true
			exit 1
		fi
		sleep 0.1
	done
	echo "bench: $1 not ready after $5s; its output:" >&2
	tail -n 30 "$tmp/$1".* >&2 || true
	exit 1
}

# value FILE NAME: the value of the NAME=value line.
value() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# logged_addr MSG: the addr of keygate's JSON log line with that msg.
logged_addr() {
	grep -F "\"msg\":\"$1\"" "$tmp/keygate.log" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' | head -n 1
}

# http_status URL KEY: the status of one check.
http_status() {
	curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $2" \
		-H "X-Original-URL: https://api.example.com/api/sdk/events" \
		-H "X-Original-Method: POST" -H "X-Forwarded-For: 203.0.113.7" "$1"
}

start_servers() {
	local assets kubeconfig hashes
	assets="$(./hack/setup-envtest.sh)"
	tmp="$(mktemp -d)"
	echo "== building keygate (go build .) and hack/benchstack, hack/floor, hack/loadgrpc"
	"$go" build -o "$tmp/keygate" .
	"$go" build -o "$tmp/" ./hack/benchstack ./hack/floor ./hack/loadgrpc

	echo "== envtest with $nkeys API-key records and the seed policy (hack/benchstack)"
	mkfifo "$tmp/hold"
	KUBEBUILDER_ASSETS="$assets" "$tmp/benchstack" -keys "$nkeys" -dir "$tmp" \
		<"$tmp/hold" >"$tmp/benchstack.out" 2>"$tmp/benchstack.err" &
	stack_pid=$!
	exec 7>"$tmp/hold" # held open until cleanup: benchstack serves until then
	wait_for benchstack "$stack_pid" "$tmp/benchstack.out" '^ready$' 600
	key="$(value "$tmp/benchstack.out" key)"
	policy="$(value "$tmp/benchstack.out" policy)"
	hashes="$(value "$tmp/benchstack.out" hashes)"
	kubeconfig="$(value "$tmp/benchstack.out" kubeconfig)"

	"$tmp/floor" -hashes "$hashes" >"$tmp/floor.out" 2>"$tmp/floor.err" &
	floor_pid=$!
	wait_for floor "$floor_pid" "$tmp/floor.out" '^grpc=' 30
	floor_http="$(value "$tmp/floor.out" http)"
	floor_grpc="$(value "$tmp/floor.out" grpc)"

	"$tmp/keygate" auth-server --kubeconfig "$kubeconfig" --addr 127.0.0.1:0 --usage-report-name keygate-bench \
		--grpc-addr 127.0.0.1:0 --grpc-options "scopes=$scope" \
		>"$tmp/keygate.out" 2>"$tmp/keygate.log" &
	keygate_pid=$!
	wait_for keygate "$keygate_pid" "$tmp/keygate.log" '"msg":"ext_authz gRPC server listening"' 120
	wait_for keygate "$keygate_pid" "$tmp/keygate.log" '"msg":"auth server listening"' 120
	keygate_http="$(logged_addr "auth server listening")"
	keygate_grpc="$(logged_addr "ext_authz gRPC server listening")"
	[ -n "$keygate_http" ] && [ -n "$keygate_grpc" ] || die "cannot read keygate's addresses from its log"
	local i
	for i in $(seq 1200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$keygate_http/readyz")" = 200 ] && break
		kill -0 "$keygate_pid" 2>/dev/null || { tail -n 30 "$tmp/keygate.log" >&2; die "keygate exited"; }
		[ "$i" -lt 1200 ] || die "keygate's /readyz is not 200 after 120s"
		sleep 0.1
	done
	echo "keygate auth-server: HTTP $keygate_http, gRPC $keygate_grpc; floor: HTTP $floor_http, gRPC $floor_grpc"
}

# check_answers: a valid key is admitted, a wrong one refused, by both.
check_answers() {
	local url s
	for url in "http://$floor_http/check" "http://$keygate_http/check?scopes=$scope" \
		"http://$keygate_http/check?scopes=$scope&policy=$policy"; do
		s="$(http_status "$url" "$key")"
		[ "$s" = 200 ] || die "$url answered $s to a valid key"
		s="$(http_status "$url" "sk_$(printf "%064d" 0)")"
		[ "${s:0:1}" = 4 ] || die "$url answered $s to an unknown key"
	done
}

# wrk_run URL DURATION -> "requests/s p99_ms requests"; fails on any non-2xx answer
# or socket error.
wrk_run() {
	local out
	out="$(wrk -t2 -c"$conns" -d"$2" --latency \
		-H "X-API-Key: $key" -H "X-Original-URL: https://api.example.com/api/sdk/events" \
		-H "X-Original-Method: POST" -H "X-Forwarded-For: 203.0.113.7" "$1")" || die "wrk failed on $1"
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "bench: non-2xx answers or socket errors from $1:" >&2
		echo "$out" >&2
		exit 1
	fi
	awk 'function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v
		}
		/^Requests\/sec/ {rps = $2}
		$1 == "99%" {p99 = ms($2)}
		/ requests in / {n = $1}
		END {print rps, p99, n}' <<<"$out"
}

# grpc_run ADDR DURATION [POLICY] -> "checks/s p99_ms checks"; fails on any
# non-OK check.
grpc_run() {
	local out
	out="$("$tmp/loadgrpc" -addr "$1" -key "$key" -duration "$2" -conns "$grpc_conns" \
		-workers "$grpc_workers" ${3:+-policy "$3"})" || die "gRPC load on $1 failed"
	sed -n 's/^checks=\([0-9]*\) rps=\([0-9.]*\) p99_ms=\([0-9.]*\)$/\2 \3 \1/p' <<<"$out"
}

# cpu_ticks PID: user and system CPU time the process has used, in ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# one TARGET DURATION -> "per-second p99_ms cpu_us_per_request" of one run.
# The last figure is the CPU time the server process used, per request:
# unlike requests/s it hardly depends on what else the machine runs.
one() {
	local pid=$floor_pid c0 out
	case "$1" in *-keygate | *-seed) pid=$keygate_pid ;; esac
	c0="$(cpu_ticks "$pid")"
	case "$1" in
	http-floor) out="$(wrk_run "http://$floor_http/check" "$2")" ;;
	http-keygate) out="$(wrk_run "http://$keygate_http/check?scopes=$scope" "$2")" ;;
	http-seed) out="$(wrk_run "http://$keygate_http/check?scopes=$scope&policy=$policy" "$2")" ;;
	grpc-floor) out="$(grpc_run "$floor_grpc" "$2")" ;;
	grpc-keygate) out="$(grpc_run "$keygate_grpc" "$2")" ;;
	esac || exit 1
	awk -v c="$(($(cpu_ticks "$pid") - c0))" -v hz="$clk_tck" '{
		if ($3 > 0) printf "%s %s %.1f\n", $1, $2, 1e6 * c / hz / $3
	}' <<<"$out"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

below=0
# compare TITLE TARGET FLOOR KEYGATE: interleaved rounds, every round and
# the medians.
compare() {
	local i f k frps fp99 fcpu krps kp99 kcpu ratio fc kc fs="" ks="" rs="" fcs="" kcs=""
	echo "== $1: $rounds rounds of $duration, floor then keygate"
	one "$3" "$warmup" >/dev/null
	one "$4" "$warmup" >/dev/null
	for i in $(seq "$rounds"); do
		f="$(one "$3" "$duration")" || exit 1
		k="$(one "$4" "$duration")" || exit 1
		read -r frps fp99 fcpu <<<"$f"
		read -r krps kp99 kcpu <<<"$k"
		[ -n "$fcpu" ] && [ -n "$kcpu" ] || die "cannot read the figures of $3 ($f) or $4 ($k)"
		ratio="$(awk -v f="$frps" -v k="$krps" 'BEGIN {printf "%.3f", k / f}')"
		printf '  round %d: floor %7.0f/s p99 %6.2f ms cpu %5.1f us/req | keygate %7.0f/s p99 %6.2f ms cpu %5.1f us/req | ratio %s\n' \
			"$i" "$frps" "$fp99" "$fcpu" "$krps" "$kp99" "$kcpu" "$ratio"
		fs+="$frps"$'\n' ks+="$krps"$'\n' rs+="$ratio"$'\n' fcs+="$fcpu"$'\n' kcs+="$kcpu"$'\n'
	done
	f="$(median <<<"${fs%$'\n'}")" k="$(median <<<"${ks%$'\n'}")" ratio="$(median <<<"${rs%$'\n'}")"
	fc="$(median <<<"${fcs%$'\n'}")" kc="$(median <<<"${kcs%$'\n'}")"
	awk -v f="$f" -v k="$k" -v r="$ratio" -v t="$2" -v fc="$fc" -v kc="$kc" 'BEGIN {
		printf "  median:  floor %7.0f/s               cpu %5.1f us/req | keygate %7.0f/s               cpu %5.1f us/req | ratio %.3f (target >= %.2f) %s\n",
			f, fc, k, kc, r, t, (r >= t ? "OK" : "BELOW TARGET")
		printf "  (CPU per request, floor over keygate: %.3f)\n", fc / kc
	}'
	if awk -v r="$ratio" -v t="$2" 'BEGIN {exit !(r < t)}'; then below=$((below + 1)); fi
}

if want load; then
	command -v curl >/dev/null || die "curl is not installed"
	if ! command -v wrk >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
		else
			die "wrk is not installed (Debian: apt-get install wrk)"
		fi
	fi
	clk_tck="$(getconf CLK_TCK)"
	start_servers
	check_answers
	compare "HTTP /check, valid key (wrk, $conns connections)" 0.90 http-floor http-keygate
	compare "HTTP /check, valid key, ?policy=$policy (seed policy, limits scaled up)" 0.90 http-floor http-seed
	compare "ext_authz gRPC Check, valid key (hack/loadgrpc, $grpc_workers callers on $grpc_conns connections)" 0.95 grpc-floor grpc-keygate
	cleanup
	trap - EXIT
	if [ "$below" -gt 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then
		die "$below median ratio(s) below target (BENCH_STRICT=1)"
	fi
fi

if want scale && [ "${BENCH_SCALE:-1}" != 0 ]; then
	echo "== controller scale: ${KEYGATE_SCALE_KEYS:-5000} ApiKeys on envtest, then a restart"
	KUBEBUILDER_ASSETS="$(./hack/setup-envtest.sh)" "$go" test -run '^$' -bench BenchmarkScale -benchtime 1x -timeout 30m ./controllers/
	echo "== last use at scale: ${KEYGATE_SCALE_KEYS:-5000} ApiKeys all in use, windows of ${KEYGATE_USAGE_WINDOW:-30s} standing in for 1h"
	KUBEBUILDER_ASSETS="$(./hack/setup-envtest.sh)" "$go" test -run '^$' -bench BenchmarkUsageScale -benchtime 1x -timeout 30m ./controllers/
fi
