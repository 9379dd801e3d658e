/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the memcached text protocol parser: every classic command,
 * noreply, memcached's exact error lines, key and line limits and hostile
 * input. Every session is also replayed split at each byte boundary and
 * byte by byte (mc_session.c) and must give the same transcript.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto/mc_parser.h"
#include "proto/mc_parser_pvt.h"
#include "mc_session.h"

/* "<prefix><n x c><suffix>" in a malloc'd buffer; *len gets its length. */
static char *build(const char *prefix, size_t n, char c, const char *suffix, size_t *len)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);
	assert_non_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	*len = pl + n + sl;
	return s;
}

/*
 * mc_key_end reads past its span in one case only, inside the span's page:
 * spans that end flush against an unmapped page must not fault, and every
 * span length and stop position must give the first stop byte.
 */
static void test_key_end_page_edge(void **state)
{
	static const uint8_t stops[] = { 0x00, '\t', '\r', '\n', ' ', 0x7f };
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)state;

	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
	uint8_t *page_end = map + pg;
	for (size_t n = 0; n <= 48; n++) {
		/* n key bytes ending at the page's last byte, then at every offset
		 * from it up to 20 bytes before it */
		for (size_t back = 0; back <= 20; back++) {
			uint8_t *p = page_end - back - n;
			memset(p, 'k', n);
			assert_ptr_equal(mc_key_end(p, p + n), p + n);
			for (size_t pos = 0; pos < n; pos++) {
				for (size_t b = 0; b < sizeof(stops); b++) {
					p[pos] = stops[b];
					/* a second stop later must not win */
					if (pos + 1 < n)
						p[n - 1] = ' ';
					assert_ptr_equal(mc_key_end(p, p + n), p + pos);
					memset(p, 'k', n);
				}
			}
		}
	}
	munmap(map, 2 * (size_t)pg);
}

/*
 * Key validation at every length and every position of a bad byte: the
 * 16-byte block scan must agree with the byte-wise rule (a key byte is bad
 * when it is <= 0x20 or 0x7f; 0x80 and up are fine), and the single-get
 * fast path must agree with mc_parse.
 */
static void test_key_bytes_every_length(void **state)
{
	static const uint8_t bad[] = { 0x00, 0x01, '\t', 0x1f, ' ', 0x7f };
	static const uint8_t good[] = { '!', '~', 0x80, 0xa0, 0xfe, 0xff };
	uint8_t buf[4 + MC_KEY_MAX_LEN + 2];
	struct mc_request req;
	struct mc_str key;
	size_t used;
	(void)state;

	memcpy(buf, "get ", 4);
	for (size_t n = 1; n <= MC_KEY_MAX_LEN; n++) {
		for (size_t i = 0; i < n; i++)
			buf[4 + i] = good[(i + n) % sizeof(good)];
		memcpy(buf + 4 + n, "\r\n", 2);
		struct mc_str good_key = { (const char *)buf + 4, n };
		assert_true(mc_key_valid(&good_key));
		assert_true(mc_parse_get1(buf, n + 6, NULL, &key, &used));
		assert_int_equal(used, n + 6);
		assert_int_equal(key.len, n);
		assert_ptr_equal(key.ptr, (const char *)buf + 4);
		assert_int_equal(mc_parse(buf, n + 6, NULL, &req, &used), MC_PARSE_OK);
		assert_int_equal(req.cmd, MC_CMD_GET);
		assert_int_equal(req.nkeys_total, 1);
		assert_int_equal(req.keys[0].len, n);
		for (size_t pos = 0; pos < n; pos++) {
			for (size_t b = 0; b < sizeof(bad); b++) {
				uint8_t keep = buf[4 + pos];
				buf[4 + pos] = bad[b];
				struct mc_str k = { (const char *)buf + 4, n };
				assert_false(mc_key_valid(&k));
				/* a space splits the key: two keys (or an empty one), not one */
				assert_false(mc_parse_get1(buf, n + 6, NULL, &key, &used));
				buf[4 + pos] = keep;
			}
		}
	}
	/* one past the limit: a long key, never the fast path */
	memset(buf + 4, 'k', MC_KEY_MAX_LEN);
	uint8_t longer[4 + MC_KEY_MAX_LEN + 3];
	memcpy(longer, buf, 4 + MC_KEY_MAX_LEN);
	memcpy(longer + 4 + MC_KEY_MAX_LEN, "k\r\n", 3);
	assert_false(mc_parse_get1(longer, sizeof(longer), NULL, &key, &used));
	/* no terminator yet, a lone '\r', other commands: not the fast path */
	assert_false(mc_parse_get1((const uint8_t *)"get abc", 7, NULL, &key, &used));
	assert_false(mc_parse_get1((const uint8_t *)"get abc\r", 8, NULL, &key, &used));
	assert_false(mc_parse_get1((const uint8_t *)"get abc\rx\n", 10, NULL, &key, &used));
	assert_false(mc_parse_get1((const uint8_t *)"gets abc\r\n", 10, NULL, &key, &used));
	assert_false(mc_parse_get1((const uint8_t *)"get  abc\r\n", 10, NULL, &key, &used));
	assert_true(mc_parse_get1((const uint8_t *)"get abc\nget x\r\n", 15, NULL, &key, &used));
	assert_int_equal(used, 8);
	/* a line longer than line_max is the general parser's to judge */
	struct mc_parse_limits lim;
	mc_parse_limits_init(&lim);
	lim.line_max = MC_LINE_MAX_MIN;
	memset(buf + 4, 'k', 200);
	memcpy(buf + 204, "\r\n", 2);
	assert_false(mc_parse_get1(buf, 206, &lim, &key, &used));
}

