/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the bytes of `pollux-bench udp` (tools/bench/bench_udp.h,
 * tools/bench/bench_load_proto.c): request datagrams in text and meta form,
 * and the verdict on replies: hits checked byte for byte, misses, stored,
 * stale values of another size or version, corrupt values, server error
 * lines and garbage, in the exact reply strings memcached 1.6 sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/bench/bench_udp.h"

static const uint8_t key[] = "k000000000000042";
#define KLEN 16
#define IDX 42
#define VER 1

static int setup(void **state)
{
	(void)state;
	load_value_init();
	return 0;
}

static size_t build(uint8_t *buf, enum load_proto proto, enum load_op op, uint32_t vlen)
{
	assert_true(udp_req_max(KLEN, vlen) <= 4096);
	return udp_req_build(buf, proto, op, 0xbeef, key, KLEN, IDX, vlen, VER);
}

static void test_requests(void **state)
{
	uint8_t buf[4096], v[32];
	size_t n;

	(void)state;
	n = build(buf, LOAD_PROTO_TEXT, LOAD_OP_GET, 32);
	assert_memory_equal(buf, "\xbe\xef\0\0\0\1\0\0", 8);
	assert_int_equal(n, 8 + strlen("get k000000000000042\r\n"));
	assert_memory_equal(buf + 8, "get k000000000000042\r\n", n - 8);

	n = build(buf, LOAD_PROTO_META, LOAD_OP_GET, 32);
	assert_memory_equal(buf + 8, "mg k000000000000042 v\r\n", n - 8);

	load_value_fill(v, 32, IDX, VER);
	assert_memory_equal(v, "0000002a:0001:", 14);
	n = build(buf, LOAD_PROTO_TEXT, LOAD_OP_SET, 32);
	assert_int_equal(n, 8 + strlen("set k000000000000042 0 0 32\r\n") + 32 + 2);
	assert_memory_equal(buf + 8, "set k000000000000042 0 0 32\r\n", 29);
	assert_memory_equal(buf + 8 + 29, v, 32);
	assert_memory_equal(buf + n - 2, "\r\n", 2);

	n = build(buf, LOAD_PROTO_META, LOAD_OP_SET, 32);
	assert_memory_equal(buf + 8, "ms k000000000000042 32\r\n", 24);
	assert_memory_equal(buf + 8 + 24, v, 32);
	assert_true(n <= udp_req_max(KLEN, 32));
}

/* A reply: head, then the value of (vlen, ver) with byte `flip` changed if >= 0, then tail. */
static size_t reply(uint8_t *out, const char *head, uint32_t vlen, uint16_t ver, int flip,
		    const char *tail)
{
	size_t n = strlen(head);

	memcpy(out, head, n);
	load_value_fill(out + n, vlen, IDX, ver);
	if (flip >= 0)
		out[n + (size_t)flip] ^= 1;
	n += vlen;
	memcpy(out + n, tail, strlen(tail));
	return n + strlen(tail);
}

static enum load_verdict check(const void *p, size_t len, enum load_proto proto, enum load_op op,
			      uint32_t vlen)
{
	return load_reply_check(p, len, proto, op, key, KLEN, IDX, vlen, VER);
}

static enum load_verdict check_s(const char *s, enum load_proto proto, enum load_op op)
{
	return check(s, strlen(s), proto, op, 32);
}

