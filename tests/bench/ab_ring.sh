#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A/B of the ring-fed request path between two builds, in one run: the
# machine's speed moves by a third within minutes here, so only runs that
# alternate (A, B, A, B, ...) in the same minutes compare. Builds revision
# BASE (its scripts/build.sh release) in a scratch git worktree, or takes
# a build directory, then runs `pollux-bench ring` of each build in turn and
# prints every pair and the medians.
#
# usage: tests/bench/ab_ring.sh BASE [NEW_BUILD] [RUNS] [-- BENCH ARGS...]
#   BASE       a git revision (built in a worktree under $TMPDIR) or a build dir
#   NEW_BUILD  build dir of B (default build/release)
#   RUNS       pairs of runs (default 7)
#   BENCH ARGS pollux-bench ring options (default: --inline --seconds 2)
# e.g. tests/bench/ab_ring.sh HEAD~1
#      tests/bench/ab_ring.sh build/b32 build/release 9       (any two builds)
#      tests/bench/ab_ring.sh HEAD~1 build/release 5 -- --seconds 3   (two-core mode)
# Exit status: 0, 1 when a run fails (or gives bad replies), 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/../.."
die() { echo "ab_ring: $*" >&2; exit 2; }
[ $# -ge 1 ] || die "usage: tests/bench/ab_ring.sh BASE [NEW_BUILD] [RUNS] [-- BENCH ARGS...]"
BASE=$1; shift
NEW=build/release RUNS=7
[ $# -gt 0 ] && [ "$1" != -- ] && { NEW=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { RUNS=$1; shift; }
[ $# -gt 0 ] && [ "$1" = -- ] && shift
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--inline --seconds 2)
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive count"
[ -x "$NEW/pollux-bench" ] || die "no $NEW/pollux-bench (scripts/build.sh release)"

WT=
cleanup() { [ -z "$WT" ] || git worktree remove --force "$WT" >/dev/null 2>&1 || true; }
trap cleanup EXIT
if [ -x "$BASE/pollux-bench" ]; then
	A=$BASE/pollux-bench
else
	rev=$(git rev-parse --verify "$BASE^{commit}") || die "'$BASE' is neither a build dir nor a revision"
	WT=$(mktemp -d "${TMPDIR:-/tmp}/pollux-ab.XXXXXX")
	git worktree add --detach "$WT" "$rev" >/dev/null
	echo "ab_ring: building $BASE ($(git rev-parse --short "$rev")) in $WT" >&2
	# its own scripts/build.sh: a revision is measured as it was built then
	# (profile-guided from the commit that made release builds so)
	(cd "$WT" && scripts/build.sh release >/dev/null) || die "building $BASE failed"
	A=$WT/build/release/pollux-bench
fi
B=$NEW/pollux-bench

# Mreq/s of one run (the "pollux" line), or nothing when the run failed.
run() {
	local out
	out=$("$1" ring "${ARGS[@]}" 2>/dev/null) || return 1
	awk '$1 == "pollux" { print $2; exit }' <<<"$out"
}
as=() bs=()
for i in $(seq "$RUNS"); do
	a=$(run "$A") || { echo "ab_ring: run $i of A failed" >&2; exit 1; }
	b=$(run "$B") || { echo "ab_ring: run $i of B failed" >&2; exit 1; }
	echo "run $i: A $a  B $b"
	as+=("$a") bs+=("$b")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ma=$(median "${as[@]}") mb=$(median "${bs[@]}")
echo "median of $RUNS: A $ma  B $mb  B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }') (M requests/s, pollux-bench ring ${ARGS[*]})"
