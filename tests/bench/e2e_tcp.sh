#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End-to-end TCP benchmark over a veth pair, in one run: Debian's memcached
# (1 worker thread, the kernel's TCP) and pollux-dp (1 dataplane lcore, its
# own TCP), each in a server namespace, driven by the same pollux-bench tcp
# from a client namespace (kernel TCP, io_uring). Two rows: no pipelining
# (16 connections x 1 request in flight) and pipelined (4 connections x 16).
# Every row starts a fresh server, preloads the keys at the row's depth and
# measures for SECONDS. Reports requests/s, server CPU time per request,
# p50/p99 and the ratios pollux/memcached, because the machine is shared and
# noisy. Traffic stays between the two namespaces this script creates
# (pxt-srv-PID, pxt-cli-PID; 198.18.2.0/24), which it removes on exit.
#
# usage: tests/bench/e2e_tcp.sh [BUILD_DIR] [SECONDS]      (root)
#   SIDES=memcached   run memcached only (the dataplane without TCP yet)
#   PMD=af_packet     pollux-dp's driver (auto, af_xdp or af_packet)
#   ROWS="1x16 4x16"  connections x depth per row (default "16x1 4x16")
#   REPEAT=N          run every row N times, memcached and pollux in turn
#                     (default 1); a summary line gives each row's median
#   RX_CPU=own        each side's kernel receive work runs on its own CPU
#                     (RPS on both veth ends), as it would on two hosts with
#                     NICs; default: veth runs the receiver's stack in the
#                     sender's context, so each server is charged the
#                     client's TCP receive of its replies (docs/performance.md)
#   IO=epoll          the client's I/O engine (pollux-bench tcp --io; default
#                     uring: one system call per wakeup for all connections,
#                     so the one client thread bounds the rate less)
#   BENCH_ARGS="..."  further pollux-bench tcp options (e.g. --loop open --rate 50000)
#   KEEP=DIR          keep each row's pollux-bench JSON and pollux-dp log in DIR
#   PX_SETTINGS="k=v ..."  further pollux-dp settings (e.g. idle_spin_us=5)
#   SERVER_CPU=N CLIENT_CPU=M   CPUs the servers and the client are pinned to
#                     (default: the last and the first CPU this script may use;
#                     no pinning with one CPU). pollux-dp puts its lcore on the
#                     first CPU it may use, so both servers get exactly one CPU.
# Server CPU per request, over the whole pollux-bench run of a row (preload
# sets + measured requests, all at the row's depth):
#   memcached  process CPU time (utime+stime from /proc/PID/stat) / requests
#   pollux     process CPU time / requests, the same method; and busy_seconds
#              (cycles of dataplane loops that did work, from its exit
#              counters) / requests, which leaves out idle polling
# Exit status: 0, or 1 when a row saw a wrong or missing reply (pollux-bench
# fails the row) or a server did not start, 2 on bad usage.
set -euo pipefail
BUILD=${1:-build/release}
SECS=${2:-5}
SIDES=${SIDES:-both}
REPEAT=${REPEAT:-1}
RX_CPU=${RX_CPU:-sender}
IO=${IO:-uring}
PMD=${PMD:-auto}
ROWS=${ROWS:-"16x1 4x16"}
SRV=pxt-srv-$$ CLI=pxt-cli-$$ VS=pxt-s$$ VC=pxt-c$$ IP_S=198.18.2.1 IP_C=198.18.2.2
OUT=$(mktemp -d)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && sleep 0.3
	ip netns del "$SRV" 2>/dev/null || true
	ip netns del "$CLI" 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$OUT"/* "$KEEP"/ 2>/dev/null; fi
	rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "e2e_tcp: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "run as root"
case $SIDES in both|memcached) ;; *) die "SIDES must be both or memcached" ;; esac
case $RX_CPU in sender|own) ;; *) die "RX_CPU must be sender or own" ;; esac
case $IO in epoll|uring) ;; *) die "IO must be epoll or uring" ;; esac
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive count"
NEED=("$BUILD/pollux-bench")
[ "$SIDES" = memcached ] || NEED+=("$BUILD/pollux-dp")
for b in "${NEED[@]}"; do
	[ -x "$b" ] || die "$b missing (scripts/build.sh release)"
done
command -v memcached >/dev/null || die "memcached not installed"

