/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the reply stream of `pollux-bench tcp` (tools/bench/
 * bench_tcp_stream.c, and load_reply_frame in bench_load_proto.c): where a
 * reply ends in a byte stream for each kind of reply memcached 1.6 sends,
 * whatever the split into reads (every prefix is incomplete, one byte at a
 * time, odd chunk sizes, many replies in one read), growth of the buffer
 * for a reply larger than it, and the streams that cannot go on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/bench/bench_tcp.h"

#define KLEN 16
#define VER 1

static int setup(void **state)
{
	(void)state;
	load_value_init();
	return 0;
}

static void key_of(uint8_t *k, uint64_t idx)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), "k%015llu", (unsigned long long)idx);
	memcpy(k, tmp, KLEN);
}

/* One request of a scripted exchange, the reply the server sends, the verdict due. */
struct step {
	enum load_op op;
	uint64_t idx;
	uint32_t vlen;    /* of the value the reply carries (hits) */
	uint16_t ver;
	int kind;         /* 0 hit/stale, 1 miss, 2 stored, 3 server error */
	enum load_verdict want;
};

/* Append the reply to step s in protocol proto at out; returns its length. */
static size_t put_reply(uint8_t *out, enum load_proto proto, const struct step *s)
{
	uint8_t key[KLEN];
	size_t n;

	key_of(key, s->idx);
	switch (s->kind) {
	case 1:
		n = proto == LOAD_PROTO_META ? 4 : 5;
		memcpy(out, proto == LOAD_PROTO_META ? "EN\r\n" : "END\r\n", n);
		return n;
	case 2:
		n = proto == LOAD_PROTO_META ? 4 : 8;
		memcpy(out, proto == LOAD_PROTO_META ? "HD\r\n" : "STORED\r\n", n);
		return n;
	case 3:
		n = strlen("SERVER_ERROR out of memory storing object\r\n");
		memcpy(out, "SERVER_ERROR out of memory storing object\r\n", n);
		return n;
	}
	if (proto == LOAD_PROTO_META) {
		n = (size_t)sprintf((char *)out, "VA %u t-1\r\n", s->vlen);
	} else {
		n = (size_t)sprintf((char *)out, "VALUE %.*s 0 %u\r\n", KLEN, (const char *)key,
				    s->vlen);
	}
	load_value_fill(out + n, s->vlen, s->idx, s->ver);
	n += s->vlen;
	memcpy(out + n, proto == LOAD_PROTO_META ? "\r\n" : "\r\nEND\r\n",
	       proto == LOAD_PROTO_META ? 2 : 7);
	return n + (proto == LOAD_PROTO_META ? 2 : 7);
}

static const struct step script[] = {
	{LOAD_OP_GET, 7, 32, VER, 0, LOAD_V_HIT},
	{LOAD_OP_GET, 8, 32, VER, 1, LOAD_V_MISS},
	{LOAD_OP_SET, 9, 32, VER, 2, LOAD_V_STORED},
	{LOAD_OP_GET, 10, 20, VER, 0, LOAD_V_STALE},       /* another size */
	{LOAD_OP_GET, 11, 32, 3, 0, LOAD_V_STALE},         /* another version */
	{LOAD_OP_GET, 12, 200000, VER, 0, LOAD_V_STALE},   /* larger than the buffer */
	{LOAD_OP_SET, 13, 32, VER, 3, LOAD_V_SERVER_ERR},
	{LOAD_OP_GET, 14, 32, VER, 0, LOAD_V_HIT},
	{LOAD_OP_GET, 15, 0, VER, 0, LOAD_V_STALE},        /* an empty value */
	{LOAD_OP_GET, 16, 32, VER, 0, LOAD_V_HIT},
};
#define NSTEPS (sizeof(script) / sizeof(script[0]))

/*
 * Feed the replies to script in proto through a tcp_rx of initial size cap,
 * chunk bytes per read (0: as much as fits), and check every verdict.
 */
