/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Executor for memcached's text commands: retrieval (get gets gat gats),
 * storage (set add replace append prepend cas), incr/decr, touch, delete,
 * flush_all, version, verbosity and quit. Meta commands are in
 * mc_exec_meta.c and stats in mc_stats.c. Replies are memcached's strings,
 * byte for byte; noreply suppresses them where memcached does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mc_exec.h"

int mc_exec_init(struct mc_exec *x, const struct mc_exec_cfg *cfg, struct px_table *const *parts,
		 unsigned nparts, struct mc_server_info *info)
{
	if (x == NULL || cfg == NULL || parts == NULL || nparts == 0)
		return -EINVAL;
	memset(x, 0, sizeof(*x));
	x->cfg = *cfg;
	if (x->cfg.limits.line_max == 0)
		mc_parse_limits_init(&x->cfg.limits);
	x->parts = parts;
	x->nparts = nparts;
	x->info = info;
	return 0;
}

void mc_exec_tick(struct mc_exec *x, uint32_t now)
{
	x->now = now;
	for (unsigned i = 0; i < x->nparts; i++)
		tbl_set_time(x->parts[i], now);
}

/* k's hash, from the caller's hint when it is this very key (no rehash). */
static uint64_t key_hash(const struct mc_exec *x, const struct tbl_key *k)
{
	if (k->key == x->hint_key && k->klen == x->hint_klen)
		return x->hint_hash;
	return tbl_hash(k->key, k->klen, x->cfg.hash_seed);
}

struct px_table *mc_exec_table(struct mc_exec *x, struct tbl_key *k)
{
	k->hash = key_hash(x, k);
	return x->parts[mc_exec_part_of(k->hash, x->nparts)];
}

static bool owns(const struct mc_exec *x, unsigned part)
{
	return x->owned == 0 || ((x->owned >> part) & 1);
}

bool mc_exec_owns_key(struct mc_exec *x, struct tbl_key *k, unsigned *part)
{
	k->hash = key_hash(x, k);
	*part = mc_exec_part_of(k->hash, x->nparts);
	return owns(x, *part);
}

int mc_exec_read(struct mc_exec *x, struct tbl_key *k, unsigned flags, struct tbl_item *it)
{
	unsigned part = mc_exec_part_of(k->hash, x->nparts);

	if (owns(x, part))
		return tbl_get(x->parts[part], k, flags, it);
	x->remote_reads++;
	int rc = tbl_read_copy(x->parts[part], k, x->rbuf, x->rbuf_len, it);
	return rc == TBL_OK ? TBL_OK : TBL_NOT_FOUND;
}

void mc_exec_count_arith(struct mc_exec *x, bool incr, int rc)
{
	if (rc == TBL_NOT_FOUND) {
		if (incr)
			x->st.incr_misses++;
		else
			x->st.decr_misses++;
	} else if (rc == TBL_OK) {
		if (incr)
			x->st.incr_hits++;
		else
			x->st.decr_hits++;
	}
}

void mc_exec_error(struct mc_out *out, const char *line)
{
	mc_out_str(out, line, strlen(line));
	MC_OUT_LIT(out, "\r\n");
}

static struct tbl_key key_of(const struct mc_str *s)
{
	struct tbl_key k = { .key = s->ptr, .klen = (uint32_t)s->len };
	return k;
}

/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n": at most this long */
#define VALUE_LINE_MAX (6 + TBL_KEY_MAX + 3 * 21 + 2)

static void out_value(struct mc_out *out, const struct tbl_item *it, bool cas)
{
	/* The line is written in one go, without a bounds check per piece:
	 * straight into the segment when it fits there, else into a buffer
	 * that the output chain then splits across segments. */
	uint8_t line[VALUE_LINE_MAX];
	bool direct = out->cap - out->len >= VALUE_LINE_MAX;
	uint8_t *p0 = direct ? out->buf + out->len : line, *p = p0;

	memcpy(p, "VALUE ", 6);
	p += 6;
	mc_copy(p, it->key, it->klen);
	p += it->klen;
	*p++ = ' ';
	p = mc_fmt_u64(p, it->flags);
	*p++ = ' ';
	p = mc_fmt_u64(p, it->vlen);
	if (cas) {
		*p++ = ' ';
		p = mc_fmt_u64(p, it->cas);
	}
	*p++ = '\r';
	*p++ = '\n';
	if (direct) {
		out->len += (size_t)(p - p0);
		out->total += (size_t)(p - p0);
	} else {
		mc_out_put(out, line, (size_t)(p - p0));
	}
	mc_out_str(out, (const char *)it->value, it->vlen);
	MC_OUT_LIT(out, "\r\n");
}

