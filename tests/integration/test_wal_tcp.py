#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""The write-ahead log over TCP: wal_mode=sync holds a connection's replies
until the log records they answer are durable, without reordering them and
without stalling the connection's other requests or other connections.
pollux-cp and pollux-dp (2 lcores, so half the writes are forwarded to the
other lcore's partition and logged there) on a veth pair; clients are the
client namespace's kernel TCP.

  test_kill9_pipelined   ROUNDS times: 4 connections each write pipelined
                         meta sets (32 in one write, replies read as they
                         come) while pollux-dp is killed -9 at a random
                         moment; after the restart every write whose reply
                         arrived is there with its value, flags and CAS.
  test_order_and_holds   sync mode answers a pipeline of mixed sets, gets
                         and deletes in order, byte for byte, and its exit
                         counters show the replies were held for the log.
  test_held_until_durable  pollux-cp stopped (SIGSTOP): a write's reply,
                         and the get behind it on the same connection, do
                         not come while the log cannot advance, though
                         other connections' reads are answered at once;
                         SIGCONT, and both arrive. (Killing pollux-dp alone
                         cannot show a missing hold: records in the shared
                         ring outlive it.)

ROUNDS: WAL_TCP_KILL_ROUNDS (default 10).

usage: test_wal_tcp.py POLLUX_CP POLLUXCTL POLLUX_DP POLLUX_WAL [pytest options]
"""
import os
import random
import re
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_wal as W  # noqa: E402  (ControlPlane, helpers; reads POLLUX_* at import)
import pxnet  # noqa: E402
import pytest  # noqa: E402

ROUNDS = int(os.environ.get("WAL_TCP_KILL_ROUNDS", "10"))
needs_root = pytest.mark.skipif(os.geteuid() != 0 or not os.environ.get("POLLUX_DP"),
                                reason="needs root and the binaries")
REPLY = re.compile(rb"HD c(\d+)\r\n|SERVER_ERROR [^\r]*\r\n")


def stop_process(pid, timeout=10.0):
    """SIGSTOP pid and wait until every thread of it has stopped. kill()
    returns once the signal is queued; one thread takes it and then stops
    the others, and on a busy 2-core host that can take milliseconds, in
    which the WAL writer thread may still write, fsync and publish.
    io_uring's worker threads (iou-*) do not take part in a stop: they only
    finish requests the stopped writer submitted before."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while True:
        running = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    stat = f.read()
            except FileNotFoundError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2]
            if state not in "tT" and not comm.startswith("iou-"):
                running.append((comm, state))
        if not running:
            return
        assert time.monotonic() < deadline, "threads did not stop: %r" % running
        time.sleep(0.001)


