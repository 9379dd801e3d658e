/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals shared by mc_parser.c (framing, text commands) and mc_meta.c
 * (meta commands): the tokenized line and strict number parsers. Not part
 * of the parser's API; only those two files include it.
 */
#ifndef PX_MC_PARSER_PVT_H
#define PX_MC_PARSER_PVT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mc_parser.h"

/* Arguments kept per line; more are counted but not stored. */
#define MC_TOK_MAX 24

/* The arguments of a command line (the command word excluded). */
struct mc_toks {
	struct mc_str t[MC_TOK_MAX];
	size_t n; /* total argument count, may exceed MC_TOK_MAX */
};

/* Strict decimal parsers: digits only ('-' first for signed), no '+', no
 * spaces, no overflow. Return false on anything else. */
bool mc_parse_u64(const char *p, size_t len, uint64_t *out);
bool mc_parse_u32(const char *p, size_t len, uint32_t *out);
bool mc_parse_i64(const char *p, size_t len, int64_t *out);

/* A <bytes>/<datalen> token: 0..MC_DATA_LEN_MAX, as memcached's vlen. */
bool mc_parse_datalen(const struct mc_str *t, uint32_t *out);

/* Key rules: 1..MC_KEY_MAX_LEN bytes, no control characters. */
bool mc_key_valid(const struct mc_str *k);

static inline bool mc_str_eq(const struct mc_str *s, const char *lit, size_t litlen)
{
	return s->len == litlen && __builtin_memcmp(s->ptr, lit, litlen) == 0;
}

/*
 * Parse the arguments of a meta command (req->cmd already set). Fills
 * req->keys[0], req->bytes (ms) and req->meta. Returns MC_ERR_NONE or the
 * error; *swallow gets datalen + 2 for ms once the length is known, so the
 * data block of a rejected ms is skipped.
 */
enum mc_err mc_meta_parse(struct mc_request *req, const struct mc_toks *tk,
			  const struct mc_parse_limits *lim, size_t *swallow);

#endif
