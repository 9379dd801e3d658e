/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Executor for the meta commands mg ms md ma mn me, following memcached's
 * proto_text.c: status codes (HD VA EN NS EX NF MN ME), return flags echoed
 * in request order, quiet mode hiding only the nominal reply, base64 keys,
 * recache tokens (W won, Z already sent, X stale), invalidation, vivify on
 * miss and explicit CAS. The parser has validated every flag already.
 */
#include <stdio.h>
#include <string.h>

#include "mc_base64.h"
#include "mc_exec.h"

struct meta_ctx {
	struct mc_exec *x;
	struct mc_request *req;
	struct mc_out *out;
	const struct mc_meta *m;
	struct tbl_key k;
	struct px_table *t;
	unsigned part;
	bool owned;
};

/*
 * memcached applies T, N and R while it prints the return flags, in token
 * order: a t before a T shows the old TTL, an R sees a TTL that an earlier T
 * set, and the last of T and N wins. This walk reproduces that.
 */
struct ttl_walk {
	uint32_t exp;    /* TTL after every token */
	uint32_t shown;  /* TTL when the t token came */
	bool won;        /* N created the item, or R found it about to expire */
};

static void ttl_walk(const struct meta_ctx *c, bool created, bool win_sent, uint32_t exp,
		     struct ttl_walk *w)
{
	const char *p = c->req->keys[0].ptr + c->req->keys[0].len;
	const struct mc_meta *m = c->m;

	w->exp = w->shown = created ? 0 : exp;
	w->won = false;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\r' || *p == '\n')
			break;
		switch (*p) {
		case 'T':
			w->exp = mc_exptime(c->t, m->ttl);
			break;
		case 'N':
			if (created) {
				w->exp = mc_exptime(c->t, m->vivify_ttl);
				w->won = true;
			}
			break;
		case 'R':
			if (!win_sent && !created && w->exp != 0 &&
			    w->exp < mc_exptime(c->t, m->recache_ttl))
				w->won = true;
			break;
		case 't':
			w->shown = w->exp;
			break;
		}
		while (*p != ' ' && *p != '\r' && *p != '\n')
			p++;
	}
}

static bool meta_key(struct meta_ctx *c)
{
	const struct mc_str *raw = &c->req->keys[0];

	c->k.key = raw->ptr;
	c->k.klen = (uint32_t)raw->len;
	if (c->m->key_b64) {
		ssize_t n = mc_base64_decode(raw->ptr, raw->len, c->x->key, sizeof(c->x->key));
		if (n <= 0) {
			MC_OUT_LIT(c->out, "CLIENT_ERROR error decoding key\r\n");
			return false;
		}
		c->k.key = c->x->key;
		c->k.klen = (uint32_t)n;
	}
	c->owned = mc_exec_owns_key(c->x, &c->k, &c->part);
	c->t = c->x->parts[c->part];
	return true;
}

bool mc_exec_meta_route(struct mc_exec *x, struct mc_request *req)
{
	struct mc_out none = { 0 };
	struct meta_ctx c = { .x = x, .req = req, .out = &none, .m = &req->meta };
	const struct mc_meta *m = &req->meta;

	if (req->cmd == MC_CMD_MN || req->cmd == MC_CMD_ME)
		return false;
	if (req->cmd == MC_CMD_MG && !mc_meta_has(m, 'N') && !mc_meta_has(m, 'T') &&
	    !mc_meta_has(m, 'R'))
		return false; /* a read: any thread may serve it */
	if (!meta_key(&c) || c.owned) /* a bad key is answered where it is */
		return false;
	x->fwd_part = c.part;
	return true;
}

/* " k<key>" (base64 and " b" for a binary key) */
static void out_key(struct meta_ctx *c)
{
	MC_OUT_LIT(c->out, " k");
	if (c->m->key_b64) {
		char enc[TBL_KEY_MAX * 2];
		ssize_t n = mc_base64_encode(c->k.key, c->k.klen, enc, sizeof(enc));
		mc_out_str(c->out, enc, n > 0 ? (size_t)n : 0);
		MC_OUT_LIT(c->out, " b");
	} else {
		mc_out_str(c->out, c->k.key, c->k.klen);
	}
}

