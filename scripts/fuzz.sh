#!/usr/bin/env bash
# Runs every fuzz target of the module (each func FuzzXxx(*testing.F) in a _test.go file) with
# go test -fuzz for a short, bounded time. CI runs it; a failure leaves the input that broke the
# target under the package's testdata/fuzz/FuzzXxx/, which `go test` then replays as a
# regression seed once it is committed.
set -euo pipefail

usage() {
	cat <<EOF
usage: scripts/fuzz.sh [DURATION]

Fuzz each target of the module for DURATION (a go test -fuzztime value: 10s, 2m, or 5000x
for a number of inputs). Default: \$FUZZTIME, else 10s.
EOF
}

case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
esac
[[ $# -le 1 ]] || {
	usage >&2
	exit 2
}
fuzztime=${1:-${FUZZTIME:-10s}}
if [[ ! $fuzztime =~ ^[0-9]+(ms|s|m|h|x)$ ]]; then
	printf 'fuzz.sh: %q is not a duration like 10s or a count like 5000x\n' "$fuzztime" >&2
	exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=()
while read -r dir pkg; do
	while read -r name; do
		[[ -n $name ]] && targets+=("$pkg $name")
	done < <(cat "$dir"/*_test.go 2>/dev/null | sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\).*/\1/p')
done < <(go list -f '{{.Dir}} {{.ImportPath}}' ./...)
[[ ${#targets[@]} -gt 0 ]] || {
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
}

failed=()
summary=()
for target in "${targets[@]}"; do
	read -r pkg name <<<"$target"
	printf '\n== %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
	start=$SECONDS
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime=30s "$pkg"; then
		summary+=("ok    $((SECONDS - start))s  $pkg $name")
	else
		summary+=("FAIL  $((SECONDS - start))s  $pkg $name")
		failed+=("$pkg $name")
	fi
done

printf '\n== fuzz summary (%s per target)\n' "$fuzztime"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
	printf '\n%d target(s) failed; the failing inputs are under each package'"'"'s testdata/fuzz/<target>/:\n' "${#failed[@]}"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
