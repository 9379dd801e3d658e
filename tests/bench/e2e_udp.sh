#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end UDP benchmark over a veth pair, in one run: Debian's memcached
# (1 worker thread, UDP on) and pollux-dp (1 dataplane lcore), each in turn
# in a server namespace, driven by the same pollux-bench udp from a client
# namespace. Reports throughput and server CPU time per request for both,
# and their ratios. Traffic stays between the two namespaces this script
# creates (pxb-srv, pxb-cli; 198.18.1.0/24), which it removes on exit.
#
# usage: tests/bench/e2e_udp.sh [BUILD_DIR] [SECONDS]      (root)
# Server CPU per request:
#   memcached  process CPU time (utime+stime) / requests served
#   pollux     busy_seconds (cycles of lcore loops that did work, TX and its
#              wakeup included) / requests,
#              and, for reference, its process CPU time (which includes the
#              idle polling a DPDK lcore does by design) / requests
set -euo pipefail
BUILD=${1:-build/release}
SECS=${2:-5}
PMD=${PMD:-auto}   # pollux-dp pmd= setting: auto, af_xdp or af_packet
SRV=pxb-srv CLI=pxb-cli VS=pxb-s VC=pxb-c IP_S=198.18.1.1 IP_C=198.18.1.2
OUT=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 0.3
	ip netns del "$SRV" 2>/dev/null || true
	ip netns del "$CLI" 2>/dev/null || true
	rm -rf "$OUT"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" -eq 0 ] || { echo "e2e_udp: run as root" >&2; exit 2; }
for b in "$BUILD/pollux-dp" "$BUILD/pollux-bench"; do
	[ -x "$b" ] || { echo "e2e_udp: $b missing (scripts/build.sh release)" >&2; exit 2; }
done
command -v memcached >/dev/null || { echo "e2e_udp: memcached not installed" >&2; exit 2; }

ip netns del "$SRV" 2>/dev/null || true
ip netns del "$CLI" 2>/dev/null || true
ip netns add "$SRV"
ip netns add "$CLI"
ip link add "$VS" numrxqueues 1 numtxqueues 1 type veth peer name "$VC" numrxqueues 1 numtxqueues 1
ip link set "$VS" netns "$SRV"
ip link set "$VC" netns "$CLI"
ip -n "$SRV" link set "$VS" up
ip -n "$SRV" link set lo up
ip -n "$CLI" link set "$VC" up
ip -n "$CLI" link set lo up
ip -n "$CLI" addr add "$IP_C/24" dev "$VC"
# veth hands AF_XDP/AF_PACKET uncomputed (partial) checksums otherwise
ip netns exec "$CLI" ethtool -K "$VC" tx off >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
BENCH=(udp --server "$IP_S" --seconds "$SECS" --keys 100000 --key-size 16 --value-size 32
       --dist zipf:0.99 --get-ratio 0.95 --conns 4 --depth 16 --json)

# --- memcached: the kernel's UDP stack, 1 worker thread ---
ip -n "$SRV" addr add "$IP_S/24" dev "$VS"
ip netns exec "$SRV" memcached -u root -l "$IP_S" -p 11211 -U 11211 -t 1 -m 256 &
MC=$!
PIDS+=("$MC")
sleep 0.5
t0=$(cpu_ticks "$MC")
ip netns exec "$CLI" "$BUILD/pollux-bench" "${BENCH[@]}" >"$OUT/mc.json"
t1=$(cpu_ticks "$MC")
kill "$MC"
wait "$MC" 2>/dev/null || true
ip -n "$SRV" addr del "$IP_S/24" dev "$VS"
ip netns exec "$CLI" ip neigh flush dev "$VC"

# --- pollux-dp: 1 dataplane lcore on the same veth ---
HUGE=yes
[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -ge 256 ] || HUGE=no
# A region path of its own that never exists: it must not attach to the
# pollux-cp of a running appliance (the default /dev/shm/pollux).
ip netns exec "$SRV" "$BUILD/pollux-dp" iface="$VS" ip="$IP_S" lcores=1 mem_mb=256 pmd="$PMD" \
	hugepages="$HUGE" shm_path="$OUT/no-region" >"$OUT/dp.log" 2>&1 &
DP=$!
PIDS+=("$DP")
for _ in $(seq 100); do grep -q "ready:" "$OUT/dp.log" && break; sleep 0.1; done
grep -q "ready:" "$OUT/dp.log" || { cat "$OUT/dp.log" >&2; exit 1; }
p0=$(cpu_ticks "$DP")
ip netns exec "$CLI" "$BUILD/pollux-bench" "${BENCH[@]}" >"$OUT/px.json"
p1=$(cpu_ticks "$DP")
kill -INT "$DP"
wait "$DP" 2>/dev/null || true

/usr/bin/python3 - "$OUT" "$HZ" "$t0" "$t1" "$p0" "$p1" <<'PY'
import json, re, sys
out, hz, t0, t1, p0, p1 = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])
mc = json.load(open(out + "/mc.json"))
px = json.load(open(out + "/px.json"))
log = open(out + "/dp.log").read()
busy = float(re.search(r"busy_seconds=([0-9.]+)", log).group(1))
served = lambda r: r["preload_sets"] + r["requests"]
mc_cpu = (t1 - t0) / hz / served(mc)
px_proc = (p1 - p0) / hz / served(px)
px_busy = busy / served(px)
res = {
    "bench": "e2e_udp", "seconds": mc["seconds"],
    "memcached_rps": mc["rps"], "pollux_rps": px["rps"],
    "rps_ratio": px["rps"] / mc["rps"],
    "memcached_cpu_us_per_req": mc_cpu * 1e6,
    "pollux_busy_cpu_us_per_req": px_busy * 1e6,
    "pollux_process_cpu_us_per_req": px_proc * 1e6,
    "cpu_ratio": px_busy / mc_cpu,
    "memcached_p99_us": mc["p99_us"], "pollux_p99_us": px["p99_us"],
    "errors": mc["errors"] + px["errors"],
}
print("end to end over veth, 1 server core each, same client (pollux-bench udp, closed loop)")
print("                 %12s %12s %8s" % ("memcached", "pollux", "ratio"))
print("  req/s          %12.0f %12.0f %8.2f" % (mc["rps"], px["rps"], res["rps_ratio"]))
print("  server CPU/req %10.2fus %10.2fus %8.3f  (pollux: busy cycles; process incl. polling %.2fus)"
      % (mc_cpu * 1e6, px_busy * 1e6, res["cpu_ratio"], px_proc * 1e6))
print("  p99 latency    %10.0fus %10.0fus" % (mc["p99_us"], px["p99_us"]))
print(json.dumps(res))
sys.exit(1 if res["errors"] else 0)
PY
