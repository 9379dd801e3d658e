/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp's WAL thread (API in wal_cp.h). One loop: notice a dataplane
 * that needs recovery and replay the log into it; gather the records of
 * every mutation ring into a registered buffer (checking each record's CRC
 * and skipping LSNs already on disk); write them with io_uring at the end
 * of the current segment, linked to an fdatasync in sync mode (one fsync
 * per batch: group commit) or followed by one every wal_fsync_ms in async
 * mode; only then advance the rings' tails and publish the durable LSNs.
 * An I/O error leaves the records in the rings (the dataplane refuses
 * writes once they fill) and is retried. Compaction is in wal_snap.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "px_clock.h"
#include "wal_cp_pvt.h"

#define BUF_MIN (8u << 20)
#define IDLE_SPIN_NS 2000000ULL /* poll fast for 2 ms after the last record */
#define ASYNC_GATHER_NS 250000ULL /* async mode: pause between busy rounds */
#define RETRY_NS 200000000ULL   /* after an I/O error */
#define DP_ALIVE_NS 1000000000ULL

const char *cp_wal_state_name(enum cp_wal_state s)
{
	static const char *const names[] = { "off", "waiting", "recovering", "running", "failed" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };
	nanosleep(&ts, NULL);
}

void wal_set_error(struct cp_wal *w, int err, const char *what)
{
	static uint64_t said_ns;
	char msg[sizeof(w->st.error)];
	uint64_t now = px_clock_ns();

	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	pthread_mutex_lock(&w->lock);
	/* a retried error is said again every 10 s, not at every retry */
	bool say = strcmp(msg, w->st.error) != 0 || now - said_ns > 10000000000ULL;
	memcpy(w->st.error, msg, sizeof(msg));
	w->st.io_errors++;
	w->st.state = CP_WAL_FAILED;
	pthread_mutex_unlock(&w->lock);
	if (say) {
		said_ns = now;
		fprintf(stderr, "pollux-cp: WAL %s (retrying; writes wait in the rings)\n", msg);
	}
}

static void set_state(struct cp_wal *w, enum cp_wal_state s)
{
	pthread_mutex_lock(&w->lock);
	w->st.state = s;
	if (s == CP_WAL_RUNNING)
		w->st.error[0] = '\0';
	pthread_mutex_unlock(&w->lock);
}