static void run_script(enum load_proto proto, size_t chunk, size_t cap)
{
	size_t total = 0, fed = 0, got = 0;
	uint8_t *stream = malloc(400000);
	struct tcp_rx rx;

	assert_non_null(stream);
	for (size_t i = 0; i < NSTEPS; i++)
		total += put_reply(stream + total, proto, &script[i]);
	assert_int_equal(tcp_rx_init(&rx, cap, LOAD_VALUE_MAX + 2 * LOAD_LINE_MAX), 0);
	while (got < NSTEPS) {
		const struct step *s = &script[got];
		const uint8_t *p;
		size_t len, room;
		uint8_t key[KLEN];
		enum tcp_rx_status st = tcp_rx_next(&rx, proto, s->op, &p, &len);

		if (st == TCP_RX_REPLY) {
			key_of(key, s->idx);
			assert_int_equal(load_reply_check(p, len, proto, s->op, key, KLEN, s->idx,
							  32, VER), s->want);
			got++;
			continue;
		}
		assert_int_equal(st, TCP_RX_MORE);
		assert_true(fed < total); /* a whole reply is never reported as incomplete */
		uint8_t *space = tcp_rx_space(&rx, &room);
		assert_non_null(space);
		assert_true(room > 0);
		size_t n = total - fed;
		if (chunk > 0 && n > chunk)
			n = chunk;
		if (n > room)
			n = room;
		memcpy(space, stream + fed, n);
		tcp_rx_commit(&rx, n);
		fed += n;
	}
	assert_int_equal(fed, total);
	assert_int_equal(tcp_rx_pending(&rx), 0);
	assert_true(rx.cap >= 200000); /* grew for the large reply */
	tcp_rx_free(&rx);
	free(stream);
}

static void test_stream_text(void **state)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7, 13, 100, 1400, 4096, 65536};

	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run_script(LOAD_PROTO_TEXT, chunks[i], 4096);
		run_script(LOAD_PROTO_TEXT, chunks[i], 65536);
	}
}

static void test_stream_meta(void **state)
{
	static const size_t chunks[] = {0, 1, 5, 64, 1500, 9000};

	(void)state;
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		run_script(LOAD_PROTO_META, chunks[i], 4096);
}

/* Every proper prefix of a reply needs more bytes; the whole one, even followed, is framed. */
static void check_frame(const char *reply, size_t n, enum load_proto proto, enum load_op op,
			size_t header)
{
	uint8_t buf[256];
	size_t need;

	assert_true(n + 6 <= sizeof(buf));
	memcpy(buf, reply, n);
	memcpy(buf + n, "END\r\nX", 6);
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(load_reply_frame(buf, k, proto, op, &need), 0);
		/* The length is known once the first line is in (values only). */
		assert_int_equal(need, k >= header && header > 0 ? n : 0);
	}
	assert_int_equal(load_reply_frame(buf, n, proto, op, &need), n);
	assert_int_equal(load_reply_frame(buf, n + 6, proto, op, &need), n);
}

