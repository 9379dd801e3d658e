/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Executor tests: scripted sessions through the stream driver, replies
 * compared byte for byte with memcached's (a '#' in an expected reply
 * matches one decimal number, for CAS values). Every session is replayed
 * in one piece, split in two at every byte boundary, and byte by byte, each
 * on a fresh table, and must give the same replies. Commands and flags
 * follow memcached's doc/protocol.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "proto/mc_conn.h"

#define SEED 0x1234
#define NOW 1700000000u

struct rig {
	void *mem[2];
	size_t len;
	struct px_table *parts[2];
	struct mc_exec x;
	struct mc_stream s;
	char *got;
	size_t glen, gcap;
	uint8_t seg[64];
	struct mc_out out;
	bool closed;
};

static int seg_flush(struct mc_out *o)
{
	struct rig *r = o->owner;
	if (r->glen + o->len + 1 > r->gcap) {
		r->gcap = (r->glen + o->len + 1) * 2;
		r->got = realloc(r->got, r->gcap);
	}
	memcpy(r->got + r->glen, o->buf, o->len);
	r->glen += o->len;
	r->got[r->glen] = 0;
	o->len = 0;
	return 0;
}

static void rig_init(struct rig *r, unsigned nparts)
{
	struct tbl_config cfg = { .mem_bytes = 2 << 20, .index_items = 4096,
				  .value_max = 64 * 1024, .policy = TBL_POLICY_CLOCK,
				  .hash_seed = SEED };
	struct mc_exec_cfg xc = { .hash_seed = SEED, .limit_maxbytes = 2 << 20,
				  .part_max_bytes = 32u << 20 };

	memset(r, 0, sizeof(*r));
	mc_parse_limits_init(&xc.limits);
	xc.limits.item_size_max = 64 * 1024;
	r->len = tbl_region_size(&cfg);
	for (unsigned i = 0; i < nparts; i++) {
		r->mem[i] = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(r->mem[i] != MAP_FAILED);
		r->parts[i] = tbl_create(&cfg, r->mem[i], r->len);
		assert_non_null(r->parts[i]);
	}
	assert_int_equal(mc_exec_init(&r->x, &xc, r->parts, nparts, NULL), 0);
	mc_exec_tick(&r->x, NOW);
	mc_stream_init(&r->s);
	r->out = (struct mc_out){ .buf = r->seg, .cap = sizeof(r->seg), .flush = seg_flush,
				  .owner = r };
	r->got = calloc(1, 1);
	r->gcap = 1;
}

static void rig_free(struct rig *r)
{
	for (unsigned i = 0; i < 2; i++)
		if (r->mem[i] != NULL)
			munmap(r->mem[i], r->len);
	mc_stream_free(&r->s);
	free(r->got);
}

static void rig_feed(struct rig *r, const char *p, size_t n)
{
	if (r->closed)
		return;
	if (mc_stream_input(&r->x, &r->s, (const uint8_t *)p, n, &r->out) == MC_EXEC_CLOSE)
		r->closed = true;
	seg_flush(&r->out);
}

/* expect may use '#' for one run of digits. */
static bool reply_match(const char *got, const char *want)
{
	while (*want) {
		if (*want == '#') {
			if (*got < '0' || *got > '9')
				return false;
			while (*got >= '0' && *got <= '9')
				got++;
			want++;
		} else if (*got++ != *want++) {
			return false;
		}
	}
	return *got == 0;
}

static char *run_split(const char *in, size_t len, size_t cut, bool bytewise, unsigned nparts,
		       bool *closed)
{
	struct rig r;
	rig_init(&r, nparts);
	if (bytewise) {
		for (size_t i = 0; i < len; i++)
			rig_feed(&r, in + i, 1);
	} else {
		rig_feed(&r, in, cut);
		rig_feed(&r, in + cut, len - cut);
	}
	char *got = strdup(r.got);
	*closed = r.closed;
	rig_free(&r);
	return got;
}

