/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mc-stdio: the protocol engine as a filter, for differential tests. Bytes
 * read from stdin are one memcached stream connection; replies are written
 * to stdout after every read. The storage engine runs in plain memory, one
 * partition per --parts, with the real clock. Not a server: the dataplane
 * is; this exists so a test can hold the executor against memcached.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/mc_conn.h"
#include "px_clock.h"

#define SEED 0x9e3779b97f4a7c15ULL

static int out_flush(struct mc_out *o)
{
	size_t off = 0;
	while (off < o->len) {
		ssize_t w = write(STDOUT_FILENO, o->buf + off, o->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		off += (size_t)w;
	}
	o->len = 0;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nparts = 1;
	uint64_t mem = 64ull << 20;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--parts") == 0 && i + 1 < argc)
			nparts = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--mem-mb") == 0 && i + 1 < argc)
			mem = strtoull(argv[++i], NULL, 10) << 20;
		else {
			fprintf(stderr, "usage: mc-stdio [--parts N] [--mem-mb M]\n");
			return 2;
		}
	}
	if (nparts < 1 || nparts > 16) {
		fprintf(stderr, "mc-stdio: --parts must be 1..16\n");
		return 2;
	}
	struct tbl_config cfg = { .mem_bytes = mem / nparts, .policy = TBL_POLICY_CLOCK,
				  .hash_seed = SEED };
	struct px_table *parts[16];
	size_t len = tbl_region_size(&cfg);
	for (unsigned i = 0; i < nparts; i++) {
		cfg.cas_stride = nparts;
		cfg.cas_index = i;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED || (parts[i] = tbl_create(&cfg, m, len)) == NULL) {
			perror("mc-stdio: table");
			return 1;
		}
	}
	struct mc_exec_cfg xc = { .hash_seed = SEED, .limit_maxbytes = mem,
				  .part_max_bytes = mem };
	mc_parse_limits_init(&xc.limits);
	struct mc_server_info info = { .pid = (uint32_t)getpid(), .started = px_clock_unix(),
				       .threads = nparts };
	struct mc_exec x;
	mc_exec_init(&x, &xc, parts, nparts, &info);
	struct mc_stream s;
	mc_stream_init(&s);
	static uint8_t in[65536], seg[16384];
	struct mc_out out = { .buf = seg, .cap = sizeof(seg), .flush = out_flush };

	for (;;) {
		ssize_t n = read(STDIN_FILENO, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		mc_exec_tick(&x, px_clock_unix());
		enum mc_exec_result r = mc_stream_input(&x, &s, in, (size_t)n, &out);
		if (out_flush(&out) != 0 || r == MC_EXEC_CLOSE)
			break;
	}
	mc_stream_free(&s);
	return 0;
}
