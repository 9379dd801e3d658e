#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""pollux-dp over a veth pair: memcached UDP from a real client socket.

Each test class starts its own pollux-dp (tests/lib/pxnet.py makes the
namespaces pollux-srv/pollux-cli, or the next free pollux-srv-N/pollux-cli-N
pair, and tears them down whatever happens) and talks to it from the client
namespace with memcached's 8-byte UDP frame:

  TestCommands    lcores=1 (AF_XDP): every text and meta command, requests
                  batched in one datagram, replies split over many datagrams
                  (reassembled by sequence number and total), the largest
                  request that fits one datagram; clean exit and counters.
  TestNetwork     lcores=1: ARP resolution of 198.18.0.1, ping, no ARP
                  answer for other addresses.
  TestMalformed   lcores=1: short, multi-datagram, empty, truncated and
                  oversized frames, garbage, HTTP: an error reply or
                  silence, never a crash; counters show the drops.
  TestMalformedFrames  lcores=1: hand-made Ethernet/IPv4/UDP frames from an
                  AF_PACKET socket (bad checksums and lengths, IP options,
                  fragments, padding, IPv6, VLAN, ARP for others, other
                  ports): each served or dropped and counted as it should be.
  TestPartitions  lcores=2, 2 queues (AF_PACKET): keys of both partitions
                  written through one partition port and read through the
                  other; multi-key reads and mutations spanning partitions,
                  datagrams forwarded between lcores mid-reply.
  TestKnownBugs   pollux-dp bugs these tests found, as strict expected
                  failures (a fix turns them into failures: drop the marker).
  TestFaults      lcores=1 and 2 with drop/dup/reorder/delay on RX and TX:
                  thousands of set/get, each reply absent or exactly right.

Every class ends by stopping pollux-dp with SIGTERM and insisting on a clean
exit (status 0, counters printed, no sanitizer report).

usage: test_udp.py POLLUX_DP [pytest options]      (as root; exit 77 = skip)
   or: POLLUX_DP=build/release/pollux-dp /usr/bin/python3 -m pytest -q test_udp.py