ip netns add "$SRV"
ip netns add "$CLI"
ip link add "$VS" numrxqueues 1 numtxqueues 1 netns "$SRV" type veth \
	peer name "$VC" numrxqueues 1 numtxqueues 1 netns "$CLI"
for ns in "$SRV" "$CLI"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
	ip -n "$ns" link set lo up
done
ip -n "$SRV" link set "$VS" up
ip -n "$CLI" link set "$VC" up
ip -n "$CLI" addr add "$IP_C/24" dev "$VC"
# veth hands AF_XDP/AF_PACKET uncomputed (partial) checksums otherwise
ip netns exec "$CLI" ethtool -K "$VC" tx off >/dev/null

HZ=$(getconf CLK_TCK)
CPUS=($(/usr/bin/python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)))'))
if [ "${#CPUS[@]}" -ge 2 ]; then
	SERVER_CPU=${SERVER_CPU:-${CPUS[-1]}} CLIENT_CPU=${CLIENT_CPU:-${CPUS[0]}}
fi
on_cpu() { if [ -n "${1:-}" ]; then echo taskset -c "$1"; fi; }
SRV_PIN=($(on_cpu "${SERVER_CPU:-}")) CLI_PIN=($(on_cpu "${CLIENT_CPU:-}"))
if [ "$RX_CPU" = own ]; then
	[ -n "${SERVER_CPU:-}" ] && [ "$SERVER_CPU" != "$CLIENT_CPU" ] ||
		die "RX_CPU=own needs two CPUs, one for each side"
	# RPS: a frame arriving on a veth end is processed (IP, TCP or XDP) on
	# the CPU of the side it arrives at, not in the sender's send call.
	rps_mask() { printf '%x' $((1 << $1)); }
	ip netns exec "$SRV" sh -c "echo $(rps_mask "$SERVER_CPU") > /sys/class/net/$VS/queues/rx-0/rps_cpus"
	ip netns exec "$CLI" sh -c "echo $(rps_mask "$CLIENT_CPU") > /sys/class/net/$VC/queues/rx-0/rps_cpus"
fi
# utime and stime of a process, in clock ticks
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# bench NAME CONNS DEPTH: one pollux-bench tcp run against the server at
# SERVER_PID, with the server's CPU ticks before and after in NAME.cpu.
bench() {
	local name=$1 conns=$2 depth=$3 t0 t1 rc=0
	t0=$(cpu_ticks "$SERVER_PID")
	ip netns exec "$CLI" "${CLI_PIN[@]}" "$BUILD/pollux-bench" tcp --server "$IP_S" --seconds "$SECS" \
		--keys 100000 --key-size 16 --value-size 32 --dist zipf:0.99 --get-ratio 0.95 \
		--conns "$conns" --depth "$depth" --io "$IO" ${BENCH_ARGS:-} --json >"$OUT/$name.json" || rc=$?
	t1=$(cpu_ticks "$SERVER_PID")
	echo "$t0 $t1" >"$OUT/$name.cpu"
	[ "$rc" -eq 0 ] || echo "e2e_tcp: $name: pollux-bench tcp exited $rc" >&2
	# ip netns exec execs the server: SERVER_PID is the server itself.
	return "$rc"
}

