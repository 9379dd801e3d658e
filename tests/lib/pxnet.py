# SPDX-License-Identifier: BSD-3-Clause
"""pxnet: run pollux-dp on a veth pair between two network namespaces.

Standard library only, for /usr/bin/python3, as root. The server end of the
pair is in namespace pollux-srv with no kernel address (pollux-dp owns
198.18.0.1 and answers ARP for it); the client end is in pollux-cli with
198.18.0.2/24, no default route and TX checksum offload off (veth would
otherwise hand AF_XDP/AF_PACKET partial UDP checksums, which pollux-dp
rejects). Nothing outside the two namespaces is touched except 2 MiB
hugepages (raised when short, restored on teardown when nobody changed them
meanwhile) and this module's state directory.

    with pxnet.Appliance(queues=2) as net:           # namespaces + veth
        dp = net.start_dp("build/release/pollux-dp", ["lcores=2", "mem_mb=16"])
        s = net.client_socket()                       # UDP socket in pollux-cli
        s.sendto(b"\\0\\1\\0\\0\\0\\1\\0\\0version\\r\\n", (pxnet.SRV_IP, 11211))
        net.run_client(["ping", "-c", "1", pxnet.SRV_IP])
        result = net.stop_dp()                        # SIGTERM; rc, output, counters

A kernel server instead of pollux-dp, for running the same tests against a
reference (Debian's memcached) on the same wire:

        srv = net.start_kernel_server(["memcached", "-u", "root", "-l", pxnet.SRV_IP])
        s = net.client_tcp_socket()                   # TCP socket in pollux-cli
        s.connect((pxnet.SRV_IP, 11211))
        rc, lines = net.stop_kernel_server()

gives 198.18.0.1/24 to the server namespace's kernel (on veth-srv) while it
runs and takes it back afterwards; pollux-dp and a kernel server never run
at the same time on one pair.

Sockets: client_socket() switches the calling thread into the client
namespace with setns(2) just long enough to create the socket; a socket
stays in the namespace it was created in, so the test code itself runs in
the root namespace and can restart pollux-dp or rebuild the pair between
tests. Commands go through `ip netns exec`.

Names: the fixed pair (pollux-srv/pollux-cli) is used when it is free. A
pair that exists but was not made by pxnet (scripts/quickstart.sh's
appliance, or someone's hand-made setup) is left alone, and the next free
slot is taken instead: pollux-srv-1/pollux-cli-1 and so on, with the same
interface names and addresses (the namespaces isolate them). Each slot is
held with a lock file while in use, so parallel tests never share a pair;
a pair left behind by a killed test (lock free, pxnet marker present) is
removed and rebuilt.

Teardown (stop pollux-dp with SIGTERM, delete both namespaces, which
deletes the veth pair, restore hugepages) runs from the context manager,
from atexit, and on SIGTERM/SIGINT/SIGHUP; pollux-dp also gets SIGTERM from
the kernel if this process dies (PR_SET_PDEATHSIG).
"""
import atexit
import ctypes
import fcntl
import os
import re
import signal
import socket
import subprocess
import threading
import time

SRV_NS = "pollux-srv"
CLI_NS = "pollux-cli"
SRV_IF = "veth-srv"
CLI_IF = "veth-cli"
SRV_IP = "198.18.0.1"
CLI_IP = "198.18.0.2"
PREFIX_LEN = 24
MC_PORT = 11211
STATE_DIR = "/run/pollux-tests"
MARKER = "pxnet"
HUGEPAGES = "/sys/kernel/mm/hugepages/hugepages-2048kB"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LSAN_SUPP = os.path.join(REPO, "tests", "lsan.supp")

_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


class PxnetError(RuntimeError):
    pass


def sh(argv, check=True, timeout=60, input=None):
    """Run argv; return CompletedProcess (text). Raise PxnetError on failure if check."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise PxnetError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stdout.strip()))
    return r


def netns_exists(name):
    return os.path.exists("/var/run/netns/" + name)


def netns_pids(name):
    r = sh(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()] if r.returncode == 0 else []


def _setns(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def socket_in_netns(ns, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=0):
    """A socket created inside network namespace ns (only this thread switches, briefly)."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns("/var/run/netns/" + ns)
        try:
            return socket.socket(family, type, proto)
        finally:
            if _libc.setns(here, _CLONE_NEWNET) != 0:
                # Never continue in the wrong namespace.
                os._exit(99)
    finally:
        os.close(here)


