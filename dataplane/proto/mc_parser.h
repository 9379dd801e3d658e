/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pure, incremental parser for the memcached text and meta protocols: bytes
 * in, one struct mc_request out. It does no I/O, touches no table, allocates
 * nothing and keeps no state between calls; keys, tokens and data blocks are
 * returned as pointers into the caller's buffer, which must stay unchanged
 * while the request is in use. Errors come back as memcached's exact reply
 * line plus what the caller must do next (skip bytes, close). Executing the
 * request is the executor's job, not this file's.
 */
#ifndef PX_MC_PARSER_H
#define PX_MC_PARSER_H

#include <emmintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_compiler.h"

#include "mc_commands.h"

#define MC_KEY_MAX_LEN 250      /* memcached KEY_MAX_LENGTH */
#define MC_KEYS_MAX 24          /* keys returned per batch (get family) */
#define MC_META_RET_MAX 20      /* return flags kept per meta request */
#define MC_META_TOKENS_MAX 19   /* command + key [+ datalen] + flags */
#define MC_OPAQUE_MAX 32        /* O token length, the 'O' included */
#define MC_DATA_LEN_MAX 2147483645u /* INT_MAX - 2, as memcached */

#define MC_LINE_MAX_DEFAULT 2048u
#define MC_KEY_LINE_MAX_DEFAULT 65536u
#define MC_ITEM_SIZE_MAX_DEFAULT (1024u * 1024u)
#define MC_LINE_MAX_MIN 128u

/* Configuration the parser enforces; see mc_parse_limits_init(). */
struct mc_parse_limits {
	/* Longest command line accepted, '\n' included (memcached: 2048). */
	size_t line_max;
	/* Longest get/gets/gat/gats line; memcached lets these grow without
	 * bound, Pollux caps them. Treated as at least line_max. */
	size_t key_line_max;
	/* Largest data block a storage command may carry. */
	size_t item_size_max;
};

/*
 * X(id, reply, close): every error the parser reports, with the reply line
 * sent to the client (CRLF added by mc_err_reply) and whether the
 * connection must be closed after sending it.
 */
#define MC_ERRORS(X) \
	X(NONE,                "", false) \
	X(UNKNOWN_COMMAND,     "ERROR", false) \
	X(BAD_FORMAT,          "CLIENT_ERROR bad command line format", false) \
	X(BAD_DELETE,          "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]", false) \
	X(BAD_EXPTIME,         "CLIENT_ERROR invalid exptime argument", false) \
	X(BAD_DELTA,           "CLIENT_ERROR invalid numeric delta argument", false) \
	X(BAD_DATA_CHUNK,      "CLIENT_ERROR bad data chunk", false) \
	X(TOO_LARGE,           "SERVER_ERROR object too large for cache", false) \
	X(LINE_TOO_LONG,       "CLIENT_ERROR line too long", true) \
	X(BINARY_PROTOCOL,     "CLIENT_ERROR binary protocol not supported", true) \
	X(HTTP,                "ERROR", true) \
	X(META_DUP_FLAG,       "CLIENT_ERROR duplicate flag", false) \
	X(META_INVALID_FLAG,   "CLIENT_ERROR invalid flag", false) \
	X(META_INVALID_OR_DUP, "CLIENT_ERROR invalid or duplicate flag", false) \
	X(META_BAD_TOKEN,      "CLIENT_ERROR bad token in command line format", false) \
	X(META_M_LENGTH,       "CLIENT_ERROR incorrect length for M token", false) \
	X(META_MS_MODE,        "CLIENT_ERROR invalid mode for ms M token", false) \
	X(META_MA_MODE,        "CLIENT_ERROR invalid mode for ma M token", false) \
	X(META_INITIAL,        "CLIENT_ERROR invalid numeric initial value", false) \
	X(META_DELTA,          "CLIENT_ERROR invalid numeric delta value", false) \
	X(META_KEY_DECODE,     "CLIENT_ERROR error decoding key", false) \
	X(META_OPAQUE_LONG,    "CLIENT_ERROR opaque token too long", false) \
	X(META_TOO_MANY_FLAGS, "CLIENT_ERROR options flags are too long", false)

