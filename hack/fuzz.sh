#!/usr/bin/env bash
# Runs every Fuzz* target in the repository for FUZZTIME each (default 30s).
# Usage: hack/fuzz.sh [FUZZTIME]
# A target that finds a failure writes its input under the package's
# testdata/fuzz/ (commit it: it becomes a seed that plain go test runs) and
# the script exits non-zero after running the remaining targets.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-${FUZZTIME:-30s}}"
go="${GO:-go}"

failed=()
count=0
# Only packages whose tests declare a Fuzz function are listed with go test
# -list (which builds a test binary per package).
pkgs() {
	grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u |
		while read -r d; do "$go" list "$d"; done
}
while read -r pkg; do
	for target in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		count=$((count + 1))
		echo "== $pkg $target ($fuzztime)"
		if ! "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done < <(pkgs)

echo "fuzz: $count targets, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
