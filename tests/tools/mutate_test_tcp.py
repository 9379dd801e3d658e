#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check that tests/integration/test_tcp.py can fail: each mutation changes one
expectation (or one server option) in a copy of it, runs the tests it
concerns against Debian's memcached (where the unmodified suite passes), and
reports CAUGHT when they fail, MISSED when they still pass.

usage: mutate_test_tcp.py BUILD_DIR [NAME_SUBSTRING ...]      (root)
   e.g. tests/tools/mutate_test_tcp.py build/release
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "integration", "test_tcp.py")
LIB = os.path.join(HERE, "..", "lib")

# (name, text in test_tcp.py, replacement, pytest -k expression)
MUT = [
 ("incr result off by one", "new = (int(it[n][1]) + d) & ((1 << 64) - 1)", "new = (int(it[n][1]) + d + 1) & ((1 << 64) - 1)", "1000 or in_order"),
 ("flags in VALUE lines off by one", 'return b"VALUE %s %d %d\\r\\n%s\\r\\n" % (key, flags, len(value), value)', 'return b"VALUE %s %d %d\\r\\n%s\\r\\n" % (key, flags + 1, len(value), value)', "1mib or segment or tools or 2000"),
 ("limit message", 'TOO_MANY = b"ERROR Too many open connections\\r\\n"', 'TOO_MANY = b"ERROR too many open connections\\r\\n"', "max_conns"),
 ("memcached without idle_timeout", 'argv += ["-o", "idle_timeout=%d" % idle]', 'pass', "idle"),
 ("idle_timeout 4x longer", 'argv += ["-o", "idle_timeout=%d" % idle]', 'argv += ["-o", "idle_timeout=%d" % (4 * idle)]', "idle"),
 ("no XDP loss", "drops.append(XdpDrop(s.net.cli_ns, pxnet.CLI_IF, 0.05))\n            drops.append(XdpDrop(s.net.srv_ns, pxnet.SRV_IF, 0.05))", "drops.append(XdpDrop(s.net.cli_ns, pxnet.CLI_IF, 0.0))\n            drops.append(XdpDrop(s.net.srv_ns, pxnet.SRV_IF, 0.0))", "loss"),
 ("2000 conns: wrong key expected", "get_rep((kj, vals[j], j), (k, vals[i], i))", "get_rep((kj, vals[(j + 1) % n], j), (k, vals[i], i))", "2000"),
 ("2000 conns: too few open", "assert int(observed.get(b\"curr_connections\", b\"-1\")) >= n + 1", "assert int(observed.get(b\"curr_connections\", b\"-1\")) >= n + 10", "2000"),
 ("half-close without the FIN", "c.sock.shutdown(socket.SHUT_WR)\n        data, how = c.read_to_eof(timeout=15)", "data, how = c.read_to_eof(timeout=3)", "half_close"),
 ("quit: expect more", 'assert (data, how) == (b"STORED\\r\\n" + get_rep((b"quit:1", b"x")), "eof")', 'assert (data, how) == (b"STORED\\r\\n" + get_rep((b"quit:1", b"x")) + b"END\\r\\n", "eof")', "quit"),
 ("flood memory bound 0", "BOUND_KB = 32 * 1024", "BOUND_KB = 0", "flood"),
 ("flood: client value mismatch", 'c.request(set_req(k, v) + b"get %s\\r\\n" % k, b"STORED\\r\\n" + get_rep((k, v)),\n                              timeout=5)', 'c.request(set_req(k, v) + b"get %s\\r\\n" % k, b"STORED\\r\\n" + get_rep((k, v + b"x")),\n                              timeout=5)', "flood"),
 ("rst mid-request: value was stored", 'conn.request(b"get rst:1\\r\\n", b"END\\r\\n")', 'conn.request(b"get rst:1\\r\\n", get_rep((b"rst:1", b"x" * 100)))', "rst_mid_request"),
 ("memcslap hits", "assert delta[b\"get_hits\"] == 2 * 4 * 300, delta", "assert delta[b\"get_hits\"] == 2 * 4 * 300 + 1, delta", "memcslap"),
 ("pymemcache cas", "assert c.cas(b\"pm:a\", b\"beta\", int(cas) + 1, noreply=False) is False", "assert c.cas(b\"pm:a\", b\"beta\", int(cas) + 1, noreply=False) is True", "pymemcache_client"),
 ("time-wait reuse: retrans", "assert retrans == 0,", "assert retrans == 1,", "time_wait"),
 ("slots: one more than max", "conns = self.open_all(lim, self.M)\n                for c in conns:", "conns = self.open_all(lim, self.M + 1)\n                for c in conns:", "slots_return"),
 ("forged: good checksum", 'inj.send(seq, 0x18, b"get forged\\r\\n", bad_checksum=True)', 'inj.send(seq, 0x18, b"get forged\\r\\n", bad_checksum=False)', "forged"),
 ("forged: blind RST exact", "inj.send(seq + 1000, 0x04)", "inj.send(seq, 0x04)", "forged"),
 ("forged: final RST off by 1000", "inj.send(seq, 0x04)                                             # RST, exact", "inj.send(seq + 1000, 0x04)", "forged"),
 ("forged: data with a valid ack", "ack=(ack + 100000) & 0xffffffff)", "ack=ack)", "forged"),
]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-2].strip(), file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    only = argv[2:]
    tmp = tempfile.mkdtemp(prefix="mutate-tcp-")
    os.makedirs(os.path.join(tmp, "integration"))
    os.symlink(os.path.abspath(LIB), os.path.join(tmp, "lib"))
    missed = 0
    try:
        for name, a, b, k in MUT:
            if only and not any(o in name for o in only):
                continue
            s = open(SRC).read()
            if a not in s:
                print("%-40s STALE (text not found)" % name)
                missed += 1
                continue
            with open(os.path.join(tmp, "integration", "test_tcp.py"), "w") as f:
                f.write(s.replace(a, b))
            r = subprocess.run(["/usr/bin/python3", os.path.join(tmp, "integration", "test_tcp.py"),
                                os.path.join(build, "pollux-dp"), "--target", "memcached",
                                "--xdp-drop", os.path.join(build, "tests/tools/xdp-drop"),
                                "--syn-flood", os.path.join(build, "tests/tools/syn-flood"),
                                "-k", k, "-p", "no:cacheprovider"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=build)
            last = (r.stdout.strip().splitlines() or [""])[-1]
            caught = r.returncode != 0 and ("failed" in last or "error" in last)
            missed += not caught
            print("%-40s %-6s %s" % (name, "CAUGHT" if caught else "MISSED", last), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
