/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the memcached protocol parser. The input is parsed
 * as a TCP stream the way a connection would (pipelined requests, skipped
 * data blocks, closing errors), with an invariant check on every result and
 * on every prefix split; it is also run through the UDP datagram checks,
 * the reply fragmenter and the base64 helpers. Any violated invariant
 * aborts, so the fuzzer reports it as a crash.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mc_base64.h"
#include "proto/mc_parser.h"
#include "proto/mc_udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool in_buf(const void *p, size_t n, const uint8_t *buf, size_t len)
{
	const uint8_t *q = p;
	return q >= buf && q + n <= buf + len;
}

/* Every pointer a result hands out lies inside the parsed buffer. */
static void check_request(struct mc_request *req, const uint8_t *buf, size_t len)
{
	uint32_t seen = 0;
	CHECK(req->nkeys <= MC_KEYS_MAX && req->nkeys <= req->nkeys_total);
	do {
		for (uint32_t i = 0; i < req->nkeys; i++, seen++) {
			CHECK(req->keys[i].len >= 1 && req->keys[i].len <= MC_KEY_MAX_LEN);
			CHECK(in_buf(req->keys[i].ptr, req->keys[i].len, buf, len));
		}
	} while (req->nkeys == MC_KEYS_MAX && mc_request_next_keys(req) > 0);
	CHECK(seen == req->nkeys_total);
	if (mc_cmd_has_data(req->cmd))
		CHECK(in_buf(req->data, req->bytes, buf, len));
	if (req->stats_args.len > 0)
		CHECK(in_buf(req->stats_args.ptr, req->stats_args.len, buf, len));
	if (req->meta.opaque.len > 0)
		CHECK(in_buf(req->meta.opaque.ptr, req->meta.opaque.len, buf, len));
	CHECK(req->meta.nret <= MC_META_RET_MAX);
	if (req->meta.key_b64) {
		uint8_t key[MC_KEY_MAX_LEN];
		ssize_t n = mc_base64_decode(req->keys[0].ptr, req->keys[0].len, key, sizeof(key));
		CHECK(n == req->meta.key_len_decoded && n > 0);
	}
}

/* A prefix of the stream yields NEED_MORE or exactly the full result. */
static void check_prefix(const uint8_t *buf, size_t len, size_t cut,
			 const struct mc_parse_limits *lim, int rc, const struct mc_request *full,
			 size_t consumed)
{
	struct mc_request req;
	size_t c;
	int prc = mc_parse(buf, cut, lim, &req, &c);
	CHECK(prc >= 0);
	if (prc == MC_PARSE_NEED_MORE) {
		CHECK(c == 0);
		return;
	}
	CHECK(prc == rc && req.err == full->err && req.cmd == full->cmd);
	CHECK(req.swallow == full->swallow && c <= cut && cut <= len);
	/* A closing error consumes whatever it was given. */
	CHECK(c == (rc == MC_PARSE_ERROR && mc_err_closes(full->err) ? cut : consumed));
}

/*
 * The single-get fast path against the protocol's own rule: when it takes
 * a line, the line is "get " + one key of 1..250 bytes, none of them <= 0x20
 * or 0x7f, + "\r\n" or "\n"; and mc_parse gives that very request.
 */
static void check_get1(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim)
{
	struct mc_str key;
	size_t used;
	if (!mc_parse_get1(buf, len, lim, &key, &used))
		return;
	CHECK(used <= len && used >= 6 && memcmp(buf, "get ", 4) == 0);
	CHECK((const uint8_t *)key.ptr == buf + 4 && key.len >= 1 && key.len <= MC_KEY_MAX_LEN);
	for (size_t i = 0; i < key.len; i++)
		CHECK(buf[4 + i] > ' ' && buf[4 + i] != 0x7f);
	size_t t = 4 + key.len;
	CHECK((used == t + 1 && buf[t] == '\n') ||
	      (used == t + 2 && buf[t] == '\r' && buf[t + 1] == '\n'));
	CHECK(used <= (lim != NULL ? lim->line_max : MC_LINE_MAX_DEFAULT));
	struct mc_request req;
	size_t c;
	CHECK(mc_parse(buf, len, lim, &req, &c) == MC_PARSE_OK && c == used);
	CHECK(req.cmd == MC_CMD_GET && req.nkeys == 1 && req.nkeys_total == 1);
	CHECK(req.keys[0].ptr == key.ptr && req.keys[0].len == key.len);
}

