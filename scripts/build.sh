#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Configure and build one flavour of Pollux into build/<flavour>:
#   debug    clang, ASan + UBSan (aborting on any report), libFuzzer targets
#   release  gcc, -O3, link-time optimisation (the hot path crosses files), assertions off
# Usage: scripts/build.sh [debug|release]   (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
dir=build/$flavour
case $flavour in
  debug)
    opts=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
          "-Dc_args=-fno-sanitize-recover=all")
    export CC=${CC_DEBUG:-clang} ;;
  release)
    opts=(--buildtype=release -Db_lto=true)
    export CC=${CC_RELEASE:-gcc} ;;
  *) echo "build.sh: unknown flavour '$flavour' (debug|release)" >&2; exit 2 ;;
esac
mkdir -p build
log=build/$flavour.log
# An existing build directory takes the options through meson configure:
# `meson setup --reconfigure` keeps some of the old ones (b_lto among them).
if [ -f "$dir/build.ninja" ]; then
  configure=(meson configure "$dir" "${opts[@]}")
else
  configure=(meson setup "$dir" "${opts[@]}")
fi
if ! "${configure[@]}" >"$log" 2>&1 || ! ninja -C "$dir" >>"$log" 2>&1; then
  grep -E "error|ERROR|FAILED" "$log" | head -40 >&2
  echo "build: $flavour failed, full log in $log" >&2
  exit 1
fi
echo "build: $dir ok"