def _read_int(path, default=-1):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


class Hugepages:
    """Make sure `mb` MiB of free 2 MiB hugepages exist; remember what was raised."""

    def __init__(self):
        self.raised_from = None
        self.raised_to = None

    @staticmethod
    def free_mb():
        return _read_int(HUGEPAGES + "/free_hugepages", -1) * 2

    def ensure(self, mb):
        free = self.free_mb()
        if free < 0:
            return False
        if free >= mb:
            return True
        nr = _read_int(HUGEPAGES + "/nr_hugepages", 0)
        want = nr + (mb - free + 1) // 2 + 16
        try:
            with open(HUGEPAGES + "/nr_hugepages", "w") as f:
                f.write(str(want))
        except OSError:
            return False
        if self.raised_from is None:
            self.raised_from = nr
        self.raised_to = _read_int(HUGEPAGES + "/nr_hugepages", 0)
        return self.free_mb() >= mb

    def restore(self):
        if self.raised_from is None:
            return
        # Only undo our own change: if someone else has changed it since, leave it.
        if _read_int(HUGEPAGES + "/nr_hugepages", 0) == self.raised_to:
            try:
                with open(HUGEPAGES + "/nr_hugepages", "w") as f:
                    f.write(str(self.raised_from))
            except OSError:
                pass
        self.raised_from = self.raised_to = None


# pollux-dp's own words when hugepage memory is short (then hugepages=no is tried).
HUGEPAGE_TROUBLE = re.compile(r"needs about \d+ MiB of 2 MiB hugepages|of hugepage memory|"
                              r"EAL init failed|packet buffers:")
COUNTER_RE = re.compile(r"^pollux-dp: lcore (\d+)(?: tcp)?:(.*)$")  # and its TCP line
SANITIZER_RE = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                          r"SUMMARY: \w+Sanitizer")


class DpResult:
    """What a stopped pollux-dp left: exit code, output lines, per-lcore counters."""

    def __init__(self, rc, lines):
        self.rc = rc
        self.lines = lines
        self.counters = {}
        for line in lines:
            m = COUNTER_RE.match(line)
            if m:
                c = self.counters.setdefault(int(m.group(1)), {})
                for kv in m.group(2).split():
                    k, _, v = kv.partition("=")
                    if v.isdigit():
                        c[k] = int(v)

    @property
    def output(self):
        return "\n".join(self.lines)

    def total(self, name):
        return sum(c.get(name, 0) for c in self.counters.values())

    def sanitizer_reports(self):
        return [l for l in self.lines if SANITIZER_RE.search(l)]

    def clean(self):
        """Exited 0 after SIGTERM, printed its counters and 'stopped', no sanitizer report."""
        return (self.rc == 0 and any(l.startswith("pollux-dp: stopped") for l in self.lines)
                and not self.sanitizer_reports())


class Dataplane:
    """A running pollux-dp in the server namespace; output collected by a thread."""

    def __init__(self, argv, env, log_path=None):
        self.argv = argv
        self.lines = []
        self.ready_line = None
        self._ready = threading.Event()
        self._log = open(log_path, "a") if log_path else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, text=True,
                                     errors="replace", bufsize=1,
                                     preexec_fn=_pdeathsig_term)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.result = None

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()
            if line.startswith("pollux-dp: ready:"):
                self.ready_line = line
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout):
        self._ready.wait(timeout)
        return self.ready_line is not None

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        if self.result is not None:
            return self.result
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.lines.append("pxnet: pollux-dp did not stop within %ds of SIGTERM: killed"
                                  % timeout)
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        if self._log:
            self._log.close()
        self.result = DpResult(self.proc.returncode, list(self.lines))
        return self.result


class KernelServer:
    """A process started by Appliance.start_kernel_server(); output collected by a thread."""

    def __init__(self, argv, log_path=None):
        self.argv = argv
        self.lines = []
        self._log = open(log_path, "a") if log_path else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     bufsize=1, preexec_fn=_pdeathsig_term)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self):
        """The server's pid (`ip netns exec` execs it, so it is the same process)."""
        return self.proc.pid

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.lines.append("pxnet: %s did not stop within %ds of SIGTERM: killed"
                                  % (self.argv[3] if len(self.argv) > 3 else self.argv, timeout))
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode, list(self.lines)


def _pdeathsig_term():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