static void run_stream(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim)
{
	size_t off = 0;
	unsigned steps = 0;
	while (off < len) {
		struct mc_request req;
		size_t consumed = 0;
		int rc = mc_parse(buf + off, len - off, lim, &req, &consumed);
		CHECK(rc == MC_PARSE_OK || rc == MC_PARSE_NEED_MORE || rc == MC_PARSE_ERROR);
		if (rc == MC_PARSE_NEED_MORE) {
			CHECK(consumed == 0);
			CHECK(req.need == 0 || req.need > len - off);
			return;
		}
		CHECK(consumed > 0 && consumed <= len - off);
		if (rc == MC_PARSE_OK) {
			CHECK(req.err == MC_ERR_NONE && req.cmd != MC_CMD_NONE);
		} else {
			size_t rl;
			const char *r = mc_err_reply(req.err, &rl);
			CHECK(req.err != MC_ERR_NONE && rl >= 2 && r[rl - 1] == '\n');
		}
		/* Same answer for a prefix cut somewhere inside this request. */
		size_t cut = off + 1 + (size_t)(steps * 7919u) % consumed;
		check_prefix(buf + off, len - off, cut - off, lim, rc, &req, consumed);
		if (rc == MC_PARSE_OK)
			check_request(&req, buf + off, len - off);
		if (rc == MC_PARSE_ERROR && mc_err_closes(req.err))
			return;
		off += consumed;
		if (rc == MC_PARSE_ERROR)
			off += req.swallow < len - off ? req.swallow : len - off;
		steps++;
	}
}

static void run_udp(const uint8_t *data, size_t size)
{
	struct mc_udp_hdr h;
	enum mc_udp_verdict v = mc_udp_validate(data, size, &h);
	CHECK((unsigned)v < MC_UDP_VERDICT_COUNT);
	CHECK(mc_udp_verdict_name(v) != NULL);
	if (v == MC_UDP_OK) {
		uint8_t back[MC_UDP_HDR_LEN];
		mc_udp_hdr_write(back, &h);
		CHECK(memcmp(back, data, MC_UDP_HDR_LEN) == 0);
		run_stream(data + MC_UDP_HDR_LEN, size - MC_UDP_HDR_LEN, NULL);
	}
	/* Fragment a reply whose size comes from the input. */
	if (size >= 4) {
		size_t reply = ((size_t)data[0] << 16 | (size_t)data[1] << 8 | data[2]) * 3;
		size_t dmax = data[3] < 9 ? 0 : (size_t)data[3] * 8;
		int n = mc_udp_frag_count(reply, dmax);
		CHECK(n >= 0 || n == -EMSGSIZE);
		/* Walk every fragment of small replies, the last one of big ones. */
		size_t total = 0;
		for (int s = n > 64 ? n - 1 : 0; s < n; s++) {
			struct mc_udp_frag f;
			CHECK(mc_udp_frag(reply, dmax, data[1], (uint16_t)s, &f) == 0);
			CHECK(f.len > 0 && (s == 0 || f.off == total || n > 64));
			total = f.off + f.len;
		}
		CHECK(n < 0 || total == reply);
	}
}

static void run_base64(const uint8_t *data, size_t size)
{
	uint8_t dec[512];
	char enc[700];
	size_t n = size < sizeof(dec) ? size : sizeof(dec);
	ssize_t dl = mc_base64_decode((const char *)data, n, dec, sizeof(dec));
	CHECK(dl == mc_base64_decoded_len((const char *)data, n));
	if (dl >= 0) {
		/* Strict decoding accepts only canonical input: it re-encodes. */
		CHECK(mc_base64_encode(dec, (size_t)dl, enc, sizeof(enc)) == (ssize_t)n);
		CHECK(memcmp(enc, data, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mc_parse_limits lim;
	mc_parse_limits_init(&lim);
	run_stream(data, size, &lim);
	check_get1(data, size, &lim);
	check_get1(data, size, NULL);
	/* Small limits reach the line and item size checks with short inputs. */
	lim.line_max = MC_LINE_MAX_MIN;
	lim.key_line_max = 300;
	lim.item_size_max = 16;
	run_stream(data, size, &lim);
	check_get1(data, size, &lim);
	run_udp(data, size);
	run_base64(data, size);
	return 0;
}
