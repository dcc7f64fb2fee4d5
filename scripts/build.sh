#!/usr/bin/env bash
# Release build of the s2s-authorizer binary. CI and the Dockerfile both run this script, so
# that every released binary carries the same flags; change build flags here and nowhere else.
set -euo pipefail

# The release must not be built with a Go whose standard library has known vulnerabilities;
# 1.27.3 is the oldest release without them.
readonly MIN_GO=1.27.3
readonly DEFAULT_OUT=bin/s2s-authorizer

usage() {
	cat <<EOF
usage: scripts/build.sh [OUTPUT]

Build the static release binary of s2s-authorizer (package ./function).

OUTPUT   where to write the binary, relative to the current directory
         (default: ${DEFAULT_OUT} in the repository root)

Environment:
  VERSION   version stamped into the binary (main.version); default: 'git describe --tags
            --always --dirty' when this is a git work tree, else 'dev'
  GOOS      target operating system (default: linux)
  GOARCH    target architecture (default: amd64)

The binary is built with CGO_ENABLED=0, -trimpath and -ldflags '-s -w -X main.version=VERSION'.
When the Go on PATH is older than go${MIN_GO}, GOTOOLCHAIN=go${MIN_GO} is exported so that the go
command fetches that toolchain once (about 76 MB) and builds with it.
EOF
}

die() {
	printf 'build.sh: %s\n' "$*" >&2
	exit 2
}

# version_ge A B: true when Go version A (as in "1.26.8", "1.27", "1.27rc1") is at least B.
# A pre-release (rc/beta) counts as older than the release it precedes.
version_ge() {
	local a=$1 b=$2 i x y
	local -a av bv
	IFS=. read -r -a av <<<"$a"
	IFS=. read -r -a bv <<<"$b"
	for i in 0 1 2; do
		x=${av[i]:-0}
		y=${bv[i]:-0}
		# "27rc1" is below 27 itself: compare the numeric part, then treat a suffix as lower.
		local xn=${x%%[!0-9]*} yn=${y%%[!0-9]*}
		xn=${xn:-0}
		yn=${yn:-0}
		if ((10#$xn != 10#$yn)); then
			((10#$xn > 10#$yn))
			return
		fi
		if [[ $x != "$xn" || $y != "$yn" ]]; then
			# Same number, at least one with a pre-release suffix.
			[[ $x == "$xn" ]]
			return
		fi
	done
	return 0
}

out=$DEFAULT_OUT
case $# in
0) ;;
1)
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-*) die "unknown option '$1' (see --help)" ;;
	/*) out=$1 ;;
	*) out=$PWD/$1 ;;
	esac
	;;
*) die "expected at most one argument, the output path (see --help)" ;;
esac

command -v go >/dev/null 2>&1 || die "go not found on PATH"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ -z ${VERSION:-} ]]; then
	VERSION=dev
	if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
	fi
fi

# "go env GOVERSION" reports the toolchain the go command would really use, after any switch
# that GOTOOLCHAIN or go.mod already asks for; "devel" builds are taken as new enough.
current=$(go env GOVERSION)
current_num=${current#go}
if [[ $current != devel* ]] && ! version_ge "$current_num" "$MIN_GO"; then
	export GOTOOLCHAIN=go${MIN_GO}
	current=$(go env GOVERSION)
	[[ $current == "go${MIN_GO}" ]] || die "could not switch to go${MIN_GO} (go reports ${current}); is the module proxy reachable?"
fi

export CGO_ENABLED=0
export GOOS=${GOOS:-linux}
export GOARCH=${GOARCH:-amd64}

mkdir -p "$(dirname "$out")"
go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "$out" ./function

size=$(wc -c <"$out")
size=${size//[[:space:]]/}
printf 'output:  %s\nsize:    %s bytes\ngo:      %s (%s/%s)\nversion: %s\n' \
	"$out" "$size" "$current" "$GOOS" "$GOARCH" "$VERSION"