static void test_text_get(void **state)
{
	uint8_t buf[4096];
	size_t n;

	(void)state;
	n = reply(buf, "VALUE k000000000000042 0 32\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_HIT);
	/* Client flags are not ours to judge. */
	n = reply(buf, "VALUE k000000000000042 77 32\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_HIT);
	/* One flipped bit, anywhere, is a bad value. */
	for (int i = 0; i < 32; i++) {
		n = reply(buf, "VALUE k000000000000042 0 32\r\n", 32, VER, i, "\r\nEND\r\n");
		assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_BAD_VALUE);
	}
	/* Another size or version of this key's value is stale, not corrupt. */
	n = reply(buf, "VALUE k000000000000042 0 20\r\n", 20, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_STALE);
	n = reply(buf, "VALUE k000000000000042 0 32\r\n", 32, 7, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_STALE);
	n = reply(buf, "VALUE k000000000000042 0 5\r\n", 5, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_STALE);
	/* Another key's value is bad. */
	memcpy(buf, "VALUE k000000000000042 0 32\r\n", 29);
	load_value_fill(buf + 29, 32, IDX + 1, VER);
	memcpy(buf + 61, "\r\nEND\r\n", 7);
	assert_int_equal(check(buf, 68, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_BAD_VALUE);

	assert_int_equal(check_s("END\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_MISS);
	assert_int_equal(check_s("ERROR\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_SERVER_ERR);
	assert_int_equal(check_s("SERVER_ERROR out of memory\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET),
			 LOAD_V_SERVER_ERR);
	assert_int_equal(check_s("END\r\nEND\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_GARBLED);
	assert_int_equal(check_s("EN", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_GARBLED);
	assert_int_equal(check_s("", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_GARBLED);
	assert_int_equal(check_s("STORED\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET), LOAD_V_GARBLED);
	/* Wrong key, bad numbers, short data, missing or extra trailer. */
	n = reply(buf, "VALUE k000000000000043 0 32\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	n = reply(buf, "VALUE k000000000000042 0 x\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	n = reply(buf, "VALUE k000000000000042 0 33\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	n = reply(buf, "VALUE k000000000000042 0 32\r\n", 32, VER, -1, "\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	n = reply(buf, "VALUE k000000000000042 0 32\r\n", 32, VER, -1, "\r\nEND\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	n = reply(buf, "VALUE k000000000000042 0 99999999999\r\n", 32, VER, -1, "\r\nEND\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_TEXT, LOAD_OP_GET, 32), LOAD_V_GARBLED);
}

static void test_meta_get(void **state)
{
	uint8_t buf[8192];
	size_t n;

	(void)state;
	n = reply(buf, "VA 32\r\n", 32, VER, -1, "\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_META, LOAD_OP_GET, 32), LOAD_V_HIT);
	n = reply(buf, "VA 32 f0 t-1\r\n", 32, VER, -1, "\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_META, LOAD_OP_GET, 32), LOAD_V_HIT);
	n = reply(buf, "VA 5000\r\n", 5000, VER, -1, "\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_META, LOAD_OP_GET, 5000), LOAD_V_HIT);
	n = reply(buf, "VA 5000\r\n", 5000, VER, 4999, "\r\n");
	assert_int_equal(check(buf, n, LOAD_PROTO_META, LOAD_OP_GET, 5000), LOAD_V_BAD_VALUE);
	n = reply(buf, "VA 32\r\n", 32, VER, -1, "");
	assert_int_equal(check(buf, n, LOAD_PROTO_META, LOAD_OP_GET, 32), LOAD_V_GARBLED);
	assert_int_equal(check_s("EN\r\n", LOAD_PROTO_META, LOAD_OP_GET), LOAD_V_MISS);
	assert_int_equal(check_s("END\r\n", LOAD_PROTO_META, LOAD_OP_GET), LOAD_V_GARBLED);
	assert_int_equal(check_s("CLIENT_ERROR bad command line format\r\n", LOAD_PROTO_META,
				 LOAD_OP_GET), LOAD_V_SERVER_ERR);
}

static void test_set(void **state)
{
	(void)state;
	assert_int_equal(check_s("STORED\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET), LOAD_V_STORED);
	assert_int_equal(check_s("HD\r\n", LOAD_PROTO_META, LOAD_OP_SET), LOAD_V_STORED);
	assert_int_equal(check_s("HD\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET), LOAD_V_GARBLED);
	assert_int_equal(check_s("STORED\r\n", LOAD_PROTO_META, LOAD_OP_SET), LOAD_V_GARBLED);
	assert_int_equal(check_s("NOT_STORED\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET), LOAD_V_GARBLED);
	assert_int_equal(check_s("STORED\r\nSTORED\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET),
			 LOAD_V_GARBLED);
	assert_int_equal(check_s("SERVER_ERROR object too large for cache\r\n", LOAD_PROTO_TEXT,
				 LOAD_OP_SET), LOAD_V_SERVER_ERR);
	assert_int_equal(check_s("SERVER_ERROR no newline", LOAD_PROTO_TEXT, LOAD_OP_SET),
			 LOAD_V_GARBLED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_text_get),
		cmocka_unit_test(test_meta_get),
		cmocka_unit_test(test_set),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