static void out_opaque(struct meta_ctx *c)
{
	MC_OUT_LIT(c->out, " O");
	mc_out_str(c->out, c->m->opaque.ptr, c->m->opaque.len);
}

/* Echo the flags in `which` that the request asked for, in request order. */
static void out_flags(struct meta_ctx *c, const char *which, const struct tbl_item *it,
		      const struct tbl_item *before, uint64_t cas)
{
	for (unsigned i = 0; i < c->m->nret; i++) {
		char f = c->m->ret[i];
		if (strchr(which, f) == NULL)
			continue;
		switch (f) {
		case 'O':
			out_opaque(c);
			break;
		case 'k':
			out_key(c);
			break;
		case 'c':
			mc_out_flag_u64(c->out, 'c', cas);
			break;
		case 's':
			mc_out_flag_u64(c->out, 's', it->vlen);
			break;
		case 'f':
			mc_out_flag_u64(c->out, 'f', it->flags);
			break;
		case 't':
			if (it->exptime == 0)
				MC_OUT_LIT(c->out, " t-1");
			else
				mc_out_flag_u64(c->out, 't', it->exptime - c->x->now);
			break;
		case 'h':
			MC_OUT_LIT(c->out, " h");
			mc_out_u64(c->out, before->fetched ? 1 : 0);
			break;
		case 'l':
			mc_out_flag_u64(c->out, 'l', c->x->now - before->atime);
			break;
		}
	}
}

static enum mc_exec_result meta_get(struct meta_ctx *c)
{
	const struct mc_meta *m = c->m;
	struct mc_exec *x = c->x;
	bool bump = !mc_meta_has(m, 'u');
	struct tbl_item it, before;
	bool created = false, won, ttl_set = mc_meta_has(m, 'T');

	int rc;
	if (!c->owned) {
		/* Only plain reads get here (mc_exec_meta_route). A stale item
		 * whose win token is still to hand out needs its owner. */
		rc = mc_exec_read(x, &c->k, 0, &it);
		if (rc == TBL_OK && it.stale && !it.win_sent) {
			x->fwd_part = c->part;
			return MC_EXEC_FORWARD;
		}
	} else {
		rc = tbl_get(c->t, &c->k, (bump ? TBL_GET_BUMP : 0) | TBL_GET_CAS, &it);
	}
	if (rc != TBL_OK && mc_meta_has(m, 'N')) {
		struct tbl_store_req r = { .k = c->k, .mode = TBL_ADD,
					   .exptime = mc_exptime(c->t, m->vivify_ttl) };
		if (tbl_store(c->t, &r, NULL) == TBL_OK) {
			created = true;
			rc = tbl_get(c->t, &c->k, (bump ? TBL_GET_BUMP : 0) | TBL_GET_CAS, &it);
		}
	}
	if (rc != TBL_OK) {
		x->st.cmd_get += !ttl_set;
		x->st.get_misses += !ttl_set;
		x->st.cmd_touch += ttl_set;
		x->st.touch_misses += ttl_set;
		if (mc_meta_has(m, 'q'))
			return MC_EXEC_OK;
		MC_OUT_LIT(c->out, "EN");
		out_flags(c, "Ok", NULL, NULL, 0);
		MC_OUT_LIT(c->out, "\r\n");
		return MC_EXEC_OK;
	}
	before = it;
	if (created) {
		before.fetched = false;
		before.atime = x->now;
	}
	struct ttl_walk w;
	ttl_walk(c, created, it.win_sent, it.exptime, &w);
	won = w.won;
	bool changed = created;
	if (w.exp != it.exptime) {
		tbl_touch(c->t, &c->k, w.exp);
		tbl_get(c->t, &c->k, TBL_GET_CAS, &it);
		changed = true;
	}
	if (changed)
		mc_exec_wal_key(x, c->t, &c->k, PX_WAL_CMD_MG);
	if (ttl_set) {
		x->st.cmd_touch++;
		x->st.touch_hits++;
	} else {
		x->st.cmd_get++;
		x->st.get_hits++;
	}
	if (it.stale && !it.win_sent)
		won = true;

