/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-bench entry point: it only dispatches `pollux-bench <command> ...`
 * to the subcommand's own main (see bench.h) and lists the commands for
 * --help. Options after the command name belong to the command.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

struct bench_cmd {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct bench_cmd bench_cmds[] = {
	{"table", bench_table_main, "storage engine vs DPDK rte_hash on one core; miss ratio vs LRU"},
	{"ring", bench_ring_main, "full dataplane request path fed from rings (no NIC), vs bare ring I/O"},
	{"udp", bench_udp_main, "memcached-over-UDP load generator (closed/open loop, checked replies)"},
	{"tcp", bench_tcp_main, "memcached-over-TCP load generator (connections, pipelining, checked replies)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pollux-bench <command> [options]\n"
		   "       pollux-bench <command> --help\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(bench_cmds) / sizeof(bench_cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", bench_cmds[i].name, bench_cmds[i].summary);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("pollux-bench %s\n", PX_VERSION);
		return BENCH_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(bench_cmds) / sizeof(bench_cmds[0]); i++) {
		if (strcmp(cmd, bench_cmds[i].name) == 0)
			return bench_cmds[i].main(argc - 1, argv + 1);
	}
	fprintf(stderr, "pollux-bench: unknown command '%s'\n", cmd);
	usage(stderr);
	return BENCH_EXIT_USAGE;
}
