# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Network namespaces for running pollux-dp by hand or from scripts (source it;
# scripts/quickstart.sh does). The bash twin of tests/lib/pxnet.py, with the
# same fixed names: pollux-dp on veth-srv in namespace pollux-srv owning
# 198.18.0.1 (never given to the kernel: pollux-dp answers ARP for it),
# clients on veth-cli in pollux-cli with 198.18.0.2/24, no default route, TX
# checksum offload off. Nothing outside the two namespaces is touched except
# 2 MiB hugepages (pxnet_hugepages) and the state directory of the caller.
#
#   pxnet_up Q                 create or reuse the pair with Q queues (idempotent;
#                              a pair with another queue count is rebuilt when
#                              nothing runs in pollux-srv: AF_XDP needs Q = lcores)
#   pxnet_is_up [Q]            the pair exists and is configured (with Q queues)
#   pxnet_down                 delete both namespaces (and with them the veth pair)
#   pxnet_hugepages MB [ORIG]  make MB MiB of free 2 MiB hugepages; when it raises
#                              nr_hugepages, the old value goes to file ORIG
#   pxnet_hugepages_restore ORIG
#   pxnet_dp_pid PIDFILE       print the pid of the pollux-dp in PIDFILE if it runs
#   pxnet_running PID NAME     PID is a live process named NAME (not a zombie)
#   pxnet_dp_start BIN LOG PIDFILE [TIMEOUT] -- SETTINGS...
#                              start pollux-dp detached in pollux-srv, log to LOG,
#                              wait for its ready line; on failure print the log tail
#   pxnet_dp_stop PIDFILE [TIMEOUT]   SIGTERM, wait; its counters go to its log
#   pxnet_cli CMD...           run CMD in the client namespace

PX_SRV_NS=pollux-srv
PX_CLI_NS=pollux-cli
PX_SRV_IF=veth-srv
PX_CLI_IF=veth-cli
PX_SRV_IP=198.18.0.1
PX_CLI_IP=198.18.0.2
PX_PREFIX=24
PX_HUGEPAGES=/sys/kernel/mm/hugepages/hugepages-2048kB

pxnet_log() { echo "netns: $*" >&2; }

pxnet_ns_exists() { [ -e "/var/run/netns/$1" ]; }

# Queues of the server veth (0 if it does not exist).
pxnet_queues() {
  pxnet_ns_exists "$PX_SRV_NS" || { echo 0; return; }
  ip netns exec "$PX_SRV_NS" sh -c "ls -d /sys/class/net/$PX_SRV_IF/queues/rx-* 2>/dev/null | wc -l"
}

pxnet_is_up() {
  local q=${1:-1}
  pxnet_ns_exists "$PX_SRV_NS" && pxnet_ns_exists "$PX_CLI_NS" || return 1
  ip -n "$PX_SRV_NS" link show "$PX_SRV_IF" 2>/dev/null | grep -q "state UP\|,UP" || return 1
  ip -n "$PX_CLI_NS" -o addr show dev "$PX_CLI_IF" 2>/dev/null | grep -q "inet $PX_CLI_IP/$PX_PREFIX" || return 1
  [ "$(pxnet_queues)" -eq "$q" ]
}

# Configure addresses, links and offloads; every step is idempotent.
pxnet_configure() {
  local ns
  for ns in "$PX_SRV_NS" "$PX_CLI_NS"; do
    # No IPv6 chatter (router solicitations, DAD) on the wire.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
      net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
  done
  ip -n "$PX_SRV_NS" link set "$PX_SRV_IF" up &&
  ip -n "$PX_CLI_NS" link set lo up &&
  { ip -n "$PX_CLI_NS" -o addr show dev "$PX_CLI_IF" | grep -q "inet $PX_CLI_IP/$PX_PREFIX" ||
    ip -n "$PX_CLI_NS" addr add "$PX_CLI_IP/$PX_PREFIX" dev "$PX_CLI_IF"; } &&
  ip -n "$PX_CLI_NS" link set "$PX_CLI_IF" up &&
  # veth would hand AF_XDP/AF_PACKET partial UDP checksums, which pollux-dp rejects.
  ip netns exec "$PX_CLI_NS" ethtool -K "$PX_CLI_IF" tx off >/dev/null
}

pxnet_up() {
  local q=${1:-1} have
  if pxnet_is_up "$q"; then
    pxnet_configure
    return
  fi
  pxnet_ns_exists "$PX_SRV_NS" || ip netns add "$PX_SRV_NS" || return 1
  pxnet_ns_exists "$PX_CLI_NS" || ip netns add "$PX_CLI_NS" || return 1
  have=$(pxnet_queues)
  if [ "$have" -gt 0 ] && [ "$have" -ne "$q" ]; then
    if [ -n "$(ip netns pids "$PX_SRV_NS")" ]; then
      if [ "$have" -gt "$q" ]; then
        pxnet_configure   # in use: keep it (pollux-dp uses AF_PACKET on it)
        return
      fi
      pxnet_log "$PX_SRV_IF has $have queue(s), $q needed, and processes run in $PX_SRV_NS: stop them first"
      return 1
    fi
    pxnet_log "recreating $PX_SRV_IF with $q queues (had $have)"
    ip -n "$PX_SRV_NS" link del "$PX_SRV_IF" || return 1
    have=0
  fi
  if [ "$have" -eq 0 ]; then
    # A leftover client end without its peer cannot exist (veth ends die
    # together), but a stray interface of that name can: leave it be and fail.
    # Both ends are created inside their namespaces: the root namespace never
    # sees them.
    ip link add "$PX_SRV_IF" numrxqueues "$q" numtxqueues "$q" netns "$PX_SRV_NS" type veth \
      peer name "$PX_CLI_IF" numrxqueues "$q" numtxqueues "$q" netns "$PX_CLI_NS" || return 1
  fi
  pxnet_configure
}

