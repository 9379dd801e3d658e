#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write-ahead log benchmark, in one run on a veth pair (tests/lib/pxnet.py):

  writes     pollux-bench udp, sets only (closed loop, 4 sockets x depth 16,
             uniform keys) against pollux-dp with wal_mode=off, async and
             sync in turn: sets per second, latency p50/p99, and the WAL's
             own figures (records, bytes, fsyncs, fsync p50/p99).
  warm       ITEMS keys (default 2M) preloaded with wal_mode=async, pollux-dp
             killed -9 and restarted: recovery time and records per second,
             items after the restart, and a get-only run over every key that
             must hit (values checked byte for byte by pollux-bench); then a
             snapshot of it, timed, and the disk use after.

Prints one JSON object. The machine is shared: figures are per run; the
wal_mode=off figure in the same run is the baseline for the others.

usage: wal_bench.py BUILD_DIR [--seconds S] [--items N] [--skip-warm]   (root)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.dont_write_bytecode = True
RING_KB = os.environ.get("WAL_RING_KB", "4096")


def bench(net, build, extra):
    argv = [os.path.join(build, "pollux-bench"), "udp", "--server", "198.18.0.1", "--json",
            "--conns", "4", "--depth", "16", "--dist", "uniform"] + extra
    r = net.run_client(argv, check=False, timeout=600)
    line = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError("pollux-bench: %s" % r.stdout[-2000:])
    return json.loads(line[-1])


def wal_status(cp):
    return json.loads(cp.ctl("--json", "wal", "status").stdout)


def writes(tw, build, tmp, mode, seconds):
    os.makedirs(os.path.join(tmp, mode))
    cp = tw.ControlPlane(os.path.join(tmp, mode), mode, ["wal_ring_kb=" + RING_KB]).start()
    try:
        with tw.pxnet.Appliance(queues=1) as net:
            net.start_dp(os.path.join(build, "pollux-dp"),
                         ["lcores=1", "mem_mb=64", "shm_path=" + cp.shm, "wal_mode=" + mode,
                          "idle_sleep_max_us=0"])
            cp.wait_ready()
            b = bench(net, build, ["--get-ratio", "0", "--keys", "100000", "--no-preload",
                                   "--seconds", str(seconds)])
            st = wal_status(cp)
            net.stop_dp()
        out = {"sets_per_s": round(b["rps"]), "p50_us": b["p50_us"], "p99_us": b["p99_us"],
               "p999_us": b["p999_us"], "timeouts": b["timeouts"],
               "server_errors": b["server_errors"]}
        if mode != "off":
            out.update({"wal_records": st["records"], "wal_bytes": st["bytes"],
                        "wal_writes": st["writes"], "fsyncs": st["fsyncs"],
                        "fsync_p50_us": st["fsync_latency_us"]["p50"],
                        "fsync_p99_us": st["fsync_latency_us"]["p99"],
                        "records_per_write": round(st["records"] / max(st["writes"], 1), 1)})
        return out
    finally:
        cp.stop()


def warm(tw, build, tmp, items):
    os.makedirs(os.path.join(tmp, "warm"))
    cp = tw.ControlPlane(os.path.join(tmp, "warm"), "async", ["wal_segment_mb=256", "wal_ring_kb=" + RING_KB]).start()
    mem = max(64, items * 80 // 2 // (1 << 20) + 32)
    dp_args = ["lcores=2", "mem_mb=%d" % mem, "shm_path=" + cp.shm, "wal_mode=async",
               "hugepages=no"]
    try:
        with tw.pxnet.Appliance(queues=2) as net:
            dp = os.path.join(build, "pollux-dp")
            net.start_dp(dp, dp_args)
            cp.wait_ready()
            t0 = time.monotonic()
            b = bench(net, build, ["--get-ratio", "1", "--keys", str(items), "--requests", "1000",
                                   "--partitions", "2", "--timeout-ms", "2000"])
            load_s = time.monotonic() - t0
            assert b["preload_stored"] == items, b
            tw.wait_for(lambda: all(l["lag"] == 0 for l in wal_status(cp)["lcores"]), 30)
            disk = wal_status(cp)["disk_bytes"]
            net.dp.proc.kill()
            net.stop_dp(10)
            t1 = time.monotonic()
            net.start_dp(dp, dp_args)
            cp.wait_ready(300)
            ready_s = time.monotonic() - t1
            st = wal_status(cp)
            items_after = json.loads(cp.ctl("--json", "stats").stdout)["total"]["curr_items"]
            g = bench(net, build, ["--get-ratio", "1", "--keys", str(items), "--no-preload",
                                   "--seconds", "3", "--partitions", "2"])
            t2 = time.monotonic()
            snap = json.loads(cp.ctl("--json", "snapshot").stdout)["message"]
            snap_s = time.monotonic() - t2
            disk_after = wal_status(cp)["disk_bytes"]
            net.stop_dp()
        return {"items": items, "load_s": round(load_s, 1), "wal_disk_bytes": disk,
                "recovered_records": st["recovered_records"],
                "recovery_s": round(st["recovery_seconds"], 3),
                "recovery_records_per_s": round(st["recovered_records"] /
                                                max(st["recovery_seconds"], 1e-9)),
                "restart_to_ready_s": round(ready_s, 2), "items_after": items_after,
                "gets_after": g["requests"], "hit_ratio_after": g["hit_ratio"],
                "bad_values": g["bad_values"] + g["stale"],
                "snapshot_s": round(snap_s, 2), "snapshot": snap,
                "wal_disk_bytes_after_snapshot": disk_after}
    finally:
        cp.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--items", type=int, default=2000000)
    ap.add_argument("--skip-warm", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["POLLUX_CP"] = os.path.join(build, "pollux-cp")
    os.environ["POLLUXCTL"] = os.path.join(build, "polluxctl")
    os.environ["POLLUX_DP"] = os.path.join(build, "pollux-dp")
    os.environ["POLLUX_WAL"] = os.path.join(build, "pollux-wal")
    import test_wal as tw
    tmp = tempfile.mkdtemp(prefix="pxwalb-", dir="/var/tmp")
    res = {"bench": "wal"}
    try:
        for mode in ("off", "async", "sync"):
            res[mode] = writes(tw, build, tmp, mode, a.seconds)
        if not a.skip_warm:
            res["warm"] = warm(tw, build, tmp, a.items)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res))
    ok = "warm" not in res or (res["warm"]["items_after"] == a.items and
                                res["warm"]["hit_ratio_after"] == 1.0 and
                                res["warm"]["bad_values"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
