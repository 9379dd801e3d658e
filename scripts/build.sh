#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Configure and build one flavour of Pollux into build/<flavour>:
#   debug    clang, ASan + UBSan (aborting on any report), libFuzzer targets
#   release  gcc, -O3, assertions off
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
    opts=(--buildtype=release)
    export CC=${CC_RELEASE:-gcc} ;;
  *) echo "build.sh: unknown flavour '$flavour' (debug|release)" >&2; exit 2 ;;
esac
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
  meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "build: $dir ok"
