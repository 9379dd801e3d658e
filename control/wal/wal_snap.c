/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Compaction: keeps the log's disk use bounded by the live data plus
 * wal_slack_pct. The writer closes its segment (so the cut is a file
 * boundary) and goes on; a compactor thread folds every file before the cut
 * (the previous snapshot and the closed segments) into the last state of
 * each key, drops deleted, expired and flushed items, writes them as a
 * snapshot (tmp file, fsync, rename, fsync of the directory) whose header
 * records the last LSN it covers per stream, and only then removes the
 * files it replaces. Neither the dataplane nor the writer waits for it. A
 * crash at any point leaves either the old files or the new snapshot,
 * both complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "px_clock.h"
#include "px_hash.h"
#include "wal_cp_pvt.h"

#define COMPACT_MIN_BYTES (4ULL << 20) /* never compact a log smaller than this */
#define COMPACT_EVERY_NS 5000000000ULL

/* ---- key -> last record, open addressing ---- */

struct entry {
	uint64_t hash;
	uint8_t *rec;   /* a copy of the record (SET), NULL: empty slot */
	uint32_t len;
	uint16_t stream;
};

struct fold {
	struct entry *e;
	size_t cap, n;
	uint32_t now;
	uint64_t cut;                   /* files with seq < cut are folded */
	uint64_t upto[PX_WAL_STREAMS_MAX];
	struct px_wal_rec flushes[PX_WAL_STREAMS_MAX]; /* a pending delayed flush per stream */
	bool has_flush[PX_WAL_STREAMS_MAX];
	uint32_t flushed_at[PX_WAL_STREAMS_MAX]; /* a delayed flush that has fired: its time */
	bool oom;
};

static bool same_key(const struct entry *e, const struct px_wal_rec *r)
{
	return e->rec[19] == r->klen && memcmp(e->rec + PX_WAL_REC_HDR, r->key, r->klen) == 0;
}

static int grow(struct fold *f)
{
	size_t cap = f->cap ? f->cap * 2 : 1 << 16;
	struct entry *e = calloc(cap, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < f->cap; i++) {
		if (f->e[i].rec == NULL)
			continue;
		size_t j = f->e[i].hash & (cap - 1);
		while (e[j].rec != NULL)
			j = (j + 1) & (cap - 1);
		e[j] = f->e[i];
	}
	free(f->e);
	f->e = e;
	f->cap = cap;
	return 0;
}

/* Remove slot i, re-placing the cluster after it (backward-shift deletion). */
static void slot_delete(struct fold *f, size_t i)
{
	free(f->e[i].rec);
	f->e[i].rec = NULL;
	f->n--;
	for (size_t j = (i + 1) & (f->cap - 1); f->e[j].rec != NULL; j = (j + 1) & (f->cap - 1)) {
		struct entry moved = f->e[j];
		f->e[j].rec = NULL;
		size_t k = moved.hash & (f->cap - 1);
		while (f->e[k].rec != NULL)
			k = (k + 1) & (f->cap - 1);
		f->e[k] = moved;
	}
}

/* Drop every entry of stream s logged before `before` (unix s; UINT32_MAX: all). */
static void drop_stream(struct fold *f, unsigned s, uint32_t before)
{
	/* rebuild in place of the table: survivors are re-placed from their home */
	struct entry *old = f->e;
	size_t cap = f->cap;
	f->e = calloc(cap, sizeof(*f->e));
	if (f->e == NULL) {
		f->e = old; /* keep the items: a larger snapshot, never a lost item */
		return;
	}
	f->n = 0;
	for (size_t i = 0; i < cap; i++) {
		uint32_t t;
		if (old[i].rec == NULL)
			continue;
		memcpy(&t, old[i].rec + 44, 4);
		if (old[i].stream == s && t < before) {
			free(old[i].rec);
			continue;
		}
		size_t j = old[i].hash & (cap - 1);
		while (f->e[j].rec != NULL)
			j = (j + 1) & (cap - 1);
		f->e[j] = old[i];
		f->n++;
	}
	free(old);
}