/* One key of get or gets: read it (from any partition) and count it. */
static void exec_get_key(struct mc_exec *x, struct tbl_key *k, bool cas, struct mc_out *out)
{
	struct tbl_item it;

	k->hash = key_hash(x, k);
	bool hit = mc_exec_read(x, k, TBL_GET_BUMP | (cas ? TBL_GET_CAS : 0), &it) == TBL_OK;
	x->st.cmd_get++;
	if (hit) {
		x->st.get_hits++;
		out_value(out, &it, cas);
	} else {
		x->st.get_misses++;
	}
}

/*
 * Most of any cache's traffic, so everything it calls is inlined into it
 * (flatten): the read, the table lookup and the reply writers are
 * otherwise separate functions, each saving and restoring registers, about
 * a tenth of a UDP get's instructions.
 */
__attribute__((flatten)) void mc_exec_get1(struct mc_exec *x, const struct mc_str *key,
					   struct mc_out *out)
{
	struct tbl_key k = key_of(key);

	exec_get_key(x, &k, false, out);
	MC_OUT_LIT(out, "END\r\n");
}

static void exec_retrieval(struct mc_exec *x, struct mc_request *req, struct mc_out *out)
{
	bool cas = req->cmd == MC_CMD_GETS || req->cmd == MC_CMD_GATS;
	bool touch = req->cmd == MC_CMD_GAT || req->cmd == MC_CMD_GATS;
	unsigned flags = TBL_GET_BUMP | (cas ? TBL_GET_CAS : 0);

	for (uint32_t n = req->nkeys; n > 0; n = mc_request_next_keys(req)) {
		for (uint32_t i = 0; i < n; i++) {
			struct tbl_key k = key_of(&req->keys[i]);
			if (!touch) {
				exec_get_key(x, &k, cas, out);
				continue;
			}
			struct px_table *t = mc_exec_table(x, &k);
			struct tbl_item it;
			bool hit;
			if (x->owned != 0 && !owns(x, mc_exec_part_of(k.hash, x->nparts))) {
				/* another owner's key in a multi-partition gat: read it here,
				 * touch it there (the reply does not depend on the touch) */
				char line[TBL_KEY_MAX + 48];
				uint32_t exp = mc_exptime(t, req->exptime);
				hit = mc_exec_read(x, &k, flags, &it) == TBL_OK;
				if (hit && x->defer != NULL) {
					int n = snprintf(line, sizeof(line), "touch %.*s %u noreply\r\n",
							 (int)k.klen, (const char *)k.key, exp);
					x->defer(x->defer_ctx, mc_exec_part_of(k.hash, x->nparts), line,
						 (size_t)n);
				}
				x->st.cmd_touch++;
				if (hit)
					x->st.touch_hits++;
				else
					x->st.touch_misses++;
			} else {
				/* memcached returns the item even when the new exptime is past */
				uint32_t exp = mc_exptime(t, req->exptime);
				if (!mc_exec_wal_admit(x, t, &k, 0, true, out)) {
					/* the touch cannot be logged: a miss, not a lie */
					hit = false;
				} else if (exp != 0 && exp <= x->now) {
					hit = tbl_get(t, &k, flags, &it) == TBL_OK;
					if (hit) {
						out_value(out, &it, cas);
						tbl_delete(t, &k, 0);
						mc_exec_wal_key(x, t, &k, PX_WAL_CMD_GAT);
						hit = false; /* already written */
						x->st.touch_hits++;
						x->st.cmd_touch++;
						continue;
					}
				} else {
					hit = tbl_touch(t, &k, exp) == TBL_OK;
					if (hit)
						mc_exec_wal_key(x, t, &k, PX_WAL_CMD_GAT);
					hit = hit && tbl_get(t, &k, flags, &it) == TBL_OK;
				}
				x->st.cmd_touch++;
				if (hit)
					x->st.touch_hits++;
				else
					x->st.touch_misses++;
			}
			if (hit)
				out_value(out, &it, cas);
		}
	}
	MC_OUT_LIT(out, "END\r\n");
}