/* Write all of len bytes at off with pwrite (headers, outside the ring). */
static int pwrite_all(int fd, const void *p, size_t len, off_t off)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = pwrite(fd, b, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Open segment seq (a new file with its header, synced with its directory). */
static int segment_open(struct cp_wal *w, uint64_t seq)
{
	char path[600];
	uint8_t hdr[WAL_FILE_HDR];
	struct wal_file_hdr h = { .seq = seq, .kind = WAL_KIND_LOG, .created = realtime_ns(),
				  .seg_size = (uint32_t)(w->seg_size > UINT32_MAX ? UINT32_MAX : w->seg_size) };

	wal_file_name(w->set.wal_dir, WAL_KIND_LOG, seq, path, sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	wal_file_hdr_encode(&h, hdr);
	int rc = pwrite_all(fd, hdr, sizeof(hdr), 0);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (rc == 0 && fsync(w->dirfd) != 0)
		rc = -errno;
	if (rc != 0) {
		close(fd);
		unlink(path);
		return rc;
	}
	if (w->fd >= 0) {
		if (fdatasync(w->fd) != 0) {
			rc = -errno;
			close(fd);
			unlink(path);
			return rc;
		}
		close(w->fd);
	}
	w->fd = fd;
	w->seq = seq;
	w->seg_off = WAL_FILE_HDR;
	pthread_mutex_lock(&w->lock);
	w->st.seq = seq;
	w->st.segments++;
	w->st.disk_bytes += WAL_FILE_HDR;
	pthread_mutex_unlock(&w->lock);
	/* the registered file slot follows the current segment */
	if (w->uring_ok)
		io_uring_register_files_update(&w->ring, 0, &w->fd, 1);
	return 0;
}

int wal_segment_next(struct cp_wal *w)
{
	return segment_open(w, w->seq + 1);
}

/* Copy n ring bytes from position pos into dst, wrapping. */
static void ring_copy(const uint8_t *data, uint64_t size, uint64_t pos, uint8_t *dst, size_t n)
{
	uint64_t off = pos & (size - 1);
	size_t first = n < size - off ? n : (size_t)(size - off);
	memcpy(dst, data + off, first);
	if (n > first)
		memcpy(dst + first, data, n - first);
}

/*
 * Gather records from every mutation ring into w->buf (up to room bytes).
 * Fills w->pend_tail[] (ring positions once written) and w->pend_lsn[].
 * Returns bytes gathered.
 */
static size_t gather(struct cp_wal *w, size_t room)
{
	struct px_shm_hdr *h = w->shm;
	uint64_t size = h->ring_bytes;
	size_t len = 0;

	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++) {
		struct px_shm_ring *r = px_shm_ring(h, i, 0);
		const uint8_t *data = (const uint8_t *)(r + 1);
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		w->pend_tail[i] = tail;
		w->pend_lsn[i] = 0;
		while (tail < head) {
			uint32_t n;
			ring_copy(data, size, tail, (uint8_t *)&n, 4);
			if (n < PX_WAL_REC_HDR || n > head - tail || n > w->buf_cap) {
				/* a ring we cannot read: drop its contents, count it */
				w->bad++;
				tail = head;
				break;
			}
			if (n > room - len)
				break; /* next batch */
			ring_copy(data, size, tail, w->buf + len, n);
			struct px_wal_rec rec;
			uint32_t dn;
			if (px_wal_decode(w->buf + len, n, &rec, &dn) != PX_WAL_DEC_OK || rec.stream != i) {
				w->bad++;
			} else if (rec.lsn <= w->last[i]) {
				w->dups++; /* written before a restart of ours */
			} else {
				w->last[i] = rec.lsn;
				w->pend_lsn[i] = rec.lsn;
				len += n;
			}
			tail += n;
		}
		w->pend_tail[i] = tail;
	}
	return len;
}

/* Publish lsn[] (what an fsync covered) as the durable LSNs. */
static void publish_durable(struct cp_wal *w, const uint64_t *lsn)
{
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++)
		if (lsn[i] > w->durable[i]) {
			w->durable[i] = lsn[i];
			atomic_store_explicit(&px_shm_lcore(w->shm, i)->durable_lsn, w->durable[i],
					      memory_order_release);
		}
}

static void note_fsync(struct cp_wal *w, uint64_t ns)
{
	pthread_mutex_lock(&w->lock);
	w->st.fsyncs++;
	w->st.fsync_hist[px_shm_lat_bucket(ns)]++;
	w->st.fsync_sum_ns += ns;
	pthread_mutex_unlock(&w->lock);
}

/* io_uring requests, by user_data */
enum { REQ_WRITE = 1, REQ_LINKED_FSYNC = 2, REQ_FSYNC = 3, REQ_ASYNC_FSYNC = 4 };

/* One completion. The background fsync of async mode may complete at any time. */
static void handle_cqe(struct cp_wal *w, struct io_uring_cqe *cqe, int *res)
{
	unsigned type = (unsigned)cqe->user_data;

	if (type == REQ_ASYNC_FSYNC) {
		w->afs_inflight = false;
		if (cqe->res < 0) {
			wal_set_error(w, -cqe->res, "fdatasync");
			w->dirty = true; /* retried at the next round */
			w->dirty_since = 0;
		} else {
			note_fsync(w, px_clock_ns() - w->afs_t0);
			publish_durable(w, w->afs_lsn);
		}
	} else if (type < REQ_ASYNC_FSYNC) {
		res[type] = cqe->res;
	}
	io_uring_cqe_seen(&w->ring, cqe);
}

/* Wait until the requests of the types in mask have completed; their results in res[]. */
static int reap(struct cp_wal *w, unsigned mask, int *res)
{
	while (mask != 0) {
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(&w->ring, &cqe);
		if (e < 0)
			return e;
		unsigned type = (unsigned)cqe->user_data;
		handle_cqe(w, cqe, res);
		mask &= ~(1u << type);
	}
	return 0;
}

/* Completions that are there, without waiting (the background fsync's). */
static void reap_ready(struct cp_wal *w)
{
	struct io_uring_cqe *cqe;
	int res[REQ_ASYNC_FSYNC] = { 0 };

	while (w->uring_ok && io_uring_peek_cqe(&w->ring, &cqe) == 0)
		handle_cqe(w, cqe, res);
}

