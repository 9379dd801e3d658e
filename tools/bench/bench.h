/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The subcommands of pollux-bench. Each lives in its own bench_<name>.c and
 * is entered with argv[0] set to its name; it owns its options and returns
 * the process exit code: 0 success, 1 runtime failure, 2 bad usage.
 */
#ifndef PX_BENCH_H
#define PX_BENCH_H

#include <stdint.h>

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1
#define BENCH_EXIT_USAGE 2

/* Option values (bench_opt.c): 0, or -EINVAL after printing "pollux-bench <cmd>: ...". */
int bench_opt_bad(const char *cmd, const char *opt, const char *val, const char *why);
/* Decimal integer in [lo, hi], with an optional k or M suffix (10^3, 10^6). */
int bench_opt_u64(const char *cmd, const char *opt, const char *s, uint64_t lo, uint64_t hi,
		  uint64_t *out);
int bench_opt_u32(const char *cmd, const char *opt, const char *s, uint32_t lo, uint32_t hi,
		  uint32_t *out);
int bench_opt_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
		     double *out);
/* One of the n words in names: its index in *out ("expected a, b or c" otherwise). */
int bench_opt_pick(const char *cmd, const char *opt, const char *s, const char *const *names,
		   unsigned n, unsigned *out);

/* Storage engine vs DPDK rte_hash on one core, plus policy miss ratios. */
int bench_table_main(int argc, char **argv);
/* The dataplane's full request path fed from rings, vs bare ring turnaround. */
int bench_ring_main(int argc, char **argv);
/* memcached over UDP from plain sockets (no EAL): closed/open loop, checked replies. */
int bench_udp_main(int argc, char **argv);
/* memcached over TCP from kernel sockets (epoll or io_uring): connections, pipelining. */
int bench_tcp_main(int argc, char **argv);

#endif
