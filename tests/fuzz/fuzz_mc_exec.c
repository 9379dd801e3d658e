/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the executor behind both drivers. The first input
 * byte picks the mode: even = a stream connection fed in chunks whose sizes
 * come from the next bytes, odd = a datagram. A small table (evicting
 * often) and a small output segment put the executor's slow paths under
 * the fuzzer; ASan/UBSan catch the rest. After every input the table must
 * still answer a known key correctly.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "proto/mc_conn.h"

#define SEED 0xf22

static struct px_table *tbl;
static struct mc_exec x;
static uint8_t seg[97];

static int drop_flush(struct mc_out *o)
{
	o->len = 0;
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct tbl_config cfg = { .mem_bytes = 256 * 1024, .index_items = 512,
				  .value_max = 16 * 1024, .policy = TBL_POLICY_CLOCK,
				  .hash_seed = SEED };
	struct mc_exec_cfg xc = { .hash_seed = SEED, .limit_maxbytes = cfg.mem_bytes,
				  .part_max_bytes = cfg.mem_bytes };
	size_t len = tbl_region_size(&cfg);
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		abort();
	tbl = tbl_create(&cfg, mem, len);
	mc_parse_limits_init(&xc.limits);
	xc.limits.item_size_max = cfg.value_max;
	if (tbl == NULL || mc_exec_init(&x, &xc, &tbl, 1, NULL) != 0)
		abort();
	mc_exec_tick(&x, 1700000000);
	return 0;
}

static void check_canary(void)
{
	static const char probe[] = "set __canary 9 0 2\r\nok\r\nget __canary\r\n";
	static const char want[] = "STORED\r\nVALUE __canary 9 2\r\nok\r\nEND\r\n";
	uint8_t buf[128];
	struct mc_out o = { .buf = buf, .cap = sizeof(buf) };
	struct mc_stream s;

	mc_exec_tick(&x, 1700000000); /* the input may have flushed with a delay */
	mc_stream_init(&s);
	if (mc_stream_input(&x, &s, (const uint8_t *)probe, sizeof(probe) - 1, &o) != MC_EXEC_OK ||
	    o.len != sizeof(want) - 1 || memcmp(buf, want, o.len) != 0)
		abort();
	mc_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_out out = { .buf = seg, .cap = sizeof(seg), .flush = drop_flush };

	if (tbl == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (size < 2)
		return 0;
	if (data[0] & 1) {
		struct mc_udp_hdr h;
		mc_dgram_input(&x, data + 1, size - 1, &h, &out);
	} else {
		struct mc_stream s;
		size_t off = 2, chunk = (size_t)data[1] % 64 + 1;
		mc_stream_init(&s);
		while (off < size) {
			size_t n = size - off < chunk ? size - off : chunk;
			/* an exact-size copy, so reads past a chunk are caught */
			uint8_t *c = malloc(n);
			memcpy(c, data + off, n);
			enum mc_exec_result r = mc_stream_input(&x, &s, c, n, &out);
			free(c);
			off += n;
			if (r == MC_EXEC_CLOSE)
				break;
		}
		mc_stream_free(&s);
	}
	check_canary();
	return 0;
}