static struct io_uring_sqe *sqe_get(struct cp_wal *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) { /* the queue holds 8; at most 3 are ever pending */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

/* Write len bytes of w->buf at the segment's end, linked to an fdatasync if sync. */
static int write_batch(struct cp_wal *w, size_t len, bool sync)
{
	uint64_t t0 = px_clock_ns();
	int rc;

	if (w->uring_ok) {
		int res[REQ_ASYNC_FSYNC] = { 0 };
		struct io_uring_sqe *sqe = sqe_get(w);
		io_uring_prep_write_fixed(sqe, 0, w->buf, (unsigned)len, w->seg_off, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = REQ_WRITE;
		if (sync) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = sqe_get(w);
			io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
			sqe->flags |= IOSQE_FIXED_FILE;
			sqe->user_data = REQ_LINKED_FSYNC;
		}
		rc = io_uring_submit(&w->ring);
		if (rc >= 0)
			rc = reap(w, (1u << REQ_WRITE) | (sync ? 1u << REQ_LINKED_FSYNC : 0), res);
		if (rc >= 0) {
			rc = 0;
			if (res[REQ_WRITE] < 0)
				rc = res[REQ_WRITE];
			else if ((size_t)res[REQ_WRITE] != len)
				rc = -ENOSPC; /* a short write: the disk is full, as a rule */
			else if (sync && res[REQ_LINKED_FSYNC] < 0)
				rc = res[REQ_LINKED_FSYNC];
		}
	} else {
		rc = pwrite_all(w->fd, w->buf, len, (off_t)w->seg_off);
		if (rc == 0 && sync && fdatasync(w->fd) != 0)
			rc = -errno;
	}
	if (rc == 0 && sync)
		note_fsync(w, px_clock_ns() - t0);
	return rc;
}

/* fdatasync now and wait for it. */
static int fsync_now(struct cp_wal *w)
{
	uint64_t t0 = px_clock_ns();
	int rc;

	if (w->uring_ok) {
		int res[REQ_ASYNC_FSYNC] = { 0 };
		struct io_uring_sqe *sqe = sqe_get(w);
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_FIXED_FILE;
		sqe->user_data = REQ_FSYNC;
		rc = io_uring_submit(&w->ring);
		if (rc >= 0)
			rc = reap(w, 1u << REQ_FSYNC, res);
		if (rc >= 0)
			rc = res[REQ_FSYNC] < 0 ? res[REQ_FSYNC] : 0;
	} else {
		rc = fdatasync(w->fd) == 0 ? 0 : -errno;
	}
	if (rc == 0)
		note_fsync(w, px_clock_ns() - t0);
	return rc;
}

/*
 * Async mode: once written records have waited wal_fsync_ms, start an
 * fdatasync in the background (the writer keeps writing); its completion
 * publishes the LSNs written before it started.
 */
static int async_fsync(struct cp_wal *w, uint64_t now)
{
	if (!w->dirty || now - w->dirty_since < w->fsync_ns || w->afs_inflight)
		return 0;
	if (!w->uring_ok) {
		int rc = fsync_now(w);
		if (rc != 0) {
			wal_set_error(w, -rc, "fdatasync");
			return rc;
		}
		w->dirty = false;
		publish_durable(w, w->written);
		return 0;
	}
	struct io_uring_sqe *sqe = sqe_get(w);
	io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = REQ_ASYNC_FSYNC;
	memcpy(w->afs_lsn, w->written, sizeof(w->afs_lsn));
	w->afs_t0 = now;
	int rc = io_uring_submit(&w->ring);
	if (rc < 0) {
		wal_set_error(w, -rc, "fdatasync submit");
		return rc;
	}
	w->afs_inflight = true;
	w->dirty = false;
	return 0;
}

/*
 * One round: gather, write, then advance tails and (after an fsync)
 * publish. Returns bytes written, 0 when idle, or a negative errno.
 */
int wal_write_round(struct cp_wal *w)
{
	uint64_t saved[PX_SHM_LCORES_MAX];
	memcpy(saved, w->last, sizeof(saved));
	size_t room = w->buf_cap;
	size_t len = gather(w, room);
	bool sync = w->mode == 2;
	uint64_t now = px_clock_ns();

	reap_ready(w);
	if (len == 0) {
		/* duplicates or bad records only: consume them */
		for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++)
			atomic_store_explicit(&px_shm_ring(w->shm, i, 0)->tail, w->pend_tail[i],
					      memory_order_release);
		int rc = async_fsync(w, now);
		return rc < 0 ? rc : 0;
	}
	if (w->seg_off + len > w->seg_size && w->seg_off > WAL_FILE_HDR) {
		int rc = segment_open(w, w->seq + 1);
		if (rc != 0) {
			memcpy(w->last, saved, sizeof(saved));
			wal_set_error(w, -rc, "new segment");
			return rc;
		}
	}
	int rc = write_batch(w, len, sync);
	if (rc != 0) {
		/* nothing advanced: the same records are gathered and rewritten
		 * at the same offset on the next try */
		memcpy(w->last, saved, sizeof(saved));
		wal_set_error(w, -rc, sync ? "write+fdatasync" : "write");
		return rc;
	}
	w->seg_off += len;
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++) {
		if (w->pend_lsn[i])
			w->written[i] = w->pend_lsn[i];
		atomic_store_explicit(&px_shm_ring(w->shm, i, 0)->tail, w->pend_tail[i],
				      memory_order_release);
	}
	if (sync) {
		publish_durable(w, w->written);
	} else if (!w->dirty) {
		w->dirty = true;
		w->dirty_since = now;
	}
	if (!sync && (rc = async_fsync(w, now)) != 0)
		return rc;
	pthread_mutex_lock(&w->lock);
	if (w->st.state == CP_WAL_FAILED)
		fprintf(stderr, "pollux-cp: WAL writing again after: %s\n", w->st.error);
	if (w->st.state != CP_WAL_RECOVERING)
		w->st.state = CP_WAL_RUNNING;
	w->st.error[0] = '\0';
	w->st.writes++;
	w->st.bytes += len;
	w->st.disk_bytes += len;
	pthread_mutex_unlock(&w->lock);
	return (int)(len > INT32_MAX ? INT32_MAX : len);
}

