#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The write-ahead log end to end: pollux-cp and pollux-dp on a veth pair
(tests/lib/pxnet.py) with writes over UDP from the client namespace.

  TestKillDp        wal_mode=sync and async: a burst of meta sets (each
                    reply gives the CAS) while pollux-dp is killed -9 at a
                    random moment, ROUNDS times; after each restart and
                    /ready, every acknowledged write is there with its
                    value, flags and CAS, and what is there beyond them is
                    only the write in flight (a prefix of the burst).
  TestKillCp        pollux-cp killed -9 during a burst and restarted; then
                    pollux-dp killed -9 and restarted: no acknowledged write
                    lost.
  TestDisk          a missing parent directory and a read-only directory are
                    refused at start with the path named; a disk that fills
                    up fails the writer with its error, sync writes are
                    refused (none acknowledged unlogged) and it catches up
                    once there is room; corruption in the
                    middle of a segment stops the start (naming file and
                    offset) unless --repair, which keeps a .cut copy; a torn
                    tail is truncated and reported; pollux-wal verify agrees.
  TestStatus        polluxctl wal status / snapshot and the WAL metrics;
                    a snapshot keeps everything across a restart.
  TestCompaction    200 keys overwritten until the log is far larger than
                    they are: pollux-cp compacts on its own, disk use ends
                    near the live data, and a restart has every last value.
  TestDelayedFlush  a flush_all with a delay whose time passed before the
                    restart (with and without a snapshot in between):
                    what it invalidated stays gone, what came after stays.

ROUNDS: WAL_KILL_ROUNDS (default 50 sync + 10 async). Every process runs on
paths, ports and a namespace pair of its own, and is killed on any failure.

