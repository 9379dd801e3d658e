/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memcached text protocol parser: line framing, tokenizing, the classic
 * text commands and data blocks; meta commands are handed to mc_meta.c.
 * Error precedence and reply strings follow memcached's proto_text.c so a
 * client sees the same line it would from memcached. Pure: no I/O, no
 * allocation, no global mutable state, bounded work per call.
 */
#include <errno.h>
#include <emmintrin.h>
#include <stddef.h>
#include <string.h>

#include "px_compiler.h"
#include "mc_parser.h"
#include "mc_parser_pvt.h"

const struct mc_cmd_info mc_cmd_table[MC_CMD_COUNT] = {
	[MC_CMD_NONE] = { NULL, 0, MC_KIND_NONE, 0, 0 },
#define MC_X_INFO(id, nm, kd, lo, hi) [MC_CMD_##id] = { nm, sizeof(nm) - 1, kd, lo, hi },
	MC_COMMANDS(MC_X_INFO)
#undef MC_X_INFO
};

static const struct {
	const char *reply;
	unsigned char len;
	bool close;
} mc_err_table[MC_ERR_COUNT] = {
#define MC_X_ERR(id, r, c) [MC_ERR_##id] = { r "\r\n", sizeof(r "\r\n") - 1, c },
	MC_ERRORS(MC_X_ERR)
#undef MC_X_ERR
};

static const struct mc_parse_limits mc_limits_default = {
	.line_max = MC_LINE_MAX_DEFAULT,
	.key_line_max = MC_KEY_LINE_MAX_DEFAULT,
	.item_size_max = MC_ITEM_SIZE_MAX_DEFAULT,
};

/* First byte of a memcached binary protocol request. */
#define MC_BINARY_MAGIC 0x80
/* memcached allows this many leading spaces before a long multiget. */
#define MC_MULTIGET_LEADING_SPACES 100

void mc_parse_limits_init(struct mc_parse_limits *lim)
{
	if (lim != NULL)
		*lim = mc_limits_default;
}

const char *mc_err_reply(enum mc_err err, size_t *len)
{
	if ((unsigned)err >= MC_ERR_COUNT || err == MC_ERR_NONE) {
		if (len != NULL)
			*len = 0;
		return "";
	}
	if (len != NULL)
		*len = mc_err_table[err].len;
	return mc_err_table[err].reply;
}

bool mc_err_closes(enum mc_err err)
{
	return (unsigned)err < MC_ERR_COUNT && mc_err_table[err].close;
}

enum mc_cmd mc_cmd_lookup(const char *word, size_t len)
{
	/* The two commands that carry nearly all traffic, without the loop
	 * and its memcmp calls. */
	if (len == 3 && word[1] == 'e' && word[2] == 't') {
		if (word[0] == 'g')
			return MC_CMD_GET;
		if (word[0] == 's')
			return MC_CMD_SET;
	}
	for (unsigned c = MC_CMD_NONE + 1; c < MC_CMD_COUNT; c++)
		if (mc_cmd_table[c].name_len == len && memcmp(mc_cmd_table[c].name, word, len) == 0)
			return (enum mc_cmd)c;
	return MC_CMD_NONE;
}