static void session_n(const char *in, const char *want, unsigned nparts)
{
	size_t len = strlen(in);
	bool closed;
	char *whole = run_split(in, len, len, false, nparts, &closed);

	if (!reply_match(whole, want)) {
		print_error("input:\n%s\nwant:\n%s\ngot:\n%s\n", in, want, whole);
		free(whole);
		fail();
	}
	for (size_t cut = 0; cut <= len; cut++) {
		bool c2;
		char *got = run_split(in, len, cut, false, nparts, &c2);
		if (strcmp(got, whole) != 0 || c2 != closed) {
			print_error("split at %zu differs:\n%s\nvs\n%s\n", cut, got, whole);
			free(got);
			free(whole);
			fail();
		}
		free(got);
	}
	bool c3;
	char *bw = run_split(in, len, 0, true, nparts, &c3);
	assert_string_equal(bw, whole);
	free(bw);
	free(whole);
}

static void session(const char *in, const char *want)
{
	session_n(in, want, 1);
}

static void test_get_set(void **state)
{
	(void)state;
	session("get foo\r\n", "END\r\n");
	session("set foo 5 0 3\r\nbar\r\nget foo\r\n",
		"STORED\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n");
	session("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a x b\r\n",
		"STORED\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n");
	session("set a 0 0 1\r\n1\r\ngets a\r\n", "STORED\r\nVALUE a 0 1 #\r\n1\r\nEND\r\n");
	session("set e 0 0 0\r\n\r\nget e\r\n", "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n");
	session("set foo 0 0 3 noreply\r\nbar\r\nget foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n");
	/* bare \n line endings are accepted */
	session("set n 0 0 1\nx\r\nget n\n", "STORED\r\nVALUE n 0 1\r\nx\r\nEND\r\n");
}

static void test_storage_modes(void **state)
{
	(void)state;
	session("add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nget k\r\n",
		"STORED\r\nNOT_STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n");
	session("replace k 0 0 1\r\na\r\nset k 0 0 1\r\na\r\nreplace k 1 0 1\r\nb\r\nget k\r\n",
		"NOT_STORED\r\nSTORED\r\nSTORED\r\nVALUE k 1 1\r\nb\r\nEND\r\n");
	session("append k 0 0 1\r\na\r\nprepend k 0 0 1\r\na\r\n",
		"NOT_STORED\r\nNOT_STORED\r\n");
	session("set k 7 0 2\r\nmm\r\nappend k 0 0 2\r\nzz\r\nprepend k 0 0 2\r\naa\r\nget k\r\n",
		"STORED\r\nSTORED\r\nSTORED\r\nVALUE k 7 6\r\naammzz\r\nEND\r\n");
	session("cas k 0 0 1 1\r\na\r\n", "NOT_FOUND\r\n");
	session("set k 0 0 1\r\na\r\ncas k 0 0 1 999999\r\nb\r\nget k\r\n",
		"STORED\r\nEXISTS\r\nVALUE k 0 1\r\na\r\nEND\r\n");
}

static void test_cas_roundtrip(void **state)
{
	(void)state;
	struct rig r;
	char cmd[128];
	unsigned long long cas;

	rig_init(&r, 1);
	rig_feed(&r, "set c 0 0 1\r\nx\r\ngets c\r\n", 24);
	assert_int_equal(sscanf(r.got, "STORED\r\nVALUE c 0 1 %llu", &cas), 1);
	int n = snprintf(cmd, sizeof(cmd), "cas c 3 0 1 %llu\r\ny\r\ncas c 0 0 1 %llu\r\nz\r\nget c\r\n",
			 cas, cas);
	r.glen = 0;
	rig_feed(&r, cmd, (size_t)n);
	assert_string_equal(r.got, "STORED\r\nEXISTS\r\nVALUE c 3 1\r\ny\r\nEND\r\n");
	rig_free(&r);
}

