#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Quick start: install what is missing, build the release flavour, start
# pollux-cp (the control plane: shared region, admin socket for polluxctl,
# HTTP /metrics /health /ready on 127.0.0.1:11280) in this host's own
# namespace, put a veth pair between two network namespaces (pollux-srv,
# pollux-cli), start pollux-dp on the server end (AF_XDP, falling back to
# AF_PACKET) serving memcached over TCP and UDP on 198.18.0.1, wait until
# http://127.0.0.1:11280/ready answers 200, run a short benchmark from the
# client end with a live progress line, and print how to connect and
# manage it. The appliance keeps running after the script returns.
#
#   scripts/quickstart.sh [--config FILE] [key=value ...]   start (or reuse) and benchmark
#   scripts/quickstart.sh --stop [--purge]                  stop both, remove the namespaces
#
# Settings (key=value, or an INI --config FILE) go to both pollux-cp and
# pollux-dp (they read the same keys; see build/release/pollux-dp --help).
# iface and ip are fixed here. Running it again starts only what is not
# running: a running pollux-cp and pollux-dp, and the data in the cache, are
# kept (new settings then need --stop first). --stop ends pollux-dp (its
# cache lives in its memory, so the cached data goes with it), then
# pollux-cp, and removes the namespaces; the logs stay in /run/pollux and
# the shared region in shm_path (a new pollux-cp adopts it) unless --purge.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=/run/pollux
LOG=$STATE/dp.log
PIDFILE=$STATE/dp.pid
ARGSFILE=$STATE/dp.args
CPLOG=$STATE/cp.log
CPPIDFILE=$STATE/cp.pid
CPARGSFILE=$STATE/cp.args
CPMGMT=$STATE/cp.mgmt        # the shm_path, admin_socket, http_listen in use
HPORIG=$STATE/hugepages.orig
DP=build/release/pollux-dp
CP=build/release/pollux-cp
CTL=build/release/polluxctl
BENCH=build/release/pollux-bench
READY_TIMEOUT=30
# shellcheck source=../tests/lib/netns.sh
. tests/lib/netns.sh

say() { echo "quickstart: $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }
usage() { sed -n '/^#   scripts/p' "$0" | sed 's/^#   /usage: /'; }

stop=0 purge=0 config=""
settings=()
while (($#)); do
  case $1 in
    --stop) stop=1 ;;
    --purge) purge=1 ;;
    --config)
      [ $# -ge 2 ] || die "--config needs a file"
      config=$2; shift ;;
    --config=*) config=${1#--config=} ;;
    -h|--help) usage; exit 0 ;;
    iface=*|ip=*) die "$1: the quick start fixes iface=$PX_SRV_IF and ip=$PX_SRV_IP" ;;
    *=*) settings+=("$1") ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
  shift
done
((purge && !stop)) && die "--purge goes with --stop"
if [ -n "$config" ]; then
  [ -r "$config" ] || die "--config $config: cannot read it"
  config=$(realpath "$config")
fi
[ "$(id -u)" -eq 0 ] || die "run as root: it creates network namespaces and reserves hugepages"