static void exec_storage(struct mc_exec *x, const struct mc_request *req, struct mc_out *out)
{
	struct tbl_key k = key_of(&req->keys[0]);
	struct px_table *t = mc_exec_table(x, &k);
	struct tbl_store_req r = {
		.k = k, .value = req->data, .vlen = req->bytes, .flags = req->flags,
		.exptime = mc_exptime(t, req->exptime), .cas_in = req->cas,
	};
	static const enum tbl_store_mode mode[MC_CMD_COUNT] = {
		[MC_CMD_SET] = TBL_SET, [MC_CMD_ADD] = TBL_ADD, [MC_CMD_REPLACE] = TBL_REPLACE,
		[MC_CMD_APPEND] = TBL_APPEND, [MC_CMD_PREPEND] = TBL_PREPEND, [MC_CMD_CAS] = TBL_CAS,
	};
	static const enum px_wal_cmd wcmd[MC_CMD_COUNT] = {
		[MC_CMD_SET] = PX_WAL_CMD_SET, [MC_CMD_ADD] = PX_WAL_CMD_ADD,
		[MC_CMD_REPLACE] = PX_WAL_CMD_REPLACE, [MC_CMD_APPEND] = PX_WAL_CMD_APPEND,
		[MC_CMD_PREPEND] = PX_WAL_CMD_PREPEND, [MC_CMD_CAS] = PX_WAL_CMD_CAS,
	};
	const char *reply;

	r.mode = mode[req->cmd];
	x->st.cmd_set++;
	if (!mc_exec_wal_admit(x, t, &k, req->bytes, req->noreply, out))
		return;
	uint64_t cas = 0;
	int rc = tbl_store(t, &r, x->wal != NULL ? &cas : NULL);
	switch (rc) {
	case TBL_OK:
		if (r.mode == TBL_APPEND || r.mode == TBL_PREPEND)
			mc_exec_wal_key(x, t, &k, wcmd[req->cmd]);
		else /* the item is the request's: no second lookup */
			mc_exec_wal_stored(x, &r, cas, wcmd[req->cmd]);
		reply = "STORED\r\n";
		break;
	case TBL_NOT_STORED:
		reply = "NOT_STORED\r\n";
		break;
	case TBL_EXISTS:
		reply = "EXISTS\r\n";
		break;
	case TBL_NOT_FOUND:
		reply = "NOT_FOUND\r\n";
		break;
	case TBL_TOO_LARGE:
		x->st.store_too_large++;
		reply = "SERVER_ERROR object too large for cache\r\n";
		break;
	default:
		x->st.store_no_memory++;
		reply = "SERVER_ERROR out of memory storing object\r\n";
		break;
	}
	if (r.mode == TBL_CAS) {
		if (rc == TBL_OK)
			x->st.cas_hits++;
		else if (rc == TBL_EXISTS)
			x->st.cas_badval++;
		else if (rc == TBL_NOT_FOUND)
			x->st.cas_misses++;
	}
	/* memcached sends errors even with noreply only for the SERVER_ERRORs it cannot swallow */
	if (!req->noreply)
		mc_out_str(out, reply, strlen(reply));
}