static void test_arith_touch_delete(void **state)
{
	(void)state;
	session("incr n 1\r\ndecr n 1\r\n", "NOT_FOUND\r\nNOT_FOUND\r\n");
	session("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\n",
		"STORED\r\n15\r\n0\r\nVALUE n 0 2\r\n0 \r\nEND\r\n");
	session("set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n", "STORED\r\n0\r\n");
	session("set s 0 0 3\r\nabc\r\nincr s 1\r\n",
		"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
	session("incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
	session("touch t 10\r\nset t 0 0 1\r\nx\r\ntouch t 10\r\n", "NOT_FOUND\r\nSTORED\r\nTOUCHED\r\n");
	session("delete d\r\nset d 0 0 1\r\nx\r\ndelete d\r\nget d\r\n",
		"NOT_FOUND\r\nSTORED\r\nDELETED\r\nEND\r\n");
	session("delete d noreply\r\nincr d 1 noreply\r\ntouch d 1 noreply\r\nmn\r\n", "MN\r\n");
	session("set g 0 0 1\r\nv\r\ngat 100 g\r\ngats 100 g nope\r\n",
		"STORED\r\nVALUE g 0 1\r\nv\r\nEND\r\nVALUE g 0 1 #\r\nv\r\nEND\r\n");
}

static void test_expiry_and_flush(void **state)
{
	(void)state;
	session("set x 0 -1 1\r\nv\r\nget x\r\n", "STORED\r\nEND\r\n");
	session("set x 0 1000 1\r\nv\r\nget x\r\n", "STORED\r\nVALUE x 0 1\r\nv\r\nEND\r\n");
	session("set x 0 0 1\r\nv\r\nflush_all\r\nget x\r\n", "STORED\r\nOK\r\nEND\r\n");
	session("set x 0 0 1\r\nv\r\nflush_all 100\r\nget x\r\nflush_all noreply\r\nget x\r\n",
		"STORED\r\nOK\r\nVALUE x 0 1\r\nv\r\nEND\r\nEND\r\n");

	/* delayed flush takes effect when the clock gets there */
	struct rig r;
	rig_init(&r, 2);
	rig_feed(&r, "set x 0 0 1\r\nv\r\nflush_all 10\r\n", 30);
	mc_exec_tick(&r.x, NOW + 10);
	r.glen = 0;
	rig_feed(&r, "get x\r\n", 7);
	assert_string_equal(r.got, "END\r\n");
	rig_free(&r);
}

static void test_admin(void **state)
{
	(void)state;
	session("version\r\n", "VERSION 1.6.18-pollux-" PX_VERSION "\r\n");
	session("verbosity 1\r\nverbosity 1 noreply\r\n", "OK\r\n");
	session("bogus\r\n", "ERROR\r\n");
	session("stats reset\r\nstats nonsense\r\n", "RESET\r\nERROR\r\n");
	session("quit\r\nget a\r\n", "");

	struct rig r;
	rig_init(&r, 1);
	const char *s = "set a 0 0 1\r\n1\r\nget a\r\nget b\r\nstats\r\n";
	rig_feed(&r, s, strlen(s));
	assert_non_null(strstr(r.got, "STAT cmd_get 2\r\n"));
	assert_non_null(strstr(r.got, "STAT get_hits 1\r\n"));
	assert_non_null(strstr(r.got, "STAT get_misses 1\r\n"));
	assert_non_null(strstr(r.got, "STAT cmd_set 1\r\n"));
	assert_non_null(strstr(r.got, "STAT curr_items 1\r\n"));
	assert_non_null(strstr(r.got, "STAT limit_maxbytes 2097152\r\n"));
	assert_non_null(strstr(r.got, "END\r\n"));
	r.glen = 0;
	rig_feed(&r, "stats settings\r\nstats items\r\nstats slabs\r\n", 42);
	assert_non_null(strstr(r.got, "STAT item_size_max 65536\r\n"));
	assert_non_null(strstr(r.got, "STAT items:1:number 1\r\n"));
	assert_non_null(strstr(r.got, "STAT active_slabs 1\r\n"));
	rig_free(&r);
}

static void test_errors(void **state)
{
	(void)state;
	/* memcached reads <bytes>+2, so the trailing CRLF is an empty command line */
	session("set k 0 0 3\r\nabcde\r\nget k\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
	session("set k 0 0 -1\r\nget k\r\n", "CLIENT_ERROR bad command line format\r\nEND\r\n");
	session("set k 0 0 70000\r\nget k\r\n",
		"SERVER_ERROR object too large for cache\r\n");
	session("GET / HTTP/1.1\r\nget k\r\n", "ERROR\r\n");
	char key[260];
	memset(key, 'k', 251);
	key[251] = 0;
	char in[300];
	snprintf(in, sizeof(in), "get %s\r\nget ok\r\n", key);
	session(in, "CLIENT_ERROR bad command line format\r\nEND\r\n");
}

static void test_meta_get(void **state)
{
	(void)state;
	session("mg k v\r\nmg k v q\r\nmn\r\n", "EN\r\nMN\r\n");
	session("ms k 2 F5 T0\r\nhi\r\nmg k v f s t\r\nmg k\r\n",
		"HD\r\nVA 2 f5 s2 t-1\r\nhi\r\nHD\r\n");
	session("ms k 2 T100\r\nhi\r\nmg k t v\r\n", "HD\r\nVA 2 t100\r\nhi\r\n");
	session("ms k 1\r\nx\r\nmg k k Oabc c\r\n", "HD\r\nHD kk Oabc c#\r\n");
	session("mg k k Oabc\r\n", "EN kk Oabc\r\n");
	session("ms k 1\r\nx\r\nmg k h l\r\nmg k h l\r\n", "HD\r\nHD h0 l0\r\nHD h1 l0\r\n");
	session("ms k 1\r\nx\r\nmg k u h\r\nmg k h\r\n", "HD\r\nHD h0\r\nHD h0\r\n");
	/* base64 key: stored under the decoded key, echoed in base64 */
	session("ms Zm9v 3 b\r\nbar\r\nget foo\r\nmg Zm9v b k v\r\n",
		"HD\r\nVALUE foo 0 3\r\nbar\r\nEND\r\nVA 3 kZm9v b\r\nbar\r\n");
	/* vivify: the first asker wins, the next sees Z */
	session("mg v N30 s t\r\nmg v N30 s\r\n", "HD s0 t30 W\r\nHD s0 Z\r\n");
	/* touch through mg T */
	session("ms k 1\r\nx\r\nmg k T50 t\r\n", "HD\r\nHD t50\r\n");
	/* recache: TTL under R wins once */
	session("ms k 1 T10\r\nx\r\nmg k R30\r\nmg k R30\r\n", "HD\r\nHD W\r\nHD Z\r\n");
}

static void test_meta_set_delete_arith(void **state)
{
	(void)state;
	session("ms k 1 q\r\nx\r\nms k 1 ME q\r\ny\r\nmn\r\n", "NS\r\nMN\r\n");
	session("ms k 1 MA\r\nx\r\nms k 1 MA N0\r\nx\r\nms k 1 MP\r\ny\r\nmg k v\r\n",
		"NS\r\nHD\r\nHD\r\nVA 2\r\nyx\r\n");
	session("ms k 1 MR\r\nx\r\nms k 1 MS k Oq1\r\nx\r\n", "NS\r\nHD kk Oq1\r\n");
	session("ms k 1 C123\r\nx\r\n", "NF\r\n");
	session("ms k 1\r\nx\r\nms k 1 C99999\r\ny\r\n", "HD\r\nEX\r\n");
	session("ms k 1 E777\r\nx\r\nmg k c\r\nms k 1 C777 c\r\ny\r\n",
		"HD\r\nHD c777\r\nHD c#\r\n");
	session("ms k 1 MZ\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n");
	session("md k\r\nmd k q\r\nms k 1\r\nx\r\nmd k q\r\nmg k\r\n", "NF\r\nNF\r\nHD\r\nEN\r\n");
	session("ms k 1\r\nx\r\nmd k C99999 Oz k\r\n", "HD\r\nEX Oz kk\r\n");
	/* invalidate: stale item, first mg wins the recache */
	session("ms k 1\r\nx\r\nmd k I T30\r\nmg k t\r\nmg k\r\n",
		"HD\r\nHD\r\nHD t30 X W\r\nHD Z X\r\n");
	session("ma n\r\nma n N0 J5\r\nma n v\r\nma n MD D10 v\r\nma n q\r\nmg n v\r\n",
		"NF\r\nHD\r\nVA 1\r\n6\r\nVA 1\r\n0\r\nVA 1\r\n1\r\n");
	session("ms s 1\r\nx\r\nma s\r\n",
		"HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
	session("ma n N0 J10 t c\r\n", "HD t-1 c#\r\n");
	session("ms k 1\r\nx\r\nme k\r\nme nope\r\n",
		"HD\r\nME k exp=-1 la=0 cas=# fetch=no cls=1 size=2\r\nEN\r\n");
}

static void test_partitions(void **state)
{
	(void)state;
	char in[4096], want[8192];
	size_t il = 0, wl = 0;

	/* keys spread over two partitions behave as one cache */
	for (int i = 0; i < 20; i++)
		il += (size_t)snprintf(in + il, sizeof(in) - il, "set key%d %d 0 1\r\n%c\r\n", i, i,
				       'a' + i);
	il += (size_t)snprintf(in + il, sizeof(in) - il, "get");
	for (int i = 0; i < 20; i++) {
		il += (size_t)snprintf(in + il, sizeof(in) - il, " key%d", i);
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "STORED\r\n");
	}
	il += (size_t)snprintf(in + il, sizeof(in) - il, "\r\n");
	for (int i = 0; i < 20; i++)
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "VALUE key%d %d 1\r\n%c\r\n", i, i,
				       'a' + i);
	snprintf(want + wl, sizeof(want) - wl, "END\r\n");
	session_n(in, want, 2);
}

/* Run one request on x, returning what mc_exec_request returned; reply into r. */
static enum mc_exec_result run_on(struct rig *r, struct mc_exec *x, const char *line)
{
	struct mc_request req;
	size_t used;
	assert_int_equal(mc_parse((const uint8_t *)line, strlen(line), &x->cfg.limits, &req, &used),
			 MC_PARSE_OK);
	enum mc_exec_result res = mc_exec_request(x, &req, &r->out);
	seg_flush(&r->out);
	return res;
}

/* Two executors over two partitions, one owner each (the dataplane's CREW). */
/* cache_memlimit: memcached's bounds and words, then every partition's owner */
static void test_cache_memlimit(void **state)
{
	(void)state;
	struct rig r;
	struct mc_exec x1;

	rig_init(&r, 2);
	x1 = r.x;
	r.x.owned = 1;
	x1.owned = 2;
	assert_int_equal(run_on(&r, &r.x, "cache_memlimit 7\r\n"), MC_EXEC_OK);
	assert_string_equal(r.got, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
	r.glen = 0;
	assert_int_equal(run_on(&r, &r.x, "cache_memlimit 2000000000\r\n"), MC_EXEC_OK);
	assert_string_equal(r.got, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
	r.glen = 0;
	/* two partitions of at most 32 MiB each */
	assert_int_equal(run_on(&r, &r.x, "cache_memlimit 65\r\n"), MC_EXEC_OK);
	assert_string_equal(r.got, "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n");
	r.glen = 0;
	/* a good one visits the other owner, which answers */
	assert_int_equal(run_on(&r, &r.x, "cache_memlimit 16\r\n"), MC_EXEC_FORWARD);
	assert_int_equal(r.x.fwd_part, 1);
	assert_int_equal(r.glen, 0);
	x1.flush_done = r.x.flush_done;
	r.x.flush_done = 0;
	assert_int_equal(run_on(&r, &x1, "cache_memlimit 16\r\n"), MC_EXEC_OK);
	assert_string_equal(r.got, "OK\r\n");
	assert_int_equal(x1.flush_done, 0);
	r.glen = 0;
	assert_int_equal(run_on(&r, &x1, "stats\r\n"), MC_EXEC_OK);
	assert_non_null(strstr(r.got, "STAT limit_maxbytes 16777216\r\n"));
	r.glen = 0;
	/* not a number: memcached says ERROR */
	struct mc_request req;
	size_t used, n;
	assert_int_equal(mc_parse((const uint8_t *)"cache_memlimit many\r\n", 21, &r.x.cfg.limits,
				  &req, &used), MC_PARSE_ERROR);
	assert_string_equal(mc_err_reply(req.err, &n), "ERROR\r\n");
	assert_int_equal(run_on(&r, &r.x, "cache_memlimit 7 noreply\r\n"), MC_EXEC_OK);
	assert_int_equal(r.glen, 0);
	rig_free(&r);
}

static void test_owners_and_forwarding(void **state)
{
	(void)state;
	struct rig r;
	struct mc_exec x1;
	static uint8_t rb0[70000], rb1[70000];
	char key[16];
	unsigned part;
	struct tbl_key k;

	rig_init(&r, 2);
	x1 = r.x;
	r.x.owned = 1; /* partition 0 */
	x1.owned = 2;  /* partition 1 */
	r.x.rbuf = rb0;
	r.x.rbuf_len = sizeof(rb0);
	x1.rbuf = rb1;
	x1.rbuf_len = sizeof(rb1);
	/* a key of partition 1 */
	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "fw%d", i);
		k = (struct tbl_key){ .key = key, .klen = (uint32_t)strlen(key) };
		if (!mc_exec_owns_key(&r.x, &k, &part))
			break;
	}
	char line[128];
	snprintf(line, sizeof(line), "set %s 3 0 2\r\nhi\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_FORWARD);
	assert_int_equal(r.x.fwd_part, 1);
	assert_int_equal(r.glen, 0); /* nothing written before forwarding */
	assert_int_equal(run_on(&r, &x1, line), MC_EXEC_OK);
	assert_string_equal(r.got, "STORED\r\n");
	/* reads of the other partition are served by the lock-free remote read */
	r.glen = 0;
	snprintf(line, sizeof(line), "get %s\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_OK);
	snprintf(line, sizeof(line), "VALUE %s 3 2\r\nhi\r\nEND\r\n", key);
	assert_string_equal(r.got, line);
	r.glen = 0;
	snprintf(line, sizeof(line), "mg %s v f\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_OK);
	assert_string_equal(r.got, "VA 2 f3\r\nhi\r\n");
	/* mutating meta commands and gat go to the owner */
	snprintf(line, sizeof(line), "mg %s T30\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_FORWARD);
	snprintf(line, sizeof(line), "gat 10 %s\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_FORWARD);
	snprintf(line, sizeof(line), "md %s q\r\n", key);
	assert_int_equal(run_on(&r, &r.x, line), MC_EXEC_FORWARD);
	/* flush_all visits every owner; only the last one answers */
	r.glen = 0;
	assert_int_equal(run_on(&r, &r.x, "flush_all\r\n"), MC_EXEC_FORWARD);
	assert_int_equal(r.x.fwd_part, 1);
	assert_int_equal(r.glen, 0);
	x1.flush_done = r.x.flush_done;
	r.x.flush_done = 0;
	assert_int_equal(run_on(&r, &x1, "flush_all\r\n"), MC_EXEC_OK);
	assert_string_equal(r.got, "OK\r\n");
	r.glen = 0;
	snprintf(line, sizeof(line), "get %s\r\n", key);
	run_on(&r, &r.x, line);
	assert_string_equal(r.got, "END\r\n");
	rig_free(&r);
}

static void test_datagram(void **state)
{
	(void)state;
	struct rig r;
	struct mc_udp_hdr h;
	uint8_t d[128] = { 0x12, 0x34, 0, 0, 0, 1, 0, 0 };
	const char *cmd = "set u 0 0 1\r\nz\r\nget u\r\n";

	rig_init(&r, 1);
	memcpy(d + 8, cmd, strlen(cmd));
	assert_int_equal(mc_dgram_input(&r.x, d, 8 + strlen(cmd), &h, &r.out), MC_UDP_OK);
	seg_flush(&r.out);
	assert_int_equal(h.req_id, 0x1234);
	assert_string_equal(r.got, "STORED\r\nVALUE u 0 1\r\nz\r\nEND\r\n");
	/* truncated data block: dropped after earlier replies */
	r.glen = 0;
	const char *trunc = "get u\r\nset v 0 0 10\r\nab";
	memcpy(d + 8, trunc, strlen(trunc));
	assert_int_equal(mc_dgram_input(&r.x, d, 8 + strlen(trunc), &h, &r.out),
			 MC_UDP_DROP_TRUNCATED);
	seg_flush(&r.out);
	assert_string_equal(r.got, "VALUE u 0 1\r\nz\r\nEND\r\n");
	d[5] = 2; /* multi-datagram request */
	assert_int_equal(mc_dgram_input(&r.x, d, 20, &h, &r.out), MC_UDP_DROP_MULTI);
	rig_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_set),
		cmocka_unit_test(test_storage_modes),
		cmocka_unit_test(test_cas_roundtrip),
		cmocka_unit_test(test_arith_touch_delete),
		cmocka_unit_test(test_expiry_and_flush),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_meta_get),
		cmocka_unit_test(test_meta_set_delete_arith),
		cmocka_unit_test(test_partitions),
		cmocka_unit_test(test_datagram),
		cmocka_unit_test(test_owners_and_forwarding),
		cmocka_unit_test(test_cache_memlimit),
	};
	return cmocka_run_group_tests_name("mc_exec", tests, NULL, NULL);
}