static void test_get(void **state)
{
	(void)state;
	mc_session_check("get foo\r\n", "get k=foo\n");
	mc_session_check("gets a b c\r\n", "gets k=a k=b k=c\n");
	mc_session_check("get   foo   bar  \r\n", "get k=foo k=bar\n");
	mc_session_check("get foo\n", "get k=foo\n");
	mc_session_check("   get foo\r\n", "get k=foo\n");
	mc_session_check("get \xc3\xa9t\xc3\xa9\r\n", "get k=\\xc3\\xa9t\\xc3\\xa9\n");
	mc_session_check("get noreply\r\n", "get k=noreply\n");
	mc_session_check("get\r\n", "ERR ERROR\n");
	mc_session_check("get   \r\n", "ERR ERROR\n");
	mc_session_check("gets\r\n", "ERR ERROR\n");
	mc_session_check("get a\x01" "b\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("get a\tb\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("get a\x7f\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("get a\rb\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("get\tfoo\r\n", "ERR ERROR\n");
	mc_session_check_lim("get a\0b\r\n", 9, NULL, "ERR CLIENT_ERROR bad command line format\n");
}

static void test_get_key_limits(void **state)
{
	(void)state;
	size_t len, elen;
	char *in = build("get a ", 250, 'k', " b\r\n", &len);
	char *ex = build("get k=a k=", 250, 'k', " k=b\n", &elen);
	mc_session_check_lim(in, len, NULL, ex);
	free(in);
	free(ex);
	in = build("get a ", 251, 'k', " b\r\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR bad command line format\n");
	free(in);
}

static void test_get_many_keys(void **state)
{
	(void)state;
	char in[2048], ex[2048];
	size_t il = (size_t)snprintf(in, sizeof(in), "get");
	size_t el = (size_t)snprintf(ex, sizeof(ex), "get");
	for (int i = 0; i < 100; i++) {
		il += (size_t)snprintf(in + il, sizeof(in) - il, " k%d", i);
		el += (size_t)snprintf(ex + el, sizeof(ex) - el, " k=k%d", i);
	}
	il += (size_t)snprintf(in + il, sizeof(in) - il, "\r\n");
	snprintf(ex + el, sizeof(ex) - el, "\n");
	mc_session_check_lim(in, il, NULL, ex);

	struct mc_request req;
	size_t consumed;
	assert_int_equal(mc_parse((const uint8_t *)in, il, NULL, &req, &consumed), MC_PARSE_OK);
	assert_int_equal(consumed, il);
	assert_int_equal(req.nkeys_total, 100);
	assert_int_equal(req.nkeys, MC_KEYS_MAX);
	assert_memory_equal(req.keys[0].ptr, "k0", 2);
	assert_int_equal(mc_request_next_keys(&req), 24);
	assert_memory_equal(req.keys[0].ptr, "k24", 3);
	assert_int_equal(mc_request_next_keys(&req), 24);
	assert_int_equal(mc_request_next_keys(&req), 24);
	assert_int_equal(mc_request_next_keys(&req), 4);
	assert_memory_equal(req.keys[3].ptr, "k99", 3);
	assert_int_equal(req.keys[3].len, 3);
	assert_int_equal(mc_request_next_keys(&req), 0);
	assert_int_equal(req.nkeys, 0);
	assert_int_equal(mc_request_next_keys(NULL), 0);
}

/* A multiget longer than line_max is fine up to key_line_max. */
static void test_get_long_line(void **state)
{
	(void)state;
	struct mc_parse_limits lim;
	mc_parse_limits_init(&lim);
	lim.key_line_max = 8192;
	char *in = malloc(9000), *ex = malloc(9000);
	size_t il = (size_t)sprintf(in, "  gets"), el = (size_t)sprintf(ex, "gets");
	for (int i = 0; i < 700; i++) {
		il += (size_t)sprintf(in + il, " key%04d", i);
		el += (size_t)sprintf(ex + el, " k=key%04d", i);
	}
	il += (size_t)sprintf(in + il, "\r\n");
	sprintf(ex + el, "\n");
	assert_true(il > 2048 && il < 8192);
	mc_session_check_lim(in, il, &lim, ex);
	/* Past key_line_max: too long, and the connection closes. */
	lim.key_line_max = 4096;
	mc_session_check_lim(in, il, &lim, "ERR CLIENT_ERROR line too long close\nCLOSE\n");
	free(in);
	free(ex);
}

static void test_gat(void **state)
{
	(void)state;
	mc_session_check("gat 100 foo bar\r\n", "gat k=foo k=bar e=100\n");
	mc_session_check("gats -1 foo\r\n", "gats k=foo e=-1\n");
	mc_session_check("gat 10\r\n", "gat e=10\n");
	mc_session_check("gat abc foo\r\n", "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("gat 1x foo\r\n", "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("gat\r\n", "ERR ERROR\n");
	mc_session_check("gats 5 a\x02\r\n", "ERR CLIENT_ERROR bad command line format\n");
}

static void test_storage(void **state)
{
	(void)state;
	mc_session_check("set foo 5 10 3\r\nbar\r\n", "set k=foo f=5 e=10 b=3 d=bar\n");
	mc_session_check("add foo 0 0 3 noreply\r\nbar\r\n", "add k=foo f=0 e=0 b=3 d=bar noreply\n");
	mc_session_check("replace foo 4294967295 -1 0\r\n\r\n",
			 "replace k=foo f=4294967295 e=-1 b=0 d=\n");
	mc_session_check("append foo 0 0 4\r\na\r\nb\r\n", "append k=foo f=0 e=0 b=4 d=a\\r\\nb\n");
	mc_session_check("prepend foo 0 0 1\r\n\x80\r\n", "prepend k=foo f=0 e=0 b=1 d=\\x80\n");
	mc_session_check("cas foo 1 2 3 99\r\nabc\r\n", "cas k=foo f=1 e=2 cas=99 b=3 d=abc\n");
	mc_session_check("cas foo 1 2 3 18446744073709551615 noreply\r\nabc\r\n",
			 "cas k=foo f=1 e=2 cas=18446744073709551615 b=3 d=abc noreply\n");
	mc_session_check("set foo 0 0 1\nx\r\n", "set k=foo f=0 e=0 b=1 d=x\n");
	/* A sixth token that is not "noreply" is ignored, as in memcached. */
	mc_session_check("set foo 0 0 1 foo\r\nx\r\n", "set k=foo f=0 e=0 b=1 d=x\n");
	/* Wrong argument counts are unknown commands. */
	mc_session_check("set foo 0 0\r\n", "ERR ERROR\n");
	mc_session_check("set foo 0 0 1 noreply extra\r\n", "ERR ERROR\n");
	mc_session_check("cas foo 0 0 1\r\n", "ERR ERROR\n");
	mc_session_check("append\r\n", "ERR ERROR\n");
}

static void test_storage_bad_fields(void **state)
{
	(void)state;
	/* A rejected line with a valid length skips its data block. */
	mc_session_check("set k 4294967296 0 3\r\nabc\r\nget x\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=5\nget k=x\n");
	mc_session_check("set k -1 0 3\r\nabc\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=5\n");
	mc_session_check("set k 0 x 3\r\nabc\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=5\n");
	mc_session_check("set k 0 +1 3\r\nabc\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=5\n");
	mc_session_check("cas k 0 0 1 abc\r\nx\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=3\n");
	mc_session_check("cas k 0 0 1 -1 noreply\r\nx\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=3 noreply\n");
	mc_session_check("set k\x01 0 0 1\r\nx\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=3\n");
	/* The swallow spans later chunks and does not eat the next command. */
	mc_session_check("set k x 0 10\r\n0123456789\r\nget a\r\n",
			 "ERR CLIENT_ERROR bad command line format swallow=12\nget k=a\n");
}

static void test_storage_lengths(void **state)
{
	(void)state;
	/* Negative or overflowing lengths: the block size is unknown. */
	mc_session_check("set k 0 0 -1\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("set k 0 0 99999999999999999999\r\n",
			 "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("set k 0 0 2147483646\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("set k 0 0 1x\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("set k 0 0 -1 noreply\r\n",
			 "ERR CLIENT_ERROR bad command line format noreply\n");
	/* Largest valid length, above the default item size. */
	mc_session_check("set k 0 0 2147483645\r\n",
			 "ERR SERVER_ERROR object too large for cache swallow=2147483647\n"
			 "SWALLOWING 2147483647\n");

	struct mc_parse_limits lim;
	mc_parse_limits_init(&lim);
	lim.item_size_max = 4;
	const char *big = "set k 0 0 5\r\nhello\r\nget a\r\n";
	mc_session_check_lim(big, strlen(big), &lim,
			     "ERR SERVER_ERROR object too large for cache swallow=7\nget k=a\n");
	const char *fits = "set k 0 0 4 noreply\r\nhell\r\n";
	mc_session_check_lim(fits, strlen(fits), &lim, "set k=k f=0 e=0 b=4 d=hell noreply\n");
	const char *nr = "set k 0 0 5 noreply\r\nhello\r\n";
	mc_session_check_lim(nr, strlen(nr), &lim,
			     "ERR SERVER_ERROR object too large for cache swallow=7 noreply\n");
}

static void test_storage_data_chunk(void **state)
{
	(void)state;
	/* The block must end in "\r\n"; memcached consumes <bytes> + 2. */
	mc_session_check("set k 0 0 3\r\nabcd\r\n", "ERR CLIENT_ERROR bad data chunk\nERR ERROR\n");
	mc_session_check("set k 0 0 1 noreply\r\nab\r\n",
			 "ERR CLIENT_ERROR bad data chunk noreply\nERR ERROR\n");
	mc_session_check("set k 0 0 1\r\nabc", "ERR CLIENT_ERROR bad data chunk\n");
	/* A bare "\n" does not end a data block: still waiting for a byte. */
	mc_session_check("set k 0 0 1\r\na\n", "PENDING 15\n");
	mc_session_check("set k 0 0 0\r\n", "PENDING 13\n");
}

static void test_storage_key_limits(void **state)
{
	(void)state;
	size_t len, elen;
	char *in = build("set ", 250, 'k', " 0 0 1\r\nx\r\n", &len);
	char *ex = build("set k=", 250, 'k', " f=0 e=0 b=1 d=x\n", &elen);
	mc_session_check_lim(in, len, NULL, ex);
	free(in);
	free(ex);
	in = build("set ", 251, 'k', " 0 0 1\r\nx\r\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR bad command line format swallow=3\n");
	free(in);
}

static void test_delete(void **state)
{
	(void)state;
	mc_session_check("delete foo\r\n", "delete k=foo\n");
	mc_session_check("delete foo noreply\r\n", "delete k=foo noreply\n");
	mc_session_check("delete foo 0\r\n", "delete k=foo\n");
	mc_session_check("delete foo 0 noreply\r\n", "delete k=foo noreply\n");
	const char *usage = "ERR CLIENT_ERROR bad command line format.  "
			    "Usage: delete <key> [noreply]\n";
	mc_session_check("delete foo 1\r\n", usage);
	mc_session_check("delete foo bar\r\n", usage);
	mc_session_check("delete foo 0 bar\r\n", usage);
	mc_session_check("delete foo 1 noreply\r\n",
			 "ERR CLIENT_ERROR bad command line format.  "
			 "Usage: delete <key> [noreply] noreply\n");
	mc_session_check("delete\r\n", "ERR ERROR\n");
	mc_session_check("delete a b c d\r\n", "ERR ERROR\n");
	size_t len;
	char *in = build("delete ", 251, 'k', "\r\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR bad command line format\n");
	free(in);
}

static void test_arith(void **state)
{
	(void)state;
	mc_session_check("incr k 5\r\n", "incr k=k delta=5\n");
	mc_session_check("decr k 18446744073709551615 noreply\r\n",
			 "decr k=k delta=18446744073709551615 noreply\n");
	mc_session_check("incr k -1\r\n", "ERR CLIENT_ERROR invalid numeric delta argument\n");
	mc_session_check("incr k 18446744073709551616\r\n",
			 "ERR CLIENT_ERROR invalid numeric delta argument\n");
	mc_session_check("decr k abc noreply\r\n",
			 "ERR CLIENT_ERROR invalid numeric delta argument noreply\n");
	mc_session_check("incr k\r\n", "ERR ERROR\n");
	mc_session_check("incr k 1 noreply x\r\n", "ERR ERROR\n");
	mc_session_check("incr \x7fk 1\r\n", "ERR CLIENT_ERROR bad command line format\n");
}

static void test_touch(void **state)
{
	(void)state;
	mc_session_check("touch k 10\r\n", "touch k=k e=10\n");
	mc_session_check("touch k -5 noreply\r\n", "touch k=k e=-5 noreply\n");
	mc_session_check("touch k x\r\n", "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("touch k 9223372036854775808\r\n",
			 "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("touch k -9223372036854775808\r\n", "touch k=k e=-9223372036854775808\n");
	mc_session_check("touch k\r\n", "ERR ERROR\n");
	size_t len;
	char *in = build("touch ", 251, 'k', " 1\r\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR bad command line format\n");
	free(in);
}

static void test_admin(void **state)
{
	(void)state;
	mc_session_check("flush_all\r\n", "flush_all delay=0\n");
	mc_session_check("flush_all 10\r\n", "flush_all delay=10\n");
	mc_session_check("flush_all -1\r\n", "flush_all delay=-1\n");
	mc_session_check("flush_all noreply\r\n", "flush_all delay=0 noreply\n");
	mc_session_check("flush_all 10 noreply\r\n", "flush_all delay=10 noreply\n");
	mc_session_check("flush_all abc\r\n", "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("flush_all noreply 5\r\n", "ERR CLIENT_ERROR invalid exptime argument\n");
	mc_session_check("flush_all 1 2 3\r\n", "ERR ERROR\n");
	mc_session_check("version\r\n", "version\n");
	mc_session_check("version 1 2 3\r\n", "version\n");
	mc_session_check("verbosity 1\r\n", "verbosity v=1\n");
	mc_session_check("verbosity 2 noreply\r\n", "verbosity v=2 noreply\n");
	mc_session_check("verbosity\r\n", "ERR ERROR\n");
	mc_session_check("verbosity x\r\n", "ERR CLIENT_ERROR bad command line format\n");
	mc_session_check("verbosity noreply\r\n",
			 "ERR CLIENT_ERROR bad command line format noreply\n");
	mc_session_check("stats\r\n", "stats args=\n");
	mc_session_check("stats  detail  on \r\n", "stats args=detail  on\n");
	mc_session_check("stats settings\n", "stats args=settings\n");
	mc_session_check("quit\r\n", "quit\n");
}

static void test_unknown_and_http(void **state)
{
	(void)state;
	mc_session_check("foo\r\n", "ERR ERROR\n");
	mc_session_check("\r\n", "ERR ERROR\n");
	mc_session_check("\n\n", "ERR ERROR\nERR ERROR\n");
	mc_session_check("Get foo\r\n", "ERR ERROR\n");
	mc_session_check("g\r\n", "ERR ERROR\n");
	mc_session_check("GET foo\r\n", "ERR ERROR\n");
	/* An HTTP request is not a confused memcached client: close. */
	mc_session_check("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "ERR ERROR close\nCLOSE\n");
	mc_session_check("POST /set HTTP/1.0\r\n\r\nset a 0 0 1\r\nx\r\n",
			 "ERR ERROR close\nCLOSE\n");
	mc_session_check("OPTIONS * HTTP/1.1\r\n", "ERR ERROR close\nCLOSE\n");
}

static void test_hostile(void **state)
{
	(void)state;
	static const uint8_t binary[] = { 0x80, 0x00, 0x00, 0x03, 0, 0, 0, 0, 'f', 'o', 'o', '\n' };
	mc_session_check_lim(binary, sizeof(binary), NULL,
			     "ERR CLIENT_ERROR binary protocol not supported close\nCLOSE\n");
	static const uint8_t garbage[] = { 0x01, 0xfe, 0x00, 0xff, 0x20, 0x7f, '\r', '\n', 0x03 };
	mc_session_check_lim(garbage, sizeof(garbage), NULL, "ERR ERROR\nPENDING 1\n");

	/* An endless line without '\n': rejected at line_max, then closed. */
	size_t len;
	char *in = build("", 70000, 'a', "", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR line too long close\nCLOSE\n");
	free(in);
	in = build("set k 0 0 1 ", 3000, ' ', "\r\nx\r\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR line too long close\nCLOSE\n");
	free(in);
	/* Exactly line_max bytes, '\n' included, is still a line. */
	in = build("", 2047, 'a', "\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR ERROR\n");
	free(in);
	in = build("", 2048, 'a', "\n", &len);
	mc_session_check_lim(in, len, NULL, "ERR CLIENT_ERROR line too long close\nCLOSE\n");
	free(in);
	in = build("", 2047, 'a', "", &len);
	mc_session_check_lim(in, len, NULL, "PENDING 2047\n");
	free(in);
	/* Too many leading spaces before a multiget: not a multiget. */
	in = build("", 101, ' ', "get a a a a a a a a a a a a a a a a a a a a", &len);
	char *in2 = build(in, 2000, 'b', "\r\n", &len);
	mc_session_check_lim(in2, len, NULL, "ERR CLIENT_ERROR line too long close\nCLOSE\n");
	free(in);
	free(in2);
}

static void test_pipeline(void **state)
{
	(void)state;
	mc_session_check("set a 0 0 1\r\n1\r\nget a b\r\ndelete a\r\nincr a 1\r\nquit\r\n",
			 "set k=a f=0 e=0 b=1 d=1\nget k=a k=b\ndelete k=a\nincr k=a delta=1\nquit\n");
	mc_session_check("bogus\r\nset a 0 0 -1\r\nget a\r\nset a 0 0 2\r\nxyz\r\nget b\r\n",
			 "ERR ERROR\nERR CLIENT_ERROR bad command line format\nget k=a\n"
			 "ERR CLIENT_ERROR bad data chunk\nERR ERROR\nget k=b\n");
	mc_session_check("get a\r\nget b", "get k=a\nPENDING 5\n");
}

/* Each strict prefix of a complete request is NEED_MORE, consuming nothing. */
static void test_prefix_need_more(void **state)
{
	(void)state;
	static const char *const reqs[] = {
		"get foo bar\r\n", "set k 1 2 10\r\n0123456789\r\n", "cas k 0 0 1 5 noreply\r\nx\r\n",
		"delete k\r\n", "incr k 1\n", "stats\r\n", "mg k v t\r\n", "ms k 3 T1\r\nabc\r\n",
		"ma k MD\r\n", "mn\r\n", "flush_all 0\r\n", "set k 0 0 -1\r\n",
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t n = strlen(reqs[i]);
		for (size_t k = 0; k < n; k++) {
			uint8_t *p = malloc(k + 1);
			memcpy(p, reqs[i], k);
			struct mc_request req;
			size_t consumed = 99;
			assert_int_equal(mc_parse(p, k, NULL, &req, &consumed), MC_PARSE_NEED_MORE);
			assert_int_equal(consumed, 0);
			free(p);
		}
		struct mc_request req;
		size_t consumed;
		int rc = mc_parse((const uint8_t *)reqs[i], n, NULL, &req, &consumed);
		assert_true(rc == MC_PARSE_OK || rc == MC_PARSE_ERROR);
		assert_int_equal(consumed, n);
	}
	/* The hint tells how many bytes the pending data block needs. */
	struct mc_request req;
	size_t consumed;
	const char *s = "set k 0 0 10\r\n0123";
	assert_int_equal(mc_parse((const uint8_t *)s, strlen(s), NULL, &req, &consumed),
			 MC_PARSE_NEED_MORE);
	assert_int_equal(req.need, 14 + 10 + 2);
	assert_int_equal(mc_parse((const uint8_t *)"get", 3, NULL, &req, &consumed),
			 MC_PARSE_NEED_MORE);
	assert_int_equal(req.need, 0);
}

static void test_api(void **state)
{
	(void)state;
	struct mc_request req;
	size_t consumed;
	struct mc_parse_limits lim;
	assert_int_equal(mc_parse(NULL, 1, NULL, &req, &consumed), -EINVAL);
	assert_int_equal(mc_parse((const uint8_t *)"x", 1, NULL, NULL, &consumed), -EINVAL);
	assert_int_equal(mc_parse((const uint8_t *)"x", 1, NULL, &req, NULL), -EINVAL);
	assert_int_equal(mc_parse(NULL, 0, NULL, &req, &consumed), MC_PARSE_NEED_MORE);
	mc_parse_limits_init(&lim);
	assert_int_equal(lim.line_max, 2048);
	assert_int_equal(lim.key_line_max, 65536);
	assert_int_equal(lim.item_size_max, 1024 * 1024);
	mc_parse_limits_init(NULL);
	lim.line_max = MC_LINE_MAX_MIN - 1;
	assert_int_equal(mc_parse((const uint8_t *)"x", 1, &lim, &req, &consumed), -EINVAL);

	size_t len = 99;
	assert_string_equal(mc_err_reply(MC_ERR_NONE, &len), "");
	assert_int_equal(len, 0);
	assert_string_equal(mc_err_reply(MC_ERR_COUNT, NULL), "");
	assert_string_equal(mc_err_reply(MC_ERR_UNKNOWN_COMMAND, &len), "ERROR\r\n");
	assert_int_equal(len, 7);
	assert_string_equal(mc_err_reply(MC_ERR_TOO_LARGE, NULL),
			    "SERVER_ERROR object too large for cache\r\n");
	assert_true(mc_err_closes(MC_ERR_LINE_TOO_LONG));
	assert_true(mc_err_closes(MC_ERR_BINARY_PROTOCOL));
	assert_true(mc_err_closes(MC_ERR_HTTP));
	assert_false(mc_err_closes(MC_ERR_BAD_FORMAT));
	assert_false(mc_err_closes(MC_ERR_COUNT));
	for (int e = MC_ERR_NONE + 1; e < MC_ERR_COUNT; e++) {
		const char *r = mc_err_reply((enum mc_err)e, &len);
		assert_true(len == strlen(r) && len > 2 && strcmp(r + len - 2, "\r\n") == 0);
	}

	/* The command table is complete and the lookup inverts it. */
	assert_null(mc_cmd_name(MC_CMD_NONE));
	assert_null(mc_cmd_name(MC_CMD_COUNT));
	assert_int_equal(mc_cmd_kind(MC_CMD_COUNT), MC_KIND_NONE);
	for (int c = MC_CMD_NONE + 1; c < MC_CMD_COUNT; c++) {
		const char *name = mc_cmd_name((enum mc_cmd)c);
		assert_non_null(name);
		assert_int_equal(mc_cmd_lookup(name, strlen(name)), c);
		assert_int_not_equal(mc_cmd_kind((enum mc_cmd)c), MC_KIND_NONE);
	}
	assert_int_equal(mc_cmd_lookup("ge", 2), MC_CMD_NONE);
	assert_int_equal(mc_cmd_lookup("getss", 5), MC_CMD_NONE);
	assert_string_equal(mc_cmd_name(MC_CMD_FLUSH_ALL), "flush_all");
	assert_int_equal(mc_cmd_kind(MC_CMD_CAS), MC_KIND_STORAGE);
	assert_true(mc_cmd_has_data(MC_CMD_MS));
	assert_true(mc_cmd_has_data(MC_CMD_PREPEND));
	assert_false(mc_cmd_has_data(MC_CMD_MG));
	assert_false(mc_cmd_has_data(MC_CMD_GET));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_key_end_page_edge),
		cmocka_unit_test(test_key_bytes_every_length),
		cmocka_unit_test(test_get_key_limits),
		cmocka_unit_test(test_get_many_keys),
		cmocka_unit_test(test_get_long_line),
		cmocka_unit_test(test_gat),
		cmocka_unit_test(test_storage),
		cmocka_unit_test(test_storage_bad_fields),
		cmocka_unit_test(test_storage_lengths),
		cmocka_unit_test(test_storage_data_chunk),
		cmocka_unit_test(test_storage_key_limits),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_arith),
		cmocka_unit_test(test_touch),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_unknown_and_http),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_prefix_need_more),
		cmocka_unit_test(test_api),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
