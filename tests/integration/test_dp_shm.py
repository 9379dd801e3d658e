#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""pollux-dp's own management surfaces, without a network: a shared region
of another ABI version is refused with a clear message, and the DPDK
telemetry commands answer through Debian's dpdk-telemetry.py. pollux-dp runs
on a net_null vdev without hugepages, with its own EAL file prefix. And
`pollux-bench ring`, which runs the dataplane's lcore code, never attaches
to the region at the default path (a running appliance's).

usage: test_dp_shm.py POLLUX_DP POLLUX_BENCH      (as root; exit 77 = skip)"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import types

MAGIC = 0x314D48535850      # PX_SHM_MAGIC, include/pollux/shm.h


def start(dp, tmp, *settings, prefix=None):
    args = [dp, "hugepages=no", "mem_mb=8", "shm_path=%s/region" % tmp, *settings, "--",
            "--vdev=net_null0"]
    if prefix:
        args.append("--file-prefix=" + prefix)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Skip(Exception):
    """A test that cannot run here: reported as skipped, not passed."""


def test_other_abi_refused(bins, tmp):
    with open(tmp + "/region", "wb") as f:
        f.write(struct.pack("<QI", MAGIC, 99) + bytes(4096 - 12))
    p = start(bins.dp, tmp)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 2, (p.returncode, out)
    assert "region of another version" in out and "ABI 99" in out, out


def test_telemetry(bins, tmp):
    tool = shutil.which("dpdk-telemetry.py")
    if tool is None:
        raise Skip("dpdk-telemetry.py not installed")
    prefix = "pxtel%d" % os.getpid()
    p = start(bins.dp, tmp, prefix=prefix)
    try:
        deadline = time.monotonic() + 60
        sock = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and p.poll() is None, p.stdout.read()
            time.sleep(0.1)
        time.sleep(0.5)
        out = {}
        for cmd in ("/pollux/stats", "/pollux/lcores", "/pollux/tcp"):
            r = subprocess.run([tool, "-f", prefix], input=cmd + "\n", capture_output=True,
                               text=True, timeout=20)
            line = [l for l in r.stdout.splitlines() if l.startswith("{")]
            assert line, r.stdout + r.stderr
            out[cmd] = json.loads(line[-1])[cmd]
        st = out["/pollux/stats"]
        assert st["lcores"] == 1 and st["rx_pkts"] > 0 and "cmd_get" in st, st
        assert "lcore0" in out["/pollux/lcores"], out
        tcp = out["/pollux/tcp"]
        assert tcp["port"] == 11211 and tcp["max_conns"] == 4096, tcp
        assert tcp["curr_connections"] == 0 and "tcp_syn_cookies_sent" in tcp, tcp
    finally:
        p.terminate()
        p.communicate(timeout=30)
        shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)


DEFAULT_REGION = "/dev/shm/pollux"


def test_bench_leaves_region_alone(bins, tmp):
    if os.path.exists(DEFAULT_REGION):
        raise Skip("%s exists (an appliance's?)" % DEFAULT_REGION)
    # A region the dataplane code would refuse loudly, or attach to if valid.
    with open(DEFAULT_REGION, "wb") as f:
        f.write(struct.pack("<QI", MAGIC, 99) + bytes(4096 - 12))
    try:
        r = subprocess.run([bins.bench, "ring", "--no-huge", "--keys", "1000", "--seconds", "1.5"],
                           capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        assert r.returncode == 0, (r.returncode, out)
        assert "pollux " in out, out
        assert DEFAULT_REGION not in out, out
    finally:
        os.unlink(DEFAULT_REGION)


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("skip: needs root")
        return 77
    os.environ.setdefault("LSAN_OPTIONS", "suppressions=%s/../lsan.supp" %
                          os.path.dirname(os.path.abspath(__file__)))
    bins = types.SimpleNamespace(dp=argv[1], bench=argv[2])
    tests = (test_other_abi_refused, test_telemetry, test_bench_leaves_region_alone)
    failed = skipped = 0
    for t in tests:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                t(bins, tmp)
                print("ok   %s" % t.__name__)
            except Skip as e:
                skipped += 1
                print("skip %s: %s" % (t.__name__, e))
            except AssertionError as e:
                failed += 1
                print("FAIL %s: %s" % (t.__name__, str(e)[:2000]))
    print("%d passed, %d failed, %d skipped" % (len(tests) - failed - skipped, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