static int fold_rec(void *ctx, const struct px_wal_rec *r, const struct wal_file *file, uint64_t off)
{
	struct fold *f = ctx;
	(void)off;

	if (file->seq >= f->cut)
		return 0;
	if (r->lsn > f->upto[r->stream])
		f->upto[r->stream] = r->lsn;
	if (r->op == PX_WAL_OP_FLUSH) {
		if (r->exptime == 0 || r->exptime <= f->now) {
			drop_stream(f, r->stream, UINT32_MAX);
			f->has_flush[r->stream] = false;
			/* a delayed one also took what came before its time */
			f->flushed_at[r->stream] = r->exptime;
		} else {
			/* still to come: replayed before the items, it fires at its time */
			f->flushes[r->stream] = *r;
			f->has_flush[r->stream] = true;
		}
		return 0;
	}
	if (f->flushed_at[r->stream] != 0 && r->time >= f->flushed_at[r->stream])
		f->flushed_at[r->stream] = 0;
	bool dead = f->flushed_at[r->stream] != 0;
	uint64_t h = px_hash64(r->key, r->klen, 0x9e3779b97f4a7c15ULL);
	if (f->cap == 0 || (f->n + 1) * 4 > f->cap * 3)
		if (grow(f) != 0) {
			f->oom = true;
			return -ENOMEM;
		}
	size_t i = h & (f->cap - 1);
	while (f->e[i].rec != NULL && !(f->e[i].hash == h && same_key(&f->e[i], r)))
		i = (i + 1) & (f->cap - 1);
	if (r->op == PX_WAL_OP_DELETE || dead) {
		if (f->e[i].rec != NULL)
			slot_delete(f, i);
		return 0;
	}
	uint32_t len = px_wal_rec_len(r->klen, r->vlen);
	uint8_t *copy = malloc(len);
	if (copy == NULL) {
		f->oom = true;
		return -ENOMEM;
	}
	struct px_wal_rec s = *r;
	s.lsn = 0; /* snapshot records always apply */
	px_wal_encode(&s, copy, len);
	if (f->e[i].rec != NULL) {
		free(f->e[i].rec);
	} else {
		f->n++;
	}
	f->e[i] = (struct entry){ .hash = h, .rec = copy, .len = len, .stream = r->stream };
	return 0;
}

static void fold_free(struct fold *f)
{
	for (size_t i = 0; i < f->cap; i++)
		free(f->e[i].rec);
	free(f->e);
}

/* Buffered writer for the snapshot file. */
struct out {
	int fd;
	uint8_t buf[1 << 20];
	size_t len;
	int err;
};

static void out_put(struct out *o, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0 && o->err == 0) {
		if (o->len == sizeof(o->buf)) {
			size_t done = 0;
			while (done < o->len) {
				ssize_t w = write(o->fd, o->buf + done, o->len - done);
				if (w < 0 && errno != EINTR) {
					o->err = errno;
					return;
				}
				done += w > 0 ? (size_t)w : 0;
			}
			o->len = 0;
		}
		size_t k = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len : n;
		memcpy(o->buf + o->len, b, k);
		o->len += k;
		b += k;
		n -= k;
	}
}

