/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pollux settings: every key both processes understand, defined once with
 * its type, default, bounds and documentation. Values come from the INI
 * file (libinih; sections are for grouping only) and then from key=value
 * command-line arguments, later ones winning. Unknown keys and bad values
 * are errors that name the file and line, or the argument.
 */
#ifndef PX_SETTINGS_H
#define PX_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * X(name, type, default, min, max, doc). Types: U64 (integers, also used
 * for booleans with bounds 0..1 and "yes/no/true/false/on/off" accepted),
 * STR (up to 255 bytes), F64 (probabilities), IP4 (dotted quad).
 */
#define PX_SETTINGS(X) \
	X(ip,                IP4, "198.18.0.1", 0, 0, "IPv4 address the appliance answers on") \
	X(iface,             STR, "",          0, 0, "interface for an AF_XDP/AF_PACKET port (empty: ports from EAL args)") \
	X(pmd,               STR, "auto",      0, 0, "auto | af_xdp | af_packet: driver for iface (auto tries af_xdp)") \
	X(xdp_busy_budget,   U64, "0",         0, 1024, "AF_XDP preferred busy polling budget (0: off, no syscall per poll)") \
	X(udp_port,          U64, "11211",     1, 65535, "memcached UDP port; base+p reaches partition p") \
	X(udp_partition_ports, U64, "1",       0, 1, "also serve UDP ports base+1..base+N (partition-aware clients)") \
	X(tcp_port,          U64, "11211",     0, 65535, "memcached TCP port (0: no TCP)") \
	X(max_conns,         U64, "4096",      1, 1048576, "open TCP connections; beyond, new ones get ERROR Too many open connections") \
	X(tcp_syn_backlog,   U64, "256",       1, 65536, "half-open TCP connections per lcore before SYN cookies") \
	X(tcp_idle_timeout,  U64, "0",         0, 31536000, "seconds a TCP connection may stay idle before it is closed (0: never)") \
	X(tcp_rto_min_ms,    U64, "200",       1, 60000, "smallest TCP retransmission timeout, ms") \
	X(tcp_time_wait_max, U64, "1024",      0, 1048576, "TCP connections per lcore kept in TIME_WAIT; beyond, the oldest is dropped") \
	X(tcp_time_wait_ms,  U64, "10000",     0, 600000, "how long a closed TCP connection stays in TIME_WAIT, ms") \
	X(lcores,            U64, "1",         1, 64, "dataplane lcores, one partition each") \
	X(mem_mb,            U64, "64",        1, 1048576, "item memory per partition, MiB (hard limit)") \
	X(index_items,       U64, "0",         0, 1ULL << 33, "items per partition the index is sized for (0: mem/64)") \
	X(item_size_max,     U64, "1048576",   1024, 16777215, "largest value, bytes") \
	X(policy,            STR, "clock",     0, 0, "eviction policy: clock | fifo") \
	X(hugepages,         U64, "1",         0, 1, "item memory in hugepages (no: run EAL with --no-huge)") \
	X(hash_seed,         U64, "11400714819323198485", 0, UINT64_MAX, "key hash seed (partition-aware clients need it)") \
	X(idle_spin_us,      U64, "50",        0, 1000000, "adaptive polling: how long an idle lcore spins before it sleeps, us") \
	X(tx_hold_us,        U64, "20",        0, 1000, "TX coalescing: how long a reply may wait to share a TX kick while requests come on many TCP connections, us (0: off)") \
	X(idle_sleep_max_us, U64, "1000",      0, 1000000, "adaptive polling: longest idle sleep, us (0: busy poll)") \
	X(sweep_budget,      U64, "64",        0, 1 << 20, "expired items each lcore examines per millisecond") \
	X(fault_rx_drop,     F64, "0",         0, 1, "probability an RX packet is dropped (tests only)") \
	X(fault_rx_dup,      F64, "0",         0, 1, "probability an RX packet is duplicated") \
	X(fault_rx_reorder,  F64, "0",         0, 1, "probability an RX packet is held back one burst") \
	X(fault_rx_delay,    F64, "0",         0, 1, "probability an RX packet is delayed by fault_delay_us") \
	X(fault_tx_drop,     F64, "0",         0, 1, "probability a TX packet is dropped") \
	X(fault_tx_dup,      F64, "0",         0, 1, "probability a TX packet is duplicated") \
	X(fault_tx_reorder,  F64, "0",         0, 1, "probability a TX packet is held back one burst") \
	X(fault_tx_delay,    F64, "0",         0, 1, "probability a TX packet is delayed by fault_delay_us") \
	X(fault_delay_us,    U64, "2000",      0, 10000000, "delay of delayed packets, us") \
	X(log_level,         STR, "info",      0, 0, "error | warn | info | debug") \
	X(shm_path,          STR, "/dev/shm/pollux", 0, 0, "shared-memory region between pollux-cp and pollux-dp") \
	X(admin_socket,      STR, "/run/pollux/admin.sock", 0, 0, "pollux-cp admin socket (mode 0600)") \
	X(http_listen,       STR, "127.0.0.1:11280", 0, 0, "pollux-cp HTTP address for /metrics /health /ready") \
	X(wal_mode,          STR, "off",       0, 0, "write-ahead log: off | async (fsync every wal_fsync_ms) | sync (reply after fsync)") \
	X(wal_dir,           STR, "/var/lib/pollux/wal", 0, 0, "directory of WAL segments and snapshots (pollux-cp)") \
	X(wal_fsync_ms,      U64, "10",        1, 10000, "async mode: the longest a written record waits for fsync, ms") \
	X(wal_segment_mb,    U64, "64",        1, 4096, "size of a WAL segment file, MiB") \
	X(wal_ring_kb,       U64, "4096",      64, 1048576, "per-lcore mutation and replay ring, KiB (rounded up to a power of two)") \
	X(wal_slack_pct,     U64, "100",       10, 10000, "compaction: snapshot when the log exceeds live data by this many percent") \
	X(wal_repair,        U64, "0",         0, 1, "recovery cuts corrupt spans out of the log (keeping *.cut copies) instead of refusing to start")

