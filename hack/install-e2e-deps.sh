#!/usr/bin/env bash
# Makes sure nginx, redis-server, redis-cli, wrk and curl are installed for the
# end-to-end tests and the load run.
# As root it installs Debian's packages with apt-get; otherwise it says what
# to install. Under CI=true anything still missing fails the run, because a
# green run that skipped the end-to-end tests would be a lie.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || need+=(redis-server)
# redis-cli --cluster create joins the Redis Cluster tests' nodes.
command -v redis-cli >/dev/null 2>&1 || [[ -x /usr/bin/redis-cli ]] || need+=(redis-tools)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
# The make dev test pastes the curl lines keygate dev prints.
command -v curl >/dev/null 2>&1 || need+=(curl)

[[ ${#need[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "install-e2e-deps: installing ${need[*]} with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
	# The packages start their services; the tests run their own instances.
	if command -v service >/dev/null 2>&1; then
		service nginx stop >/dev/null 2>&1 || true
		service redis-server stop >/dev/null 2>&1 || true
	fi
	exit 0
fi

msg="install-e2e-deps: missing ${need[*]}; install them (Debian/Ubuntu: sudo apt-get install ${need[*]})"
if [[ "${CI:-}" == "true" ]]; then
	echo "$msg" >&2
	echo "install-e2e-deps: CI=true, so the end-to-end tests cannot be skipped: failing" >&2
	exit 1
fi
echo "$msg" >&2
echo "install-e2e-deps: the end-to-end tests will be skipped until then" >&2
