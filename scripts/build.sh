#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Configure and build one flavour of Pollux into build/<flavour>:
#   debug    clang, ASan + UBSan (aborting on any report), libFuzzer targets
#   release  gcc, -O3, link-time optimisation (the hot path crosses files),
#            assertions off, and profile-guided: an instrumented pollux-bench
#            runs the ring-fed request path (UDP gets and sets through the
#            whole dataplane, no network), then everything is rebuilt with
#            that profile. Code the training does not run (TCP, the control
#            plane) is compiled as without a profile (-fprofile-partial-training).
#            PX_PGO=0 builds without the profile; so does a failed training run,
#            with a line saying so.
# Usage: scripts/build.sh [debug|release] [DIR]   (default: release, build/<flavour>)
#   DIR        another build directory (e.g. a plain and a profile-guided
#              build side by side for tests/bench/ab_ring.sh)
#   PX_C_ARGS  further compiler options for every stage (e.g. -g, -DDP_BURST=32)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
dir=${2:-build/$flavour}
extra_c=${PX_C_ARGS:-}
case $flavour in
  debug)
    opts=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
          "-Dc_args=-fno-sanitize-recover=all $extra_c")
    export CC=${CC_DEBUG:-clang} ;;
  release)
    opts=(--buildtype=release -Db_lto=true)
    export CC=${CC_RELEASE:-gcc} ;;
  *) echo "build.sh: unknown flavour '$flavour' (debug|release)" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$dir")"
log=$dir.log
: >"$log"
fail() {
  grep -E "error|ERROR|FAILED" "$log" | head -40 >&2
  echo "build: $flavour failed, full log in $log" >&2
  exit 1
}
# configure EXTRA_OPTION...: an existing build directory takes the options
# through meson configure (`meson setup --reconfigure` keeps some of the old
# ones, b_lto among them).
configure() {
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "${opts[@]}" "$@" >>"$log" 2>&1
  else
    meson setup "$dir" "${opts[@]}" "$@" >>"$log" 2>&1
  fi
}
# The training: the default ring workload (1M keys, zipf 0.99, 95% gets,
# 16/32 B) with the dataplane on the generating lcore, a write-heavy one with
# longer keys and values, and, with two CPUs, the two-core mode, which runs
# the lcore loop. Without hugepages: it needs none reserved.
train() {
  local b=$dir/pollux-bench
  "$b" ring --inline --no-huge --seconds 2 &&
    "$b" ring --inline --no-huge --seconds 1 --keys 100000 --key-size 40 --value-size 300 --get-ratio 0.5 &&
    { [ "$(nproc)" -lt 2 ] || "$b" ring --no-huge --seconds 1; }
}
final=()
if [ "$flavour" = release ]; then
  final=(-Db_pgo=off "-Dc_args=$extra_c")
  if [ "${PX_PGO:-1}" != 0 ]; then
    configure -Db_pgo=generate "-Dc_args=$extra_c" && ninja -C "$dir" pollux-bench >>"$log" 2>&1 || fail
    find "$dir" -name '*.gcda' -delete # counts of an older build would be merged in
    if train >>"$log" 2>&1; then
      # -Wno-error=coverage-mismatch: a file edited since the training still
      # builds with `ninja -C build/release`, without its stale profile.
      final=(-Db_pgo=use
        "-Dc_args=$extra_c -fprofile-partial-training -Wno-missing-profile -Wno-error=coverage-mismatch")
    else
      echo "build: the training run failed (see $log): release built without a profile" >&2
    fi
  fi
fi
configure "${final[@]}" || fail
ninja -C "$dir" >>"$log" 2>&1 || fail
echo "build: $dir ok"
