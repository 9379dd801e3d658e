/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Meta command arguments (mg ms md ma mn me): key, ms data length and the
 * single-letter flags with their tokens, validated the way memcached's
 * _meta_flag_preparse() does so error replies match it, including which
 * error wins when a line has several. Keys flagged 'b' are only validated
 * here; decoding needs a buffer and is left to the executor (mc_base64.h).
 */
#include <string.h>

#include "mc_base64.h"
#include "mc_parser.h"
#include "mc_parser_pvt.h"

/* Flags whose reply echoes a token, per command (protocol.txt). */
static const char *mc_meta_ret_flags(enum mc_cmd cmd)
{
	switch (cmd) {
	case MC_CMD_MG:
		return "cfhklOst";
	case MC_CMD_MS:
		return "ckOs";
	case MC_CMD_MD:
		return "kO";
	case MC_CMD_MA:
		return "cktO";
	default:
		return "";
	}
}

static void mc_meta_set_key(struct mc_request *req, const struct mc_str *k)
{
	req->keys[0] = *k;
	req->nkeys = 1;
	req->nkeys_total = 1;
}

/* Validate a base64 key; store its decoded length. False if undecodable. */
static bool mc_meta_key_b64(struct mc_request *req)
{
	ssize_t n = mc_base64_decoded_len(req->keys[0].ptr, req->keys[0].len);
	if (n <= 0)
		return false;
	req->meta.key_b64 = true;
	req->meta.key_len_decoded = (uint8_t)n; /* <= 250 * 3 / 4 */
	return true;
}

/*
 * One flag token. Returns MC_ERR_NONE, or an error that ends the scan
 * (unknown flag); token value errors are stored in *err and the scan goes
 * on, so the last one wins as in memcached.
 */
static enum mc_err mc_meta_flag(struct mc_request *req, const struct mc_str *t, enum mc_err *err)
{
	struct mc_meta *m = &req->meta;
	const char *v = t->ptr + 1;
	size_t vl = t->len - 1;

	switch (t->ptr[0]) {
	case 'b':
		if (!mc_meta_key_b64(req))
			*err = MC_ERR_META_KEY_DECODE;
		break;
	case 'N':
		if (!mc_parse_i64(v, vl, &m->vivify_ttl))
			*err = MC_ERR_META_BAD_TOKEN;
		break;
	case 'T':
		if (!mc_parse_i64(v, vl, &m->ttl))
			*err = MC_ERR_META_BAD_TOKEN;
		break;
	case 'R':
		if (!mc_parse_i64(v, vl, &m->recache_ttl))
			*err = MC_ERR_META_BAD_TOKEN;
		break;
	case 'C':
		if (!mc_parse_u64(v, vl, &m->compare_cas))
			*err = MC_ERR_META_BAD_TOKEN;
		break;
	case 'E':
		if (!mc_parse_u64(v, vl, &m->new_cas))
			*err = MC_ERR_META_BAD_TOKEN;
		break;
	case 'F':
		/* memcached leaves the message as it was for a bad F token. */
		if (!mc_parse_u32(v, vl, &m->client_flags) && *err == MC_ERR_NONE)
			*err = MC_ERR_BAD_FORMAT;
		break;
	case 'M':
		if (t->len != 2)
			*err = MC_ERR_META_M_LENGTH;
		else
			m->mode = v[0];
		break;
	case 'J':
		if (!mc_parse_u64(v, vl, &m->initial))
			*err = MC_ERR_META_INITIAL;
		break;
	case 'D':
		if (!mc_parse_u64(v, vl, &m->delta))
			*err = MC_ERR_META_DELTA;
		break;
	case 'O':
		m->opaque.ptr = v;
		m->opaque.len = vl;
		break;
	case 'P': /* proxy and log hints: accepted and ignored, as memcached */
	case 'L':
	case 'c': case 'f': case 'h': case 'k': case 'l': case 'q':
	case 's': case 't': case 'u': case 'v': case 'x': case 'I':
		break;
	default:
		return MC_ERR_META_INVALID_FLAG;
	}
	return MC_ERR_NONE;
}

/* All flags from token `first` on; returns the error memcached would. */
static enum mc_err mc_meta_flags(struct mc_request *req, const struct mc_toks *tk, size_t first)
{
	struct mc_meta *m = &req->meta;
	const char *ret = mc_meta_ret_flags(req->cmd);
	enum mc_err err = MC_ERR_NONE;

