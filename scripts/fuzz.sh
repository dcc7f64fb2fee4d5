#!/usr/bin/env bash
# Runs every fuzz target of the module (each func FuzzXxx(*testing.F) in a _test.go file) with
# go test -fuzz for a short, bounded time. CI runs it; a failure leaves the input that broke the
# target under the package's testdata/fuzz/FuzzXxx/, which `go test` then replays as a
# regression seed once it is committed. A failure that writes no input and says only "context
# deadline exceeded" is Go's own race at the end of -fuzztime (golang/go#75804): that target is
# run once more, and fails only if it fails again.
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
		[[ -n $name ]] && targets+=("$dir $pkg $name")
	done < <(cat "$dir"/*_test.go 2>/dev/null | sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\).*/\1/p')
done < <(go list -f '{{.Dir}} {{.ImportPath}}' ./...)
[[ ${#targets[@]} -gt 0 ]] || {
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
}

failed=()
summary=()
# inputs lists the failing inputs go test has written for a target (one per line).
inputs() {
	[[ -d $1/testdata/fuzz/$2 ]] || return 0
	find "$1/testdata/fuzz/$2" -type f | sort
}

# fuzz runs one target, keeping its output in $log.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fuzz() {
	go test -run='^$' -fuzz="^${2}\$" -fuzztime="$fuzztime" -fuzzminimizetime=30s "$1" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

for target in "${targets[@]}"; do
	read -r dir pkg name <<<"$target"
	printf '\n== %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
	start=$SECONDS
	before=$(inputs "$dir" "$name")
	status=ok note=
	if ! fuzz "$pkg" "$name"; then
		status=FAIL
		# Go's fuzz coordinator can fail a target at the end of -fuzztime with a bare "context
		# deadline exceeded" and no failing input written, when the deadline races a worker's
		# shutdown on a loaded machine (golang/go#75804). That says nothing of the target: run
		# it once more. A failure that writes an input, or that happens twice, stays a failure.
		if [[ $(inputs "$dir" "$name") == "$before" ]] && grep -q '^    context deadline exceeded$' "$log"; then
			printf '\n%s: "context deadline exceeded" with no failing input (golang/go#75804); running it once more\n' "$name"
			if fuzz "$pkg" "$name"; then
				status=ok note="  (the 1st run failed with no input written; the 2nd passed)"
			else
				note="  (failed twice)"
			fi
		fi
	fi
	summary+=("$(printf '%-4s  %ss  %s %s%s' "$status" "$((SECONDS - start))" "$pkg" "$name" "$note")")
	if [[ $status == FAIL ]]; then
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