/* Write everything the rings hold and fsync it. 0 or a negative errno. */
int wal_drain(struct cp_wal *w)
{
	int rc;
	while ((rc = wal_write_round(w)) > 0)
		;
	if (rc < 0)
		return rc;
	if (w->afs_inflight) {
		int res[REQ_ASYNC_FSYNC] = { 0 };
		rc = reap(w, 1u << REQ_ASYNC_FSYNC, res);
		if (rc < 0)
			return rc;
	}
	if (w->dirty) {
		rc = fsync_now(w);
		if (rc != 0) {
			wal_set_error(w, -rc, "fdatasync");
			return rc;
		}
		w->dirty = false;
		publish_durable(w, w->written);
	}
	return 0;
}

/* Count records (for status) cheaply: by LSN progress. */
static void count_records(struct cp_wal *w)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++)
		total += w->written[i] - w->written0[i];
	pthread_mutex_lock(&w->lock);
	w->st.records = total;
	w->st.bad_records = w->bad;
	w->st.dups = w->dups;
	pthread_mutex_unlock(&w->lock);
}

static bool dp_alive(struct cp_wal *w, uint64_t *pid)
{
	struct px_shm_hdr *h = w->shm;
	uint64_t now = px_clock_ns(), hb = atomic_load(&h->dp_heartbeat);
	*pid = atomic_load(&h->dp_pid);
	return atomic_load(&h->dp_state) == PX_DP_SERVING && hb != 0 &&
	       (hb >= now || now - hb < DP_ALIVE_NS);
}

static void *wal_thread(void *arg)
{
	struct cp_wal *w = arg;
	uint64_t last_work = px_clock_ns();

	while (!atomic_load(&w->quit)) {
		uint64_t pid;
		if (dp_alive(w, &pid) && w->shm->dp_wal_mode != 0 &&
		    atomic_load(&w->shm->wal_open_pid) != pid)
			wal_recover(w, pid);
		if (atomic_load(&w->snap_req) != w->snap_taken)
			wal_snapshot_run(w);
		int rc = wal_write_round(w);
		uint64_t now = px_clock_ns();
		if (rc > 0) {
			last_work = now;
			count_records(w);
			/* async: no reply waits for us, so let records gather into
			 * larger writes (fewer submissions, less CPU taken from the
			 * lcores); the rings hold far more than this pause brings */
			if (w->mode == 1)
				nap(ASYNC_GATHER_NS);
			continue;
		}
		if (rc < 0) {
			nap(RETRY_NS);
			continue;
		}
		if (w->st.state == CP_WAL_WAITING && dp_alive(w, &pid))
			set_state(w, CP_WAL_RUNNING);
		wal_maybe_compact(w);
		/* poll fast while records keep coming (sync mode latency), then back off */
		nap(now - last_work < IDLE_SPIN_NS ? 20000 : 1000000);
	}
	/* write and fsync what is left before leaving */
	wal_drain(w);
	return NULL;
}

