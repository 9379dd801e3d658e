# SPDX-License-Identifier: BSD-3-Clause
"""pollux-bench tcp against a scripted memcached on loopback.

A small in-memory memcached (text get/set only) that can misbehave on
purpose: it sends its replies in pieces of a few bytes, stops reading for a
while (the client's output backs up), corrupts a value,
names the wrong key, closes a connection, stops answering, or sends bytes
nobody asked for. Each case runs pollux-bench tcp against it and checks that
a good server gives exit status 0 with every reply counted, and that each
fault shows in the JSON counters and in exit status 1. Only 127.0.0.1 and
an ephemeral port; no root needed.

usage: test_bench_tcp.py PATH/TO/pollux-bench
"""
import json
import socket
import subprocess
import sys
import threading
import time


class Server:
    """memcached text get/set on 127.0.0.1, with one fault mode for the whole run."""

    def __init__(self, fault=None, after=800):
        self.fault, self.after = fault, after
        self.store = {}
        self.lock = threading.Lock()
        self.count = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fault == "stall":
            # A small window (accepted sockets inherit it), so the client must wait to send.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def reply(self, key, cmd, data):
        """The reply to one request; the fault, if due, changes it."""
        with self.lock:
            self.count += 1
            n = self.count
            if cmd == b"set":
                self.store[key] = data
                out = b"STORED\r\n"
            elif key in self.store:
                v = self.store[key]
                if self.fault == "corrupt" and n > self.after:
                    v = bytes([v[0] ^ 1]) + v[1:]
                    self.fault = None
                k = key
                if self.fault == "wrong_key" and n > self.after:
                    k = key[:-1] + (b"0" if key[-1:] != b"0" else b"1")
                    self.fault = None
                out = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (k, len(v), v)
            else:
                out = b"END\r\n"
        due = self.fault is not None and n > self.after
        return out, n, due

    def send(self, c, out):
        if self.fault == "pieces":
            # A few bytes per segment: replies split anywhere, even inside a value.
            for i in range(0, len(out), 3):
                c.sendall(out[i:i + 3])
        else:
            c.sendall(out)

    def serve(self, c):
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while b"\r\n" in buf:
                    line, rest = buf.split(b"\r\n", 1)
                    parts = line.split()
                    data = None
                    if parts[0] == b"set":
                        n = int(parts[4])
                        if len(rest) < n + 2:
                            break
                        data, rest = rest[:n], rest[n + 2:]
                    buf = rest
                    out, _, due = self.reply(parts[1], parts[0], data)
                    if due and self.fault == "close":
                        c.shutdown(socket.SHUT_RDWR)
                        c.close()
                        return
                    if due and self.fault == "silent":
                        time.sleep(30)
                        return
                    if due and self.fault == "stall":
                        # Stop reading for a while: the client's sends back up.
                        self.fault = None
                        time.sleep(0.5)
                    if due and self.fault == "extra":
                        out += b"STORED\r\n"
                        self.fault = None
                    self.send(c, out)
        except OSError:
            return


def run(bench, io, fault, extra=()):
    srv = Server(fault)
    try:
        argv = [bench, "tcp", "--server", "127.0.0.1", "--port", str(srv.port), "--keys", "500",
                "--requests", "3000", "--conns", "3", "--depth", "4", "--timeout-ms", "1000",
                "--io", io, "--json"] + list(extra)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    finally:
        srv.close()
    r = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, r, p.stderr


def main():
    bench = sys.argv[1]
    failed = 0

    def check(name, cond, detail):
        nonlocal failed
        print("%s %s" % ("ok  " if cond else "FAIL", name))
        if not cond:
            print("     " + detail)
            failed += 1

    # Every case with both of the client's I/O engines.
    for io in ("epoll", "uring"):
        rc, r, err = run(bench, io, None)
        check(io + ": good server: exit 0, every request answered and checked",
              rc == 0 and r["io"] == io and r["ok"] == r["requests"] == 3000 and
              r["hits"] > 2000 and r["failures"] == 0 and r["preload_stored"] == 500,
              "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "pieces", ["--value-size", "200"])
        check(io + ": replies in 3-byte pieces: all parsed and checked",
              rc == 0 and r["ok"] == 3000 and r["hits"] > 2000, "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "pieces", ["--loop", "open", "--rate", "5000"])
        check(io + ": open loop, pieces: all parsed and checked",
              rc == 0 and r["ok"] == 3000, "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "stall", ["--value-size", "100000", "--depth", "64",
                                              "--get-ratio", "0.5", "--timeout-ms", "5000"])
        check(io + ": server stops reading for 0.5 s under large pipelined sets: all answered",
              rc == 0 and r["ok"] == 3000 and r["stored"] > 1000, "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "corrupt")
        check(io + ": one corrupt value: counted as a bad value, exit 1",
              rc == 1 and r["bad_values"] == 1 and r["failures"] == 1,
              "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "wrong_key")
        check(io + ": a value under the wrong key: garbled, connection closed, exit 1",
              rc == 1 and r["garbled"] == 1 and r["conn_failures"] == 1,
              "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "extra")
        check(io + ": bytes nobody asked for: garbled, exit 1",
              rc == 1 and r["garbled"] >= 1 and r["conn_failures"] >= 1,
              "rc=%d %s %s" % (rc, r, err))
        rc, r, err = run(bench, io, "close")
        check(io + ": connection closed under load: requests lost, exit 1",
              rc == 1 and r["conn_failures"] >= 1 and r["lost"] >= 1 and
              "lost" in err, "rc=%d %s %s" % (rc, r, err))
        t0 = time.monotonic()
        rc, r, err = run(bench, io, "silent")
        check(io + ": server stops answering: timeouts after --timeout-ms, exit 1",
              rc == 1 and r["timeouts"] >= 1 and time.monotonic() - t0 < 20,
              "rc=%d %s %s" % (rc, r, err))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
