#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Quick start: install what is missing, build the release flavour, and run a
# short storage-engine benchmark with live progress against DPDK's rte_hash.
# (The appliance itself, on a veth pair between namespaces, joins this script
# with the dataplane.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
scripts/build.sh release
echo
echo "== pollux-bench table: Pollux partition vs rte_hash, one core, 3 s each =="
build/release/pollux-bench table --seconds 3
echo
echo "Next: scripts/test.sh runs every suite; build/release/pollux-bench table --help lists options."