# Helpers for tests that run pollux-cp and friends beside the appliance.
tracked = []        # processes to kill at exit (tests append what they spawn)


def pdeathsig_kill():
    """preexec_fn: the child gets SIGKILL when this test process dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@atexit.register
def _kill_tracked():
    for p in tracked:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def sanitizer_env():
    """os.environ with the LSan suppressions of tests/lsan.supp added."""
    env = dict(os.environ)
    lsan = env.get("LSAN_OPTIONS", "")
    if "suppressions=" not in lsan and os.path.exists(LSAN_SUPP):
        env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + LSAN_SUPP
    return env


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, step=0.02):
    """pred() until it is truthy or timeout seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


_live = []          # Appliances to tear down at exit or on a signal
_handlers_set = False


def _cleanup_all():
    for a in list(_live):
        try:
            a.close()
        except Exception:  # best effort at exit
            pass


def _on_signal(sig, frame):
    _cleanup_all()
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)


def _install_handlers():
    global _handlers_set
    if _handlers_set:
        return
    _handlers_set = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, _on_signal)


class Appliance:
    """Two namespaces joined by a veth pair with `queues` queues, and a pollux-dp on one end."""

    def __init__(self, queues=1, slots=16, verbose=False):
        self.queues = queues
        self.verbose = verbose
        self.srv_ns = self.cli_ns = None
        self.dp = None
        self.last_result = None
        self.kernel_server = None
        self.hugepages = Hugepages()
        self._lock_fd = None
        self._slots = slots
        self._closed = True

    # -- namespaces -------------------------------------------------------
    def _log(self, msg):
        if self.verbose:
            print("pxnet: " + msg, flush=True)

    def _claim_slot(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        for k in range(self._slots):
            srv = SRV_NS if k == 0 else "%s-%d" % (SRV_NS, k)
            cli = CLI_NS if k == 0 else "%s-%d" % (CLI_NS, k)
            fd = os.open(os.path.join(STATE_DIR, "slot-%d.lock" % k),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            marker = os.path.join(STATE_DIR, srv + ".marker")
            exists = [n for n in (srv, cli) if netns_exists(n)]
            if exists and not os.path.exists(marker):
                self._log("%s exists and is not ours: next slot" % "/".join(exists))
                os.close(fd)
                continue
            # Free, or left behind by a pxnet user that died (it held the lock).
            for n in exists:
                for pid in netns_pids(n):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                sh(["ip", "netns", "del", n], check=False)
            with open(marker, "w") as f:
                f.write("%s %d\n" % (MARKER, os.getpid()))
            self._lock_fd = fd
            self.srv_ns, self.cli_ns, self._marker = srv, cli, marker
            return
        raise PxnetError("no free namespace slot (pollux-srv[-N]) among %d" % self._slots)

    def open(self):
        _install_handlers()
        self._claim_slot()
        self._closed = False
        _live.append(self)
        try:
            self._make_pair()
        except BaseException:
            self.close()
            raise
        return self

    def _make_pair(self):
        q = str(self.queues)
        srv, cli = self.srv_ns, self.cli_ns
        sh(["ip", "netns", "add", srv])
        sh(["ip", "netns", "add", cli])
        # Both ends are created directly inside their namespaces: the root
        # namespace never sees the interfaces.
        sh(["ip", "link", "add", SRV_IF, "numrxqueues", q, "numtxqueues", q, "netns", srv,
            "type", "veth", "peer", "name", CLI_IF, "numrxqueues", q, "numtxqueues", q,
            "netns", cli])
        for ns in (srv, cli):
            # No IPv6 chatter (router solicitations, DAD) on the wire.
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"], check=False)
        sh(["ip", "-n", srv, "link", "set", SRV_IF, "up"])
        sh(["ip", "-n", cli, "link", "set", "lo", "up"])
        sh(["ip", "-n", cli, "addr", "add", "%s/%d" % (CLI_IP, PREFIX_LEN), "dev", CLI_IF])
        sh(["ip", "-n", cli, "link", "set", CLI_IF, "up"])
        sh(["ip", "netns", "exec", cli, "ethtool", "-K", CLI_IF, "tx", "off"])
        self._log("namespaces %s/%s up, %d queue(s)" % (srv, cli, self.queues))

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            if self.dp is not None:
                self.stop_dp()
            if self.kernel_server is not None:
                self.stop_kernel_server()
        finally:
            for ns in (self.srv_ns, self.cli_ns):
                if ns and netns_exists(ns):
                    for pid in netns_pids(ns):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    sh(["ip", "netns", "del", ns], check=False)
            self.hugepages.restore()
            try:
                os.unlink(self._marker)
            except OSError:
                pass
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            if self in _live:
                _live.remove(self)
            self._log("torn down")

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
        return False

    def rebuild(self, queues):
        """Stop pollux-dp and recreate the pair with another queue count."""
        if self.dp is not None:
            self.stop_dp()
        if self.kernel_server is not None:
            self.stop_kernel_server()
        for ns in (self.srv_ns, self.cli_ns):
            sh(["ip", "netns", "del", ns], check=False)
        self.queues = queues
        self._make_pair()

    # -- pollux-dp ----------------------------------------------------------
    def start_dp(self, binary, settings=(), ready_timeout=90, log_path=None):
        """Start pollux-dp with key=value settings; return once it printed its ready line.

        Hugepages are reserved when short (pollux-dp says how much it needs);
        when that is impossible, or hugepage memory runs out anyway, it is
        restarted with hugepages=no. Raises PxnetError with its output when it
        does not become ready."""
        if self.dp is not None:
            raise PxnetError("pollux-dp already running")
        if self.kernel_server is not None:
            raise PxnetError("a kernel server owns %s on this pair" % SRV_IP)
        settings = list(settings)
        if not any(s.startswith("shm_path=") for s in settings):
            # A region path that never exists: a test's pollux-dp serves
            # alone and never meets (or is refused by) the region of an
            # appliance running on this machine.
            settings.append("shm_path=/dev/shm/pxnet-%s-no-region" % self.srv_ns)
        explicit = any(s.startswith("hugepages=") for s in settings)
        if not explicit:
            lcores = 1
            mem_mb = 64
            for s in settings:
                k, _, v = s.partition("=")
                if k == "lcores" and v.isdigit():
                    lcores = int(v)
                elif k == "mem_mb" and v.isdigit():
                    mem_mb = int(v)
            # Rough pre-reservation; pollux-dp's own estimate corrects it below.
            if not self.hugepages.ensure(lcores * (mem_mb * 5 // 4 + 28) + 100):
                settings.append("hugepages=no")
                explicit = True
        outputs = []
        for attempt in range(3):
            dp = self._spawn(binary, settings, log_path)
            if dp.wait_ready(ready_timeout):
                self.dp = dp
                self._log(dp.ready_line)
                return dp
            res = dp.stop(10)
            out = res.output
            outputs.append("$ %s\n(exit %s)\n%s" % (" ".join(dp.argv), res.rc, out))
            m = re.search(r"needs about (\d+) MiB of 2 MiB hugepages", out)
            if not explicit and m and attempt == 0 and self.hugepages.ensure(int(m.group(1))):
                continue
            if not explicit and HUGEPAGE_TROUBLE.search(out):
                settings.append("hugepages=no")
                explicit = True
                continue
            break
        raise PxnetError("pollux-dp exited, or was not ready within %ds:\n%s"
                         % (ready_timeout, "\n".join(outputs)))

    def _spawn(self, binary, settings, log_path):
        env = dict(os.environ)
        lsan = env.get("LSAN_OPTIONS", "")
        if "suppressions=" not in lsan and os.path.exists(LSAN_SUPP):
            env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + "suppressions=" + LSAN_SUPP
        argv = ["ip", "netns", "exec", self.srv_ns, os.path.abspath(binary),
                "iface=" + SRV_IF, "ip=" + SRV_IP] + list(settings)
        self._log("starting " + " ".join(argv))
        return Dataplane(argv, env, log_path)

    def stop_dp(self, timeout=60):
        """SIGTERM pollux-dp, wait, return its DpResult (also kept as last_result)."""
        if self.dp is None:
            return self.last_result
        dp, self.dp = self.dp, None
        self.last_result = dp.stop(timeout)
        self._log("pollux-dp exited %s" % self.last_result.rc)
        return self.last_result

    # -- a kernel server (reference runs) -----------------------------------
    def start_kernel_server(self, argv, port=MC_PORT, ready_timeout=15, log_path=None):
        """Run argv in the server namespace with SRV_IP given to its kernel.

        For reference runs against a server that uses the kernel's TCP/IP
        (Debian's memcached): 198.18.0.1/24 goes on veth-srv (and lo comes
        up) until stop_kernel_server(). Returns the KernelServer once TCP
        `port` on SRV_IP accepts a connection from the client namespace;
        raises PxnetError with its output if it exits or is not ready in
        time."""
        if self.dp is not None or self.kernel_server is not None:
            raise PxnetError("a server already runs on this pair")
        srv = self.srv_ns
        sh(["ip", "-n", srv, "link", "set", "lo", "up"])
        sh(["ip", "-n", srv, "addr", "replace", "%s/%d" % (SRV_IP, PREFIX_LEN), "dev", SRV_IF])
        self._log("%s given to the kernel of %s" % (SRV_IP, srv))
        argv = ["ip", "netns", "exec", srv] + list(argv)
        self._log("starting " + " ".join(argv))
        ks = KernelServer(argv, log_path)
        self.kernel_server = ks
        deadline = time.monotonic() + ready_timeout
        while True:
            s = socket_in_netns(self.cli_ns, socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(1.0)
            try:
                s.connect((SRV_IP, port))
                return ks
            except OSError:
                pass
            finally:
                s.close()
            if not ks.alive() or time.monotonic() > deadline:
                rc, lines = self.stop_kernel_server()
                raise PxnetError("%s: exit %s, or no TCP port %d within %ds:\n%s" % (
                    " ".join(argv), rc, port, ready_timeout, "\n".join(lines)))
            time.sleep(0.05)

    def stop_kernel_server(self, timeout=30):
        """SIGTERM the kernel server, wait; take SRV_IP back. Returns (rc, output lines)."""
        ks, self.kernel_server = self.kernel_server, None
        if ks is None:
            return None, []
        rc, lines = ks.stop(timeout)
        if netns_exists(self.srv_ns):
            sh(["ip", "-n", self.srv_ns, "addr", "flush", "dev", SRV_IF], check=False)
        self._log("kernel server exited %s" % rc)
        return rc, lines

    # -- client side --------------------------------------------------------
    def client_tcp_socket(self, timeout=None):
        """An unconnected TCP socket created in the client namespace."""
        s = socket_in_netns(self.cli_ns, socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        return s

    def client_socket(self, timeout=1.0, bind_port=0):
        s = socket_in_netns(self.cli_ns)
        s.bind((CLI_IP, bind_port))
        s.settimeout(timeout)
        return s

    def run_client(self, argv, check=True, timeout=60):
        return sh(["ip", "netns", "exec", self.cli_ns] + list(argv), check=check, timeout=timeout)

    def run_server_ns(self, argv, check=True, timeout=60):
        return sh(["ip", "netns", "exec", self.srv_ns] + list(argv), check=check, timeout=timeout)

    def server_mac(self):
        return self._mac(self.srv_ns, SRV_IF)

    def client_mac(self):
        return self._mac(self.cli_ns, CLI_IF)

    @staticmethod
    def _mac(ns, ifname):
        r = sh(["ip", "-n", ns, "-o", "link", "show", ifname])
        m = re.search(r"link/ether ([0-9a-f:]{17})", r.stdout)
        return m.group(1) if m else None

    def client_raw_socket(self):
        """An AF_PACKET socket on the client veth: send(frame) puts an Ethernet frame on the wire."""
        s = socket_in_netns(self.cli_ns, socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((CLI_IF, 0))
        return s

    def client_neigh(self, ip=SRV_IP):
        """(lladdr, state) of ip in the client's neighbour table, or (None, None)."""
        r = sh(["ip", "-n", self.cli_ns, "neigh", "show", ip, "dev", CLI_IF])
        words = r.stdout.split()
        if not words:
            return None, None
        mac = words[words.index("lladdr") + 1] if "lladdr" in words else None
        return mac, words[-1]


# -- memcached UDP framing ---------------------------------------------------
def frame(req_id, payload, seq=0, total=1, reserved=0):
    return (req_id.to_bytes(2, "big") + seq.to_bytes(2, "big") + total.to_bytes(2, "big")
            + reserved.to_bytes(2, "big") + payload)


def unframe(dgram):
    if len(dgram) < 8:
        raise ValueError("datagram shorter than the frame header: %r" % dgram)
    return (int.from_bytes(dgram[0:2], "big"), int.from_bytes(dgram[2:4], "big"),
            int.from_bytes(dgram[4:6], "big"), int.from_bytes(dgram[6:8], "big"), dgram[8:])
