#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Install everything Pollux needs to build, test and benchmark on Debian 12.
# Idempotent: packages already present are left alone, and apt is only
# touched when something is missing. Must run as root (or with sudo).
set -euo pipefail

PKGS=(
  # build
  meson ninja-build pkg-config gcc clang llvm libclang-rt-14-dev
  libdpdk-dev dpdk liburing-dev libjemalloc-dev libbpf-dev libcmocka-dev
  libinih-dev libjansson-dev libmicrohttpd-dev
  # tests and benchmarks
  memcached libmemcached-tools iproute2 bpftool procps iputils-ping ethtool
  python3 python3-pymemcache python3-pytest python3-prometheus-client
  # the quick start checks /ready with it and tells how to read /metrics
  curl
  # dpdk-telemetry.py: pollux-dp's /pollux/* telemetry commands (operations.md, test_dp_shm)
  dpdk-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
