#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""pollux-cp's management interfaces with the real binaries: polluxctl over
the admin socket, and /health, /ready, /metrics over HTTP.

  TestNoDataplane   pollux-cp alone (no root needed): exit codes (3 when
                    pollux-cp is not running, 2 for usage, 1 for a failed
                    command), socket file mode, status/config/version with
                    and without --json, /ready 503 with a reason, /metrics
                    parsed by prometheus_client, a second pollux-cp refused,
                    a stale socket from a killed pollux-cp replaced.
  TestDataplane     pollux-cp and pollux-dp on a net_null port (root, no
                    namespaces): /ready flips to 200, runtime config through
                    the mailbox, flush, lcores/ports/top --json, live
                    counters in stats and /metrics, pollux-cp restarted
                    under a running dataplane (region adopted, ready again),
                    and /ready back to 503 once pollux-dp stops.

Every pollux-cp must stop cleanly on SIGTERM (status 0, "stopped", no
sanitizer report).

usage: test_mgmt.py POLLUX_CP POLLUXCTL [POLLUX_DP] [pytest options]  (exit 77 = skip)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
import pytest  # noqa: E402

CP = os.environ.get("POLLUX_CP", "")
CTL = os.environ.get("POLLUXCTL", "")
DP = os.environ.get("POLLUX_DP", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ControlPlane:
    """A pollux-cp on temporary paths and a free HTTP port."""

    def __init__(self, tmp, shm=None, port=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "run", "pollux", "admin.sock")
        self.shm = shm or os.path.join(tmp, "shm")
        self.port = port or free_port()
        self.proc = None
        self.output = ""

    def args(self):
        return [CP, "shm_path=" + self.shm, "admin_socket=" + self.sock,
                "http_listen=127.0.0.1:%d" % self.port]

    def start(self):
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pollux-cp exited %s:\n%s"
                                     % (self.proc.returncode, self.proc.stdout.read()))
            try:
                if self.http("/health")[0] == 200 and os.path.exists(self.sock):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("pollux-cp not up within 20 s")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=20)
        self.output = out
        return self.proc.returncode

    def ctl(self, *args, check=None):
        r = subprocess.run([CTL, "--socket", self.sock] + list(args), capture_output=True,
                           text=True, timeout=30)
        if check is not None:
            assert r.returncode == check, "polluxctl %s: exit %d\n%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr)
        return r

    def ctl_json(self, *args, check=0):
        r = self.ctl("--json", *args, check=check)
        return json.loads(r.stdout)

    def http(self, path, method="GET"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def wait_ready(self, want, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            code, _, body = self.http("/ready")
            if (code == 200) == want:
                return json.loads(body)
            time.sleep(0.1)
        raise AssertionError("/ready never became %s: %s %s" % (want, code, body))


def assert_clean_stop(cp):
    rc = cp.stop()
    assert rc == 0, "pollux-cp exit %s:\n%s" % (rc, cp.output)
    assert "pollux-cp: stopped" in cp.output, cp.output
    assert "Sanitizer" not in cp.output and "runtime error" not in cp.output, cp.output


def metrics(cp):
    parser = pytest.importorskip("prometheus_client.parser")
    code, ctype, text = cp.http("/metrics")
    assert code == 200
    assert ctype.startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    for name, fam in fams.items():
        # per-lcore families are empty while no dataplane is attached
        assert fam.documentation and (fam.samples or name.startswith("pollux_lcore_")), name
    return fams


def value(fams, name, **labels):
    for s in fams[name].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()) and not s.name.endswith(
                ("_created", "_bucket", "_count", "_sum")):
            return s.value
    raise KeyError("%s%s" % (name, labels))


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="px-mgmt-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class TestNoDataplane:
    def test_not_running_and_usage(self, tmp):
        cp = ControlPlane(tmp)
        r = cp.ctl("status", check=3)
        assert "pollux-cp is not running" in r.stderr and cp.sock in r.stderr
        cp.ctl(check=2)
        cp.ctl("frobnicate", check=2)
        cp.ctl("config", "set", "mem_mb", check=2)
        cp.ctl("top", "--count", "zero", check=2)
        cp.ctl("--bogus", "status", check=2)
        assert cp.ctl("--help", check=0).stdout.startswith("usage: polluxctl")

    def test_status_config_http(self, tmp):
        cp = ControlPlane(tmp).start()
        try:
            st = os.stat(cp.sock)
            assert st.st_mode & 0o777 == 0o600
            assert os.stat(os.path.dirname(cp.sock)).st_mode & 0o777 == 0o755

            s = cp.ctl_json("status")
            assert s["ok"] is True and s["ready"] is False
            assert s["reason"] == "no dataplane has attached"
            assert s["dataplane"]["attached"] is False
            assert s["region"]["path"] == cp.shm
            assert s["cp"]["pid"] == cp.proc.pid
            human = cp.ctl("status", check=0).stdout
            assert "ready" in human and "NO" in human and "none attached" in human

            v = cp.ctl_json("version")
            assert v["dataplane"] is None and v["version"]
            assert "pollux-cp" in cp.ctl("version", check=0).stdout

            c = cp.ctl_json("config", "get")["config"]
            assert c["admin_socket"] == cp.sock and c["udp_port"] == "11211"
            assert cp.ctl("config", "get", "http_listen", check=0).stdout.strip() == \
                "127.0.0.1:%d" % cp.port
            r = cp.ctl("config", "get", "nope", check=1)
            assert "unknown key" in r.stderr
            r = cp.ctl("config", "set", "udp_port", "1234", check=1)
            assert "restart" in r.stderr
            r = cp.ctl("--json", "config", "set", "mem_mb", "32", check=1)
            assert json.loads(r.stdout)["error"].startswith("dataplane not available")
            cp.ctl("flush", check=1)
            assert cp.ctl_json("stats")["per_lcore"] == []
            cp.ctl("stats", check=0)
            cp.ctl("lcores", check=0)
            assert cp.ctl_json("ports")["ports"] == []

            assert cp.http("/health")[:2] == (200, "application/json")
            code, _, body = cp.http("/ready")
            assert code == 503 and json.loads(body) == {
                "ready": False, "reason": "no dataplane has attached"}
            assert cp.http("/nope")[0] == 404
            assert cp.http("/metrics", method="POST")[0] == 405
            fams = metrics(cp)
            assert value(fams, "memcached_up") == 0
            assert value(fams, "pollux_ready") == 0
            assert fams["pollux_request_duration_seconds"].type == "histogram"
        finally:
            assert_clean_stop(cp)
        assert not os.path.exists(cp.sock)

    def test_raw_protocol(self, tmp):
        cp = ControlPlane(tmp).start()
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(cp.sock)
                s.sendall(b'{"cmd":"version"}\nnot json\n{"cmd":"nope"}\n' + b"x" * 70000 +
                          b'\n{"cmd":"help"}\n')
                s.shutdown(socket.SHUT_WR)
                data = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    data += b
            replies = [json.loads(line) for line in data.decode().splitlines()]
            assert [r["ok"] for r in replies] == [True, False, False, False, True]
            assert "bad JSON" in replies[1]["error"]
            assert "unknown command" in replies[2]["error"]
            assert "longer than" in replies[3]["error"]
            assert "status" in replies[4]["commands"]
        finally:
            assert_clean_stop(cp)

    def test_second_instance_and_stale_socket(self, tmp):
        cp = ControlPlane(tmp).start()
        other = subprocess.run(ControlPlane(tmp, port=free_port()).args(), capture_output=True,
                               text=True, timeout=20)
        assert other.returncode != 0 and "in use" in other.stdout + other.stderr
        cp.ctl("status", check=0)            # the first one still serves
        cp.stop(signal.SIGKILL)
        assert os.path.exists(cp.sock)       # left behind
        cp.ctl("status", check=3)
        cp2 = ControlPlane(tmp, port=free_port()).start()
        try:
            assert "adopted region" in cp2.proc.stdout.readline()
            cp2.ctl("status", check=0)
        finally:
            assert_clean_stop(cp2)


@pytest.mark.skipif(not DP or os.geteuid() != 0, reason="needs POLLUX_DP and root")
class TestDataplane:
    def start_dp(self, cp):
        args = [DP, "shm_path=" + cp.shm, "hugepages=no", "lcores=1", "mem_mb=16",
                "idle_sleep_max_us=1000", "--", "--vdev", "net_null0", "--no-pci"]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def test_dataplane(self, tmp):
        cp = ControlPlane(tmp).start()
        dp = self.start_dp(cp)
        try:
            assert cp.wait_ready(True, timeout=60) == {"ready": True}
            s = cp.ctl_json("status")
            assert s["ready"] and s["dataplane"]["state"] == "serving"
            assert s["dataplane"]["pid"] == dp.pid and s["dataplane"]["port"] == "net_null0"
            assert s["dataplane"]["mem_limit"] == 16 << 20
            assert "yes (serving)" in cp.ctl("status", check=0).stdout

            # runtime settings go through the mailbox and come back applied
            cp.ctl("config", "set", "mem_mb", "32", check=0)
            assert cp.ctl("config", "get", "mem_mb", check=0).stdout.strip() == "32"
            assert cp.ctl_json("status")["dataplane"]["mem_limit"] == 32 << 20
            cp.ctl("config", "set", "log_level", "debug", check=0)
            r = cp.ctl("config", "set", "mem_mb", "0", check=1)
            assert "mem_mb" in r.stderr
            cp.ctl("config", "set", "lcores", "2", check=1)
            assert cp.ctl("flush", check=0).stdout.strip()

            # net_null delivers a stream of (non-IPv4) frames: live counters
            top = cp.ctl("--json", "top", "--count", "2", "--interval", "0.3", check=0)
            lines = [json.loads(line) for line in top.stdout.splitlines()]
            assert len(lines) == 2
            for t in lines:
                assert t["dp_alive"] and len(t["lcore_busy"]) == 1 and t["rx_pps"] > 0
                assert 0 <= t["lcore_busy"][0] <= 1
            assert "busy" in cp.ctl("top", "--count", "1", "--interval", "0.2", check=0).stdout
            st = cp.ctl_json("stats")
            assert st["total"]["rx_pkts"] > 0 and len(st["per_lcore"]) == 1
            assert st["total"]["rx_drops"] > 0
            lc = cp.ctl_json("lcores")["lcores"]
            assert lc[0]["busy_cycles"] > 0 and lc[0]["loops"] > 0
            assert "%" in cp.ctl("lcores", check=0).stdout
            p = cp.ctl_json("ports")["ports"]
            assert p[0]["name"] == "net_null0" and p[0]["rx_packets"] > 0
            fams = metrics(cp)
            assert value(fams, "memcached_up") == 1
            assert value(fams, "pollux_dataplane_up") == 1
            assert value(fams, "pollux_lcore_rx_packets", lcore="0") > 0
            assert value(fams, "memcached_limit_bytes") == 32 << 20
            assert value(fams, "pollux_dataplane_heartbeat_age_seconds") < 1

            # pollux-cp restarts under a running dataplane: same region, ready again
            assert_clean_stop(cp)
            cp = ControlPlane(tmp, shm=cp.shm, port=cp.port).start()
            assert cp.wait_ready(True) == {"ready": True}
            assert cp.ctl_json("status")["dataplane"]["pid"] == dp.pid

            dp.send_signal(signal.SIGTERM)
            out, _ = dp.communicate(timeout=30)
            assert dp.returncode == 0, out
            r = cp.wait_ready(False, timeout=5)
            assert r["ready"] is False and r["reason"]
            assert cp.ctl_json("status")["dataplane"]["alive"] is False
            assert value(metrics(cp), "pollux_dataplane_up") == 0
        finally:
            if dp.poll() is None:
                dp.kill()
                dp.communicate()
            assert_clean_stop(cp)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    os.environ["POLLUX_CP"] = os.path.abspath(argv[1])
    os.environ["POLLUXCTL"] = os.path.abspath(argv[2])
    rest = argv[3:]
    if rest and not rest[0].startswith("-"):
        os.environ["POLLUX_DP"] = os.path.abspath(rest.pop(0))
    for name in ("POLLUX_CP", "POLLUXCTL"):
        if not os.access(os.environ[name], os.X_OK):
            print("test_mgmt: %s not built (ninja -C the build dir first)" % os.environ[name])
            return 1
    return pytest.main([os.path.abspath(__file__), "-q", "-p", "no:cacheprovider", "-rfEs",
                        "--durations=5"] + rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