# The value of a setting: last key=value argument, else the config file, else $2.
setting() {
  local key=$1 def=$2 v="" s
  if [ -n "$config" ]; then
    v=$(sed -n "s/^[[:space:]]*$key[[:space:]]*[=:][[:space:]]*\\([^[:space:];#]*\\).*/\\1/p" \
      "$config" | tail -n 1)
  fi
  for s in "${settings[@]}"; do
    [ "${s%%=*}" = "$key" ] && v=${s#*=}
  done
  echo "${v:-$def}"
}

# -- pollux-cp: the management side, in this host's own network namespace ------
# Its shared region, admin socket and HTTP address: from the settings, or,
# for a pollux-cp this script started earlier, what it was started with.
SHM=$(setting shm_path /dev/shm/pollux)
SOCK=$(setting admin_socket /run/pollux/admin.sock)
HTTP=$(setting http_listen 127.0.0.1:11280)
cp_mgmt_load() {
  # shellcheck disable=SC1090
  [ -f "$CPMGMT" ] && . "$CPMGMT"
  return 0
}
cp_mgmt_save() { printf 'SHM=%q\nSOCK=%q\nHTTP=%q\n' "$SHM" "$SOCK" "$HTTP" > "$CPMGMT"; }

is_cp() { pxnet_running "$1" pollux-cp; }
pidfile_pid() { cat "$1" 2>/dev/null || true; }

# The running pollux-cp: the one in the pid file, else whichever answers on
# the admin socket (started by hand, or by an earlier version of this script).
cp_pid() {
  local pid
  pid=$(pidfile_pid "$CPPIDFILE")
  if is_cp "$pid"; then
    echo "$pid"
    return 0
  fi
  [ -x "$CTL" ] || return 1
  pid=$("$CTL" --socket "$SOCK" --json status 2>/dev/null | /usr/bin/python3 -c \
    'import json, sys; print(json.load(sys.stdin)["cp"]["pid"])' 2>/dev/null) || return 1
  is_cp "$pid" && echo "$pid"
}

# The log lines of the last pollux-cp start.
cp_last_log() {
  awk '/^== .* pollux-cp /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' "$CPLOG"
}

# Start pollux-cp detached (its own session: ^C here does not reach it) and
# wait for its ready line; 1 if it exits or is not ready in 20 s.
cp_start() {
  local off i pid
  touch "$CPLOG"
  off=$(stat -c %s "$CPLOG")
  echo "== $(date -Is) pollux-cp $*" >> "$CPLOG"
  rm -f "$CPPIDFILE"
  # shellcheck disable=SC2016
  setsid -f /bin/sh -c 'echo $$ > "$0"; exec "$@"' "$CPPIDFILE" "$CP" "$@" \
    >> "$CPLOG" 2>&1 < /dev/null
  for ((i = 0; i < 200; i++)); do
    if tail -c +"$((off + 1))" "$CPLOG" | grep "^pollux-cp: ready:" > /dev/null; then
      return 0
    fi
    pid=$(pidfile_pid "$CPPIDFILE")
    if ((i > 5)) && ! is_cp "$pid"; then
      tail -c +"$((off + 1))" "$CPLOG" | grep "^pollux-cp: ready:" > /dev/null && return 0
      return 1
    fi
    sleep 0.1
  done
  return 1
}

cp_stop() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    is_cp "$pid" || break
    sleep 0.1
  done
  if is_cp "$pid"; then
    say "pollux-cp (pid $pid) still running 10 s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$CPPIDFILE"
}

# HTTP status of a management URL ("000" when nothing answers).
http_code() {
  curl -g -s -o /dev/null -m 2 -w '%{http_code}' "http://$HTTP$1" 2>/dev/null || true
}

