/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the memcached UDP frame header, request datagram checks,
 * reply fragmentation (1400-byte datagrams, header included) and the
 * base64 helpers used for meta binary keys.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "proto/mc_base64.h"
#include "proto/mc_parser.h"
#include "proto/mc_udp.h"

static void test_udp_hdr(void **state)
{
	(void)state;
	static const uint8_t raw[8] = { 0x12, 0x34, 0x00, 0x02, 0x00, 0x05, 0xab, 0xcd };
	struct mc_udp_hdr h;
	assert_int_equal(mc_udp_hdr_parse(raw, sizeof(raw), &h), 0);
	assert_int_equal(h.req_id, 0x1234);
	assert_int_equal(h.seq, 2);
	assert_int_equal(h.total, 5);
	assert_int_equal(h.reserved, 0xabcd);
	uint8_t out[8];
	mc_udp_hdr_write(out, &h);
	assert_memory_equal(out, raw, sizeof(raw));
	assert_int_equal(mc_udp_hdr_parse(raw, 7, &h), -EINVAL);
	assert_int_equal(mc_udp_hdr_parse(NULL, 8, &h), -EINVAL);
	assert_int_equal(mc_udp_hdr_parse(raw, 8, NULL), -EINVAL);
}

static void test_udp_validate(void **state)
{
	(void)state;
	uint8_t d[32] = { 0xbe, 0xef, 0, 0, 0, 1, 0, 0 };
	memcpy(d + 8, "get foo\r\n", 9);
	struct mc_udp_hdr h;
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_OK);
	assert_int_equal(h.req_id, 0xbeef);
	assert_int_equal(mc_udp_validate(d, 17, NULL), MC_UDP_OK);

	/* The payload is an ordinary request. */
	struct mc_request req;
	size_t consumed;
	assert_int_equal(mc_parse(d + 8, 9, NULL, &req, &consumed), MC_PARSE_OK);
	assert_int_equal(req.cmd, MC_CMD_GET);
	assert_int_equal(consumed, 9);

	/* Reserved bytes are ignored, as memcached does. */
	d[6] = 0xff;
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_OK);
	assert_int_equal(mc_udp_validate(d, 7, &h), MC_UDP_DROP_SHORT);
	assert_int_equal(mc_udp_validate(NULL, 0, &h), MC_UDP_DROP_SHORT);
	assert_int_equal(mc_udp_validate(d, 8, &h), MC_UDP_DROP_EMPTY);
	d[5] = 2; /* total 2 */
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_DROP_MULTI);
	d[5] = 0; /* total 0 */
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_DROP_MULTI);
	d[5] = 1;
	d[3] = 1; /* seq 1 of 1 */
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_DROP_MULTI);
	d[3] = 0;
	d[4] = 1; /* total 257 */
	assert_int_equal(mc_udp_validate(d, 17, &h), MC_UDP_DROP_MULTI);

	assert_string_equal(mc_udp_verdict_name(MC_UDP_OK), "ok");
	assert_string_equal(mc_udp_verdict_name(MC_UDP_DROP_SHORT), "short");
	assert_string_equal(mc_udp_verdict_name(MC_UDP_DROP_MULTI), "multi");
	assert_string_equal(mc_udp_verdict_name(MC_UDP_DROP_EMPTY), "empty");
	assert_string_equal(mc_udp_verdict_name(MC_UDP_VERDICT_COUNT), "unknown");
}

static void test_udp_frag_count(void **state)
{
	(void)state;
	assert_int_equal(mc_udp_frag_count(0, 0), 0);
	assert_int_equal(mc_udp_frag_count(1, 0), 1);
	assert_int_equal(mc_udp_frag_count(1392, 0), 1);
	assert_int_equal(mc_udp_frag_count(1393, 0), 2);
	assert_int_equal(mc_udp_frag_count(2784, 1400), 2);
	assert_int_equal(mc_udp_frag_count(2785, 1400), 3);
	assert_int_equal(mc_udp_frag_count(5, 9), 5);
	assert_int_equal(mc_udp_frag_count(5, 8), -EINVAL);
	assert_int_equal(mc_udp_frag_count(5, 1), -EINVAL);
	assert_int_equal(mc_udp_frag_count((size_t)1392 * 65535, 0), 65535);
	assert_int_equal(mc_udp_frag_count((size_t)1392 * 65535 + 1, 0), -EMSGSIZE);
}