"""
import os
import random
import re
import select
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import pxnet  # noqa: E402
import pytest  # noqa: E402

DP = os.environ.get("POLLUX_DP", "")
SRV_IP = pxnet.SRV_IP
BASE = pxnet.MC_PORT
DGRAM_MAX = 1400                 # reply datagram, frame header included
SEG_PAYLOAD = DGRAM_MAX - 8
REQ_MAX = 1472                   # UDP payload that fits one frame on a 1500-byte MTU
HASH_SEED = 0x9e3779b97f4a7c15   # pollux-dp's default hash_seed
SETTINGS = ["mem_mb=16"]
FAULTS = ["fault_rx_drop=0.05", "fault_rx_dup=0.05", "fault_rx_reorder=0.05",
          "fault_rx_delay=0.02", "fault_tx_drop=0.05", "fault_tx_dup=0.05",
          "fault_tx_reorder=0.05", "fault_tx_delay=0.02"]
ERROR_LINES = re.compile(rb"^((ERROR|CLIENT_ERROR [^\r\n]*|SERVER_ERROR [^\r\n]*)\r\n)+$")


# -- partitions: a Python copy of common/px_hash.h --------------------------
M64 = (1 << 64) - 1
K0, K1, K2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3


def _fold(a, b):
    r = a * b
    return (r & M64) ^ (r >> 64)


def px_hash64(key, seed=HASH_SEED):
    n = len(key)
    h = seed ^ ((n * K0) & M64)
    p = 0
    le = int.from_bytes
    while n > 16:
        h = _fold(le(key[p:p + 8], "little") ^ K1, le(key[p + 8:p + 16], "little") ^ h)
        p += 16
        n -= 16
    if n >= 8:
        a, b = le(key[p:p + 8], "little"), le(key[p + n - 8:p + n], "little")
    elif n >= 4:
        a, b = le(key[p:p + 4], "little"), le(key[p + n - 4:p + n], "little")
    elif n > 0:
        a, b = (key[p] << 16) | (key[p + (n >> 1)] << 8) | key[p + n - 1], 0
    else:
        a = b = 0
    h = _fold(a ^ K1, b ^ h ^ K2)
    return _fold(h ^ K0, len(key) ^ K2)


def partition(key, nparts):
    return ((px_hash64(key) & 0xffffffff) * nparts) >> 32


# -- client -------------------------------------------------------------------
class Mc:
    """A memcached UDP client on one socket in the client namespace.

    request() sends one datagram and reassembles the reply by sequence number,
    checking every datagram: from the port it was sent to, at most 1400 bytes,
    the same total in all, seq < total, duplicates identical. Datagrams for
    other request ids are counted in .stale (a test without faults expects 0).
    """

    def __init__(self, net, port=BASE, timeout=3.0):
        self.sock = net.client_socket(timeout)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = port
        self.timeout = timeout
        self.rid = random.randrange(1, 0xffff)
        self.stale = []
        self.last_dgrams = []
        self.sent = 0

    def close(self):
        self.sock.close()

    def next_id(self):
        self.rid = (self.rid + 1) & 0xffff
        return self.rid

    def send(self, payload, port=None, rid=None, seq=0, total=1, reserved=0):
        rid = self.next_id() if rid is None else rid
        self.sock.sendto(pxnet.frame(rid, payload, seq, total, reserved),
                         (SRV_IP, port or self.port))
        self.sent += 1
        return rid

    def send_raw(self, data, port=None):
        self.sock.sendto(data, (SRV_IP, port or self.port))
        self.sent += 1

    def recv_reply(self, rid, timeout, port=None):
        """The reassembled reply to rid, or None if it is not complete in time."""
        port = port or self.port
        parts, total = {}, None
        self.last_dgrams = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                return None
            assert addr == (SRV_IP, port), "reply from %r, request went to port %d" % (addr, port)
            assert 8 <= len(d) <= DGRAM_MAX, "reply datagram of %d bytes" % len(d)
            r, seq, tot, _res, pay = pxnet.unframe(d)
            if r != rid:
                self.stale.append((r, seq, tot, pay[:60]))
                continue
            self.last_dgrams.append((seq, tot, len(d)))
            assert 1 <= tot and seq < tot, "bad frame seq=%d total=%d" % (seq, tot)
            if total is None:
                total = tot
            assert tot == total, "total changed within reply %d: %d then %d" % (rid, total, tot)
            if seq in parts:
                assert parts[seq] == pay, "duplicate seq %d of reply %d differs" % (seq, rid)
                continue
            parts[seq] = pay
            if len(parts) == total:
                return b"".join(parts[i] for i in range(total))

    def request(self, payload, port=None, timeout=None, **kw):
        rid = self.send(payload, port, **kw)
        r = self.recv_reply(rid, timeout or self.timeout, port)
        assert r is not None, "no reply to %r (port %d)" % (payload[:80], port or self.port)
        return r

    def silent(self, payload, wait=0.3, port=None, **kw):
        """Send payload; assert nothing answers it within wait seconds."""
        rid = self.send(payload, port, **kw)
        r = self.recv_reply(rid, wait, port)
        assert r is None, "expected no reply to %r, got %r" % (payload[:80], r[:200])

    def alive(self, port=None):
        assert self.request(b"version\r\n", port).startswith(b"VERSION "), "no version reply"


def set_cmd(key, value, flags=0, exptime=0, cmd=b"set", extra=b""):
    return b"%s %s %d %d %d%s\r\n%s\r\n" % (cmd, key, flags, exptime, len(value), extra, value)


def value_reply(key, value, flags=0, cas=None):
    c = b"" if cas is None else b" %d" % cas
    return b"VALUE %s %d %d%s\r\n%s\r\n" % (key, flags, len(value), c, value)


def cas_of(reply):
    m = re.match(rb"VALUE \S+ \d+ \d+ (\d+)\r\n", reply)
    assert m, "no cas in %r" % reply[:100]
    return int(m.group(1))


def start(queues, settings):
    net = pxnet.Appliance(queues=queues).open()
    try:
        net.start_dp(DP, settings)
    except BaseException:
        net.close()
        raise
    return net


def finish(net):
    """Stop pollux-dp (if a test has not), tear down, and insist on a clean exit."""
    try:
        res = net.stop_dp()
    finally:
        net.close()
    if res is not None:
        assert res.clean(), "pollux-dp did not exit cleanly (rc %s):\n%s" % (res.rc, res.output)


def check_clean_stop(net):
    res = net.stop_dp()
    assert res.clean(), "pollux-dp did not exit cleanly (rc %s):\n%s" % (res.rc, res.output)
    assert res.counters, "no counters printed:\n" + res.output
    return res


@pytest.fixture(scope="class")
def one():
    net = start(1, ["lcores=1"] + SETTINGS)
    yield net
    finish(net)


@pytest.fixture
def mc(one):
    c = Mc(one)
    yield c
    c.close()
    assert not c.stale, "replies to ids no longer waited for: %r" % c.stale[:5]


# -- every command, one lcore ---------------------------------------------------
class TestCommands:
    def test_version_verbosity(self, mc):
        assert re.fullmatch(rb"VERSION \S+\r\n", mc.request(b"version\r\n"))
        assert mc.request(b"verbosity 1\r\n") == b"OK\r\n"
        mc.silent(b"verbosity 0 noreply\r\n")
        assert mc.request(b"verbosity\r\n") == b"ERROR\r\n"

    def test_stats(self, mc, one):
        r = mc.request(b"stats\r\n")
        assert r.startswith(b"STAT pid ") and r.endswith(b"END\r\n")
        st = dict(re.findall(rb"STAT (\S+) (\S+)\r\n", r))
        assert int(st[b"pid"]) == one.dp.proc.pid
        assert int(st[b"threads"]) == 1
        assert int(st[b"limit_maxbytes"]) == 16 << 20
        for name in (b"uptime", b"time", b"version", b"curr_items", b"cmd_get", b"get_hits"):
            assert name in st, name
        r = mc.request(b"stats settings\r\n")
        assert b"STAT item_size_max 1048576\r\n" in r and r.endswith(b"END\r\n")
        assert mc.request(b"stats items\r\n").endswith(b"END\r\n")
        assert mc.request(b"stats slabs\r\n").endswith(b"END\r\n")
        assert mc.request(b"stats nosuch\r\n") == b"ERROR\r\n"
        assert mc.request(b"stats reset\r\n") == b"RESET\r\n"

    def test_set_get_gets(self, mc):
        assert mc.request(set_cmd(b"c:a", b"hello", flags=42)) == b"STORED\r\n"
        assert mc.request(b"get c:a\r\n") == value_reply(b"c:a", b"hello", 42) + b"END\r\n"
        assert mc.request(b"get c:nosuch\r\n") == b"END\r\n"
        r = mc.request(b"gets c:a\r\n")
        assert r == value_reply(b"c:a", b"hello", 42, cas_of(r)) + b"END\r\n"
        assert mc.request(set_cmd(b"c:b", b"")) == b"STORED\r\n"
        assert (mc.request(b"get c:a c:nosuch c:b\r\n")
                == value_reply(b"c:a", b"hello", 42) + value_reply(b"c:b", b"") + b"END\r\n")
        mc.silent(set_cmd(b"c:a", b"quiet", extra=b" noreply"))
        assert mc.request(b"get c:a\r\n") == value_reply(b"c:a", b"quiet") + b"END\r\n"

    def test_get_line_forms(self, mc):
        """A datagram that is exactly one "get <key>\\r\\n" takes a fast path
        (mc_parse_get1, reply over the request); the forms around it take the
        full parser, and both must answer as memcached does."""
        long_key = b"k" * 250
        assert mc.request(set_cmd(b"c:form", b"v1", flags=3)) == b"STORED\r\n"
        assert mc.request(set_cmd(long_key, b"v2")) == b"STORED\r\n"
        want = value_reply(b"c:form", b"v1", 3) + b"END\r\n"
        for line in (b"get c:form\r\n", b"get c:form\n", b"get c:form \r\n",
                     b"get  c:form\r\n", b"get c:form c:nosuch\r\n"):
            assert mc.request(line) == want, line
        assert mc.request(b"get " + long_key + b"\r\n") == value_reply(long_key, b"v2") + b"END\r\n"
        assert mc.request(b"get c:form\r\nget " + long_key + b"\r\n") == (
            want + value_reply(long_key, b"v2") + b"END\r\n")
        assert mc.request(b"get c:for\r\n") == b"END\r\n"
        assert mc.request(b"get " + long_key + b"k\r\n").startswith(b"CLIENT_ERROR ")

    def test_add_replace(self, mc):
        assert mc.request(set_cmd(b"c:add", b"1", cmd=b"add")) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:add", b"2", cmd=b"add")) == b"NOT_STORED\r\n"
        assert mc.request(set_cmd(b"c:add", b"3", cmd=b"replace")) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:norep", b"4", cmd=b"replace")) == b"NOT_STORED\r\n"
        assert mc.request(b"get c:add c:norep\r\n") == value_reply(b"c:add", b"3") + b"END\r\n"

    def test_append_prepend(self, mc):
        assert mc.request(set_cmd(b"c:ap", b"mid", flags=7)) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:ap", b">>", cmd=b"append")) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:ap", b"<<", cmd=b"prepend")) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:apx", b"x", cmd=b"append")) == b"NOT_STORED\r\n"
        assert mc.request(set_cmd(b"c:apx", b"x", cmd=b"prepend")) == b"NOT_STORED\r\n"
        assert mc.request(b"get c:ap\r\n") == value_reply(b"c:ap", b"<<mid>>", 7) + b"END\r\n"

    def test_cas(self, mc):
        assert mc.request(set_cmd(b"c:cas", b"v1")) == b"STORED\r\n"
        cas = cas_of(mc.request(b"gets c:cas\r\n"))
        assert mc.request(set_cmd(b"c:cas", b"v2", cmd=b"cas", extra=b" %d" % (cas + 1))) == b"EXISTS\r\n"
        assert mc.request(set_cmd(b"c:cas", b"v2", cmd=b"cas", extra=b" %d" % cas)) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:cas", b"v3", cmd=b"cas", extra=b" %d" % cas)) == b"EXISTS\r\n"
        assert mc.request(set_cmd(b"c:nocas", b"v", cmd=b"cas", extra=b" 1")) == b"NOT_FOUND\r\n"
        r = mc.request(b"gets c:cas\r\n")
        assert r == value_reply(b"c:cas", b"v2", 0, cas_of(r)) + b"END\r\n" and cas_of(r) != cas

    def test_incr_decr(self, mc):
        assert mc.request(set_cmd(b"c:n", b"10")) == b"STORED\r\n"
        assert mc.request(b"incr c:n 5\r\n") == b"15\r\n"
        assert mc.request(b"decr c:n 3\r\n") == b"12\r\n"
        assert mc.request(b"decr c:n 100\r\n") == b"0\r\n"
        assert mc.request(b"incr c:n 18446744073709551615\r\n") == b"18446744073709551615\r\n"
        assert mc.request(b"incr c:n 2\r\n") == b"1\r\n"
        assert mc.request(b"incr c:nosuch 1\r\n") == b"NOT_FOUND\r\n"
        assert mc.request(b"decr c:nosuch 1\r\n") == b"NOT_FOUND\r\n"
        assert mc.request(set_cmd(b"c:s", b"abc")) == b"STORED\r\n"
        assert (mc.request(b"incr c:s 1\r\n")
                == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        assert mc.request(b"incr c:n abc\r\n").startswith(b"CLIENT_ERROR ")
        mc.silent(b"incr c:n 1 noreply\r\n")
        # memcached rewrites a shorter number in place, padded with spaces
        assert mc.request(b"get c:n\r\n") == value_reply(b"c:n", b"2".ljust(20)) + b"END\r\n"

    def test_touch_gat_gats(self, mc):
        assert mc.request(set_cmd(b"c:t", b"tv", flags=3)) == b"STORED\r\n"
        assert mc.request(b"touch c:t 1000\r\n") == b"TOUCHED\r\n"
        assert mc.request(b"touch c:nosuch 1000\r\n") == b"NOT_FOUND\r\n"
        assert mc.request(b"gat 2000 c:t c:nosuch\r\n") == value_reply(b"c:t", b"tv", 3) + b"END\r\n"
        r = mc.request(b"gats 0 c:t\r\n")
        assert r == value_reply(b"c:t", b"tv", 3, cas_of(r)) + b"END\r\n"
        assert mc.request(b"mg c:t t\r\n") == b"HD t-1\r\n"
        assert mc.request(b"gat 100 c:t\r\n") == value_reply(b"c:t", b"tv", 3) + b"END\r\n"
        assert re.fullmatch(rb"HD t(99|100)\r\n", mc.request(b"mg c:t t\r\n"))

    def test_expiry(self, mc):
        assert mc.request(set_cmd(b"c:exp", b"soon", exptime=1)) == b"STORED\r\n"
        assert mc.request(set_cmd(b"c:exp2", b"later")) == b"STORED\r\n"
        assert mc.request(b"touch c:exp2 1\r\n") == b"TOUCHED\r\n"
        assert mc.request(b"get c:exp\r\n") == value_reply(b"c:exp", b"soon") + b"END\r\n"
        time.sleep(2.5)
        assert mc.request(b"get c:exp c:exp2\r\n") == b"END\r\n"

    def test_delete(self, mc):
        assert mc.request(set_cmd(b"c:d", b"x")) == b"STORED\r\n"
        assert mc.request(b"delete c:d\r\n") == b"DELETED\r\n"
        assert mc.request(b"delete c:d\r\n") == b"NOT_FOUND\r\n"
        assert mc.request(b"get c:d\r\n") == b"END\r\n"
        assert mc.request(set_cmd(b"c:d", b"x")) == b"STORED\r\n"
        mc.silent(b"delete c:d noreply\r\n")
        assert mc.request(b"get c:d\r\n") == b"END\r\n"

    def test_flush_all(self, mc):
        for i in range(5):
            assert mc.request(set_cmd(b"c:f%d" % i, b"v")) == b"STORED\r\n"
        assert mc.request(b"flush_all\r\n") == b"OK\r\n"
        assert mc.request(b"get c:f0 c:f1 c:f2 c:f3 c:f4\r\n") == b"END\r\n"
        assert mc.request(set_cmd(b"c:f0", b"v")) == b"STORED\r\n"
        mc.silent(b"flush_all noreply\r\n")
        assert mc.request(b"get c:f0\r\n") == b"END\r\n"
        assert mc.request(set_cmd(b"c:f0", b"after")) == b"STORED\r\n"
        assert mc.request(b"flush_all 0\r\n") == b"OK\r\n"
        assert mc.request(b"get c:f0\r\n") == b"END\r\n"

    def test_unknown_command(self, mc):
        assert mc.request(b"bogus\r\n") == b"ERROR\r\n"
        assert mc.request(b"GET x\r\n") == b"ERROR\r\n"

    def test_meta_mn_mg(self, mc):
        assert mc.request(b"mn\r\n") == b"MN\r\n"
        assert mc.request(set_cmd(b"m:g", b"meta", flags=9)) == b"STORED\r\n"
        assert mc.request(b"mg m:g v\r\n") == b"VA 4\r\nmeta\r\n"
        assert mc.request(b"mg m:g\r\n") == b"HD\r\n"
        assert mc.request(b"mg m:g s f v k Oab12\r\n") == b"VA 4 s4 f9 km:g Oab12\r\nmeta\r\n"
        cas = cas_of(mc.request(b"gets m:g\r\n"))
        assert mc.request(b"mg m:g c\r\n") == b"HD c%d\r\n" % cas
        assert mc.request(b"mg m:nosuch v\r\n") == b"EN\r\n"
        assert mc.request(b"mg m:nosuch v q\r\nmn\r\n") == b"MN\r\n"
        assert mc.request(b"mg m:g v q\r\nmn\r\n") == b"VA 4\r\nmeta\r\nMN\r\n"
        # base64 key: "m:g"
        assert mc.request(b"mg bTpn b v k\r\n") == b"VA 4 kbTpn b\r\nmeta\r\n"
        # vivify on miss: the first client wins the recache token (W), the next sees Z
        assert re.fullmatch(rb"VA 0 t(29|30) W\r\n\r\n", mc.request(b"mg m:viv N30 v t\r\n"))
        assert re.fullmatch(rb"VA 0 t(29|30) Z\r\n\r\n", mc.request(b"mg m:viv N30 v t\r\n"))
        assert mc.request(b"mg m:g v T100 t\r\n") == b"VA 4 t100\r\nmeta\r\n"

    def test_meta_ms(self, mc):
        assert mc.request(b"ms m:s 3\r\nabc\r\n") == b"HD\r\n"
        assert mc.request(b"mg m:s v f\r\n") == b"VA 3 f0\r\nabc\r\n"
        assert mc.request(b"ms m:s 2 F5 T0\r\nxy\r\n") == b"HD\r\n"
        assert mc.request(b"mg m:s v f\r\n") == b"VA 2 f5\r\nxy\r\n"
        assert mc.request(b"ms m:s 1 ME\r\nz\r\n") == b"NS\r\n"
        assert mc.request(b"ms m:s 1 MA\r\nz\r\n") == b"HD\r\n"
        assert mc.request(b"ms m:s 1 MP\r\na\r\n") == b"HD\r\n"
        assert mc.request(b"mg m:s v\r\n") == b"VA 4\r\naxyz\r\n"
        assert mc.request(b"ms m:nos 1 MR\r\nz\r\n") == b"NS\r\n"
        assert mc.request(b"ms m:nos 1 MA\r\nz\r\n") == b"NS\r\n"
        cas = int(re.match(rb"HD c(\d+)", mc.request(b"mg m:s c\r\n")).group(1))
        assert mc.request(b"ms m:s 1 C%d\r\nQ\r\n" % (cas + 1)) == b"EX\r\n"
        assert mc.request(b"ms m:s 1 C%d c\r\nQ\r\n" % cas).startswith(b"HD c")
        assert mc.request(b"ms m:nos2 1 C5\r\nQ\r\n") == b"NF\r\n"
        assert mc.request(b"ms m:s 1 q\r\nR\r\nmn\r\n") == b"MN\r\n"
        assert mc.request(b"ms m:s 2 k O9\r\nRS\r\n") == b"HD km:s O9\r\n"
        assert mc.request(b"mg m:s v\r\n") == b"VA 2\r\nRS\r\n"
        assert mc.request(b"ms m:s 3 I\r\nabc\r\n") == b"HD\r\n"
        assert mc.request(b"ms m:s bad\r\nabc\r\n").startswith(b"CLIENT_ERROR")

    def test_meta_md(self, mc):
        assert mc.request(b"ms m:d 1\r\nx\r\n") == b"HD\r\n"
        assert mc.request(b"md m:d\r\n") == b"HD\r\n"
        assert mc.request(b"md m:d\r\n") == b"NF\r\n"
        assert mc.request(b"mg m:d v\r\n") == b"EN\r\n"
        assert mc.request(b"ms m:d 1\r\nx\r\n") == b"HD\r\n"
        assert mc.request(b"md m:d q\r\nmn\r\n") == b"MN\r\n"
        assert mc.request(b"md m:d q\r\nmn\r\n") == b"NF\r\nMN\r\n"
        assert mc.request(b"md m:d O77 k\r\n") == b"NF O77 km:d\r\n"

    def test_meta_ma(self, mc):
        assert mc.request(b"ma m:a\r\n") == b"NF\r\n"
        assert mc.request(b"ma m:a N0 J13 v\r\n") == b"VA 2\r\n13\r\n"
        assert mc.request(b"ma m:a v\r\n") == b"VA 2\r\n14\r\n"
        assert mc.request(b"ma m:a D6 v\r\n") == b"VA 2\r\n20\r\n"
        assert mc.request(b"ma m:a MD D5 v\r\n") == b"VA 2\r\n15\r\n"
        assert mc.request(b"ma m:a M- D100 v\r\n") == b"VA 1\r\n0\r\n"
        assert mc.request(b"ma m:a\r\n") == b"HD\r\n"
        assert mc.request(b"ma m:a q\r\nmn\r\n") == b"MN\r\n"
        assert mc.request(b"get m:a\r\n") == value_reply(b"m:a", b"2 ") + b"END\r\n"
        assert mc.request(b"ms m:a 1\r\nx\r\n") == b"HD\r\n"
        assert (mc.request(b"ma m:a\r\n")
                == b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")

    def test_batched_requests(self, mc):
        req = (set_cmd(b"b:1", b"one") + b"get b:1\r\n" + b"incr b:1 1\r\n" + b"mn\r\n"
               + b"delete b:1\r\n" + b"bogus\r\n" + b"version\r\n")
        r = mc.request(req)
        assert r.startswith(b"STORED\r\n" + value_reply(b"b:1", b"one") + b"END\r\n"
                            + b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                            + b"MN\r\nDELETED\r\nERROR\r\nVERSION ")

    def test_reserved_field_ignored(self, mc):
        assert mc.request(b"mn\r\n", reserved=0xbeef) == b"MN\r\n"

    def test_multi_datagram_reply(self, mc):
        rng = random.Random(5)
        val = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5000))
        assert mc.request(set_cmd(b"big:1", val[:1000], flags=11)) == b"STORED\r\n"
        for i in range(1, 5):
            assert mc.request(set_cmd(b"big:1", val[i * 1000:(i + 1) * 1000], cmd=b"append")) \
                == b"STORED\r\n"
        want = value_reply(b"big:1", val, 11) + b"END\r\n"
        assert mc.request(b"get big:1\r\n") == want
        self._check_split(mc, len(want))
        r = mc.request(b"gets big:1\r\n")
        assert r == value_reply(b"big:1", val, 11, cas_of(r)) + b"END\r\n"
        assert mc.request(b"mg big:1 v s\r\n") == b"VA 5000 s5000\r\n" + val + b"\r\n"
        # Three 5000-byte values in one reply: about 15 KB, 11+ datagrams.
        for k in (b"big:2", b"big:3"):
            assert mc.request(set_cmd(k, val[:1200])) == b"STORED\r\n"
            for off in range(1200, 5000, 1200):
                assert mc.request(set_cmd(k, val[off:off + 1200], cmd=b"append")) == b"STORED\r\n"
        got = mc.request(b"get big:1 big:2 big:3\r\n")
        assert got == (value_reply(b"big:1", val, 11) + value_reply(b"big:2", val)
                       + value_reply(b"big:3", val) + b"END\r\n")
        self._check_split(mc, len(got))

    @staticmethod
    def _check_split(mc, length, multi=True):
        seqs = sorted(s for s, _, _ in mc.last_dgrams)
        total = mc.last_dgrams[0][1]
        assert seqs == list(range(total)), "sequence numbers %r" % seqs
        assert total >= -(-length // SEG_PAYLOAD)
        assert (total > 1) == multi, "%d bytes in %d datagram(s)" % (length, total)
        assert all(n <= DGRAM_MAX for _, _, n in mc.last_dgrams)

    def test_reply_boundaries(self, mc):
        # Replies of exactly one datagram's payload, one byte more, two full ones.
        for target in (SEG_PAYLOAD - 1, SEG_PAYLOAD, SEG_PAYLOAD + 1, 2 * SEG_PAYLOAD,
                       2 * SEG_PAYLOAD + 1):
            key = b"edge:%d" % target
            # reply = "VALUE key 0 N\r\n" + N bytes + "\r\nEND\r\n"; solve for N
            n = target
            for _ in range(3):
                n = target - len(b"VALUE %s 0 %d\r\n\r\nEND\r\n" % (key, n))
            val = (b"%d-" % target * 2000)[:n]
            half = n // 2
            assert mc.request(set_cmd(key, val[:half])) == b"STORED\r\n"
            assert mc.request(set_cmd(key, val[half:], cmd=b"append")) == b"STORED\r\n"
            want = value_reply(key, val) + b"END\r\n"
            assert len(want) == target
            assert mc.request(b"get %s\r\n" % key) == want
            self._check_split(mc, target, multi=target > SEG_PAYLOAD)

    def test_largest_request_datagram(self, mc):
        head = b"set lr:1 0 0 %d\r\n"
        n = REQ_MAX - 8 - len(head % 1000) - 2
        val = b"L" * n
        req = set_cmd(b"lr:1", val)
        assert len(req) + 8 == REQ_MAX
        assert mc.request(req) == b"STORED\r\n"
        assert mc.request(b"get lr:1\r\n") == value_reply(b"lr:1", val) + b"END\r\n"

    def test_zz_clean_exit_and_counters(self, one):
        # Last test of the class: pollux-dp stops on SIGTERM, exits 0, prints
        # counters; nothing was dropped on a clean wire.
        res = check_clean_stop(one)
        c = res.counters[0]
        assert c.get("udp_reqs", 0) > 100 and c.get("udp_replies", 0) > 100
        for bad in ("drop_frame", "drop_truncated", "drop_bad_udp", "drop_nomem", "tx_drops",
                    "drop_port", "fwd_full"):
            assert c.get(bad, 0) == 0, "%s=%d\n%s" % (bad, c[bad], res.output)


# -- ARP and ICMP ---------------------------------------------------------------
class TestNetwork:
    def test_arp(self, one):
        one.run_client(["ip", "neigh", "flush", "dev", pxnet.CLI_IF])
        mc = Mc(one)
        try:
            mc.alive()
        finally:
            mc.close()
        mac, state = one.client_neigh()
        assert mac == one.server_mac(), "neighbour entry %s %s, veth-srv is %s" % (
            mac, state, one.server_mac())
        assert state in ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT"), state

    def test_ping(self, one):
        r = one.run_client(["ping", "-c", "3", "-i", "0.2", "-W", "2", SRV_IP], check=False)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout
        r = one.run_client(["ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "1400", SRV_IP],
                           check=False)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout

    def test_no_arp_for_other_addresses(self, one):
        r = one.run_client(["ping", "-c", "1", "-W", "1", "198.18.0.3"], check=False)
        assert r.returncode != 0, r.stdout

    def test_zz_counters(self, one):
        res = check_clean_stop(one)
        c = res.counters[0]
        assert c.get("arp_replies", 0) >= 1
        assert c.get("icmp_echo", 0) >= 5
        assert c.get("drop_not_ours", 0) >= 1   # ARP requests for 198.18.0.3


# -- malformed input --------------------------------------------------------------
class TestMalformed:
    @pytest.fixture(scope="class")
    def bad(self):
        net = start(1, ["lcores=1"] + SETTINGS)
        yield net
        finish(net)

    def test_frames_and_garbage(self, bad):
        mc = Mc(bad)
        silent_frames = 0
        try:
            mc.alive()
            # Shorter than the frame header, header only, multi-datagram requests.
            for raw in (b"", b"\x00", b"\x00\x01\x00", b"\x00\x01\x00\x00\x00\x01\x00"):
                mc.send_raw(raw)
                silent_frames += 1
            mc.silent(b"", total=1)
            mc.silent(b"get a\r\n", seq=0, total=2)
            mc.silent(b"get a\r\n", seq=1, total=2)
            mc.silent(b"get a\r\n", seq=1, total=1)
            mc.silent(b"get a\r\n", seq=0, total=0)
            silent_frames += 5
            time.sleep(0.2)
            assert not mc.stale, "replies to dropped frames: %r" % mc.stale
            mc.alive()
            # Requests cut short: the datagram ends inside the data block or line.
            for req in (b"set t:1 0 0 10\r\nabc", b"set t:1 0 0 10\r\n", b"get t:1",
                        b"set t:1 0 0 10\r\n0123456789"):
                mc.silent(req)
            mc.alive()
            assert mc.request(b"get t:1\r\n") == b"END\r\n", "a truncated set was stored"
            # Served requests before a truncated one are answered; the cut one is not.
            assert mc.request(b"mn\r\nset t:2 0 0 5\r\nab") == b"MN\r\n"
            # Protocol errors: error lines (memcached's wording may differ).
            for req in (b"set t:3 0 0 -1\r\n", b"set t:3 0 0 3\r\nabcde\r\n",
                        b"get " + b"k" * 251 + b"\r\n", b"set t:3 0 0\r\n", b"incr\r\n",
                        b"\r\n", b"mg\r\n", b"ms t:3 S100\r\n", b"ma t:3 Dx\r\n",
                        b"GET / HTTP/1.1\r\nHost: 198.18.0.1\r\nUser-Agent: x\r\n\r\n",
                        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
                rid = mc.send(req)
                r = mc.recv_reply(rid, 0.5)
                assert r is None or ERROR_LINES.match(r), "%r -> %r" % (req[:60], r)
            mc.alive()
            assert mc.request(b"get t:3\r\n") == b"END\r\n"
            # Binary garbage, memcached binary protocol magic, NUL bytes.
            rng = random.Random(11)
            for i in range(150):
                n = rng.choice((1, 7, 8, 9, 24, 100, 600, 1400))
                junk = bytes(rng.randrange(256) for _ in range(n))
                if i % 5 == 0:
                    junk = b"\x80\x00\x00\x03" + junk
                if i % 7 == 0:
                    junk = junk.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n"
                rid = mc.send(junk)
                r = mc.recv_reply(rid, 0.02 if i % 10 else 0.3)
                assert r is None or ERROR_LINES.match(r), "%r -> %r" % (junk[:60], r[:200])
            # UDP datagrams longer than one frame arrive as IP fragments: dropped.
            mc.silent(set_cmd(b"t:frag", b"F" * 3000))
            mc.silent(b"get " + b" ".join(b"key%04d" % i for i in range(400)) + b"\r\n")
            # quit over UDP ends the datagram, as memcached does: no MN.
            rid = mc.send(b"quit\r\nmn\r\n")
            r = mc.recv_reply(rid, 0.5)
            assert r is None, r
            time.sleep(0.3)
            mc.alive()
        finally:
            mc.close()
        # Other ports of the appliance's address: dropped, not answered.
        mc2 = Mc(bad, port=BASE + 2)
        try:
            mc2.silent(b"version\r\n")
        finally:
            mc2.close()
        res = check_clean_stop(bad)
        c = res.counters[0]
        assert c.get("drop_frame", 0) >= silent_frames, res.output
        assert c.get("drop_truncated", 0) >= 4, res.output
        assert c.get("drop_bad_ip", 0) >= 2, res.output     # the IP fragments
        assert c.get("drop_port", 0) >= 1, res.output


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


class Frames:
    """Hand-made Ethernet/IPv4/UDP frames from the client to the appliance."""

    def __init__(self, net):
        self.dst = bytes.fromhex(net.server_mac().replace(":", ""))
        self.src = bytes.fromhex(net.client_mac().replace(":", ""))
        self.sip = socket.inet_aton(pxnet.CLI_IP)
        self.dip = socket.inet_aton(SRV_IP)

    def eth(self, etype, payload, dst=None):
        return (dst or self.dst) + self.src + etype.to_bytes(2, "big") + payload

    def ipv4(self, proto, payload, dst=None, options=b"", frag=0x4000, tot_len=None, ihl=None,
             version=4, bad_csum=False):
        ihl = (20 + len(options)) // 4 if ihl is None else ihl
        tl = 20 + len(options) + len(payload) if tot_len is None else tot_len
        h = (bytes([(version << 4) | ihl, 0]) + tl.to_bytes(2, "big") + b"\x12\x34"
             + frag.to_bytes(2, "big") + bytes([64, proto]) + b"\0\0" + self.sip
             + (dst or self.dip) + options)
        c = csum(h) ^ (0x5555 if bad_csum else 0)
        return h[:10] + c.to_bytes(2, "big") + h[12:] + payload

    def udp(self, sport, dport, payload, cksum="ok", ulen=None, dst=None):
        ulen = 8 + len(payload) if ulen is None else ulen
        u = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + ulen.to_bytes(2, "big") + b"\0\0"
        u += payload
        if cksum in ("ok", "bad"):
            ph = self.sip + (dst or self.dip) + b"\0\x11" + len(u).to_bytes(2, "big")
            c = csum(ph + u) or 0xffff
            if cksum == "bad":
                c ^= 0x00ff
            u = u[:6] + c.to_bytes(2, "big") + u[8:]
        return u

    def mc(self, sport, rid, payload, dport=BASE, **ip):
        return self.eth(0x0800, self.ipv4(17, self.udp(sport, dport, pxnet.frame(rid, payload)), **ip))


class TestMalformedFrames:
    """Frames a kernel would never send, from an AF_PACKET socket in the client namespace."""

    @pytest.fixture(scope="class")
    def net(self):
        net = start(1, ["lcores=1"] + SETTINGS)
        yield net
        finish(net)

    def test_crafted_frames(self, net):
        f = Frames(net)
        raw = net.client_raw_socket()
        mc = Mc(net)
        sport = mc.sock.getsockname()[1]
        rid = [100]
        try:
            mc.alive()

            def served(frame_fn, what):
                rid[0] += 1
                raw.send(frame_fn(rid[0]))
                r = mc.recv_reply(rid[0], 2.0)
                assert r == b"MN\r\n", "%s: %r" % (what, r)

            def dropped(frame, what):
                rid[0] += 1
                raw.send(frame)
                r = mc.recv_reply(rid[0], 0.2)
                assert r is None, "%s answered: %r" % (what, r)

            mn = b"mn\r\n"
            served(lambda i: f.mc(sport, i, mn), "plain")
            served(lambda i: f.eth(0x0800, f.ipv4(17, f.udp(sport, BASE, pxnet.frame(i, mn),
                                                            cksum="none"))), "no UDP checksum")
            served(lambda i: f.mc(sport, i, mn, options=b"\x01\x01\x01\x00"), "IP options")
            served(lambda i: f.mc(sport, i, mn) + b"\xee" * 30, "Ethernet padding")
            served(lambda i: f.mc(sport, i, mn, frag=0), "DF clear")
            # The frames below are dropped; pollux-dp counts why.
            want = dict(drop_bad_ip=0, drop_bad_udp=0, drop_not_ipv4=0, drop_not_ours=0,
                        drop_port=0)
            cases = [
                ("drop_bad_ip", f.mc(sport, 0, mn, bad_csum=True), "bad IP checksum"),
                ("drop_bad_ip", f.mc(sport, 0, mn, tot_len=2000), "IP length past the frame"),
                ("drop_bad_ip", f.mc(sport, 0, mn, tot_len=10), "IP length below its header"),
                ("drop_bad_ip", f.mc(sport, 0, mn, ihl=4), "IHL 4"),
                ("drop_bad_ip", f.mc(sport, 0, mn, ihl=15), "IHL past the packet"),
                ("drop_bad_ip", f.mc(sport, 0, mn, version=6), "version 6 in an IPv4 frame"),
                ("drop_bad_ip", f.mc(sport, 0, mn, frag=0x2000), "first fragment"),
                ("drop_bad_ip", f.mc(sport, 0, mn, frag=0x0010), "later fragment"),
                ("drop_port", f.eth(0x0800, f.ipv4(6, b"\0" * 20)),
                 "TCP to port 0 (not served; a bad checksum, so not even a RST)"),
                ("drop_bad_ip", f.eth(0x0800, f.ipv4(47, b"\0" * 20)), "GRE"),
                ("drop_bad_ip", f.eth(0x0800, f.ipv4(1, b"\x08\x00\x00\x00\0\1\0\1")),
                 "ICMP echo with a bad checksum"),
                ("drop_bad_ip", f.eth(0x0800, f.ipv4(1, b"\x0d\x00\xf2\xff\0\0\0\0")),
                 "ICMP timestamp"),
                ("drop_bad_ip", f.eth(0x0800, b"\x45\x00"), "IPv4 header cut short"),
                ("drop_bad_udp", f.eth(0x0800, f.ipv4(17, f.udp(sport, BASE, pxnet.frame(1, mn),
                                                                 cksum="bad"))), "bad UDP checksum"),
                ("drop_bad_udp", f.eth(0x0800, f.ipv4(17, f.udp(sport, BASE, pxnet.frame(1, mn),
                                                                 ulen=400, cksum="none"))),
                 "UDP length past the IP packet"),
                ("drop_bad_udp", f.eth(0x0800, f.ipv4(17, f.udp(sport, BASE, pxnet.frame(1, mn),
                                                                 ulen=7, cksum="none"))),
                 "UDP length below its header"),
                ("drop_bad_udp", f.eth(0x0800, f.ipv4(17, b"\0\1\0")), "UDP header cut short"),
                ("drop_not_ours", f.mc(sport, 0, mn, dst=socket.inet_aton("198.18.0.9")),
                 "another IP address"),
                ("drop_not_ours", f.eth(0x0806, bytes.fromhex("0001080006040001") + f.src + f.sip
                                        + b"\0" * 6 + socket.inet_aton("198.18.0.9")),
                 "ARP request for another address"),
                ("drop_not_ours", f.eth(0x0806, bytes.fromhex("0001080006040002") + f.src + f.sip
                                        + f.dst + f.dip), "ARP reply"),
                ("drop_not_ours", f.eth(0x0806, bytes.fromhex("00010800")), "ARP cut short"),
                ("drop_not_ipv4", f.eth(0x86dd, b"\x60" + b"\0" * 39), "IPv6"),
                ("drop_not_ipv4", f.eth(0x88b5, b"local experimental"), "unknown ethertype"),
                ("drop_not_ipv4", f.eth(0x8100, b"\0\1\x08\x00" + f.ipv4(17, f.udp(
                    sport, BASE, pxnet.frame(1, mn)))), "VLAN-tagged"),
                ("drop_port", f.mc(sport, 0, mn, dport=BASE + 2), "UDP port base+2 with 1 lcore"),
                ("drop_port", f.mc(sport, 0, mn, dport=53), "UDP port 53"),
            ]
            for counter, frame, what in cases:
                want[counter] += 1
                rid[0] += 1
                # Give every dropped frame a request id of its own, where it has one.
                dropped(frame, what)
                mc.alive()
            raw.send(f.eth(0x0800, b""))     # Ethernet header only
            want["drop_bad_ip"] += 1
            mc.alive()
            assert not mc.stale, mc.stale
        finally:
            raw.close()
            mc.close()
        res = check_clean_stop(net)
        c = res.counters[0]
        for counter, n in want.items():
            assert c.get(counter, 0) >= n, "%s=%d, expected %d or more\n%s" % (
                counter, c.get(counter, 0), n, res.output)


# -- two lcores: partitions ----------------------------------------------------------
class TestPartitions:
    @pytest.fixture(scope="class")
    def two(self):
        net = start(2, ["lcores=2"] + SETTINGS)
        yield net
        finish(net)

    KEYS = [b"part:%d" % i for i in range(300)]

    def test_keys_cover_both_partitions(self):
        parts = [partition(k, 2) for k in self.KEYS]
        assert 50 < parts.count(0) < 250

    def test_write_one_port_read_other(self, two):
        mc = Mc(two)
        try:
            vals = {}
            for i, k in enumerate(self.KEYS):
                p = partition(k, 2)
                # Half the keys go through the other partition's port, half through
                # their own; read back through the one not used to write.
                wport = BASE + 1 + (1 - p if i % 2 == 0 else p)
                rport = 2 * BASE + 3 - wport
                vals[k] = b"%s=%d" % (k, i * 7919)
                assert mc.request(set_cmd(k, vals[k], flags=i), port=wport) == b"STORED\r\n"
                got = mc.request(b"get %s\r\n" % k, port=rport)
                assert got == value_reply(k, vals[k], i) + b"END\r\n", (k, p, wport, rport)
            # Every key through both partition ports and the base port.
            for port in (BASE, BASE + 1, BASE + 2):
                for i, k in enumerate(self.KEYS):
                    r = mc.request(b"mg %s v f\r\n" % k, port=port)
                    assert r == b"VA %d f%d\r\n%s\r\n" % (len(vals[k]), i, vals[k]), (k, port)
            # Multi-key reads spanning both partitions, through each port.
            batch = self.KEYS[:40]
            want = b"".join(value_reply(k, vals[k], self.KEYS.index(k)) for k in batch) + b"END\r\n"
            for port in (BASE, BASE + 1, BASE + 2):
                assert mc.request(b"get " + b" ".join(batch) + b"\r\n", port=port) == want
            r = mc.request(b"stats\r\n", port=BASE + 2)
            st = dict(re.findall(rb"STAT (\S+) (\S+)\r\n", r))
            assert int(st[b"curr_items"]) == len(self.KEYS) and int(st[b"threads"]) == 2
            assert not mc.stale
        finally:
            mc.close()

    def test_mutations_across_partitions(self, two):
        mc = Mc(two)
        try:
            keys = [k for k in (b"mx:%d" % i for i in range(40))]
            assert len({partition(k, 2) for k in keys}) == 2
            # One datagram with sets for keys of both partitions: forwarded
            # mid-datagram, replies in request order.
            req = b"".join(set_cmd(k, b"%d" % i) for i, k in enumerate(keys[:20]))
            for port in (BASE + 1, BASE + 2):
                assert mc.request(req, port=port) == b"STORED\r\n" * 20
            req = b"".join(b"incr %s 100\r\n" % k for k in keys[:20]) + b"mn\r\n"
            assert mc.request(req, port=BASE + 1) == b"".join(
                b"%d\r\n" % (i + 100) for i in range(20)) + b"MN\r\n"
            req = b"".join(b"ma %s v\r\n" % k for k in keys[:20])
            assert mc.request(req, port=BASE + 2) == b"".join(
                b"VA %d\r\n%d\r\n" % (len(b"%d" % (i + 101)), i + 101) for i in range(20))
            for i, k in enumerate(keys[:20]):
                port = BASE + 1 + (1 - partition(k, 2))
                assert mc.request(set_cmd(k, b"-", cmd=b"append"), port=port) == b"STORED\r\n"
                assert mc.request(b"touch %s 1000\r\n" % k, port=port) == b"TOUCHED\r\n"
                assert mc.request(b"gat 0 %s\r\n" % k, port=port) == \
                    value_reply(k, b"%d-" % (i + 101)) + b"END\r\n"
            # cas through the non-owner port
            k = next(k for k in keys if partition(k, 2) == 0)
            cas = cas_of(mc.request(b"gets %s\r\n" % k, port=BASE + 2))
            assert mc.request(set_cmd(k, b"C", cmd=b"cas", extra=b" %d" % cas), port=BASE + 2) \
                == b"STORED\r\n"
            req = b"".join(b"delete %s\r\n" % k for k in keys[:20])
            assert mc.request(req, port=BASE + 2) == b"DELETED\r\n" * 20
            assert mc.request(b"get " + b" ".join(keys[:20]) + b"\r\n", port=BASE + 1) == b"END\r\n"
            # flush_all through one partition's port empties both.
            for k in keys:
                assert mc.request(b"ms %s 1\r\nx\r\n" % k, port=BASE) == b"HD\r\n"
            assert mc.request(b"flush_all\r\n", port=BASE + 2) == b"OK\r\n"
            for port in (BASE, BASE + 1, BASE + 2):
                assert mc.request(b"get " + b" ".join(keys) + b"\r\n", port=port) == b"END\r\n"
            assert not mc.stale
        finally:
            mc.close()

    def test_forwarding_mid_reply(self, two):
        """A datagram whose requests alternate partitions, with multi-datagram
        replies before and after each hop: the reply segments travel with the
        request to the other lcore and come back in order."""
        mc = Mc(two)
        try:
            ks = [b"fw:%d" % i for i in range(60)]
            p0 = [k for k in ks if partition(k, 2) == 0]
            p1 = [k for k in ks if partition(k, 2) == 1]
            val = bytes(97 + i % 26 for i in range(1300))
            for k in p0[:2] + p1[:2]:
                assert mc.request(set_cmd(k, val)) == b"STORED\r\n"
                for _ in range(3):
                    assert mc.request(set_cmd(k, val, cmd=b"append")) == b"STORED\r\n"
            big = val * 4
            req = (b"get %s\r\n" % p0[0] + set_cmd(p1[5], b"hi") + b"get %s\r\n" % p1[0]
                   + set_cmd(p0[5], b"ho") + b"get %s %s\r\n" % (p0[1], p1[1]) + b"mn\r\n")
            want = (value_reply(p0[0], big) + b"END\r\nSTORED\r\n" + value_reply(p1[0], big)
                    + b"END\r\nSTORED\r\n" + value_reply(p0[1], big) + value_reply(p1[1], big)
                    + b"END\r\nMN\r\n")
            for port in (BASE, BASE + 1, BASE + 2):
                assert mc.request(req, port=port) == want, port
                assert len(mc.last_dgrams) > 10
            # Meta commands that write (N, T) run on the owner.
            for k in (p0[7], p1[7]):
                for port in (BASE + 1, BASE + 2):
                    assert re.fullmatch(rb"VA 0 t(59|60) W\r\n\r\n",
                                        mc.request(b"mg %s N30 v T60 t\r\n" % k, port=port))
                    assert mc.request(b"md %s q\r\nmn\r\n" % k, port=port) == b"MN\r\n"
            # noreply mutations forwarded: nothing comes back, the writes happen.
            for n, port in enumerate((BASE + 1, BASE + 2)):
                mc.silent(b"".join(set_cmd(k, b"nr%d" % n, extra=b" noreply")
                                   for k in p0[:5] + p1[:5]), port=port)
                assert mc.request(b"get %s %s\r\n" % (p0[4], p1[4]), port=port) == (
                    value_reply(p0[4], b"nr%d" % n) + value_reply(p1[4], b"nr%d" % n) + b"END\r\n")
            # A delayed flush_all reaches both partitions.
            assert mc.request(b"flush_all 1\r\n", port=BASE + 1) == b"OK\r\n"
            assert mc.request(b"get %s %s\r\n" % (p0[2], p1[2])).count(b"VALUE") == 2
            time.sleep(2.2)
            assert mc.request(b"get %s %s\r\n" % (p0[2], p1[2])) == b"END\r\n"
            assert not mc.stale
        finally:
            mc.close()

    def test_zz_counters(self, two):
        res = check_clean_stop(two)
        assert set(res.counters) == {0, 1}, res.output
        assert res.total("fwd_out") > 0 and res.total("fwd_in") == res.total("fwd_out"), res.output
        assert res.total("remote_reads") > 0, res.output
        for bad in ("drop_frame", "drop_truncated", "drop_bad_udp", "fwd_full", "drop_nomem"):
            assert res.total(bad) == 0, res.output


class TestRegressions:
    """pollux-dp bugs these tests found, named for what broke: a gat whose
    keys span partitions bounced between lcores forever; replies of more
    than 128 datagrams (and bursts of multi-datagram replies) lost their
    tail when the TX array filled."""

    def test_gat_across_partitions(self):
        net = start(2, ["lcores=2"] + SETTINGS)
        try:
            mc = Mc(net)
            k0 = next(k for k in (b"g%d" % i for i in range(99)) if partition(k, 2) == 0)
            k1 = next(k for k in (b"g%d" % i for i in range(99)) if partition(k, 2) == 1)
            assert mc.request(set_cmd(k0, b"zero")) == b"STORED\r\n"
            assert mc.request(set_cmd(k1, b"one")) == b"STORED\r\n"
            r = mc.request(b"gat 100 %s %s\r\n" % (k0, k1), timeout=1.0)
            assert r == value_reply(k0, b"zero") + value_reply(k1, b"one") + b"END\r\n"
            mc.close()
        finally:
            finish(net)

    def test_reply_over_128_datagrams(self):
        net = start(1, ["lcores=1"] + SETTINGS)
        try:
            mc = Mc(net)
            val = bytes(97 + i % 26 for i in range(1400))
            assert mc.request(set_cmd(b"huge", val)) == b"STORED\r\n"
            for _ in range(139):                       # 196 KB: 141 datagrams
                assert mc.request(set_cmd(b"huge", val, cmd=b"append")) == b"STORED\r\n"
            assert mc.request(b"get huge\r\n") == value_reply(b"huge", val * 140) + b"END\r\n"
            mc.close()
        finally:
            finish(net)

    def test_burst_of_multi_datagram_replies(self):
        net = start(1, ["lcores=1"] + SETTINGS)
        try:
            mc = Mc(net)
            val = bytes(97 + i % 26 for i in range(1400))
            assert mc.request(set_cmd(b"six", val)) == b"STORED\r\n"
            for _ in range(3):
                assert mc.request(set_cmd(b"six", val, cmd=b"append")) == b"STORED\r\n"
            want = value_reply(b"six", val * 4) + b"END\r\n"        # 5 datagrams
            rids = [mc.send(b"get six\r\n") for _ in range(64)]
            parts = {}
            mc.sock.settimeout(1.0)
            try:
                while True:
                    rid, seq, tot, _res, pay = pxnet.unframe(mc.sock.recv(2048))
                    parts.setdefault(rid, {})[seq] = pay
            except socket.timeout:
                pass
            for rid in rids:
                got = b"".join(parts.get(rid, {}).get(i, b"?") for i in range(5))
                assert got == want, "reply %d: %d of 5 datagrams" % (rid, len(parts.get(rid, {})))
            mc.close()
        finally:
            finish(net)


# -- fault injection ---------------------------------------------------------------------
def fault_load(net, n_ops, ports, seed, window=16, attempt_timeout=0.25, deadline_s=100):
    """Closed-loop set/get with per-key serialisation and retries under faults.

    Every request id's exact reply is known when it is sent (sets are
    idempotent retries of the same value; a key has one operation in flight),
    so every datagram that comes back is checked byte for byte, including
    late and duplicated replies to ids already answered or retried."""
    rng = random.Random(seed)
    sock = net.client_socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    keys = [b"fault:%d:%d" % (seed, i) for i in range(300)]
    value = {}                      # key -> current value (None: never set)
    expect = {}                     # rid -> exact reply
    parts = {}                      # rid -> {seq: payload}
    total_of = {}                   # rid -> total
    owner = {}                      # rid -> op
    inflight = {}                   # key -> op
    stats = dict(done=0, retries=0, stale=0, dup_dgrams=0, multi=0, wrong=[])
    next_id = [rng.randrange(1, 1000)]
    issued = 0
    start_t = time.monotonic()

    def send(op):
        rid = next_id[0]
        next_id[0] += 1
        assert rid <= 0xffff, "request ids exhausted"
        expect[rid] = op["expect"]
        owner[rid] = op
        op["rids"].append(rid)
        op["sent"] = time.monotonic()
        sock.sendto(pxnet.frame(rid, op["req"]), (SRV_IP, rng.choice(ports)))

    # A key rests after each operation: delayed or reordered copies of its
    # last requests (fault_rx_delay holds packets fault_delay_us, reorder one
    # burst) must land before the next operation, or an old set arriving late
    # would legitimately change the value a later get reads.
    cool = {}                       # key -> time it may be used again

    def new_op():
        now = time.monotonic()
        for _ in range(50):
            k = rng.choice(keys)
            if k not in inflight and cool.get(k, 0) <= now:
                break
        else:
            return None
        if value.get(k) is None or rng.random() < 0.4:
            n = rng.choice((8, 40, 200, 1300, 1390)) if rng.random() < 0.3 else rng.randrange(1, 100)
            ver = rng.randrange(1 << 30)
            v = (b"%s/%d/" % (k, ver) * (n // 8 + 20))[:n]
            op = dict(key=k, kind="set", newval=v, req=set_cmd(k, v), expect=b"STORED\r\n")
        else:
            v = value[k]
            op = dict(key=k, kind="get", req=b"get %s\r\n" % k,
                      expect=value_reply(k, v) + b"END\r\n")
        op.update(rids=[], attempts=1, done=False)
        inflight[k] = op
        return op

    def complete(rid, data):
        if data != expect[rid]:
            stats["wrong"].append((rid, expect[rid][:80], data[:80]))
            return
        op = owner[rid]
        if op["done"]:
            stats["stale"] += 1
            return
        op["done"] = True
        stats["done"] += 1
        if total_of[rid] > 1:
            stats["multi"] += 1
        if op["kind"] == "set":
            value[op["key"]] = op["newval"]
        del inflight[op["key"]]
        cool[op["key"]] = time.monotonic() + 0.05

    while stats["done"] < n_ops:
        now = time.monotonic()
        assert now - start_t < deadline_s, "fault load did not finish in %ds: %r" % (deadline_s, stats)
        while len(inflight) < window and issued < n_ops:
            op = new_op()
            if op is None:
                break
            issued += 1
            send(op)
        r, _, _ = select.select([sock], [], [], 0.02)
        while r:
            try:
                d, addr = sock.recvfrom(65536)
            except BlockingIOError:
                break
            assert addr[0] == SRV_IP and len(d) <= DGRAM_MAX
            rid, seq, tot, _res, pay = pxnet.unframe(d)
            assert rid in expect, "reply to request id %d that was never sent" % rid
            assert seq < tot, (rid, seq, tot)
            if total_of.setdefault(rid, tot) != tot:
                stats["wrong"].append((rid, "total %d then %d" % (total_of[rid], tot), pay[:40]))
                continue
            p = parts.setdefault(rid, {})
            if seq in p:
                stats["dup_dgrams"] += 1
                if p[seq] != pay:
                    stats["wrong"].append((rid, "seq %d differs" % seq, pay[:40]))
                if len(p) == tot:
                    complete(rid, b"".join(p[i] for i in range(tot)))
                continue
            p[seq] = pay
            if len(p) == tot:
                complete(rid, b"".join(p[i] for i in range(tot)))
        now = time.monotonic()
        for op in list(inflight.values()):
            if now - op["sent"] > attempt_timeout:
                op["attempts"] += 1
                assert op["attempts"] <= 40, "no reply after 40 attempts: %r" % op["req"][:60]
                stats["retries"] += 1
                send(op)
        assert not stats["wrong"], "wrong replies: %r" % stats["wrong"][:5]
    # Late duplicates still in flight are checked too.
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        d, _ = sock.recvfrom(65536)
        rid, seq, tot, _res, pay = pxnet.unframe(d)
        assert rid in expect
        p = parts.setdefault(rid, {})
        if seq in p:
            assert p[seq] == pay, "late duplicate of %d/%d differs" % (rid, seq)
        p[seq] = pay
        if len(p) == tot:
            complete(rid, b"".join(p[i] for i in range(tot)))
    sock.close()
    assert not stats["wrong"], "wrong replies: %r" % stats["wrong"][:5]
    stats["seconds"] = round(time.monotonic() - start_t, 1)
    stats["requests"] = len(expect)
    return stats


class TestIdleWake:
    """An idle lcore sleeps in ppoll() on its RX queue's kernel socket, so a
    frame wakes it at once. With sleeps allowed to grow to a second, each
    request after an idle spell must still be answered in milliseconds;
    with fixed sleeps each would wait up to a second, and all five under
    200 ms would have odds of 0.2^5. One lcore takes AF_XDP on a veth with
    hugepages (AF_PACKET without), two take AF_PACKET."""

    @pytest.fixture(scope="class", params=[1, 2])
    def sleepy(self, request):
        n = request.param
        net = start(n, ["lcores=%d" % n, "idle_spin_us=0", "idle_sleep_max_us=1000000"]
                    + SETTINGS)
        yield net
        finish(net)

    def test_frame_wakes_idle_lcore(self, sleepy):
        port_line = next(l for l in sleepy.dp.lines if "queue pair(s)" in l)
        assert "idle lcores sleep until a frame arrives" in port_line, port_line
        mc = Mc(sleepy)
        try:
            mc.alive()
            assert mc.request(b"set wake 0 0 2\r\nhi\r\n") == b"STORED\r\n"
            rtts = []
            for _ in range(5):
                time.sleep(1.2)  # long enough for the sleeps to grow past 200 ms
                t = time.monotonic()
                assert mc.request(b"get wake\r\n") == b"VALUE wake 0 2\r\nhi\r\nEND\r\n"
                rtts.append(time.monotonic() - t)
            assert max(rtts) < 0.2, "round trips after idle spells: %r" % rtts
        finally:
            mc.close()
        res = check_clean_stop(sleepy)
        assert sum(c.get("sleeps", 0) for c in res.counters.values()) > 5, res.output


class TestFaults:
    @pytest.mark.parametrize("lcores", [1, 2])
    def test_set_get_under_faults(self, lcores):
        net = start(lcores, ["lcores=%d" % lcores, "fault_delay_us=2000"] + FAULTS + SETTINGS)
        try:
            ports = [BASE] + [BASE + 1 + p for p in range(lcores)]
            st = fault_load(net, n_ops=3000, ports=ports, seed=lcores)
            print("faults lcores=%d: %r" % (lcores, st))
            assert st["retries"] > 0, st    # the faults were there
            assert st["multi"] > 0, st      # and multi-datagram replies went through them
            res = check_clean_stop(net)
            for name in ("fault_drops", "fault_dups", "fault_reorders", "fault_delays"):
                assert res.total(name) > 0, "%s=0\n%s" % (name, res.output)
        finally:
            finish(net)


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    os.environ["POLLUX_DP"] = os.path.abspath(argv[1])
    if os.geteuid() != 0:
        print("test_udp: needs root (network namespaces): skipped")
        return 77
    for tool in ("ip", "ethtool", "ping"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin",
                                                                                      "/sbin"]):
            print("test_udp: %s is missing (scripts/deps.sh installs it)" % tool)
            return 1
    if not os.access(os.environ["POLLUX_DP"], os.X_OK):
        print("test_udp: %s not built (ninja -C the build dir first)" % argv[1])
        return 1
    return pytest.main([os.path.abspath(__file__), "-q", "-p", "no:cacheprovider", "-rfE",
                        "--durations=6"] + argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