	if (mc_meta_has(m, 'v')) {
		MC_OUT_LIT(c->out, "VA ");
		mc_out_u64(c->out, it.vlen);
	} else {
		MC_OUT_LIT(c->out, "HD");
	}
	struct tbl_item shown = it;
	shown.exptime = w.shown;
	out_flags(c, "stcflhOk", &shown, &before, it.cas);
	if (it.win_sent)
		MC_OUT_LIT(c->out, " Z");
	if (it.stale)
		MC_OUT_LIT(c->out, " X");
	if (won)
		MC_OUT_LIT(c->out, " W");
	MC_OUT_LIT(c->out, "\r\n");
	if (mc_meta_has(m, 'v')) {
		mc_out_str(c->out, (const char *)it.value, it.vlen);
		MC_OUT_LIT(c->out, "\r\n");
	}
	if (won)
		tbl_mark_win_sent(c->t, &c->k);
	return MC_EXEC_OK;
}

static const char *status_of(int rc)
{
	switch (rc) {
	case TBL_OK:
		return "HD";
	case TBL_NOT_STORED:
		return "NS";
	case TBL_EXISTS:
		return "EX";
	default:
		return "NF";
	}
}

static void meta_set(struct meta_ctx *c)
{
	const struct mc_meta *m = c->m;
	struct mc_exec *x = c->x;
	struct tbl_store_req r = {
		.k = c->k, .value = c->req->data, .vlen = c->req->bytes, .flags = m->client_flags,
		.exptime = mc_meta_has(m, 'T') ? mc_exptime(c->t, m->ttl) : 0,
		.cas_in = mc_meta_has(m, 'C') ? m->compare_cas : 0,
		.cas_new = mc_meta_has(m, 'E') ? m->new_cas : 0,
		.mode = TBL_SET,
	};
	uint64_t cas = 0;

	switch (m->mode) {
	case 'E': r.mode = TBL_ADD; break;
	case 'A': r.mode = TBL_APPEND; break;
	case 'P': r.mode = TBL_PREPEND; break;
	case 'R': r.mode = TBL_REPLACE; break;
	default: r.mode = TBL_SET; break;
	}
	/* add ignores a CAS; it upgrades set and replace to cas (memcached). */
	if (r.mode == TBL_ADD)
		r.cas_in = 0;
	/* A CAS upgrades set and replace to cas, as in memcached. */
	if (mc_meta_has(m, 'C') && (r.mode == TBL_SET || r.mode == TBL_REPLACE))
		r.mode = TBL_CAS;
	x->st.cmd_set++;
	int rc = tbl_store(c->t, &r, &cas);
	if (rc == TBL_EXISTS && r.mode == TBL_CAS && mc_meta_has(m, 'I')) {
		/* Invalidate: a CAS older than the item's stores the value as stale. */
		struct tbl_item cur;
		if (tbl_get(c->t, &c->k, TBL_GET_CAS, &cur) == TBL_OK && m->compare_cas < cur.cas) {
			r.mode = TBL_SET;
			r.cas_in = 0;
			r.stale = true;
			rc = tbl_store(c->t, &r, &cas);
		}
	}
	if (rc == TBL_NOT_STORED && mc_meta_has(m, 'N') &&
	    (r.mode == TBL_APPEND || r.mode == TBL_PREPEND)) {
		r.mode = TBL_ADD;
		r.exptime = mc_exptime(c->t, m->vivify_ttl);
		rc = tbl_store(c->t, &r, &cas);
	}
	if (rc == TBL_OK)
		mc_exec_wal_key(x, c->t, &c->k, PX_WAL_CMD_MS);
	if (r.mode == TBL_CAS)
		x->st.cas_hits += rc == TBL_OK, x->st.cas_badval += rc == TBL_EXISTS,
		x->st.cas_misses += rc == TBL_NOT_FOUND;
	if (rc == TBL_TOO_LARGE) {
		x->st.store_too_large++;
		MC_OUT_LIT(c->out, "SERVER_ERROR object too large for cache\r\n");
		return;
	}
	if (rc == TBL_NO_MEMORY) {
		x->st.store_no_memory++;
		MC_OUT_LIT(c->out, "SERVER_ERROR out of memory storing object\r\n");
		return;
	}
	if (rc == TBL_OK && mc_meta_has(m, 'q'))
		return;
	mc_out_str(c->out, status_of(rc), 2);
	out_flags(c, "Okc", NULL, NULL, cas);
	MC_OUT_LIT(c->out, "\r\n");
}

