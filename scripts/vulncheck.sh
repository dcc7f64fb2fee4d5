#!/usr/bin/env bash
# Checks the module for known vulnerabilities with govulncheck, offline: the vulnerability
# database is built from the golang.org/x/vulndb module (fetched through the module proxy like
# any module) with its cmd/indexdb, and cached under .cache/vulndb/. The code is judged as the
# release build compiles it: with the toolchain scripts/build.sh uses, for linux/amd64.
#
# Exit status: 0 when no vulnerable code is reachable; 3 when govulncheck finds a vulnerability
# the code calls (each printed with its call stack); anything else is an error of the check.
set -euo pipefail

readonly GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
readonly VULNDB_MODULE=golang.org/x/vulndb
readonly VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
# The release toolchain; keep it equal to MIN_GO in scripts/build.sh.
readonly RELEASE_GO=go1.27.3

case ${1:-} in
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	exit 0
	;;
"") ;;
*)
	echo "vulncheck.sh: no arguments expected (see --help)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
db=$root/.cache/vulndb/$VULNDB_VERSION

if [[ ! -f $db/index/db.json ]]; then
	echo "== building the vulnerability database from $VULNDB_MODULE@$VULNDB_VERSION"
	start=$SECONDS
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# Outside this module, so that neither go.mod nor go.sum is touched.
	src=$(cd "$tmp" && GOWORK=off go mod download -json "$VULNDB_MODULE@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $src && -d $src/data/osv ]] || {
		echo "vulncheck.sh: $VULNDB_MODULE@$VULNDB_VERSION has no data/osv" >&2
		exit 1
	}
	(cd "$tmp" && GOWORK=off go run "$VULNDB_MODULE/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp/db")
	mkdir -p "$(dirname "$db")"
	rm -rf "$db"
	mv "$tmp/db" "$db"
	echo "   $(find "$db/ID" -name '*.json' | wc -l) entries in $((SECONDS - start))s"
fi

echo "== govulncheck (the $RELEASE_GO standard library, linux/amd64, as scripts/build.sh builds)"
start=$SECONDS
# Installed rather than run with go run, which would turn its exit status 3 into 1; built with
# the release toolchain, since govulncheck type-checks that toolchain's standard library.
bin=$root/.cache/vulncheck-bin/$RELEASE_GO
GOTOOLCHAIN=$RELEASE_GO GOBIN=$bin go install "$GOVULNCHECK"
status=0
out=$(GOTOOLCHAIN=$RELEASE_GO CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \
	"$bin/govulncheck" -db "file://$db" -show verbose ./... 2>&1) || status=$?
printf '%s\n' "$out"
echo "   took $((SECONDS - start))s"

# The release toolchain must really have been used: the Go on PATH may be older and vulnerable.
if ! grep -q "the $RELEASE_GO standard library" <<<"$out"; then
	echo "vulncheck.sh: govulncheck did not scan the $RELEASE_GO standard library (could GOTOOLCHAIN switch?)" >&2
	exit 1
fi

case $status in
0)
	cat <<'EOF'

== verdict: no vulnerable code is reachable.
Findings listed above under "Package Results" or "Module Results" (if any) are in packages this
module imports without calling the vulnerable functions, or in modules it requires without
importing the vulnerable packages: govulncheck's call-graph analysis found no path from this
code to them, so they do not affect the release binary. Upgrading those modules still clears
the list.
EOF
	;;
3)
	cat <<'EOF' >&2

== verdict: the code calls vulnerable functions (the "Symbol Results" above, with call stacks).
Upgrade the module (or the toolchain) to the "Fixed in" version, or, if the call cannot be
reached with attacker-controlled input, explain why here before accepting it.
EOF
	;;
*)
	echo "vulncheck.sh: govulncheck failed (exit $status)" >&2
	;;
esac
exit "$status"