stop_server() {
	kill "${1:--TERM}" "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

FAIL=0
RUNS=()
for row in $ROWS; do
	[[ $row =~ ^[0-9]+x[0-9]+$ ]] || die "bad row '$row' (CONNSxDEPTH)"
	for i in $(seq "$REPEAT"); do RUNS+=("$row.$i"); done
done
for run in "${RUNS[@]}"; do
	row=${run%.*}
	conns=${row%x*} depth=${row#*x}

	# --- memcached: the kernel's TCP, 1 worker thread, a fresh process ---
	ip -n "$SRV" addr add "$IP_S/24" dev "$VS"
	ip netns exec "$SRV" "${SRV_PIN[@]}" memcached -u root -l "$IP_S" -p 11211 -U 0 -t 1 -m 256 -c 4096 &
	SERVER_PID=$!
	sleep 0.5
	bench "mc-$run" "$conns" "$depth" || FAIL=1
	stop_server
	ip -n "$SRV" addr del "$IP_S/24" dev "$VS"
	ip netns exec "$CLI" ip neigh flush dev "$VC"
	[ "$SIDES" = both ] || continue

	# --- pollux-dp: 1 dataplane lcore on the same veth, a fresh process ---
	HUGE=yes
	[ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" \
		-ge 256 ] || HUGE=no
	# A region path of its own that never exists: it must not attach to the
	# pollux-cp of a running appliance (the default /dev/shm/pollux).
	ip netns exec "$SRV" "${SRV_PIN[@]}" "$BUILD/pollux-dp" iface="$VS" ip="$IP_S" lcores=1 mem_mb=256 \
		pmd="$PMD" hugepages="$HUGE" shm_path="$OUT/no-region" ${PX_SETTINGS:-} >"$OUT/px-$run.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 100); do grep -q "ready:" "$OUT/px-$run.log" && break; sleep 0.1; done
	if ! grep -q "ready:" "$OUT/px-$run.log"; then
		cat "$OUT/px-$run.log" >&2
		echo "e2e_tcp: pollux-dp did not start" >&2
		exit 1
	fi
	bench "px-$run" "$conns" "$depth" || FAIL=1
	stop_server -INT
	ip netns exec "$CLI" ip neigh flush dev "$VC"
done

SERVER_CPU=${SERVER_CPU:-} CLIENT_CPU=${CLIENT_CPU:-} RX_CPU=$RX_CPU IO=$IO \
	/usr/bin/python3 - "$OUT" "$HZ" "$SECS" "$SIDES" "${RUNS[@]}" <<'PY' || FAIL=1
import json, os, re, statistics, sys
out, hz, secs, sides, runs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:]

def load(name):
    """The bench JSON of a row and the server CPU seconds it took, or None."""
    try:
        r = json.load(open("%s/%s.json" % (out, name)))
    except (OSError, ValueError):
        return None
    u0, s0, u1, s1 = map(int, open("%s/%s.cpu" % (out, name)).read().split())
    r["served"] = r["preload_sets"] + r["requests"]
    per = lambda ticks: ticks / hz / r["served"] * 1e6 if r["served"] else float("nan")
    r["cpu_us"], r["sys_us"] = per(u1 + s1 - u0 - s0), per(s1 - s0)
    return r

def busy_us(row, r):
    try:
        log = open("%s/px-%s.log" % (out, row)).read()
        busy = sum(float(x) for x in re.findall(r"busy_seconds=([0-9.]+)", log))
    except OSError:
        return None
    return busy / r["served"] * 1e6 if r and r["served"] else None

def tcp_counters(row):
    """Pollux's TCP counters at exit, summed over lcores (the zero ones are not printed)."""
    try:
        log = open("%s/px-%s.log" % (out, row)).read()
    except OSError:
        return {}
    c = {}
    for line in re.findall(r"lcore \d+ tcp:(.*)", log):
        for k, v in re.findall(r"(tcp_\w+)=(\d+)", line):
            c[k] = c.get(k, 0) + int(v)
    return c

def ratio(a, b):
    return a / b if a is not None and b else None

def fmt(v, f="%.2f"):
    return "-" if v is None else f % v

results, bad = [], 0
print("end to end over veth, 1 server core each, same client (pollux-bench tcp --io %s)%s; kernel "
      "receive work on %s" % (os.environ["IO"],
                      ", server on CPU %s, client on CPU %s" % (os.environ["SERVER_CPU"],
                       os.environ["CLIENT_CPU"]) if os.environ.get("SERVER_CPU") else "",
                      "the receiving side's CPU (RX_CPU=own)" if os.environ["RX_CPU"] == "own"
                      else "the sender's CPU (veth's default)"))
print("%-9s %-9s %10s %8s %8s %8s %8s %8s  %s" % ("conns x", "server", "req/s", "CPU/req",
      "of it sys", "p50", "p99", "errors", "(CPU: process utime+stime; pollux busy in brackets)"))
for run in runs:
    row, rep = run.rsplit(".", 1)
    conns, depth = row.split("x")
    mc = load("mc-" + run)
    px = load("px-" + run) if sides == "both" else None
    pb = busy_us(run, px) if px else None
    for name, r in (("memcached", mc), ("pollux", px)):
        if r is None:
            if name == "memcached" or sides == "both":
                print("%-9s %-9s  no result" % (row, name))
                bad += 1
            continue
        bad += r["failures"]
        extra = " [busy %.2fus]" % pb if name == "pollux" and pb is not None else ""
        print("%-9s %-9s %10.0f %6.2fus %7.2fus %6.0fus %6.0fus %8d%s" % (
            row, name, r["rps"], r["cpu_us"], r["sys_us"], r["p50_us"], r["p99_us"],
            r["failures"], extra))
    res = {"row": row, "repeat": int(rep), "conns": int(conns), "depth": int(depth)}
    if mc:
        res.update(memcached_rps=mc["rps"], memcached_cpu_us_per_req=mc["cpu_us"],
                   memcached_sys_us_per_req=mc["sys_us"],
                   memcached_p50_us=mc["p50_us"], memcached_p99_us=mc["p99_us"],
                   memcached_failures=mc["failures"])
    if px:
        res.update(pollux_rps=px["rps"], pollux_cpu_us_per_req=px["cpu_us"],
                   pollux_sys_us_per_req=px["sys_us"],
                   pollux_busy_us_per_req=pb, pollux_p50_us=px["p50_us"],
                   pollux_p99_us=px["p99_us"], pollux_failures=px["failures"],
                   rps_ratio=ratio(px["rps"], mc and mc["rps"]),
                   cpu_ratio=ratio(px["cpu_us"], mc and mc["cpu_us"]),
                   busy_cpu_ratio=ratio(pb, mc and mc["cpu_us"]))
        tc = tcp_counters(run)
        res.update(pollux_tcp_segs_in_per_req=tc.get("tcp_rx_segs", 0) / px["served"],
                   pollux_tcp_segs_out_per_req=tc.get("tcp_tx_segs", 0) / px["served"],
                   pollux_tcp_retransmits=tc.get("tcp_retransmits", 0),
                   pollux_tcp_ooo_segs=tc.get("tcp_ooo_segs", 0),
                   pollux_tcp_resets_tx=tc.get("tcp_resets_tx", 0))
        print("%-9s pollux tcp: %.2f segments in, %.2f out per request; %d retransmits, "
              "%d out of order, %d resets sent" % (
            row, res["pollux_tcp_segs_in_per_req"], res["pollux_tcp_segs_out_per_req"],
            res["pollux_tcp_retransmits"], res["pollux_tcp_ooo_segs"],
            res["pollux_tcp_resets_tx"]))
        print("%-9s ratios    req/s %s  CPU/req %s (busy %s)  p99 %s   (pollux / memcached)" % (
            row, fmt(res["rps_ratio"]), fmt(res["cpu_ratio"], "%.3f"),
            fmt(res["busy_cpu_ratio"], "%.3f"), fmt(ratio(px["p99_us"], mc and mc["p99_us"]))))
    results.append(res)
# Medians over the repeats of a row: the host's state moves either
# server's figures from one run to the next.
summary = []
for row in dict.fromkeys(r["row"] for r in results):
    rs = [r for r in results if r["row"] == row]
    if len(rs) < 2:
        continue
    med = lambda k: (statistics.median(r[k] for r in rs)
                     if all(r.get(k) is not None for r in rs) else None)
    span = lambda k: ("%.3f-%.3f" % (min(r[k] for r in rs), max(r[k] for r in rs))
                      if all(r.get(k) is not None for r in rs) else "-")
    m = {"row": row, "runs": len(rs)}
    for k in ("memcached_rps", "memcached_cpu_us_per_req", "pollux_rps", "pollux_cpu_us_per_req",
              "pollux_busy_us_per_req", "rps_ratio", "cpu_ratio", "busy_cpu_ratio"):
        m[k] = med(k)
    summary.append(m)
    print("%-9s median of %d: memcached %s us, pollux %s us (busy %s) per request; ratios "
          "req/s %s  CPU/req %s (range %s)  busy %s" % (
        row, len(rs), fmt(m["memcached_cpu_us_per_req"]), fmt(m["pollux_cpu_us_per_req"]),
        fmt(m["pollux_busy_us_per_req"]), fmt(m["rps_ratio"]), fmt(m["cpu_ratio"], "%.3f"),
        span("cpu_ratio"), fmt(m["busy_cpu_ratio"], "%.3f")))
print(json.dumps({"bench": "e2e_tcp", "seconds": secs, "rx_cpu": os.environ["RX_CPU"],
                  "client_io": os.environ["IO"],
                  "rows": results, "medians": summary}))
sys.exit(1 if bad else 0)
PY
exit "$FAIL"