static void test_frame(void **state)
{
#define F(s, proto, op, header) check_frame(s, strlen(s), proto, op, header)
	(void)state;
	F("VALUE k1 0 5\r\nhello\r\nEND\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 14);
	F("VALUE k1 4294967295 5 99\r\nhello\r\nEND\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 26);
	F("VALUE k1 0 0\r\n\r\nEND\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 14);
	/* A value holding what looks like a reply does not end it early. */
	F("VALUE k1 0 7\r\nEND\r\n\r\n\r\nEND\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 14);
	F("END\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 0);
	F("STORED\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET, 0);
	F("ERROR\r\n", LOAD_PROTO_TEXT, LOAD_OP_GET, 0);
	F("SERVER_ERROR object too large for cache\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET, 0);
	F("VA 5 f0 t-1\r\nhello\r\n", LOAD_PROTO_META, LOAD_OP_GET, 13);
	F("VA 2\r\nHD\r\n", LOAD_PROTO_META, LOAD_OP_GET, 6);
	F("EN\r\n", LOAD_PROTO_META, LOAD_OP_GET, 0);
	F("HD\r\n", LOAD_PROTO_META, LOAD_OP_SET, 0);
	/* A set is answered with one line, whatever it says. */
	F("VALUE k1 0 5\r\n", LOAD_PROTO_TEXT, LOAD_OP_SET, 0);
	F("VA 5\r\n", LOAD_PROTO_META, LOAD_OP_SET, 0);
#undef F
}

static void test_frame_bad(void **state)
{
	uint8_t line[LOAD_LINE_MAX + 1];
	size_t need;

	(void)state;
	memset(line, 'x', sizeof(line));
	/* No end of line within LOAD_LINE_MAX bytes: not memcached. */
	assert_int_equal(load_reply_frame(line, LOAD_LINE_MAX - 1, LOAD_PROTO_TEXT, LOAD_OP_GET,
					  &need), 0);
	assert_int_equal(load_reply_frame(line, LOAD_LINE_MAX, LOAD_PROTO_TEXT, LOAD_OP_GET,
					  &need), LOAD_FRAME_BAD);
	assert_int_equal(load_reply_frame(line, sizeof(line), LOAD_PROTO_META, LOAD_OP_SET,
					  &need), LOAD_FRAME_BAD);
#define BAD(s, proto) assert_int_equal(load_reply_frame((const uint8_t *)s, strlen(s), proto, \
							LOAD_OP_GET, &need), LOAD_FRAME_BAD)
	BAD("VALUE k1 0 x\r\n", LOAD_PROTO_TEXT);
	BAD("VALUE k1 0\r\n", LOAD_PROTO_TEXT);
	BAD("VALUE k1\r\n", LOAD_PROTO_TEXT);
	BAD("VALUE k1 0 99999999999\r\n", LOAD_PROTO_TEXT);
	BAD("VA x\r\n", LOAD_PROTO_META);
	BAD("VA \r\n", LOAD_PROTO_META);
#undef BAD
}

/* A reply larger than the bound ends the stream: no space, no endless growth. */
static void test_too_large(void **state)
{
	struct tcp_rx rx;
	const char *hdr = "VALUE k1 0 100000\r\n";
	const uint8_t *p;
	size_t len, room;
	uint8_t *space;

	(void)state;
	assert_int_equal(tcp_rx_init(&rx, 4096, 65536), 0);
	space = tcp_rx_space(&rx, &room);
	assert_non_null(space);
	memcpy(space, hdr, strlen(hdr));
	tcp_rx_commit(&rx, strlen(hdr));
	assert_int_equal(tcp_rx_next(&rx, LOAD_PROTO_TEXT, LOAD_OP_GET, &p, &len), TCP_RX_MORE);
	assert_int_equal(rx.need, strlen(hdr) + 100000 + 7);
	assert_null(tcp_rx_space(&rx, &room));
	assert_int_equal(room, 0);
	tcp_rx_free(&rx);
}

/* Replies consumed from the head leave the rest in place; the front is reused. */
static void test_compaction(void **state)
{
	struct tcp_rx rx;
	const uint8_t *p;
	size_t len, room, replies = 0;

	(void)state;
	assert_int_equal(tcp_rx_init(&rx, 4096, 4096), 0);
	/* 10,000 "STORED\r\n" through a 4 KiB buffer, 1000 bytes a read. */
	for (size_t sent = 0; sent < 80000;) {
		uint8_t *space = tcp_rx_space(&rx, &room);

		assert_non_null(space);
		size_t n = room < 1000 ? room : 1000;
		for (size_t k = 0; k < n; k++)
			space[k] = (uint8_t)"STORED\r\n"[(sent + k) % 8];
		tcp_rx_commit(&rx, n);
		sent += n;
		while (tcp_rx_next(&rx, LOAD_PROTO_TEXT, LOAD_OP_SET, &p, &len) == TCP_RX_REPLY) {
			assert_int_equal(len, 8);
			assert_memory_equal(p, "STORED\r\n", 8);
			replies++;
		}
	}
	assert_int_equal(replies, 10000);
	assert_int_equal(rx.cap, 4096);
	tcp_rx_free(&rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_frame_bad),
		cmocka_unit_test(test_stream_text),
		cmocka_unit_test(test_stream_meta),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_compaction),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