static void exec_arith(struct mc_exec *x, const struct mc_request *req, struct mc_out *out)
{
	struct tbl_key k = key_of(&req->keys[0]);
	struct px_table *t = mc_exec_table(x, &k);
	bool incr = req->cmd == MC_CMD_INCR;
	struct tbl_arith_req r = { .k = k, .incr = incr, .delta = req->delta };
	uint64_t v;

	if (!mc_exec_wal_admit(x, t, &k, 0, req->noreply, out))
		return;
	int rc = tbl_arith(t, &r, &v, NULL);
	if (rc == TBL_OK)
		mc_exec_wal_key(x, t, &k, incr ? PX_WAL_CMD_INCR : PX_WAL_CMD_DECR);
	mc_exec_count_arith(x, incr, rc);
	if (req->noreply)
		return;
	switch (rc) {
	case TBL_OK:
		mc_out_u64(out, v);
		MC_OUT_LIT(out, "\r\n");
		break;
	case TBL_NOT_FOUND:
		MC_OUT_LIT(out, "NOT_FOUND\r\n");
		break;
	case TBL_NON_NUMERIC:
		MC_OUT_LIT(out, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
		break;
	default:
		MC_OUT_LIT(out, "SERVER_ERROR out of memory\r\n");
		break;
	}
}

static void exec_touch(struct mc_exec *x, const struct mc_request *req, struct mc_out *out)
{
	struct tbl_key k = key_of(&req->keys[0]);
	struct px_table *t = mc_exec_table(x, &k);

	x->st.cmd_touch++;
	if (!mc_exec_wal_admit(x, t, &k, 0, req->noreply, out))
		return;
	int rc = tbl_touch(t, &k, mc_exptime(t, req->exptime));
	if (rc == TBL_OK) {
		mc_exec_wal_key(x, t, &k, PX_WAL_CMD_TOUCH);
		/* memcached's touch fetches the item: it counts as a hit */
		struct tbl_item it;
		tbl_get(t, &k, TBL_GET_BUMP, &it);
		x->st.touch_hits++;
	}
	else
		x->st.touch_misses++;
	if (!req->noreply) {
		if (rc == TBL_OK)
			MC_OUT_LIT(out, "TOUCHED\r\n");
		else
			MC_OUT_LIT(out, "NOT_FOUND\r\n");
	}
}

static void exec_delete(struct mc_exec *x, const struct mc_request *req, struct mc_out *out)
{
	struct tbl_key k = key_of(&req->keys[0]);
	struct px_table *t = mc_exec_table(x, &k);

	if (!mc_exec_wal_admit(x, t, &k, 0, req->noreply, out))
		return;
	int rc = tbl_delete(t, &k, 0);
	if (rc == TBL_OK)
		mc_exec_wal_key(x, t, &k, PX_WAL_CMD_DELETE);
	if (rc == TBL_OK)
		x->st.delete_hits++;
	else
		x->st.delete_misses++;
	if (!req->noreply) {
		if (rc == TBL_OK)
			MC_OUT_LIT(out, "DELETED\r\n");
		else
			MC_OUT_LIT(out, "NOT_FOUND\r\n");
	}
}

/*
 * flush_all changes every partition: this executor flushes the ones it owns
 * and the request travels on to the owners of the rest (flush_done records
 * the visited); the last one replies, so OK means every partition is flushed.
 */
static enum mc_exec_result exec_flush(struct mc_exec *x, const struct mc_request *req,
				      struct mc_out *out)
{
	for (unsigned i = 0; i < x->nparts; i++) {
		struct px_table *t = x->parts[i];
		if (!owns(x, i) || ((x->flush_done >> i) & 1))
			continue;
		if (!mc_exec_wal_admit_flush(x)) {
			/* partitions visited before stay flushed; the client learns it failed */
			x->flush_done = 0;
			x->wal_refused++;
			if (!req->noreply)
				MC_OUT_LIT(out, "SERVER_ERROR write-ahead log full or unavailable\r\n");
			return MC_EXEC_OK;
		}
		/* A delay is an exptime: relative up to 30 days, else absolute. */
		uint32_t when = req->flush_delay > 0 ? mc_exptime(t, req->flush_delay) : 0;
		tbl_flush(t, when);
		mc_exec_wal_flush(x, i, when);
		x->flush_done |= 1ULL << i;
	}
	for (unsigned i = 0; i < x->nparts; i++)
		if (!((x->flush_done >> i) & 1)) {
			x->fwd_part = i;
			return MC_EXEC_FORWARD;
		}
	x->flush_done = 0;
	x->st.cmd_flush++;
	if (!req->noreply)
		MC_OUT_LIT(out, "OK\r\n");
	return MC_EXEC_OK;
}

/*
 * cache_memlimit <megabytes>: memcached's total limit, split evenly over the
 * partitions; like flush_all it visits every owner (flush_done marks the
 * visited) and the last one replies. A partition cannot grow past the
 * memory it was given at start (mem_mb).
 */
static enum mc_exec_result exec_memlimit(struct mc_exec *x, const struct mc_request *req,
					 struct mc_out *out)
{
	uint64_t mb = req->memlimit_mb;

	/* memcached's own bounds and words, checked before anything changes */
	if (x->flush_done == 0) {
		const char *err = NULL;
		if (mb < 8)
			err = "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n";
		else if (mb > 1000000000)
			err = "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n";
		else if ((mb << 20) / x->nparts > x->cfg.part_max_bytes)
			err = "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n";
		if (err != NULL) {
			if (!req->noreply)
				mc_out_str(out, err, strlen(err));
			return MC_EXEC_OK;
		}
	}
	for (unsigned i = 0; i < x->nparts; i++) {
		if (!owns(x, i) || ((x->flush_done >> i) & 1))
			continue;
		tbl_set_mem_limit(x->parts[i], (mb << 20) / x->nparts);
		x->flush_done |= 1ULL << i;
	}
	x->cfg.limit_maxbytes = mb << 20;
	for (unsigned i = 0; i < x->nparts; i++)
		if (!((x->flush_done >> i) & 1)) {
			x->fwd_part = i;
			return MC_EXEC_FORWARD;
		}
	x->flush_done = 0;
	if (!req->noreply)
		MC_OUT_LIT(out, "OK\r\n");
	return MC_EXEC_OK;
}

/* The partition a keyed mutation must run on, when it is not this one's. */
static bool must_forward(struct mc_exec *x, struct mc_request *req)
{
	struct tbl_key k;
	unsigned part;

	switch (mc_cmd_kind(req->cmd)) {
	case MC_KIND_STORAGE:
	case MC_KIND_ARITH:
	case MC_KIND_TOUCH:
	case MC_KIND_DELETE:
		k = key_of(&req->keys[0]);
		break;
	case MC_KIND_RETRIEVAL:
		if (req->cmd != MC_CMD_GAT && req->cmd != MC_CMD_GATS)
			return false;
		/* gat runs on the owner of its first key, which touches the other
		 * owners' keys through x->defer: one hop, never back and forth */
		k = key_of(&req->keys[0]);
		break;
	case MC_KIND_META:
		return mc_exec_meta_route(x, req);
	default:
		return false;
	}
	if (mc_exec_owns_key(x, &k, &part))
		return false;
	x->fwd_part = part;
	return true;
}

enum mc_exec_result mc_exec_request(struct mc_exec *x, struct mc_request *req, struct mc_out *out)
{
	if (x->owned != 0 && must_forward(x, req))
		return MC_EXEC_FORWARD;
	switch (mc_cmd_kind(req->cmd)) {
	case MC_KIND_RETRIEVAL:
		exec_retrieval(x, req, out);
		break;
	case MC_KIND_STORAGE:
		exec_storage(x, req, out);
		break;
	case MC_KIND_ARITH:
		exec_arith(x, req, out);
		break;
	case MC_KIND_TOUCH:
		exec_touch(x, req, out);
		break;
	case MC_KIND_DELETE:
		exec_delete(x, req, out);
		break;
	case MC_KIND_META:
		if (mc_exec_meta(x, req, out) == MC_EXEC_FORWARD)
			return MC_EXEC_FORWARD;
		x->st.cmd_meta++;
		break;
	case MC_KIND_ADMIN:
		switch (req->cmd) {
		case MC_CMD_FLUSH_ALL:
			return exec_flush(x, req, out);
		case MC_CMD_VERSION:
			MC_OUT_LIT(out, "VERSION " MC_VERSION_STRING "\r\n");
			break;
		case MC_CMD_VERBOSITY:
			x->verbosity = req->verbosity;
			if (!req->noreply)
				MC_OUT_LIT(out, "OK\r\n");
			break;
		case MC_CMD_CACHE_MEMLIMIT:
			return exec_memlimit(x, req, out);
		case MC_CMD_STATS:
			mc_exec_stats(x, req, out);
			break;
		case MC_CMD_QUIT:
			return MC_EXEC_CLOSE;
		default:
			MC_OUT_LIT(out, "ERROR\r\n");
			break;
		}
		break;
	default:
		MC_OUT_LIT(out, "ERROR\r\n");
		break;
	}
	return MC_EXEC_OK;
}