int cp_wal_start(struct cp_wal *w)
{
	if (w->mode == 0)
		return 0;
	int rc = wal_compactor_start(w);
	if (rc != 0)
		return rc;
	w->compactor_started = true;
	rc = pthread_create(&w->thr, NULL, wal_thread, w);
	if (rc != 0)
		return -rc;
	w->started = true;
	return 0;
}

void cp_wal_stop(struct cp_wal *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->quit, true);
	if (w->started)
		pthread_join(w->thr, NULL);
	if (w->compactor_started)
		wal_compactor_stop(w);
	if (w->uring_ok)
		io_uring_queue_exit(&w->ring);
	if (w->fd >= 0)
		close(w->fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->buf);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Create dir if missing (its parent must exist); check we may write in it. */
static int dir_ready(const char *dir, char *err, size_t n)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0700) != 0) {
			snprintf(err, n, "WAL directory %s: %s (wal_dir must be a writable directory; "
				 "its parent must exist)", dir, strerror(errno));
			return -1;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, n, "WAL directory %s: not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(err, n, "WAL directory %s: %s (pollux-cp must be able to write there)", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

struct cp_wal *cp_wal_open(const struct px_settings *s, struct px_shm_hdr *shm, bool repair,
			   char *err, size_t n)
{
	struct cp_wal *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, n, "out of memory");
		return NULL;
	}
	w->set = *s;
	w->shm = shm;
	w->fd = w->dirfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->snap_cond, NULL);
	pthread_mutex_init(&w->dir_lock, NULL);
	snprintf(w->st.mode, sizeof(w->st.mode), "%.7s", s->wal_mode);
	snprintf(w->st.dir, sizeof(w->st.dir), "%.255s", s->wal_dir);
	w->mode = strcmp(s->wal_mode, "sync") == 0 ? 2 : strcmp(s->wal_mode, "async") == 0 ? 1 : 0;
	if (w->mode == 0) {
		w->st.state = CP_WAL_OFF;
		return w;
	}
	w->st.state = CP_WAL_WAITING;
	w->seg_size = s->wal_segment_mb << 20;
	w->fsync_ns = s->wal_fsync_ms * 1000000ULL;
	if (dir_ready(s->wal_dir, err, n) != 0)
		goto fail;
	w->dirfd = open(s->wal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0) {
		snprintf(err, n, "WAL directory %s: %s", s->wal_dir, strerror(errno));
		goto fail;
	}
	/* the start: torn tail truncated, corruption refused (or cut) */
	struct wal_read_report rep;
	int rc = wal_read(s->wal_dir, WAL_READ_FIX_TAIL | (repair ? WAL_READ_REPAIR : 0), NULL, NULL,
			  &rep);
	if (rc != 0) {
		snprintf(err, n, "%s%s", rep.msg,
			 rc == -EBADMSG ? "; to start anyway, cutting it: pollux-cp --repair" : "");
		goto fail;
	}
	if (rep.torn)
		printf("pollux-cp: WAL: torn tail truncated: %s at offset %" PRIu64 " (%" PRIu64
		       " bytes past the last whole record: a write the crash interrupted)\n",
		       rep.torn_file, rep.torn_off, rep.torn_bytes);
	if (rep.cut_bytes)
		printf("pollux-cp: WAL: --repair cut %" PRIu64 " bytes in %" PRIu64
		       " spans; copies are in %s/*.cut\n", rep.cut_bytes, rep.corrupt_spans, s->wal_dir);
	printf("pollux-cp: WAL %s in %s: %" PRIu64 " records in %" PRIu64 " files\n", s->wal_mode,
	       s->wal_dir, rep.records, rep.files);
	w->st.torn = rep.torn;
	w->st.torn_bytes = rep.torn_bytes;
	w->st.cut_bytes = rep.cut_bytes;
	memcpy(w->last, rep.last_lsn, sizeof(w->last));
	memcpy(w->written, rep.last_lsn, sizeof(w->written));
	memcpy(w->written0, rep.last_lsn, sizeof(w->written0));
	wal_disk_usage(w);
	/* a dataplane continues its LSNs past everything on disk */
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++) {
		w->durable[i] = atomic_load(&px_shm_lcore(shm, i)->durable_lsn);
		if (rep.last_lsn[i] > w->durable[i]) {
			w->durable[i] = rep.last_lsn[i];
			atomic_store(&px_shm_lcore(shm, i)->durable_lsn, w->durable[i]);
		}
		if (w->durable[i] > w->written[i])
			w->written[i] = w->durable[i];
	}
	w->buf_cap = shm->ring_bytes > BUF_MIN ? shm->ring_bytes : BUF_MIN;
	if (posix_memalign((void **)&w->buf, 4096, w->buf_cap) != 0) {
		snprintf(err, n, "WAL buffer: out of memory");
		goto fail;
	}
	rc = io_uring_queue_init(8, &w->ring, 0);
	if (rc == 0) {
		struct iovec iov = { .iov_base = w->buf, .iov_len = w->buf_cap };
		int files[1] = { -1 };
		if (io_uring_register_buffers(&w->ring, &iov, 1) == 0 &&
		    io_uring_register_files(&w->ring, files, 1) == 0) {
			w->uring_ok = true;
		} else {
			io_uring_queue_exit(&w->ring);
		}
	}
	if (!w->uring_ok)
		fprintf(stderr, "pollux-cp: WAL: io_uring unavailable (%s): using pwrite/fdatasync\n",
			strerror(rc < 0 ? -rc : EPERM));
	rc = segment_open(w, rep.next_seq);
	if (rc != 0) {
		snprintf(err, n, "WAL segment in %s: %s", s->wal_dir, strerror(-rc));
		goto fail;
	}
	return w;