bool mc_parse_u64(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)p[i] - '0';
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool mc_parse_u32(const char *p, size_t len, uint32_t *out)
{
	uint64_t v;
	if (!mc_parse_u64(p, len, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool mc_parse_i64(const char *p, size_t len, int64_t *out)
{
	bool neg = len > 0 && p[0] == '-';
	uint64_t mag;
	if (!mc_parse_u64(p + neg, len - neg, &mag))
		return false;
	if (mag > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return true;
}

bool mc_parse_datalen(const struct mc_str *t, uint32_t *out)
{
	int64_t v;
	if (!mc_parse_i64(t->ptr, t->len, &v) || v < 0 || v > MC_DATA_LEN_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool mc_key_valid(const struct mc_str *k)
{
	const uint8_t *p = (const uint8_t *)k->ptr;

	return k->len != 0 && k->len <= MC_KEY_MAX_LEN && mc_key_end(p, p + k->len) == p + k->len;
}

/*
 * memchr for the short spans of a request line: an inline loop over the
 * first 64 bytes beats a libc call (and its wide-vector setup) on tokens of
 * a few bytes; longer spans go to memchr.
 */
static inline const void *scan_byte(const void *s, int c, size_t n)
{
	const uint8_t *p = s;
	size_t i = 0;
	const __m128i want = _mm_set1_epi8((char)c);

	/* 16 bytes at a time while whole blocks remain: never reads past n */
	for (; i + 16 <= n && i < 64; i += 16) {
		unsigned m = (unsigned)_mm_movemask_epi8(
			_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), want));
		if (m != 0)
			return p + i + __builtin_ctz(m);
	}
	for (size_t k = n < 64 ? n : 64; i < k; i++)
		if (p[i] == (uint8_t)c)
			return p + i;
	return n > 64 ? memchr(p + 64, c, n - 64) : NULL;
}

/* Next space-delimited token of [*cur, end); memcached splits on ' ' only. */
static inline __attribute__((always_inline)) bool mc_tok_next(const char **cur, const char *end,
								  struct mc_str *t)
{
	const char *p = *cur;
	while (p < end && *p == ' ')
		p++;
	if (p == end) {
		*cur = p;
		return false;
	}
	const char *q = scan_byte(p, ' ', (size_t)(end - p));
	if (q == NULL)
		q = end;
	t->ptr = p;
	t->len = (size_t)(q - p);
	*cur = q;
	return true;
}

static void mc_tokenize(struct mc_toks *tk, const char *cur, const char *end)
{
	struct mc_str t;
	tk->n = 0;
	while (mc_tok_next(&cur, end, &t)) {
		if (tk->n < MC_TOK_MAX)
			tk->t[tk->n] = t;
		tk->n++;
	}
}

static void mc_set_key(struct mc_request *req, const struct mc_str *k)
{
	req->keys[0] = *k;
	req->nkeys = 1;
	req->nkeys_total = 1;
}

/* memcached set_noreply_maybe(): the last argument is exactly "noreply". */
static bool mc_set_noreply(struct mc_request *req, const struct mc_toks *tk)
{
	if (tk->n > 0 && tk->n <= MC_TOK_MAX && mc_str_eq(&tk->t[tk->n - 1], "noreply", 7))
		req->noreply = true;
	return req->noreply;
}

/* An HTTP request line: method word and a last token "HTTP/...". */
static bool mc_is_http(const struct mc_str *word, const char *cur, const char *end)
{
	static const char *const methods[] = {
		"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
	};
	bool method = false;
	for (size_t i = 0; i < PX_ARRAY_SIZE(methods) && !method; i++)
		method = mc_str_eq(word, methods[i], strlen(methods[i]));
	if (!method)
		return false;
	struct mc_str t, last = { NULL, 0 };
	while (mc_tok_next(&cur, end, &t))
		last = t;
	return last.len >= 5 && memcmp(last.ptr, "HTTP/", 5) == 0;
}

/* get <key>*, gets <key>*, gat <exptime> <key>*, gats <exptime> <key>* */
static enum mc_err mc_parse_retrieval(struct mc_request *req, const char *cur, const char *end)
{
	struct mc_str t;
	const char *keys = cur;
	if (!mc_tok_next(&cur, end, &t))
		return MC_ERR_UNKNOWN_COMMAND;
	if (req->cmd == MC_CMD_GAT || req->cmd == MC_CMD_GATS) {
		if (!mc_parse_i64(t.ptr, t.len, &req->exptime))
			return MC_ERR_BAD_EXPTIME;
		keys = cur;
	}
	/* Validate every key now so later batches cannot fail; the first
	 * batch is kept on the way, later ones are tokenized again on demand. */
	uint32_t n = 0;
	const char *after_batch = end;
	for (cur = keys; mc_tok_next(&cur, end, &t); n++) {
		if (!mc_key_valid(&t))
			return MC_ERR_BAD_FORMAT;
		if (n < MC_KEYS_MAX) {
			req->keys[n] = t;
			after_batch = cur;
		}
	}
	req->nkeys_total = n;
	req->nkeys = n < MC_KEYS_MAX ? n : MC_KEYS_MAX;
	req->key_cursor = n > MC_KEYS_MAX ? after_batch : NULL; /* NULL: no more batches */
	req->line_end = end;
	return MC_ERR_NONE;
}

uint32_t mc_request_next_keys(struct mc_request *req)
{
	uint32_t n = 0;
	struct mc_str t;
	if (req == NULL)
		return 0;
	while (req->key_cursor != NULL && n < MC_KEYS_MAX &&
	       mc_tok_next(&req->key_cursor, req->line_end, &t))
		req->keys[n++] = t;
	req->nkeys = n;
	return n;
}

/* <cmd> <key> <flags> <exptime> <bytes> [noreply], cas adds <cas unique>. */
static enum mc_err mc_parse_storage(struct mc_request *req, const struct mc_toks *tk,
				    const struct mc_parse_limits *lim, size_t *swallow)
{
	const struct mc_str *a = tk->t;
	uint32_t bytes = 0;
	bool len_ok = mc_parse_datalen(&a[3], &bytes);

	/* Pollux skips the data block of any rejected line whose length is
	 * known; memcached only does so for "object too large". */
	if (len_ok)
		*swallow = (size_t)bytes + 2;
	mc_set_noreply(req, tk);
	mc_set_key(req, &a[0]);
	if (!mc_key_valid(&a[0]))
		return MC_ERR_BAD_FORMAT;
	if (!mc_parse_u32(a[1].ptr, a[1].len, &req->flags) ||
	    !mc_parse_i64(a[2].ptr, a[2].len, &req->exptime) || !len_ok)
		return MC_ERR_BAD_FORMAT;
	if (req->cmd == MC_CMD_CAS && !mc_parse_u64(a[4].ptr, a[4].len, &req->cas))
		return MC_ERR_BAD_FORMAT;
	req->bytes = bytes;
	if (bytes > lim->item_size_max)
		return MC_ERR_TOO_LARGE;
	return MC_ERR_NONE;
}

/* incr|decr <key> <value> [noreply] */
static enum mc_err mc_parse_arith(struct mc_request *req, const struct mc_toks *tk)
{
	mc_set_noreply(req, tk);
	mc_set_key(req, &tk->t[0]);
	if (!mc_key_valid(&tk->t[0]))
		return MC_ERR_BAD_FORMAT;
	if (!mc_parse_u64(tk->t[1].ptr, tk->t[1].len, &req->delta))
		return MC_ERR_BAD_DELTA;
	return MC_ERR_NONE;
}

/* touch <key> <exptime> [noreply] */
static enum mc_err mc_parse_touch(struct mc_request *req, const struct mc_toks *tk)
{
	mc_set_noreply(req, tk);
	mc_set_key(req, &tk->t[0]);
	if (!mc_key_valid(&tk->t[0]))
		return MC_ERR_BAD_FORMAT;
	if (!mc_parse_i64(tk->t[1].ptr, tk->t[1].len, &req->exptime))
		return MC_ERR_BAD_EXPTIME;
	return MC_ERR_NONE;
}

/* delete <key> [0] [noreply]; the legacy "0" hold time is still accepted. */
static enum mc_err mc_parse_delete(struct mc_request *req, const struct mc_toks *tk)
{
	if (tk->n > 1) {
		bool hold_zero = mc_str_eq(&tk->t[1], "0", 1);
		bool noreply = mc_set_noreply(req, tk);
		bool valid = (tk->n == 2 && (hold_zero || noreply)) ||
			     (tk->n == 3 && hold_zero && noreply);
		if (!valid)
			return MC_ERR_BAD_DELETE;
	}
	mc_set_key(req, &tk->t[0]);
	if (!mc_key_valid(&tk->t[0]))
		return MC_ERR_BAD_FORMAT;
	return MC_ERR_NONE;
}

/* flush_all [delay] [noreply], verbosity <level> [noreply],
 * cache_memlimit <megabytes> [noreply], version, quit */
static enum mc_err mc_parse_admin(struct mc_request *req, const struct mc_toks *tk)
{
	switch (req->cmd) {
	case MC_CMD_FLUSH_ALL:
		mc_set_noreply(req, tk);
		if (tk->n != (req->noreply ? 1u : 0u) &&
		    !mc_parse_i64(tk->t[0].ptr, tk->t[0].len, &req->flush_delay))
			return MC_ERR_BAD_EXPTIME;
		return MC_ERR_NONE;
	case MC_CMD_VERBOSITY:
		mc_set_noreply(req, tk);
		if (!mc_parse_u32(tk->t[0].ptr, tk->t[0].len, &req->verbosity))
			return MC_ERR_BAD_FORMAT;
		return MC_ERR_NONE;
	case MC_CMD_CACHE_MEMLIMIT:
		/* memcached answers a non-number with ERROR */
		mc_set_noreply(req, tk);
		if (!mc_parse_u64(tk->t[0].ptr, tk->t[0].len, &req->memlimit_mb))
			return MC_ERR_UNKNOWN_COMMAND;
		return MC_ERR_NONE;
	default:
		return MC_ERR_NONE; /* version, quit: arguments ignored */
	}
}

/* Parse one complete command line [s, e), terminator stripped. */
static enum mc_err mc_parse_line(struct mc_request *req, const char *s, const char *e,
				 const struct mc_parse_limits *lim, size_t *swallow)
{
	const char *cur = s;
	struct mc_str word;
	struct mc_toks tk;

	if (!mc_tok_next(&cur, e, &word))
		return MC_ERR_UNKNOWN_COMMAND;
	req->cmd = mc_cmd_lookup(word.ptr, word.len);
	if (req->cmd == MC_CMD_NONE)
		return mc_is_http(&word, cur, e) ? MC_ERR_HTTP : MC_ERR_UNKNOWN_COMMAND;

	const struct mc_cmd_info *ci = &mc_cmd_table[req->cmd];
	if (ci->kind == MC_KIND_RETRIEVAL)
		return mc_parse_retrieval(req, cur, e);
	if (req->cmd == MC_CMD_STATS) {
		while (cur < e && *cur == ' ')
			cur++;
		while (e > cur && e[-1] == ' ')
			e--;
		req->stats_args.ptr = cur;
		req->stats_args.len = (size_t)(e - cur);
		return MC_ERR_NONE;
	}
	mc_tokenize(&tk, cur, e);
	if (tk.n < ci->min_args || tk.n > ci->max_args)
		return MC_ERR_UNKNOWN_COMMAND;
	switch (ci->kind) {
	case MC_KIND_STORAGE:
		return mc_parse_storage(req, &tk, lim, swallow);
	case MC_KIND_ARITH:
		return mc_parse_arith(req, &tk);
	case MC_KIND_TOUCH:
		return mc_parse_touch(req, &tk);
	case MC_KIND_DELETE:
		return mc_parse_delete(req, &tk);
	case MC_KIND_META:
		return mc_meta_parse(req, &tk, lim, swallow);
	default:
		return mc_parse_admin(req, &tk);
	}
}

/* Whether a line that outgrew line_max may continue as a long multiget. */
static bool mc_is_multiget(const uint8_t *buf, size_t len)
{
	static const char *const prefixes[] = { "get ", "gets ", "gat ", "gats " };
	size_t i = 0;
	while (i < len && i <= MC_MULTIGET_LEADING_SPACES && buf[i] == ' ')
		i++;
	if (i > MC_MULTIGET_LEADING_SPACES)
		return false;
	for (size_t p = 0; p < PX_ARRAY_SIZE(prefixes); p++) {
		size_t n = strlen(prefixes[p]);
		if (len - i >= n && memcmp(buf + i, prefixes[p], n) == 0)
			return true;
	}
	return false;
}

/*
 * Find the end of the first line. The decision depends only on the line's
 * length, never on how the stream was split: a line longer than its limit
 * ('\n' included) is rejected as soon as limit bytes without '\n' arrived.
 */
static int mc_frame_line(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim,
			 size_t *line_len)
{
	size_t limit = lim->line_max;
	const uint8_t *nl = scan_byte(buf, '\n', PX_MIN(len, limit));

	if (nl == NULL && len >= limit && mc_is_multiget(buf, len)) {
		size_t klimit = PX_MAX(lim->key_line_max, limit);
		nl = memchr(buf + limit, '\n', PX_MIN(len, klimit) - limit);
		limit = klimit;
	}
	if (nl != NULL) {
		*line_len = (size_t)(nl - buf) + 1;
		return MC_PARSE_OK;
	}
	return len >= limit ? MC_PARSE_ERROR : MC_PARSE_NEED_MORE;
}

static int mc_fail(struct mc_request *req, enum mc_err err, size_t swallow)
{
	req->err = err;
	req->swallow = swallow;
	return MC_PARSE_ERROR;
}

static inline __attribute__((always_inline)) void zero_pieces(void *p, size_t n)
{
	char *c = p;
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		memset(c + i, 0, 64);
	memset(c + i, 0, n - i);
}

/*
 * "get <key>\r\n" (or "\n"), most of any cache's traffic, without the
 * general tokenizer. Taken only when the answer is certain: one valid key
 * after exactly one space, the line within line_max. Anything else (more
 * keys, extra spaces, a bad key, no terminator yet) goes the general way,
 * which then gives the same result or the right error.
 */
bool mc_parse_get1(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim,
		   struct mc_str *key_out, size_t *consumed)
{
	if (lim == NULL)
		lim = &mc_limits_default;
	if (len < 6 || px_load32(buf) != px_load32("get "))
		return false;
	/* One pass: the first byte a key may not hold (<= 0x20 or 0x7f) ends
	 * the key, and must be the line's end for this path. */
	const uint8_t *k = buf + 4, *end = buf + PX_MIN(len, (size_t)4 + MC_KEY_MAX_LEN + 2);
	const uint8_t *e = mc_key_end(k, end);
	size_t line_len;
	if (e == end || e == k || e - k > MC_KEY_MAX_LEN)
		return false;
	if (*e == '\n')
		line_len = (size_t)(e - buf) + 1;
	else if (*e == '\r' && e + 1 < end && e[1] == '\n')
		line_len = (size_t)(e - buf) + 2;
	else
		return false;
	struct mc_str key = { (const char *)k, (size_t)(e - k) };
	if (line_len > lim->line_max)
		return false;
	*key_out = key;
	*consumed = line_len;
	return true;
}

int mc_parse(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim,
	     struct mc_request *req, size_t *consumed)
{
	size_t line_len = 0, swallow = 0;

	if (req == NULL || consumed == NULL || (buf == NULL && len > 0))
		return -EINVAL;
	if (lim == NULL)
		lim = &mc_limits_default;
	if (lim->line_max < MC_LINE_MAX_MIN)
		return -EINVAL;
	/* Everything but keys[] (nkeys says how many are valid), in 64-byte
	 * pieces the compiler turns into vector stores: one big memset became
	 * `rep stos`, whose start-up cost was most of parsing a get. */
	const size_t ko = offsetof(struct mc_request, keys), ke = ko + sizeof(req->keys);
	zero_pieces(req, ko);
	zero_pieces((char *)req + ke, sizeof(*req) - ke);
	*consumed = 0;
	if (len == 0)
		return MC_PARSE_NEED_MORE;

	/* Not text at all: the binary protocol is not served; hang up. */
	if (px_unlikely(buf[0] == MC_BINARY_MAGIC)) {
		*consumed = len;
		return mc_fail(req, MC_ERR_BINARY_PROTOCOL, 0);
	}
	if (mc_parse_get1(buf, len, lim, &req->keys[0], consumed)) {
		req->cmd = MC_CMD_GET;
		req->nkeys = req->nkeys_total = 1;
		req->line_end = req->keys[0].ptr + req->keys[0].len;
		return MC_PARSE_OK;
	}
	int rc = mc_frame_line(buf, len, lim, &line_len);
	if (rc == MC_PARSE_NEED_MORE)
		return rc;
	if (px_unlikely(rc == MC_PARSE_ERROR)) {
		*consumed = len;
		return mc_fail(req, MC_ERR_LINE_TOO_LONG, 0);
	}

	/* The line ends with "\n"; strip one "\r" before it if present. */
	const char *s = (const char *)buf;
	const char *e = s + line_len - 1;
	if (e > s && e[-1] == '\r')
		e--;
	*consumed = line_len;
	enum mc_err err = mc_parse_line(req, s, e, lim, &swallow);
	if (px_unlikely(err != MC_ERR_NONE))
		return mc_fail(req, err, swallow);
	if (!mc_cmd_has_data(req->cmd))
		return MC_PARSE_OK;

	/* The data block: exactly <bytes> bytes, then "\r\n". */
	size_t total = line_len + (size_t)req->bytes + 2;
	if (len < total) {
		*consumed = 0;
		req->need = total;
		return MC_PARSE_NEED_MORE;
	}
	*consumed = total;
	if (px_unlikely(buf[total - 2] != '\r' || buf[total - 1] != '\n'))
		return mc_fail(req, MC_ERR_BAD_DATA_CHUNK, 0);
	req->data = buf + line_len;
	return MC_PARSE_OK;
}
