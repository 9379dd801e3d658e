/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection simulator and transcript renderer for the memcached parser
 * tests (see mc_session.h). Each mc_parse() call gets an exact-size heap
 * copy of the pending bytes so AddressSanitizer flags any read past them.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mc_session.h"

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_putn(struct sbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	sb_putn(b, tmp, (size_t)n);
}

/* Bytes with C-style escapes for anything not printable. */
static void sb_escaped(struct sbuf *b, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		if (c[i] == '\r')
			sb_putn(b, "\\r", 2);
		else if (c[i] == '\n')
			sb_putn(b, "\\n", 2);
		else if (c[i] < 0x20 || c[i] >= 0x7f || c[i] == '\\')
			sb_printf(b, "\\x%02x", c[i]);
		else
			sb_putn(b, (const char *)&c[i], 1);
	}
}

static void render_meta(struct sbuf *b, const struct mc_request *req)
{
	const struct mc_meta *m = &req->meta;
	if (m->seen != 0) {
		sb_putn(b, " seen=", 6);
		for (char c = 'A'; c <= 'z'; c++)
			if (mc_meta_bit(c) != 0 && mc_meta_has(m, c))
				sb_putn(b, &c, 1);
	}
	if (m->nret > 0) {
		sb_putn(b, " ret=", 5);
		sb_putn(b, m->ret, m->nret);
	}
	if (m->key_b64)
		sb_printf(b, " b64len=%u", m->key_len_decoded);
	if (mc_meta_has(m, 'T'))
		sb_printf(b, " T=%lld", (long long)m->ttl);
	if (mc_meta_has(m, 'N'))
		sb_printf(b, " N=%lld", (long long)m->vivify_ttl);
	if (mc_meta_has(m, 'R'))
		sb_printf(b, " R=%lld", (long long)m->recache_ttl);
	if (mc_meta_has(m, 'C'))
		sb_printf(b, " C=%llu", (unsigned long long)m->compare_cas);
	if (mc_meta_has(m, 'E'))
		sb_printf(b, " E=%llu", (unsigned long long)m->new_cas);
	if (mc_meta_has(m, 'F'))
		sb_printf(b, " F=%u", m->client_flags);
	if (mc_meta_has(m, 'J'))
		sb_printf(b, " J=%llu", (unsigned long long)m->initial);
	if (req->cmd == MC_CMD_MA)
		sb_printf(b, " D=%llu", (unsigned long long)m->delta);
	if (m->mode != 0)
		sb_printf(b, " M=%c", m->mode);
	if (mc_meta_has(m, 'O')) {
		sb_putn(b, " O=", 3);
		sb_escaped(b, m->opaque.ptr, m->opaque.len);
	}
}

static void render_ok(struct sbuf *b, struct mc_request *req)
{
	sb_putn(b, mc_cmd_name(req->cmd), strlen(mc_cmd_name(req->cmd)));
	uint32_t seen = 0, total = req->nkeys_total;
	do {
		assert_true(req->nkeys <= MC_KEYS_MAX);
		for (uint32_t i = 0; i < req->nkeys; i++, seen++) {
			sb_putn(b, " k=", 3);
			sb_escaped(b, req->keys[i].ptr, req->keys[i].len);
		}
	} while (req->nkeys == MC_KEYS_MAX && mc_request_next_keys(req) > 0);
	assert_int_equal(seen, total);
	assert_int_equal(mc_request_next_keys(req), 0);

	switch (mc_cmd_kind(req->cmd)) {
	case MC_KIND_STORAGE:
		sb_printf(b, " f=%u e=%lld", req->flags, (long long)req->exptime);
		if (req->cmd == MC_CMD_CAS)
			sb_printf(b, " cas=%llu", (unsigned long long)req->cas);
		break;
	case MC_KIND_RETRIEVAL:
		if (req->cmd == MC_CMD_GAT || req->cmd == MC_CMD_GATS)
			sb_printf(b, " e=%lld", (long long)req->exptime);
		break;
	case MC_KIND_ARITH:
		sb_printf(b, " delta=%llu", (unsigned long long)req->delta);
		break;
	case MC_KIND_TOUCH:
		sb_printf(b, " e=%lld", (long long)req->exptime);
		break;
	case MC_KIND_META:
		render_meta(b, req);
		break;
	default:
		if (req->cmd == MC_CMD_FLUSH_ALL)
			sb_printf(b, " delay=%lld", (long long)req->flush_delay);
		if (req->cmd == MC_CMD_VERBOSITY)
			sb_printf(b, " v=%u", req->verbosity);
		if (req->cmd == MC_CMD_STATS) {
			sb_putn(b, " args=", 6);
			sb_escaped(b, req->stats_args.ptr, req->stats_args.len);
		}
		break;
	}
	if (mc_cmd_has_data(req->cmd)) {
		sb_printf(b, " b=%u d=", req->bytes);
		sb_escaped(b, req->data, req->bytes);
	}
	if (req->noreply)
		sb_putn(b, " noreply", 8);
	sb_putn(b, "\n", 1);
}