fail:
	cp_wal_stop(w);
	return NULL;
}

void cp_wal_set_fsync_ms(struct cp_wal *w, uint64_t ms)
{
	if (w != NULL)
		atomic_store(&w->fsync_ns, ms * 1000000ULL);
}

bool cp_wal_ready(struct cp_wal *w, uint32_t dp_mode, uint64_t dp_pid, char *why, size_t n)
{
	static const char *const modes[] = { "off", "async", "sync" };
	int mine = w == NULL ? 0 : w->mode;

	if ((int)dp_mode != mine) {
		snprintf(why, n, "pollux-dp has wal_mode=%s but pollux-cp has wal_mode=%s: give both "
			 "the same", dp_mode < 3 ? modes[dp_mode] : "?", modes[mine]);
		return false;
	}
	if (mine == 0)
		return true;
	if (atomic_load(&w->shm->wal_open_pid) == dp_pid) {
		/* and every lcore takes writes (it opens its log at its next tick) */
		unsigned lcores = w->shm->dp_lcores;
		for (unsigned i = 0; i < lcores && i < PX_SHM_LCORES_MAX; i++)
			if (atomic_load(&px_shm_lcore(w->shm, i)->wal_opened) != dp_pid) {
				snprintf(why, n, "dataplane lcore %u is opening its write-ahead log", i);
				return false;
			}
		return true;
	}
	snprintf(why, n, "%s", w->st.state == CP_WAL_FAILED ? "WAL failed: see wal status" :
			       "replaying the write-ahead log into the dataplane");
	return false;
}

void cp_wal_status(struct cp_wal *w, struct cp_wal_status *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->st;
	pthread_mutex_unlock(&w->lock);
	out->lcores = w->shm->dp_lcores <= PX_SHM_LCORES_MAX ? w->shm->dp_lcores : PX_SHM_LCORES_MAX;
	for (unsigned i = 0; i < PX_SHM_LCORES_MAX; i++) {
		out->pushed_lsn[i] = atomic_load(&px_shm_ring(w->shm, i, 0)->head_lsn);
		out->durable_lsn[i] = atomic_load(&px_shm_lcore(w->shm, i)->durable_lsn);
	}
}