pxnet_down() {
  local ns pid
  for ns in "$PX_SRV_NS" "$PX_CLI_NS"; do
    pxnet_ns_exists "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -TERM "$pid" 2>/dev/null || true
    done
    ip netns del "$ns"
  done
}

pxnet_hugepages() {
  local mb=$1 orig=${2:-} free nr want
  [ -r "$PX_HUGEPAGES/free_hugepages" ] || return 1
  free=$(( $(cat "$PX_HUGEPAGES/free_hugepages") * 2 ))
  [ "$free" -ge "$mb" ] && return 0
  nr=$(cat "$PX_HUGEPAGES/nr_hugepages")
  want=$(( nr + (mb - free + 1) / 2 + 16 ))
  echo "$want" > "$PX_HUGEPAGES/nr_hugepages" 2>/dev/null || return 1
  if [ -n "$orig" ] && [ ! -e "$orig" ]; then
    echo "$nr $(cat "$PX_HUGEPAGES/nr_hugepages")" > "$orig"
  fi
  [ $(( $(cat "$PX_HUGEPAGES/free_hugepages") * 2 )) -ge "$mb" ]
}

# Undo pxnet_hugepages if nobody changed nr_hugepages since.
pxnet_hugepages_restore() {
  local orig=$1 from to
  [ -f "$orig" ] || return 0
  read -r from to < "$orig"
  if [ "$(cat "$PX_HUGEPAGES/nr_hugepages")" = "$to" ]; then
    echo "$from" > "$PX_HUGEPAGES/nr_hugepages" 2>/dev/null || true
  fi
  rm -f "$orig"
}

# PID is a live process named NAME (a killed one waiting to be reaped, a
# zombie, is not).
pxnet_running() {
  local pid=$1 name=$2 state
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

pxnet_dp_pid() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 1
  read -r pid < "$pidfile" || return 1
  pxnet_running "$pid" pollux-dp || return 1
  echo "$pid"
}

# The pollux-dp running in the server namespace, if any (newest first).
pxnet_dp_find() {
  local pid
  pxnet_ns_exists "$PX_SRV_NS" || return 1
  for pid in $(ip netns pids "$PX_SRV_NS" 2>/dev/null | sort -rn); do
    if pxnet_running "$pid" pollux-dp; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

pxnet_dp_start() {
  local bin=$1 log=$2 pidfile=$3 timeout=60 off pid i
  shift 3
  if [ "${1:-}" != "--" ]; then timeout=$1; shift; fi
  [ "${1:-}" = "--" ] && shift
  touch "$log"
  off=$(stat -c %s "$log")
  echo "== $(date -Is) pollux-dp iface=$PX_SRV_IF ip=$PX_SRV_IP $*" >> "$log"
  # Its own session: Ctrl-C in this terminal and its hangup do not reach it.
  setsid -f ip netns exec "$PX_SRV_NS" "$bin" "iface=$PX_SRV_IF" "ip=$PX_SRV_IP" "$@" \
    >> "$log" 2>&1 < /dev/null
  for ((i = 0; i < timeout * 10; i++)); do
    if tail -c +"$((off + 1))" "$log" | grep -q "^pollux-dp: ready:"; then
      pid=$(pxnet_dp_find) || true
      [ -n "$pid" ] && echo "$pid" > "$pidfile"
      return 0
    fi
    # Exited before ready (it prints why).
    if ((i > 5)) && ! pxnet_dp_find >/dev/null; then
      sleep 0.2
      tail -c +"$((off + 1))" "$log" | grep -q "^pollux-dp: ready:" && continue
      return 1
    fi
    sleep 0.1
  done
  pxnet_log "pollux-dp not ready after ${timeout}s"
  return 1
}

# The log lines written since the last start (for error reports).
pxnet_dp_last_log() {
  local log=$1
  awk '/^== .* pollux-dp /{buf=""} {buf = buf $0 "\n"} END{printf "%s", buf}' "$log"
}

pxnet_dp_stop() {
  local pidfile=$1 timeout=${2:-30} pid i
  pid=$(pxnet_dp_pid "$pidfile") || pid=$(pxnet_dp_find) || { rm -f "$pidfile"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    pxnet_running "$pid" pollux-dp || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  pxnet_log "pollux-dp (pid $pid) still running ${timeout}s after SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

pxnet_cli() { ip netns exec "$PX_CLI_NS" "$@"; }