static void meta_delete(struct meta_ctx *c)
{
	const struct mc_meta *m = c->m;
	uint64_t cas_in = mc_meta_has(m, 'C') ? m->compare_cas : 0;
	int rc;

	if (mc_meta_has(m, 'C') && cas_in == 0) {
		/* C0 compares too, and no item has CAS 0 */
		struct tbl_item it;
		rc = tbl_get(c->t, &c->k, 0, &it) == TBL_OK ? TBL_EXISTS : TBL_NOT_FOUND;
	} else if (mc_meta_has(m, 'I')) {
		rc = tbl_invalidate(c->t, &c->k, cas_in,
				    mc_meta_has(m, 'T') ? mc_exptime(c->t, m->ttl) : 0);
	} else if (mc_meta_has(m, 'x')) {
		/* x: drop the value, keep the item (flags and TTL stay). */
		struct tbl_item it;
		rc = tbl_get(c->t, &c->k, TBL_GET_CAS, &it);
		if (rc == TBL_OK && cas_in != 0 && cas_in != it.cas)
			rc = TBL_EXISTS;
		if (rc == TBL_OK) {
			struct tbl_store_req r = { .k = c->k, .flags = it.flags,
						   .exptime = it.exptime, .mode = TBL_SET };
			rc = tbl_store(c->t, &r, NULL);
		}
	} else {
		rc = tbl_delete(c->t, &c->k, cas_in);
	}
	if (rc == TBL_OK)
		mc_exec_wal_key(c->x, c->t, &c->k, PX_WAL_CMD_MD);
	if (rc == TBL_OK)
		c->x->st.delete_hits++;
	else
		c->x->st.delete_misses++;
	if (rc == TBL_OK && mc_meta_has(m, 'q'))
		return;
	mc_out_str(c->out, status_of(rc), 2);
	out_flags(c, "Ok", NULL, NULL, 0);
	MC_OUT_LIT(c->out, "\r\n");
}