	for (size_t i = first; i < tk->n; i++) {
		const struct mc_str *t = &tk->t[i];
		unsigned char f = (unsigned char)t->ptr[0];
		uint64_t bit = mc_meta_bit((char)f);
		/* memcached reports bytes >= 127 as duplicates too. */
		if (f >= 127 || (m->seen & bit) != 0)
			return MC_ERR_META_DUP_FLAG;
		if (bit == 0)
			return MC_ERR_META_INVALID_FLAG;
		m->seen |= bit;
		enum mc_err stop = mc_meta_flag(req, t, &err);
		if (stop != MC_ERR_NONE)
			return stop;
		if (strchr(ret, f) != NULL && m->nret < MC_META_RET_MAX)
			m->ret[m->nret++] = (char)f;
	}
	return err;
}

static enum mc_err mc_meta_mode(const struct mc_request *req)
{
	char mode = req->meta.mode;
	if (mode == 0)
		return MC_ERR_NONE;
	if (req->cmd == MC_CMD_MS && strchr("EAPRS", mode) == NULL)
		return MC_ERR_META_MS_MODE;
	if (req->cmd == MC_CMD_MA && strchr("I+D-", mode) == NULL)
		return MC_ERR_META_MA_MODE;
	return MC_ERR_NONE;
}

/* me <key> [b]: memcached looks only at a "b" right after the key. */
static enum mc_err mc_meta_parse_me(struct mc_request *req, const struct mc_toks *tk)
{
	if (tk->n < 1)
		return MC_ERR_BAD_FORMAT;
	mc_meta_set_key(req, &tk->t[0]);
	if (!mc_key_valid(&tk->t[0]))
		return MC_ERR_BAD_FORMAT;
	if (tk->n >= 2 && mc_str_eq(&tk->t[1], "b", 1)) {
		req->meta.seen |= mc_meta_bit('b');
		if (!mc_meta_key_b64(req))
			return MC_ERR_BAD_FORMAT;
	}
	return MC_ERR_NONE;
}

enum mc_err mc_meta_parse(struct mc_request *req, const struct mc_toks *tk,
			  const struct mc_parse_limits *lim, size_t *swallow)
{
	struct mc_meta *m = &req->meta;
	size_t first = 1;
	uint32_t datalen = 0;
	bool datalen_ok = false;

	m->delta = 1;
	if (req->cmd == MC_CMD_MN)
		return MC_ERR_NONE;
	if (req->cmd == MC_CMD_ME)
		return mc_meta_parse_me(req, tk);

	/* ms <key> <datalen> <flags>*: once datalen is known, any rejection
	 * also skips the data block, as memcached's ms does. */
	if (req->cmd == MC_CMD_MS) {
		first = 2;
		datalen_ok = tk->n >= 2 && mc_parse_datalen(&tk->t[1], &datalen);
		if (datalen_ok)
			*swallow = (size_t)datalen + 2;
	}
	mc_meta_set_key(req, &tk->t[0]);
	if (!mc_key_valid(&tk->t[0]))
		return MC_ERR_BAD_FORMAT;
	if (req->cmd == MC_CMD_MS && tk->n < 2)
		return MC_ERR_BAD_FORMAT;
	if (tk->n + 1 > MC_META_TOKENS_MAX)
		return MC_ERR_META_TOO_MANY_FLAGS;
	if (req->cmd == MC_CMD_MS && !datalen_ok)
		return MC_ERR_BAD_FORMAT;
	req->bytes = datalen;

	enum mc_err err = mc_meta_flags(req, tk, first);
	if (err != MC_ERR_NONE)
		return req->cmd == MC_CMD_MD || req->cmd == MC_CMD_MA ?
		       MC_ERR_META_INVALID_OR_DUP : err;
	err = mc_meta_mode(req);
	if (err != MC_ERR_NONE)
		return err;
	if (mc_meta_has(m, 'O') && m->opaque.len + 1 > MC_OPAQUE_MAX)
		return MC_ERR_META_OPAQUE_LONG;
	if (req->cmd == MC_CMD_MS && datalen > lim->item_size_max)
		return MC_ERR_TOO_LARGE;
	return MC_ERR_NONE;
}