/* Fold the files before cut into snap-<cut-1>.snap and remove them. */
static int compact(struct cp_wal *w, uint64_t cut, uint64_t *live, char *msg, size_t n)
{
	static struct out o;
	struct fold f = { .now = (uint32_t)time(NULL), .cut = cut };
	struct wal_read_report rep;
	char path[600], tmp[640];
	int rc = wal_read(w->set.wal_dir, 0, fold_rec, &f, &rep);

	if (rc != 0) {
		snprintf(msg, n, "compaction read: %.200s", f.oom ? "out of memory" : rep.msg);
		fold_free(&f);
		return rc;
	}
	uint64_t seq = cut - 1;
	wal_file_name(w->set.wal_dir, WAL_KIND_SNAP, seq, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	o.len = 0;
	o.err = o.fd < 0 ? errno : 0;
	struct wal_file_hdr h = { .seq = seq, .kind = WAL_KIND_SNAP,
				  .created = (uint64_t)time(NULL) * 1000000000ULL };
	for (unsigned s = 0; s < PX_WAL_STREAMS_MAX; s++) {
		h.upto[s] = f.upto[s];
		h.streams += f.upto[s] != 0;
	}
	uint8_t hb[WAL_FILE_HDR];
	wal_file_hdr_encode(&h, hb);
	out_put(&o, hb, sizeof(hb));
	uint8_t rb[PX_WAL_REC_HDR + 8];
	for (unsigned s = 0; s < PX_WAL_STREAMS_MAX; s++)
		if (f.has_flush[s]) {
			struct px_wal_rec r = f.flushes[s];
			r.lsn = 0;
			out_put(&o, rb, px_wal_encode(&r, rb, sizeof(rb)));
		}
	uint64_t kept = 0;
	for (size_t i = 0; i < f.cap; i++) {
		if (f.e[i].rec == NULL)
			continue;
		uint32_t exp;
		memcpy(&exp, f.e[i].rec + 28, 4);
		if (exp != 0 && exp <= f.now)
			continue;
		out_put(&o, f.e[i].rec, f.e[i].len);
		kept += f.e[i].len;
		*live += 1;
	}
	if (o.err == 0)
		out_put(&o, NULL, 0);
	if (o.err == 0 && o.len > 0) {
		size_t done = 0;
		while (done < o.len && o.err == 0) {
			ssize_t wr = write(o.fd, o.buf + done, o.len - done);
			if (wr < 0 && errno != EINTR)
				o.err = errno;
			done += wr > 0 ? (size_t)wr : 0;
		}
	}
	if (o.err == 0 && fsync(o.fd) != 0)
		o.err = errno;
	if (o.fd >= 0)
		close(o.fd);
	if (o.err == 0 && rename(tmp, path) != 0)
		o.err = errno;
	if (o.err == 0 && fsync(w->dirfd) != 0)
		o.err = errno;
	fold_free(&f);
	if (o.err != 0) {
		unlink(tmp);
		snprintf(msg, n, "snapshot %.200s: %s", path, strerror(o.err));
		return -o.err;
	}
	/* the snapshot is durable: the files it replaces can go */
	struct wal_file *files;
	size_t nf;
	if (wal_dir_list(w->set.wal_dir, &files, &nf) == 0) {
		for (size_t i = 0; i < nf; i++)
			if (files[i].seq < seq || (files[i].seq == seq && files[i].kind == WAL_KIND_LOG))
				unlink(files[i].path);
		free(files);
		fsync(w->dirfd);
	}
	snprintf(msg, n, "snapshot %.200s: %" PRIu64 " live items, %" PRIu64 " bytes", path, *live,
		 kept + WAL_FILE_HDR);
	return 0;
}

/* Bytes and segment count of the directory now, into st. */
void wal_disk_usage(struct cp_wal *w)
{
	struct wal_file *files;
	size_t nf;
	uint64_t bytes = 0, segs = 0;

	if (wal_dir_list(w->set.wal_dir, &files, &nf) != 0)
		return;
	for (size_t i = 0; i < nf; i++) {
		bytes += files[i].size;
		segs += files[i].kind == WAL_KIND_LOG;
	}
	free(files);
	pthread_mutex_lock(&w->lock);
	w->st.disk_bytes = bytes;
	w->st.segments = segs;
	pthread_mutex_unlock(&w->lock);
}

/*
 * In the writer thread, when a snapshot was asked for and none is running:
 * close the current segment, which is the cut, and hand it to the
 * compactor thread. Only the roll happens here; the writer goes on.
 */
void wal_snapshot_run(struct cp_wal *w)
{
	uint64_t req = atomic_load(&w->snap_req);

	pthread_mutex_lock(&w->lock);
	bool busy = w->cut != 0;
	pthread_mutex_unlock(&w->lock);
	if (busy || req == w->snap_taken)
		return;
	w->snap_taken = req;
	int rc = wal_segment_next(w);
	pthread_mutex_lock(&w->lock);
	if (rc == 0) {
		/* everything before the new segment is what the compactor folds */
		w->cut = w->seq;
		w->cut_req = req;
		w->snap_t0 = px_clock_ns();
	} else {
		w->snap_rc = rc;
		snprintf(w->snap_msg, sizeof(w->snap_msg), "new segment: %s", strerror(-rc));
		w->snap_done = req;
	}
	pthread_cond_broadcast(&w->snap_cond);
	pthread_mutex_unlock(&w->lock);
}

/* The compactor thread: folds each cut the writer hands over. */
static void *compactor(void *arg)
{
	struct cp_wal *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->cut == 0 && !atomic_load(&w->quit))
			pthread_cond_wait(&w->snap_cond, &w->lock);
		if (atomic_load(&w->quit))
			break;
		uint64_t cut = w->cut, req = w->cut_req, t0 = w->snap_t0, live = 0;
		pthread_mutex_unlock(&w->lock);
		char msg[256];
		/* a recovery reads the directory meanwhile: not while files go */
		pthread_mutex_lock(&w->dir_lock);
		int rc = compact(w, cut, &live, msg, sizeof(msg));
		pthread_mutex_unlock(&w->dir_lock);
		wal_disk_usage(w);
		pthread_mutex_lock(&w->lock);
		if (rc == 0) {
			w->st.snapshots++;
			w->st.snapshot_records = live;
		}
		w->snap_rc = rc;
		snprintf(w->snap_msg, sizeof(w->snap_msg), "%.200s (%.3f s)", msg,
			 (double)(px_clock_ns() - t0) / 1e9);
		w->snap_done = req;
		w->cut = 0;
		printf("pollux-cp: WAL: %s\n", w->snap_msg);
		fflush(stdout);
		pthread_cond_broadcast(&w->snap_cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int wal_compactor_start(struct cp_wal *w)
{
	return -pthread_create(&w->compactor, NULL, compactor, w);
}

void wal_compactor_stop(struct cp_wal *w)
{
	pthread_mutex_lock(&w->lock);
	pthread_cond_broadcast(&w->snap_cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->compactor, NULL);
}

/* Writer idle path: compact when the log outgrew the live data plus slack. */
void wal_maybe_compact(struct cp_wal *w)
{
	static uint64_t last_ns;
	uint64_t now = px_clock_ns();

	if (now - last_ns < COMPACT_EVERY_NS)
		return;
	last_ns = now;
	struct px_shm_hdr *h = w->shm;
	uint64_t live = 0;
	unsigned lc = h->dp_lcores <= PX_SHM_LCORES_MAX ? h->dp_lcores : PX_SHM_LCORES_MAX;
	for (unsigned i = 0; i < lc; i++) {
		struct px_shm_lcore *l = px_shm_lcore(h, i);
		/* record bytes of the live items: item bytes plus the record header */
		live += l->bytes + l->curr_items * (PX_WAL_REC_HDR + 8);
	}
	pthread_mutex_lock(&w->lock);
	uint64_t disk = w->st.disk_bytes;
	bool pending = w->snap_done != atomic_load(&w->snap_req);
	pthread_mutex_unlock(&w->lock);
	if (pending)
		return; /* one is asked for or running: its result comes first */
	uint64_t bound = live + live * w->set.wal_slack_pct / 100;
	if (disk > COMPACT_MIN_BYTES && disk > bound + (w->seg_size > COMPACT_MIN_BYTES ?
							 w->seg_size : COMPACT_MIN_BYTES)) {
		atomic_fetch_add(&w->snap_req, 1);
	}
}

int cp_wal_snapshot(struct cp_wal *w, char *msg, size_t n)
{
	if (w == NULL || w->mode == 0) {
		snprintf(msg, n, "the write-ahead log is off (wal_mode=off)");
		return -ENOTSUP;
	}
	pthread_mutex_lock(&w->lock);
	uint64_t want = atomic_fetch_add(&w->snap_req, 1) + 1;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 60;
	while (w->snap_done < want) {
		if (pthread_cond_timedwait(&w->snap_cond, &w->lock, &dl) != 0) {
			pthread_mutex_unlock(&w->lock);
			snprintf(msg, n, "no snapshot within 60 s (is the WAL thread stuck on I/O?)");
			return -ETIMEDOUT;
		}
	}
	int rc = w->snap_rc;
	snprintf(msg, n, "%s", w->snap_msg);
	pthread_mutex_unlock(&w->lock);
	return rc;
}