static void meta_arith(struct meta_ctx *c)
{
	const struct mc_meta *m = c->m;
	struct mc_exec *x = c->x;
	bool incr = m->mode != 'D' && m->mode != '-';
	struct tbl_arith_req r = {
		.k = c->k, .incr = incr, .delta = m->delta,
		.cas_in = mc_meta_has(m, 'C') ? m->compare_cas : 0,
		.cas_new = mc_meta_has(m, 'E') ? m->new_cas : 0,
		.vivify = mc_meta_has(m, 'N'), .initial = m->initial,
		.exptime = mc_meta_has(m, 'N') ? mc_exptime(c->t, m->vivify_ttl) : 0,
	};
	uint64_t v = 0, cas = 0;
	struct tbl_item prev;
	bool created = r.vivify && tbl_get(c->t, &c->k, 0, &prev) != TBL_OK;

	int rc = tbl_arith(c->t, &r, &v, &cas);
	if (rc == TBL_NON_NUMERIC) {
		MC_OUT_LIT(c->out, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
		return;
	}
	if (rc == TBL_NO_MEMORY) {
		MC_OUT_LIT(c->out, "SERVER_ERROR out of memory\r\n");
		return;
	}
	mc_exec_count_arith(x, incr, rc);
	if (rc != TBL_OK) {
		mc_out_str(c->out, status_of(rc), 2);
		out_flags(c, "Ok", NULL, NULL, 0);
		MC_OUT_LIT(c->out, "\r\n");
		return;
	}
	struct tbl_item it;
	struct ttl_walk w;
	tbl_get(c->t, &c->k, TBL_GET_CAS, &it);
	ttl_walk(c, created, true, it.exptime, &w);
	if (w.exp != it.exptime) {
		tbl_touch(c->t, &c->k, w.exp);
		tbl_get(c->t, &c->k, TBL_GET_CAS, &it);
	}
	mc_exec_wal_key(x, c->t, &c->k, PX_WAL_CMD_MA);
	it.exptime = w.shown;
	/* memcached's q hides HD only when the item existed, not when vivified */
	if (mc_meta_has(m, 'q') && !created)
		return;
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	if (mc_meta_has(m, 'v')) {
		MC_OUT_LIT(c->out, "VA ");
		mc_out_u64(c->out, (uint64_t)n);
	} else {
		MC_OUT_LIT(c->out, "HD");
	}
	out_flags(c, "ctOk", &it, &it, it.cas);
	MC_OUT_LIT(c->out, "\r\n");
	if (mc_meta_has(m, 'v')) {
		mc_out_str(c->out, digits, (size_t)n);
		MC_OUT_LIT(c->out, "\r\n");
	}
}

/* me: memcached's debug line; la and exp as memcached computes them. */
static void meta_debug(struct meta_ctx *c)
{
	struct tbl_item it;

	if (mc_exec_read(c->x, &c->k, TBL_GET_CAS, &it) != TBL_OK) {
		MC_OUT_LIT(c->out, "EN\r\n");
		return;
	}
	MC_OUT_LIT(c->out, "ME ");
	if (c->m->key_b64) {
		char enc[TBL_KEY_MAX * 2];
		ssize_t n = mc_base64_encode(it.key, it.klen, enc, sizeof(enc));
		mc_out_str(c->out, enc, n > 0 ? (size_t)n : 0);
	} else {
		mc_out_str(c->out, (const char *)it.key, it.klen);
	}
	MC_OUT_LIT(c->out, " exp=");
	mc_out_i64(c->out, it.exptime == 0 ? -1 : (int64_t)c->x->now - (int64_t)it.exptime);
	MC_OUT_LIT(c->out, " la=");
	mc_out_u64(c->out, c->x->now - it.atime);
	MC_OUT_LIT(c->out, " cas=");
	mc_out_u64(c->out, it.cas);
	if (it.fetched)
		MC_OUT_LIT(c->out, " fetch=yes");
	else
		MC_OUT_LIT(c->out, " fetch=no");
	MC_OUT_LIT(c->out, " cls=1 size=");
	mc_out_u64(c->out, (uint64_t)it.klen + it.vlen);
	MC_OUT_LIT(c->out, "\r\n");
}

enum mc_exec_result mc_exec_meta(struct mc_exec *x, struct mc_request *req, struct mc_out *out)
{
	struct meta_ctx c = { .x = x, .req = req, .out = out, .m = &req->meta };

	if (req->cmd == MC_CMD_MN) {
		MC_OUT_LIT(out, "MN\r\n");
		return MC_EXEC_OK;
	}
	if (!meta_key(&c))
		return MC_EXEC_OK;
	bool mutates = req->cmd == MC_CMD_MS || req->cmd == MC_CMD_MD || req->cmd == MC_CMD_MA ||
		       (req->cmd == MC_CMD_MG && (mc_meta_has(&req->meta, 'N') ||
						  mc_meta_has(&req->meta, 'T')));
	if (mutates && c.owned &&
	    !mc_exec_wal_admit(x, c.t, &c.k, req->cmd == MC_CMD_MS ? req->bytes : 0, false, out))
		return MC_EXEC_OK;
	switch (req->cmd) {
	case MC_CMD_MG:
		return meta_get(&c);
	case MC_CMD_MS:
		meta_set(&c);
		break;
	case MC_CMD_MD:
		meta_delete(&c);
		break;
	case MC_CMD_MA:
		meta_arith(&c);
		break;
	case MC_CMD_ME:
		meta_debug(&c);
		break;
	default:
		MC_OUT_LIT(out, "ERROR\r\n");
		break;
	}
	return MC_EXEC_OK;
}