/* Fragments tile the reply exactly and every header is right. */
static void check_frags(size_t reply_len, size_t dgram_max)
{
	int n = mc_udp_frag_count(reply_len, dgram_max);
	assert_true(n >= 0);
	size_t max = dgram_max == 0 ? MC_UDP_DGRAM_MAX : dgram_max;
	size_t next = 0;
	for (int s = 0; s < n; s++) {
		struct mc_udp_frag f;
		assert_int_equal(mc_udp_frag(reply_len, dgram_max, 0x0102, (uint16_t)s, &f), 0);
		struct mc_udp_hdr h;
		assert_int_equal(mc_udp_hdr_parse(f.hdr, sizeof(f.hdr), &h), 0);
		assert_int_equal(h.req_id, 0x0102);
		assert_int_equal(h.seq, s);
		assert_int_equal(h.total, n);
		assert_int_equal(h.reserved, 0);
		assert_int_equal(f.off, next);
		assert_true(f.len > 0 && MC_UDP_HDR_LEN + f.len <= max);
		if (s + 1 < n)
			assert_int_equal(MC_UDP_HDR_LEN + f.len, max);
		next += f.len;
	}
	assert_int_equal(next, reply_len);
	struct mc_udp_frag f;
	assert_int_equal(mc_udp_frag(reply_len, dgram_max, 1, (uint16_t)n, &f), -ERANGE);
}

static void test_udp_frag(void **state)
{
	(void)state;
	static const size_t lens[] = { 0, 1, 5, 1391, 1392, 1393, 2784, 2785, 100000, 1048576 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		check_frags(lens[i], 0);
		check_frags(lens[i], 1400);
		check_frags(lens[i], 576);
	}
	check_frags(17, 9);
	struct mc_udp_frag f;
	assert_int_equal(mc_udp_frag(10, 0, 7, 0, NULL), -EINVAL);
	assert_int_equal(mc_udp_frag(10, 8, 7, 0, &f), -EINVAL);
	assert_int_equal(mc_udp_frag((size_t)1392 * 65536, 0, 7, 0, &f), -EMSGSIZE);
	assert_int_equal(mc_udp_frag(3000, 0, 0xabcd, 2, &f), 0);
	static const uint8_t hdr[8] = { 0xab, 0xcd, 0, 2, 0, 3, 0, 0 };
	assert_memory_equal(f.hdr, hdr, 8);
	assert_int_equal(f.off, 2784);
	assert_int_equal(f.len, 216);
}

static void test_base64_vectors(void **state)
{
	(void)state;
	/* RFC 4648 section 10. */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		char e[16];
		uint8_t d[16];
		size_t pl = strlen(plain[i]), el = strlen(enc[i]);
		assert_int_equal(mc_base64_encode((const uint8_t *)plain[i], pl, e, sizeof(e)),
				 (ssize_t)el);
		assert_memory_equal(e, enc[i], el);
		assert_int_equal(mc_base64_encoded_len(pl), el);
		assert_int_equal(mc_base64_decoded_len(enc[i], el), (ssize_t)pl);
		assert_int_equal(mc_base64_decode(enc[i], el, d, sizeof(d)), (ssize_t)pl);
		assert_memory_equal(d, plain[i], pl);
	}
}

static void test_base64_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"Zg=", "Z", "Zm9", "Z===", "====", "Zg=a", "Zh==", "Zm9=", "Zm-v", "Zm9v\n",
		"Zm 9", "Zm9v=Zg=", "Z\x80==",
	};
	uint8_t d[16];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mc_base64_decoded_len(bad[i], strlen(bad[i])), -EINVAL);
		assert_int_equal(mc_base64_decode(bad[i], strlen(bad[i]), d, sizeof(d)), -EINVAL);
	}
	assert_int_equal(mc_base64_decoded_len(NULL, 4), -EINVAL);
	/* Too small an output buffer leaves it untouched. */
	memset(d, 0x5a, sizeof(d));
	assert_int_equal(mc_base64_decode("Zm9vYmFy", 8, d, 5), -ENOSPC);
	assert_int_equal(d[0], 0x5a);
	char e[4];
	assert_int_equal(mc_base64_encode((const uint8_t *)"fooba", 5, e, sizeof(e)), -ENOSPC);
	assert_int_equal(mc_base64_encode(NULL, 1, e, sizeof(e)), -ENOSPC);
}

static void test_base64_roundtrip(void **state)
{
	(void)state;
	uint8_t in[256], dec[256];
	char enc[400];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(in); n++) {
		ssize_t el = mc_base64_encode(in, n, enc, sizeof(enc));
		assert_int_equal(el, (ssize_t)mc_base64_encoded_len(n));
		assert_int_equal(mc_base64_decode(enc, (size_t)el, dec, n), (ssize_t)n);
		assert_memory_equal(dec, in, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_hdr),
		cmocka_unit_test(test_udp_validate),
		cmocka_unit_test(test_udp_frag_count),
		cmocka_unit_test(test_udp_frag),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