if ((stop)); then
  cp_mgmt_load
  if pid=$(pxnet_dp_pid "$PIDFILE" || pxnet_dp_find); then
    say "stopping pollux-dp (pid $pid)"
    pxnet_dp_stop "$PIDFILE"
    pxnet_dp_last_log "$LOG" 2>/dev/null | grep "^pollux-dp: lcore" || true
  else
    say "pollux-dp is not running"
  fi
  rm -f "$PIDFILE" "$ARGSFILE"
  if pid=$(cp_pid); then
    say "stopping pollux-cp (pid $pid)"
    cp_stop "$pid"
  else
    say "pollux-cp is not running"
  fi
  rm -f "$CPARGSFILE"
  if pxnet_ns_exists "$PX_SRV_NS" || pxnet_ns_exists "$PX_CLI_NS"; then
    pxnet_down
    say "removed namespaces $PX_SRV_NS and $PX_CLI_NS (and the veth pair)"
  fi
  pxnet_hugepages_restore "$HPORIG"
  if ((purge)); then
    if [ -f "$SHM" ]; then
      rm -f "$SHM"
      say "removed the shared region $SHM"
    fi
    rm -rf "$STATE"
    say "removed $STATE (logs and state)"
  else
    kept=()
    [ -f "$CPLOG" ] && kept+=("$CPLOG")
    [ -f "$LOG" ] && kept+=("$LOG")
    [ -f "$SHM" ] && kept+=("$SHM (the shared region: the next pollux-cp adopts it)")
    if ((${#kept[@]})); then
      say "kept ${kept[*]}; --stop --purge removes them"
    fi
  fi
  say "the cache lived in pollux-dp's memory: its contents are gone"
  exit 0
fi

scripts/deps.sh
scripts/build.sh release
mkdir -p "$STATE"

# The integration tests (tests/lib/pxnet.py) may hold the same names for a
# while: wait for them rather than share; a marker a killed test left
# behind is dropped, so the next test run does not take these for its own.
if [ -e /run/pollux-tests/$PX_SRV_NS.marker ]; then
  flock -n /run/pollux-tests/slot-0.lock true ||
    die "integration tests are using $PX_SRV_NS/$PX_CLI_NS right now: try again when they end"
  rm -f "/run/pollux-tests/$PX_SRV_NS.marker"
fi

lcores=$(setting lcores 1)
[[ $lcores =~ ^[0-9]+$ ]] && ((lcores >= 1)) || die "lcores=$lcores: expected a positive integer"

# pollux-cp first: it makes the shared region pollux-dp attaches to.
args=()
[ -n "$config" ] && args+=(--config "$config")
args+=("${settings[@]}")
if [ -f "$CPMGMT" ] && is_cp "$(pidfile_pid "$CPPIDFILE")"; then
  cp_mgmt_load         # ours, started earlier: its paths, whatever is asked now
fi
if cppid=$(cp_pid); then
  say "pollux-cp already running (pid $cppid): keeping it"
  [ -f "$CPPIDFILE" ] || echo "$cppid" > "$CPPIDFILE"
  if ((${#args[@]})) && [ "${args[*]}" != "$(cat "$CPARGSFILE" 2>/dev/null)" ]; then
    say "note: '${args[*]}' not applied to the running pollux-cp; scripts/quickstart.sh --stop first"
  fi
else
  say "starting pollux-cp${args[*]:+ ${args[*]}} (log $CPLOG)"
  if ! cp_start "${args[@]}"; then
    echo "quickstart: pollux-cp did not start; its output:" >&2
    cp_last_log | tail -n 30 >&2
    exit 1
  fi
  cppid=$(cat "$CPPIDFILE")
  echo "${args[*]}" > "$CPARGSFILE"
  cp_mgmt_save
  grep -E "^pollux-cp: (created|adopted|ready)" <(cp_last_log) | sed 's/^/  /'
fi
running=$(pxnet_dp_pid "$PIDFILE" || pxnet_dp_find || true)
if [ -n "$running" ]; then
  pxnet_up "$(pxnet_queues)"      # as it is: pollux-dp is attached to it
else
  pxnet_up "$lcores"
fi || die "cannot set up namespaces $PX_SRV_NS/$PX_CLI_NS"
say "namespaces $PX_SRV_NS ($PX_SRV_IF, pollux-dp owns $PX_SRV_IP) and $PX_CLI_NS ($PX_CLI_IF, $PX_CLI_IP/$PX_PREFIX) up, $(pxnet_queues) queue(s)"

dp_args=("${args[@]}")
if [ -n "$running" ]; then
  pid=$running
  echo "$pid" > "$PIDFILE"
  say "pollux-dp already running (pid $pid): keeping it and its cache"
  if ((${#dp_args[@]})) && [ "${dp_args[*]}" != "$(cat "$ARGSFILE" 2>/dev/null)" ]; then
    say "note: '${dp_args[*]}' not applied to the running pollux-dp; scripts/quickstart.sh --stop first"
  fi
  lcores=$(grep -o "[0-9]* lcore(s)" <(pxnet_dp_last_log "$LOG" 2>/dev/null) | tail -n 1 | cut -d' ' -f1)
  lcores=${lcores:-1}
else
  start() { pxnet_dp_start "$DP" "$LOG" "$PIDFILE" 90 -- "${dp_args[@]}" "$@"; }
  extra=()
  hp_explicit=$(setting hugepages "")
  if [ -z "$hp_explicit" ]; then
    # A rough estimate first; pollux-dp says exactly what it needs if short.
    mem=$(setting mem_mb 64)
    if ! pxnet_hugepages $((lcores * (mem * 5 / 4 + 28) + 100)) "$HPORIG"; then
      say "not enough 2 MiB hugepages and cannot reserve them: hugepages=no"
      extra=(hugepages=no)
    fi
  fi
  say "starting pollux-dp${dp_args[*]:+ ${dp_args[*]}}${extra[*]:+ ${extra[*]}} (log $LOG)"
  if ! start "${extra[@]}"; then
    out=$(pxnet_dp_last_log "$LOG")
    need=$(grep -o "needs about [0-9]* MiB of 2 MiB hugepages" <<<"$out" | grep -o "[0-9]*" | head -n 1 || true)
    ok=0
    if [ -z "$hp_explicit" ] && ((${#extra[@]} == 0)); then
      if [ -n "$need" ] && pxnet_hugepages "$need" "$HPORIG" && start; then
        ok=1
      elif grep -qE "needs about [0-9]+ MiB of 2 MiB hugepages|of hugepage memory|EAL init failed|packet buffers:" \
          <<<"$(pxnet_dp_last_log "$LOG")"; then
        say "hugepage memory is short: retrying with hugepages=no"
        extra=(hugepages=no)
        start "${extra[@]}" && ok=1
      fi
    fi
    if ((!ok)); then
      echo "quickstart: pollux-dp did not start; its output:" >&2
      pxnet_dp_last_log "$LOG" | tail -n 30 >&2
      exit 1
    fi
  fi
  echo "${dp_args[*]}" > "$ARGSFILE"
  grep -E "^pollux-dp: .*(attached as|ready:)" <(pxnet_dp_last_log "$LOG") | sed 's/^/  /'
fi
pid=$(pxnet_dp_pid "$PIDFILE") || die "pollux-dp is not running; see $LOG"

# Ready: pollux-cp sees pollux-dp attached, serving and heartbeating.
for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
  [ "$(http_code /ready)" = 200 ] && break
  if ! is_cp "$cppid" || ! pxnet_running "$pid" pollux-dp; then
    break       # one of them died: no use waiting
  fi
  sleep 0.1
done
if [ "$(http_code /ready)" != 200 ]; then
  {
    is_cp "$cppid" || echo "quickstart: pollux-cp (pid $cppid) exited"
    pxnet_running "$pid" pollux-dp || echo "quickstart: pollux-dp (pid $pid) exited"
    echo "quickstart: http://$HTTP/ready did not answer 200 within ${READY_TIMEOUT}s:" \
      "$(curl -g -s -m 2 "http://$HTTP/ready" 2>&1 || echo "no answer")"
    echo "--- pollux-cp (pid ${cppid:-?}), $CPLOG:"
    cp_last_log 2>/dev/null | tail -n 20
    echo "--- pollux-dp (pid $pid), $LOG:"
    pxnet_dp_last_log "$LOG" 2>/dev/null | tail -n 20
  } >&2
  exit 1
fi
say "ready: http://$HTTP/ready answers 200 (pollux-cp pid $cppid, pollux-dp pid $pid)"

echo
echo "== set and get over UDP from $PX_CLI_NS =="
pxnet_cli /usr/bin/python3 - "$PX_SRV_IP" <<'PY' || die "no reply from $PX_SRV_IP: see $LOG"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for rid, req in ((1, b"set quickstart 0 0 5\r\nhello\r\n"), (2, b"get quickstart\r\n")):
    s.sendto(rid.to_bytes(2, "big") + b"\0\0\0\1\0\0" + req, (sys.argv[1], 11211))
    print("  > %-32r < %r" % (req.decode(), s.recv(1500)[8:].decode()))
PY
echo "== get and version over TCP from $PX_CLI_NS =="
pxnet_cli /usr/bin/python3 - "$PX_SRV_IP" <<'PY' || die "no TCP reply from $PX_SRV_IP: see $LOG"
import socket, sys
s = socket.create_connection((sys.argv[1], 11211), timeout=2)
s.sendall(b"get quickstart\r\nversion\r\nquit\r\n")
buf = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print("  > %-32r < %r" % ("get quickstart, version, quit", buf.decode()))
PY

bench_rc=0
echo
if "$BENCH" --help 2>&1 | grep -qE "^[[:space:]]+udp[[:space:]]"; then
  echo "== pollux-bench udp from $PX_CLI_NS against $PX_SRV_IP:11211, 5 s =="
  pxnet_cli "$BENCH" udp --server "$PX_SRV_IP" --seconds 5 || bench_rc=$?
else
  echo "== UDP get/set load from $PX_CLI_NS against $PX_SRV_IP:11211, 5 s (pollux-bench udp not built) =="
  pxnet_cli /usr/bin/python3 - "$PX_SRV_IP" 5 <<'PY' || bench_rc=$?
import random, select, socket, sys, time
ip, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
keys = [b"qs:%d" % i for i in range(10000)]
val = lambda k: (k * 4)[:32]
rid, inflight, done, wrong, lost, sent_at = 0, {}, 0, 0, 0, {}
start = last = time.monotonic()
while time.monotonic() - start < secs:
    while len(inflight) < 32:
        rid = rid % 65535 + 1
        k = random.choice(keys)
        if random.random() < 0.1:
            req, want = b"set %s 0 0 %d\r\n%s\r\n" % (k, len(val(k)), val(k)), {b"STORED\r\n"}
        else:
            req = b"get %s\r\n" % k
            want = {b"END\r\n", b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (k, len(val(k)), val(k))}
        inflight[rid], sent_at[rid] = want, time.monotonic()
        s.sendto(rid.to_bytes(2, "big") + b"\0\0\0\1\0\0" + req, (ip, 11211))
    if select.select([s], [], [], 0.05)[0]:
        while True:
            try:
                d = s.recv(2048)
            except BlockingIOError:
                break
            r = int.from_bytes(d[:2], "big")
            if r in inflight:
                wrong += d[8:] not in inflight.pop(r)
                done += 1
    now = time.monotonic()
    for r in [r for r, t in sent_at.items() if r in inflight and now - t > 0.2]:
        del inflight[r]
        lost += 1
    sent_at = {r: t for r, t in sent_at.items() if r in inflight}
    if now - last >= 0.5:
        last = now
        print("\r  %4.1f s  %8d replies  %8.0f req/s  lost %d  wrong %d "
              % (now - start, done, done / (now - start), lost, wrong), end="", flush=True)
print("\n  %d requests answered in %.1f s (%.0f/s), %d lost, %d wrong"
      % (done, secs, done / secs, lost, wrong))
sys.exit(1 if wrong or not done else 0)
PY
fi
((bench_rc == 0)) || say "the benchmark reported a problem (exit $bench_rc)"

ctl=$CTL
[ "$SOCK" = /run/pollux/admin.sock ] || ctl="$CTL --socket $SOCK"
parts=""
((lcores > 1)) && parts="
Port 11211 takes any key; 11212..$((11211 + lcores)) reach partition p directly at 11212+p."
cat <<EOF

Pollux is running: pollux-dp (pid $pid, $lcores lcore(s)) serves memcached over TCP and UDP
on $PX_SRV_IP:11211 in network namespace $PX_SRV_NS (log $LOG).$parts
Clients run in namespace $PX_CLI_NS ($PX_CLI_IP). Try it:

  ip netns exec $PX_CLI_NS ping -c 2 $PX_SRV_IP
  ip netns exec $PX_CLI_NS python3 -c 'import socket, time; s = socket.create_connection(("$PX_SRV_IP", 11211)); s.sendall(b"set foo 0 0 3\\r\\nbar\\r\\nget foo\\r\\n"); time.sleep(0.2); print(s.recv(4096).decode())'
  ip netns exec $PX_CLI_NS python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.sendto(b"\\0\\1\\0\\0\\0\\1\\0\\0set foo 0 0 3\\r\\nbar\\r\\nget foo\\r\\n", ("$PX_SRV_IP", 11211)); print(s.recv(1500)[8:].decode())'
  ip netns exec $PX_CLI_NS $PWD/$BENCH udp --server $PX_SRV_IP --seconds 10
  ip netns exec $PX_CLI_NS bash     # a shell whose clients reach $PX_SRV_IP

Every UDP request starts with memcached's 8-byte frame: request id, sequence 0,
total 1, reserved 0 (16-bit big-endian each); replies carry the same id.

Manage it: pollux-cp (pid $cppid, log $CPLOG) serves polluxctl on $SOCK
and HTTP on $HTTP, from this shell (no namespace needed):

  $ctl status        # readiness, pids, address, memory
  $ctl top           # live ops/s, hit ratio, latency, lcore busy share (^C quits)
  $ctl stats         # every counter; --json for scripts
  curl -s http://$HTTP/metrics | grep '^memcached_'    # Prometheus
  curl -s http://$HTTP/ready

Stop: scripts/quickstart.sh --stop   (the cache is in memory: its contents go with pollux-dp)
EOF
exit "$bench_rc"