enum px_setting_type { PX_SET_U64, PX_SET_STR, PX_SET_F64, PX_SET_IP4 };

struct px_settings {
#define PX_X_U64(n) uint64_t n;
#define PX_X_STR(n) char n[256];
#define PX_X_F64(n) double n;
#define PX_X_IP4(n) uint32_t n; /* host byte order */
#define PX_X_FIELD(name, type, def, lo, hi, doc) PX_X_##type(name)
	PX_SETTINGS(PX_X_FIELD)
#undef PX_X_FIELD
};

/* Fill s with every default. */
void px_settings_defaults(struct px_settings *s);
/*
 * Set one key from text. Returns 0, or -ENOENT for an unknown key, -EINVAL
 * for a bad value; *why gets a message naming the problem.
 */
int px_settings_set(struct px_settings *s, const char *key, const char *value, const char **why);
/* Load an INI file. Returns 0, or -1 with msg (size n) naming file:line. */
int px_settings_load(struct px_settings *s, const char *path, char *msg, size_t n);
/* Apply a "key=value" argument. Returns 0, or -1 with msg naming it. */
int px_settings_arg(struct px_settings *s, const char *arg, char *msg, size_t n);
/*
 * A process's command line: defaults, then --config FILE, then key=value
 * arguments, up to "--" (*rest: index of the first argument after it, or
 * argc). Returns 0, 1 for --help, or -1 after printing the error as prog.
 */
int px_settings_parse_argv(struct px_settings *s, int argc, char **argv, const char *prog,
			   int *rest);
/* Print every key, its default and doc (for --help and docs). */
void px_settings_usage(void *file);
/* One key's current value as text. Returns 0 or -ENOENT. */
int px_settings_get(const struct px_settings *s, const char *key, char *out, size_t n);

#endif