static void render_err(struct sbuf *b, const struct mc_request *req)
{
	size_t len;
	const char *r = mc_err_reply(req->err, &len);
	assert_true(len >= 2 && r[len - 2] == '\r' && r[len - 1] == '\n');
	sb_putn(b, "ERR ", 4);
	sb_putn(b, r, len - 2);
	if (req->swallow != 0)
		sb_printf(b, " swallow=%zu", req->swallow);
	if (req->noreply)
		sb_putn(b, " noreply", 8);
	if (mc_err_closes(req->err))
		sb_putn(b, " close", 6);
	sb_putn(b, "\n", 1);
}

struct sim {
	uint8_t *buf;
	size_t len;
	size_t swallow;
	bool closed;
};

static void sim_feed(struct sim *s, const uint8_t *p, size_t n,
		     const struct mc_parse_limits *lim, struct sbuf *out)
{
	if (s->closed)
		return;
	size_t skip = s->swallow < n ? s->swallow : n;
	s->swallow -= skip;
	p += skip;
	n -= skip;
	s->buf = realloc(s->buf, s->len + n + 1);
	assert_non_null(s->buf);
	if (n > 0)
		memcpy(s->buf + s->len, p, n);
	s->len += n;

	while (s->len > 0) {
		uint8_t *exact = malloc(s->len);
		assert_non_null(exact);
		memcpy(exact, s->buf, s->len);
		struct mc_request req;
		size_t consumed = 12345;
		int rc = mc_parse(exact, s->len, lim, &req, &consumed);
		assert_true(rc == MC_PARSE_OK || rc == MC_PARSE_NEED_MORE || rc == MC_PARSE_ERROR);
		if (rc == MC_PARSE_NEED_MORE) {
			assert_int_equal(consumed, 0);
			free(exact);
			return;
		}
		assert_true(consumed > 0 && consumed <= s->len);
		if (rc == MC_PARSE_OK) {
			assert_int_equal(req.err, MC_ERR_NONE);
			render_ok(out, &req);
		} else {
			assert_int_not_equal(req.err, MC_ERR_NONE);
			render_err(out, &req);
		}
		free(exact);
		if (rc == MC_PARSE_ERROR && mc_err_closes(req.err)) {
			s->closed = true;
			sb_putn(out, "CLOSE\n", 6);
			return;
		}
		memmove(s->buf, s->buf + consumed, s->len - consumed);
		s->len -= consumed;
		if (rc == MC_PARSE_ERROR) {
			skip = req.swallow < s->len ? req.swallow : s->len;
			memmove(s->buf, s->buf + skip, s->len - skip);
			s->len -= skip;
			s->swallow = req.swallow - skip;
		}
	}
}

char *mc_session_run(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts,
		     const struct mc_parse_limits *lim)
{
	struct sbuf out = { 0 };
	struct sim s = { 0 };
	size_t at = 0;
	sb_putn(&out, "", 0);
	for (size_t i = 0; i < ncuts; i++) {
		assert_true(cuts[i] >= at && cuts[i] <= len);
		sim_feed(&s, in + at, cuts[i] - at, lim, &out);
		at = cuts[i];
	}
	sim_feed(&s, in + at, len - at, lim, &out);
	if (!s.closed && s.len > 0)
		sb_printf(&out, "PENDING %zu\n", s.len);
	if (!s.closed && s.swallow > 0)
		sb_printf(&out, "SWALLOWING %zu\n", s.swallow);
	free(s.buf);
	return out.s;
}

void mc_session_check_lim(const void *in, size_t len, const struct mc_parse_limits *lim,
			  const char *expect)
{
	char *whole = mc_session_run(in, len, NULL, 0, lim);
	assert_string_equal(whole, expect);

	size_t stride = len > 4096 ? len / 257 + 1 : 1;
	for (size_t k = 0; k <= len; k += stride) {
		char *split = mc_session_run(in, len, &k, 1, lim);
		if (strcmp(split, whole) != 0)
			print_error("split at %zu of %zu differs\n", k, len);
		assert_string_equal(split, whole);
		free(split);
	}
	if (len <= 4096) {
		size_t *cuts = malloc((len + 1) * sizeof(*cuts));
		assert_non_null(cuts);
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		char *bytewise = mc_session_run(in, len, cuts, len, lim);
		assert_string_equal(bytewise, whole);
		free(bytewise);
		free(cuts);
	}
	free(whole);
}

void mc_session_check(const char *in, const char *expect)
{
	mc_session_check_lim(in, strlen(in), NULL, expect);
}