enum mc_err {
#define MC_X_ERR(id, reply, close) MC_ERR_##id,
	MC_ERRORS(MC_X_ERR)
#undef MC_X_ERR
	MC_ERR_COUNT,
};

enum mc_parse_status {
	MC_PARSE_OK = 0,        /* *consumed bytes form one request */
	MC_PARSE_NEED_MORE = 1, /* nothing consumed; call again with more bytes */
	MC_PARSE_ERROR = 2,     /* send mc_err_reply(req->err); see struct */
};

/* A byte range inside the caller's buffer; not NUL-terminated. */
struct mc_str {
	const char *ptr;
	size_t len;
};

/*
 * Meta command flags (mg ms md ma mn me). Every flag letter seen is a bit
 * in `seen` (test with mc_meta_has); tokens are parsed and validated here so
 * the executor never re-parses. `ret` lists the flags that echo something
 * in the reply, in request order, because replies echo them in that order.
 */
struct mc_meta {
	uint64_t seen;
	char ret[MC_META_RET_MAX];
	uint8_t nret;
	char mode;              /* M: ms E A P R S, ma I + D -, 0 if absent */
	bool key_b64;           /* b: keys[0] is base64; decode it with mc_base64 */
	uint8_t key_len_decoded; /* length of the decoded key when key_b64 */
	struct mc_str opaque;   /* O: token without the 'O' */
	int64_t ttl;            /* T */
	int64_t vivify_ttl;     /* N */
	int64_t recache_ttl;    /* R */
	uint64_t compare_cas;   /* C */
	uint64_t new_cas;       /* E */
	uint32_t client_flags;  /* F */
	uint64_t delta;         /* D, 1 when absent */
	uint64_t initial;       /* J, 0 when absent */
};

/*
 * One parsed request. Fields not used by a command are zero. All pointers
 * point into the buffer given to mc_parse.
 */
struct mc_request {
	enum mc_cmd cmd;
	enum mc_err err;        /* MC_ERR_NONE unless MC_PARSE_ERROR */
	/* Text "noreply". For an error too: memcached then sends nothing, so
	 * skip the reply when set and the error does not close. Meta commands
	 * never set it (their errors are always sent; see meta 'q'). */
	bool noreply;
	/* After an error: bytes of the stream beyond *consumed that belong to
	 * the rejected request's data block and must be discarded too. */
	size_t swallow;
	/* After NEED_MORE: total buffer length needed to make progress, when
	 * known (a data block is pending), else 0. */
	size_t need;

	/* Keys: one for keyed commands, up to MC_KEYS_MAX per batch for the
	 * get family; mc_request_next_keys() refills keys[] with the rest. */
	uint32_t nkeys;
	uint32_t nkeys_total;
	struct mc_str keys[MC_KEYS_MAX];

	uint32_t flags;         /* storage: client flags */
	int64_t exptime;        /* storage, touch, gat, gats */
	uint32_t bytes;         /* storage, ms: data block length */
	const uint8_t *data;    /* storage, ms: data block, "\r\n" excluded */
	uint64_t cas;           /* cas: <cas unique> */
	uint64_t delta;         /* incr, decr */
	int64_t flush_delay;    /* flush_all, 0 when absent */
	uint32_t verbosity;     /* verbosity */
	uint64_t memlimit_mb;   /* cache_memlimit */
	struct mc_str stats_args; /* stats: everything after "stats", trimmed */
	struct mc_meta meta;

	/* Private continuation state for mc_request_next_keys(). */
	const char *key_cursor;
	const char *line_end;
};

/* Fill *lim with the defaults (2048, 64 KiB, 1 MiB). */
void mc_parse_limits_init(struct mc_parse_limits *lim);

