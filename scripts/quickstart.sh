#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Quick start: install what is missing, build the release flavour, put a veth
# pair between two network namespaces (pollux-srv, pollux-cli), start
# pollux-dp on the server end (AF_XDP, falling back to AF_PACKET) serving
# memcached over UDP on 198.18.0.1, run a short benchmark from the client end
# with a live progress line, and print how to connect. The appliance keeps
# running after the script returns.
#
#   scripts/quickstart.sh [--config FILE] [key=value ...]   start (or reuse) and benchmark
#   scripts/quickstart.sh --stop [--purge]                  stop it, remove the namespaces
#
# Settings (key=value, or an INI --config FILE) go to pollux-dp; see
# build/release/pollux-dp --help. iface and ip are fixed here. Running it
# again starts only what is not running: a running pollux-dp, and the data in
# its cache, are kept (new settings then need --stop first). --stop ends
# pollux-dp (its cache lives in its memory, so the cached data goes with it)
# and removes the namespaces; its log stays in /run/pollux unless --purge.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=/run/pollux
LOG=$STATE/dp.log
PIDFILE=$STATE/dp.pid
ARGSFILE=$STATE/dp.args
HPORIG=$STATE/hugepages.orig
DP=build/release/pollux-dp
BENCH=build/release/pollux-bench
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

if ((stop)); then
  if pid=$(pxnet_dp_pid "$PIDFILE" || pxnet_dp_find); then
    say "stopping pollux-dp (pid $pid)"
    pxnet_dp_stop "$PIDFILE"
    pxnet_dp_last_log "$LOG" 2>/dev/null | grep "^pollux-dp: lcore" || true
  else
    say "pollux-dp is not running"
  fi
  rm -f "$PIDFILE" "$ARGSFILE"
  if pxnet_ns_exists "$PX_SRV_NS" || pxnet_ns_exists "$PX_CLI_NS"; then
    pxnet_down
    say "removed namespaces $PX_SRV_NS and $PX_CLI_NS (and the veth pair)"
  fi
  pxnet_hugepages_restore "$HPORIG"
  if ((purge)); then
    rm -rf "$STATE"
    say "removed $STATE (log and state)"
  elif [ -f "$LOG" ]; then
    say "log kept in $LOG (--stop --purge removes it)"
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
running=$(pxnet_dp_pid "$PIDFILE" || pxnet_dp_find || true)
if [ -n "$running" ]; then
  pxnet_up "$(pxnet_queues)"      # as it is: pollux-dp is attached to it
else
  pxnet_up "$lcores"
fi || die "cannot set up namespaces $PX_SRV_NS/$PX_CLI_NS"
say "namespaces $PX_SRV_NS ($PX_SRV_IF, pollux-dp owns $PX_SRV_IP) and $PX_CLI_NS ($PX_CLI_IF, $PX_CLI_IP/$PX_PREFIX) up, $(pxnet_queues) queue(s)"

dp_args=()
[ -n "$config" ] && dp_args+=(--config "$config")
dp_args+=("${settings[@]}")
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

parts=""
((lcores > 1)) && parts="
Port 11211 takes any key; 11212..$((11211 + lcores)) reach partition p directly at 11212+p."
cat <<EOF

Pollux is running: pollux-dp (pid $pid, $lcores lcore(s)) serves memcached over UDP on
$PX_SRV_IP:11211 in network namespace $PX_SRV_NS (log $LOG).$parts
Clients run in namespace $PX_CLI_NS ($PX_CLI_IP). Try it:

  ip netns exec $PX_CLI_NS ping -c 2 $PX_SRV_IP
  ip netns exec $PX_CLI_NS python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.sendto(b"\\0\\1\\0\\0\\0\\1\\0\\0set foo 0 0 3\\r\\nbar\\r\\nget foo\\r\\n", ("$PX_SRV_IP", 11211)); print(s.recv(1500)[8:].decode())'
  ip netns exec $PX_CLI_NS $PWD/$BENCH udp --server $PX_SRV_IP --seconds 10
  ip netns exec $PX_CLI_NS bash     # a shell whose clients reach $PX_SRV_IP

Every UDP request starts with memcached's 8-byte frame: request id, sequence 0,
total 1, reserved 0 (16-bit big-endian each); replies carry the same id.
Stop: scripts/quickstart.sh --stop   (the cache is in memory: its contents go with pollux-dp)
EOF
exit "$bench_rc"