usage: test_wal.py POLLUX_CP POLLUXCTL POLLUX_DP POLLUX_WAL [pytest options]
"""
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import pxnet  # noqa: E402
import pytest  # noqa: E402

CP = os.environ.get("POLLUX_CP", "")
CTL = os.environ.get("POLLUXCTL", "")
DP = os.environ.get("POLLUX_DP", "")
WAL = os.environ.get("POLLUX_WAL", "")
SRV_IP = pxnet.SRV_IP
MC_PORT = pxnet.MC_PORT
ROUNDS = int(os.environ.get("WAL_KILL_ROUNDS", "50"))
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT or not DP,
                                reason="needs root (network namespaces) and POLLUX_DP")

_procs = pxnet.tracked
_pdeathsig_kill = pxnet.pdeathsig_kill
sanitizer_env = pxnet.sanitizer_env
free_port = pxnet.free_port
wait_for = pxnet.wait_for


class ControlPlane:
    """A pollux-cp on paths under tmp, a port of its own, its WAL in tmp/wal."""

    def __init__(self, tmp, mode, extra=()):
        self.tmp = tmp
        self.mode = mode
        self.sock = os.path.join(tmp, "run", "admin.sock")
        self.shm = os.path.join(tmp, "shm")
        self.wal = os.path.join(tmp, "wal")
        self.port = free_port()
        self.log = os.path.join(tmp, "cp.log")
        self.extra = list(extra)
        self.proc = None
        self._off = 0

    def settings(self):
        return ["shm_path=" + self.shm, "admin_socket=" + self.sock,
                "http_listen=127.0.0.1:%d" % self.port, "wal_mode=" + self.mode,
                "wal_dir=" + self.wal, "wal_ring_kb=1024"] + self.extra

    def run_once(self, args=(), timeout=20):
        """Start and expect an exit (a refused start): (rc, output)."""
        r = subprocess.run([CP] + self.settings() + list(args), capture_output=True, text=True,
                           timeout=timeout, env=sanitizer_env())
        return r.returncode, r.stdout + r.stderr

    def start(self, args=(), timeout=20):
        self._off = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([CP] + self.settings() + list(args),
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=sanitizer_env(),
                                         preexec_fn=_pdeathsig_kill)
        _procs.append(self.proc)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("pollux-cp exited %s:\n%s" % (self.proc.returncode,
                                                                   self.output()))
            try:
                return self.http("/health")[0] == 200
            except OSError:
                return False
        assert wait_for(up, timeout), "pollux-cp not up:\n" + self.output()
        return self

    def output(self):
        with open(self.log, errors="replace") as f:
            f.seek(self._off)
            return f.read()

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        rc = self.proc.wait(30)
        out = self.output()
        assert rc == 0, "pollux-cp exit %s:\n%s" % (rc, out)
        assert not pxnet.SANITIZER_RE.search(out), out

    def http(self, path):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout=60):
        ok = wait_for(lambda: self.http("/ready")[0] == 200, timeout, step=0.01)
        assert ok, "/ready not 200 within %ds: %r\n%s" % (timeout, self.http("/ready"),
                                                         self.output()[-3000:])

    def ctl(self, *args, check=0):
        r = subprocess.run([CTL, "--socket", self.sock] + list(args), capture_output=True,
                           text=True, timeout=90, env=sanitizer_env())
        assert r.returncode == check, "polluxctl %s: exit %d\n%s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
        return r


class Client:
    """memcached over UDP, one request at a time."""

    def __init__(self, net, timeout=1.0):
        self.sock = net.client_socket(timeout)
        self.rid = 0

    def close(self):
        self.sock.close()

    def request(self, payload):
        self.rid = self.rid % 0xffff + 1
        self.sock.sendto(pxnet.frame(self.rid, payload), (SRV_IP, MC_PORT))
        while True:
            d = self.sock.recv(65536)
            rid, seq, total, _, body = pxnet.unframe(d)
            if rid == self.rid:
                return body

    def mset(self, key, value, flags):
        """ms with the CAS returned: the CAS, or an exception (timeout, refusal)."""
        r = self.request(b"ms %s %d F%d c\r\n%s\r\n" % (key, len(value), flags, value))
        m = re.fullmatch(rb"HD c(\d+)\r\n", r)
        if not m:
            raise RuntimeError("ms %r: %r" % (key, r))
        return int(m.group(1))

    def mget(self, key):
        """(value, flags, cas) or None."""
        r = self.request(b"mg %s v f c\r\n" % key)
        if r == b"EN\r\n":
            return None
        m = re.fullmatch(rb"VA (\d+) f(\d+) c(\d+)\r\n(.*)\r\n", r, re.S)
        assert m, r
        return m.group(4), int(m.group(2)), int(m.group(3))


class Burst(threading.Thread):
    """Meta sets of unique keys, one at a time, until stopped. A write that
    gets no answer (the server was killed, or the reply is held) or is
    refused is not acknowledged; the burst goes on with the next key."""

    def __init__(self, net, prefix, timeout=0.5):
        super().__init__(daemon=True)
        self.client = Client(net, timeout=timeout)
        self.prefix = prefix
        self.acked = []       # (key, value, flags, cas) in order
        self.sent = []        # keys in send order
        self.refused = 0
        self._halt = threading.Event()

    def run(self):
        i = 0
        while not self._halt.is_set():
            key = b"%s:%d" % (self.prefix, i)
            value = b"v%d-%s" % (i, b"x" * (i % 40))
            flags = i * 7 % 65536
            self.sent.append(key)
            try:
                cas = self.client.mset(key, value, flags)
                self.acked.append((key, value, flags, cas))
            except socket.timeout:
                pass
            except RuntimeError:
                self.refused += 1
            i += 1

    def stop(self):
        self._halt.set()
        self.join(10)
        self.client.close()


def check_all(net, burst):
    """Every acknowledged write is there, as acknowledged (value, flags,
    CAS); a key the burst never sent is not (nothing invented)."""
    c = Client(net, timeout=2.0)
    try:
        for key, value, flags, cas in burst.acked:
            got = c.mget(key)
            assert got == (value, flags, cas), "acknowledged %r lost or changed: %r" % (
                key, got)
        unsent = [b"%s:%d" % (burst.prefix, i)
                  for i in range(len(burst.sent), len(burst.sent) + 20)]
        extra = [k for k in unsent if c.mget(k) is not None]
        assert not extra, "keys never sent are in the cache: %r" % extra[:5]
    finally:
        c.close()


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="pxwal-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def dp_settings(cp, mode, lcores=2):
    return ["lcores=%d" % lcores, "mem_mb=16", "shm_path=" + cp.shm, "wal_mode=" + mode,
            "idle_sleep_max_us=200"]


def start_dp(net, cp, mode, lcores=2):
    dp = net.start_dp(DP, dp_settings(cp, mode, lcores))
    cp.wait_ready()
    return dp


def kill_dp(net):
    net.dp.proc.kill()
    net.stop_dp(10)


@needs_root
class TestKillDp:
    @pytest.mark.parametrize("mode,rounds", [("sync", ROUNDS), ("async", max(ROUNDS // 5, 3))])
    def test_kill9_during_burst(self, tmp, mode, rounds):
        cp = ControlPlane(tmp, mode).start()
        rng = random.Random(7)
        bursts = []
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, mode)
                for r in range(rounds):
                    b = Burst(net, b"r%d" % r)
                    b.start()
                    time.sleep(rng.uniform(0.1, 0.5))
                    kill_dp(net)
                    b.stop()
                    bursts.append(b)
                    start_dp(net, cp, mode)
                    check_all(net, b)
                    print("round %d: %d acknowledged, %d sent" % (r, len(b.acked), len(b.sent)))
                # everything of every round, after the last restart
                for b in bursts:
                    check_all(net, b)
                status = json.loads(cp.ctl("--json", "wal", "status").stdout)
                assert status["recoveries"] == rounds + 1, status
                # the kills came during bursts, not before them
                busy = sum(1 for b in bursts if b.acked)
                assert busy >= rounds * 9 // 10, "%d of %d rounds wrote" % (busy, rounds)
                net.stop_dp()
            total = sum(len(b.acked) for b in bursts)
            print("\n%s: %d rounds, %d acknowledged writes, all recovered" % (mode, rounds,
                                                                            total))
        finally:
            cp.stop()


@needs_root
class TestKillCp:
    def test_cp_kill9_during_burst(self, tmp):
        cp = ControlPlane(tmp, "sync").start()
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "sync")
                b = Burst(net, b"cpk", timeout=3.0)
                b.start()
                time.sleep(0.5)
                cp.kill()
                time.sleep(0.5)      # sync: replies wait for the new pollux-cp
                cp.start()
                time.sleep(0.5)
                b.stop()
                assert len(b.acked) > 10, len(b.acked)
                check_all(net, b)
                kill_dp(net)
                start_dp(net, cp, "sync")
                check_all(net, b)
                net.stop_dp()
        finally:
            cp.stop()


def write_some(net, cp, mode, n, prefix=b"k"):
    c = Client(net)
    acked = []
    for i in range(n):
        key = b"%s%d" % (prefix, i)
        acked.append((key, b"val%d" % i, i, c.mset(key, b"val%d" % i, i)))
    c.close()
    return acked


@needs_root
class TestDisk:
    def test_missing_and_readonly_dir(self, tmp):
        cp = ControlPlane(tmp, "sync", ["wal_dir=" + os.path.join(tmp, "no", "such")])
        rc, out = cp.run_once()
        assert rc != 0 and os.path.join(tmp, "no", "such") in out and "parent" in out, out
        ro = os.path.join(tmp, "ro")
        os.mkdir(ro)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], check=True)
        try:
            cp = ControlPlane(tmp, "sync", ["wal_dir=" + ro])
            rc, out = cp.run_once()
            assert rc != 0 and ro in out and "Read-only" in out, out
        finally:
            subprocess.run(["umount", ro], check=False)

    def test_disk_full_refuses_then_recovers(self, tmp):
        """A full disk: the writer fails and says why, sync-mode writes are
        held and then refused (never acknowledged unlogged); with room again
        it catches up by itself and nothing acknowledged is lost."""
        fs = os.path.join(tmp, "fs")
        os.mkdir(fs)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", fs], check=True)
        try:
            cp = ControlPlane(tmp, "sync", ["wal_dir=" + os.path.join(fs, "wal"),
                                            "wal_ring_kb=64", "wal_segment_mb=1"]).start()
            try:
                with pxnet.Appliance(queues=2) as net:
                    start_dp(net, cp, "sync")
                    c = Client(net, timeout=0.05)
                    acked, refused, unanswered = [], 0, 0
                    for i in range(3000):
                        key, value = b"full%d" % i, b"%d-" % i + b"v" * 900
                        try:
                            acked.append((key, value, 0, c.mset(key, value, 0)))
                        except RuntimeError as e:
                            assert b"SERVER_ERROR" in str(e).encode(), e
                            refused += 1
                        except socket.timeout:
                            unanswered += 1   # held: not durable, not acknowledged
                        if refused > 20:
                            break
                    st = json.loads(cp.ctl("--json", "wal", "status").stdout)
                    assert st["state"] == "failed" and "No space left" in st["error"], st
                    assert st["io_errors"] > 0 and refused > 20, (st, refused)
                    assert len(acked) > 100, len(acked)
                    subprocess.run(["mount", "-o", "remount,size=64m", fs], check=True)
                    assert wait_for(lambda: json.loads(cp.ctl("--json", "wal", "status").stdout)
                                    ["state"] == "running", 10)
                    c.sock.settimeout(2.0)
                    assert c.mset(b"again", b"ok", 0) > 0
                    acked.append((b"again", b"ok", 0, c.mget(b"again")[2]))
                    c.close()
                    kill_dp(net)
                    start_dp(net, cp, "sync")
                    c = Client(net, timeout=2.0)
                    for key, value, flags, cas in acked:
                        assert c.mget(key) == (value, flags, cas), key
                    c.close()
                    net.stop_dp()
            finally:
                cp.stop()
        finally:
            subprocess.run(["umount", "-l", fs], check=False)

    def test_corruption_and_torn_tail(self, tmp):
        cp = ControlPlane(tmp, "sync").start()
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "sync")
                acked = write_some(net, cp, "sync", 200)
                net.stop_dp()
            cp.stop()
            segs = sorted(f for f in os.listdir(cp.wal) if f.endswith(".log"))
            seg = os.path.join(cp.wal, [s for s in segs if os.path.getsize(
                os.path.join(cp.wal, s)) > 1000][0])
            size = os.path.getsize(seg)
            # a torn tail: the last 20 bytes cut off
            with open(seg, "r+b") as f:
                f.truncate(size - 20)
            r = subprocess.run([WAL, "verify", cp.wal], capture_output=True, text=True)
            assert r.returncode == 1 and "torn tail" in r.stdout, r.stdout + r.stderr
            cp.start()
            assert "torn tail truncated" in cp.output(), cp.output()
            cp.stop()
            assert subprocess.run([WAL, "verify", cp.wal]).returncode == 0
            # a bit flip in the middle: refused, named, then repaired with a copy
            with open(seg, "r+b") as f:
                f.seek(2000)
                b = f.read(1)
                f.seek(2000)
                f.write(bytes([b[0] ^ 0x40]))
            rc, out = cp.run_once()
            assert rc != 0 and seg in out and "--repair" in out, out
            cp.start(["--repair"])
            assert "cut" in cp.output(), cp.output()
            assert [f for f in os.listdir(cp.wal) if f.endswith(".cut")]
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "sync")
                c = Client(net)
                present = sum(1 for k, v, fl, cas in acked if c.mget(k) == (v, fl, cas))
                c.close()
                # one record cut in the middle, one torn off the end; the rest is there
                assert len(acked) - 3 <= present < len(acked), present
                net.stop_dp()
        finally:
            cp.stop()


@needs_root
class TestStatus:
    def test_status_snapshot_metrics(self, tmp):
        cp = ControlPlane(tmp, "async", ["wal_segment_mb=1"]).start()
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "async")
                acked = write_some(net, cp, "async", 300)
                # overwrite half, delete some: the snapshot keeps the last state
                c = Client(net)
                for i in range(0, 300, 2):
                    key = b"k%d" % i
                    acked[i] = (key, b"new%d" % i, 1, c.mset(key, b"new%d" % i, 1))
                for i in range(1, 300, 10):
                    assert c.request(b"md k%d\r\n" % i) == b"HD\r\n"
                c.close()
                gone = {b"k%d" % i for i in range(1, 300, 10)}
                st = json.loads(cp.ctl("--json", "wal", "status").stdout)
                assert st["mode"] == "async" and st["state"] == "running", st
                assert "WAL writer" in cp.ctl("config", "set", "wal_fsync_ms", "50").stdout
                assert cp.ctl("config", "get", "wal_fsync_ms").stdout.strip() == "50"
                assert wait_for(lambda: json.loads(cp.ctl("--json", "wal", "status").stdout)
                                ["records"] >= 300 + 150 + 30, 5), st
                r = json.loads(cp.ctl("--json", "snapshot").stdout)
                assert "snapshot" in r["message"], r
                assert [f for f in os.listdir(cp.wal) if f.endswith(".snap")]
                code, text = cp.http("/metrics")
                for name in ("pollux_wal_bytes_total", "pollux_wal_records_total",
                             "pollux_wal_fsync_seconds_bucket", "pollux_wal_durable_lag"):
                    assert name in text, name
                kill_dp(net)
                start_dp(net, cp, "async")
                c = Client(net)
                for key, v, fl, cas in acked:
                    want = None if key in gone else (v, fl, cas)
                    assert c.mget(key) == want, key
                c.close()
                net.stop_dp()
        finally:
            cp.stop()


@needs_root
class TestCompaction:
    def test_disk_stays_near_live_data(self, tmp):
        """200 keys overwritten again and again: the log outgrows the live
        data, pollux-cp compacts it by itself, and after a restart every key
        has its last value."""
        cp = ControlPlane(tmp, "async", ["wal_segment_mb=1", "wal_slack_pct=100"]).start()
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "async")
                c = Client(net, timeout=2.0)
                last = {}
                for i in range(8000):
                    key = b"ow%d" % (i % 200)
                    value = b"%d-" % i + b"z" * 1000
                    last[key] = (value, 5, c.mset(key, value, 5))

                def compacted():
                    st = json.loads(cp.ctl("--json", "wal", "status").stdout)
                    return st if st["snapshots"] >= 1 else None
                st = wait_for(compacted, 20, step=0.5)
                assert st, json.loads(cp.ctl("--json", "wal", "status").stdout)
                written = st["bytes"]
                assert written > 8 << 20, st
                # live: 200 records of ~1 KiB; the bound: twice that plus a
                # segment and the 4 MiB the compactor leaves alone
                assert st["disk_bytes"] < 6 << 20, st
                c.close()
                kill_dp(net)
                start_dp(net, cp, "async")
                c = Client(net, timeout=2.0)
                for key, want in last.items():
                    assert c.mget(key) == want, key
                c.close()
                net.stop_dp()
        finally:
            cp.stop()


@needs_root
class TestDelayedFlush:
    @pytest.mark.parametrize("snapshot", [False, True])
    def test_delayed_flush_fired_before_restart(self, tmp, snapshot):
        """flush_all with a delay invalidates what was written before its
        time, also what came after the command; a restart after that time
        must not bring those back, nor lose what came after it."""
        cp = ControlPlane(tmp, "sync").start()
        try:
            with pxnet.Appliance(queues=2) as net:
                start_dp(net, cp, "sync")
                c = Client(net)
                c.mset(b"before", b"1", 0)
                assert c.request(b"flush_all 2\r\n") == b"OK\r\n"
                c.mset(b"between", b"2", 0)
                time.sleep(3.2)
                assert c.mget(b"before") is None and c.mget(b"between") is None
                c.mset(b"after", b"3", 0)
                c.close()
                if snapshot:
                    cp.ctl("snapshot")
                kill_dp(net)
                start_dp(net, cp, "sync")
                c = Client(net)
                assert c.mget(b"before") is None
                assert c.mget(b"between") is None
                assert c.mget(b"after")[0] == b"3"
                c.close()
                net.stop_dp()
        finally:
            cp.stop()


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    os.environ["POLLUX_CP"] = os.path.abspath(argv[1])
    os.environ["POLLUXCTL"] = os.path.abspath(argv[2])
    os.environ["POLLUX_DP"] = os.path.abspath(argv[3])
    os.environ["POLLUX_WAL"] = os.path.abspath(argv[4])
    return pytest.main([os.path.abspath(__file__), "-q", "-s", "-p", "no:cacheprovider",
                        "-rfEsxX", "--durations=6"] + argv[5:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