def tcp_connect(net, timeout=3.0):
    s = pxnet.socket_in_netns(net.cli_ns, socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((pxnet.SRV_IP, pxnet.MC_PORT))
    return s


class PipeBurst(threading.Thread):
    """Pipelined meta sets on one connection until stopped or the server dies.
    acked: (key, value, flags, cas) of every write whose reply came back."""

    def __init__(self, net, prefix, depth=32):
        super().__init__(daemon=True)
        self.sock = tcp_connect(net, timeout=1.0)
        self.prefix = prefix
        self.depth = depth
        self.acked = []
        self.refused = 0
        self._halt = threading.Event()

    def run(self):
        i = 0
        buf = b""
        try:
            while not self._halt.is_set():
                batch = []
                for _ in range(self.depth):
                    key = b"%s:%d" % (self.prefix, i)
                    value = b"t%d-%s" % (i, b"y" * (i % 50))
                    batch.append((key, value, i * 13 % 65536))
                    i += 1
                self.sock.sendall(b"".join(b"ms %s %d F%d c\r\n%s\r\n" % (k, len(v), f, v)
                                           for k, v, f in batch))
                for key, value, flags in batch:
                    while True:
                        m = REPLY.match(buf)
                        if m:
                            break
                        d = self.sock.recv(65536)
                        if not d:
                            return
                        buf += d
                    buf = buf[m.end():]
                    if m.group(1) is None:
                        self.refused += 1
                        continue
                    self.acked.append((key, value, flags, int(m.group(1))))
        except OSError:
            return

    def stop(self):
        self._halt.set()
        self.join(10)
        self.sock.close()


def check_acked(net, bursts):
    c = W.Client(net, timeout=2.0)
    try:
        for b in bursts:
            for key, value, flags, cas in b.acked:
                got = c.mget(key)
                assert got == (value, flags, cas), "acknowledged %r lost or changed: %r" % (
                    key, got)
    finally:
        c.close()


@needs_root
def test_kill9_pipelined(tmp):
    cp = W.ControlPlane(tmp, "sync").start()
    rng = random.Random(11)
    try:
        with pxnet.Appliance(queues=2) as net:
            W.start_dp(net, cp, "sync")
            total = 0
            for r in range(ROUNDS):
                bursts = [PipeBurst(net, b"t%dc%d" % (r, k)) for k in range(4)]
                for b in bursts:
                    b.start()
                time.sleep(rng.uniform(0.1, 0.5))
                W.kill_dp(net)
                for b in bursts:
                    b.stop()
                W.start_dp(net, cp, "sync")
                acked = sum(len(b.acked) for b in bursts)
                assert acked > 0, "round %d: nothing acknowledged before the kill" % r
                check_acked(net, bursts)
                total += acked
                print("round %d: %d acknowledged over TCP, all there" % (r, acked))
            net.stop_dp()
        print("\nsync over TCP: %d rounds, %d acknowledged writes, all recovered" % (ROUNDS,
                                                                                   total))
    finally:
        cp.stop()


@needs_root
def test_order_and_holds(tmp):
    cp = W.ControlPlane(tmp, "sync").start()
    try:
        with pxnet.Appliance(queues=2) as net:
            W.start_dp(net, cp, "sync")
            socks = [tcp_connect(net) for _ in range(3)]
            for n, s in enumerate(socks):
                req, want = [], []
                for i in range(200):
                    k = b"o%dk%d" % (n, i)
                    v = b"val-%d-%d" % (n, i)
                    req.append(b"set %s 5 0 %d\r\n%s\r\nget %s\r\n" % (k, len(v), v, k))
                    want.append(b"STORED\r\nVALUE %s 5 %d\r\n%s\r\nEND\r\n" % (k, len(v), v))
                    if i % 10 == 0:
                        req.append(b"delete %s\r\nget %s\r\n" % (k, k))
                        want.append(b"DELETED\r\nEND\r\n")
                s.sendall(b"".join(req))
                exp = b"".join(want)
                got = b""
                while len(got) < len(exp):
                    d = s.recv(65536)
                    assert d, "connection closed after %d of %d bytes" % (len(got), len(exp))
                    got += d
                assert got == exp, "replies differ from byte %d" % next(
                    i for i in range(min(len(got), len(exp))) if got[i] != exp[i])
            for s in socks:
                s.close()
            res = net.stop_dp()
            holds = res.total("tcp_sync_holds")
            assert holds > 0, "no reply was held for the log:\n" + res.output
    finally:
        cp.stop()


@needs_root
def test_held_until_durable(tmp):
    cp = W.ControlPlane(tmp, "sync").start()
    try:
        with pxnet.Appliance(queues=2) as net:
            W.start_dp(net, cp, "sync")
            writer, reader = tcp_connect(net), tcp_connect(net)
            writer.sendall(b"set held-pre 0 0 3\r\npre\r\n")
            assert writer.recv(100) == b"STORED\r\n"
            stop_process(cp.proc.pid)  # the log stops advancing
            try:
                writer.sendall(b"set held 0 0 5\r\nhello\r\nget held\r\n")
                writer.settimeout(0.8)
                with pytest.raises(socket.timeout):
                    got = writer.recv(100)
                    raise AssertionError("reply before the record was durable: %r" % got)
                reader.sendall(b"get held-pre\r\n")
                assert reader.recv(100) == b"VALUE held-pre 0 3\r\npre\r\nEND\r\n"
            finally:
                os.kill(cp.proc.pid, signal.SIGCONT)
            writer.settimeout(5)
            exp = b"STORED\r\nVALUE held 0 5\r\nhello\r\nEND\r\n"
            got = b""
            while len(got) < len(exp):
                d = writer.recv(100)
                assert d, got
                got += d
            assert got == exp, got
            writer.close()
            reader.close()
            net.stop_dp()
    finally:
        cp.stop()


tmp = W.tmp


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    return pytest.main([os.path.abspath(__file__), "-q", "-s", "-p", "no:cacheprovider",
                        "-rfEsxX", "--durations=4"] + argv[5:])


if __name__ == "__main__":
    for i, name in enumerate(("POLLUX_CP", "POLLUXCTL", "POLLUX_DP", "POLLUX_WAL"), 1):
        if len(sys.argv) > i:
            os.environ[name] = os.path.abspath(sys.argv[i])
    if len(sys.argv) >= 5:
        # test_wal read the environment at import: import it again with it set
        sys.modules.pop("test_wal", None)
        import test_wal as W  # noqa: F811
    sys.exit(main(sys.argv))