/*
 * Parse one request from the start of buf[0, len). lim may be NULL for the
 * defaults. Returns an enum mc_parse_status, or -EINVAL for bad arguments
 * (NULL req/consumed, NULL buf with len > 0, line_max < MC_LINE_MAX_MIN).
 *  - MC_PARSE_OK: *consumed is the command line plus its data block.
 *  - MC_PARSE_NEED_MORE: *consumed is 0; buffer more bytes and call again.
 *  - MC_PARSE_ERROR: send mc_err_reply(req->err) unless req->noreply; if
 *    mc_err_closes(req->err), close after sending; otherwise drop *consumed
 *    bytes and then req->swallow more bytes as they arrive.
 * Work is bounded by the limits: at most key_line_max bytes are scanned
 * for a line, plus a two-byte check of the data block terminator.
 */
int mc_parse(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim,
	     struct mc_request *req, size_t *consumed);

/*
 * Refill req->keys with the next batch of keys of a get-family request
 * (keys were all validated by mc_parse). Returns the number of keys now in
 * req->keys, 0 once every key has been returned. O(batch) work.
 */
uint32_t mc_request_next_keys(struct mc_request *req);

/*
 * The common case alone: buf starts with exactly "get <key>\r\n" (or "\n")
 * with one valid key. Then *key points at it, *consumed is the line's
 * length and the result is true; mc_parse() would give the same request.
 * False says nothing: use mc_parse(). lim may be NULL for the defaults.
 */
bool mc_parse_get1(const uint8_t *buf, size_t len, const struct mc_parse_limits *lim,
		   struct mc_str *key, size_t *consumed);

/* Bytes of v that no key may hold (<= 0x20 or 0x7f), as a 16-bit mask. */
static inline unsigned mc_bad_key_bytes(__m128i v)
{
	const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f);
	return (unsigned)_mm_movemask_epi8(
		_mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, sp), v), _mm_cmpeq_epi8(v, del)));
}

/*
 * Where a key that starts at start ends: the first byte in [start, end)
 * no key may hold (<= 0x20 or 0x7f), or end. 16 bytes at a time; the last
 * piece is the 16 bytes that end at end when the scan already covered that
 * many, else a masked load that stays in its page (px_load16_tail).
 */
static inline const uint8_t *mc_key_end(const uint8_t *start, const uint8_t *end)
{
	const uint8_t *p = start;
	unsigned m;

	for (; end - p >= 16; p += 16) {
		m = mc_bad_key_bytes(_mm_loadu_si128((const __m128i *)p));
		if (m != 0)
			return p + __builtin_ctz(m);
	}
	if (p == end || *p <= ' ' || *p == 0x7f)
		return p; /* often: a key of 16 or 32 bytes, then "\r\n" */
	size_t r = (size_t)(end - p);
	if (p - start >= 16)
		m = mc_bad_key_bytes(_mm_loadu_si128((const __m128i *)(end - 16))) >> (16 - r);
	else
		m = mc_bad_key_bytes(px_load16_tail(p, r)) & ((1u << r) - 1);
	return m != 0 ? p + __builtin_ctz(m) : end;
}

/* The reply line for an error, "\r\n" included; *len gets its length. */
const char *mc_err_reply(enum mc_err err, size_t *len);

/* Whether the connection must be closed after replying to this error. */
bool mc_err_closes(enum mc_err err);

/* Bit for a meta flag letter in mc_meta.seen; 0 for a non-letter. */
static inline uint64_t mc_meta_bit(char f)
{
	if (f >= 'a' && f <= 'z')
		return 1ull << (f - 'a');
	if (f >= 'A' && f <= 'Z')
		return 1ull << (26 + (f - 'A'));
	return 0;
}

static inline bool mc_meta_has(const struct mc_meta *m, char f)
{
	return (m->seen & mc_meta_bit(f)) != 0;
}

#endif
