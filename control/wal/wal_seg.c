/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * WAL files (format in wal_seg.h): headers, the directory listing, and the
 * one reader that recovery, compaction, `pollux-wal dump|verify|repair`
 * and the tests use, with its torn-tail and corruption rules. Files are
 * mapped read-only; the reader changes the directory only when asked to
 * (truncating a torn tail, cutting corrupt spans).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "px_compiler.h"

#include "wal_seg.h"


static uint32_t hdr_crc(const uint8_t *b)
{
	uint32_t c = px_crc32c(0, b, 60);
	return px_crc32c(c, b + 64, WAL_FILE_HDR - 64);
}

void wal_file_hdr_encode(const struct wal_file_hdr *h, void *buf)
{
	uint8_t *b = buf;

	memset(b, 0, WAL_FILE_HDR);
	px_store64(b, h->kind == WAL_KIND_SNAP ? WAL_SNAP_MAGIC : WAL_SEG_MAGIC);
	px_store32(b + 8, WAL_FILE_VERSION);
	px_store32(b + 12, WAL_FILE_HDR);
	px_store64(b + 16, h->seq);
	px_store64(b + 24, h->created);
	px_store32(b + 32, h->seg_size);
	px_store32(b + 36, h->streams);
	for (unsigned i = 0; i < PX_WAL_STREAMS_MAX; i++)
		px_store64(b + 64 + 8 * i, h->upto[i]);
	px_store32(b + 60, hdr_crc(b));
}

int wal_file_hdr_decode(const void *buf, size_t len, struct wal_file_hdr *h)
{
	const uint8_t *b = buf;

	if (len < WAL_FILE_HDR)
		return -ENODATA;
	uint64_t magic = px_load64(b);
	if ((magic != WAL_SEG_MAGIC && magic != WAL_SNAP_MAGIC) || px_load32(b + 8) != WAL_FILE_VERSION ||
	    px_load32(b + 12) != WAL_FILE_HDR || px_load32(b + 60) != hdr_crc(b))
		return -EBADMSG;
	memset(h, 0, sizeof(*h));
	h->kind = magic == WAL_SNAP_MAGIC ? WAL_KIND_SNAP : WAL_KIND_LOG;
	h->seq = px_load64(b + 16);
	h->created = px_load64(b + 24);
	h->seg_size = px_load32(b + 32);
	h->streams = px_load32(b + 36);
	for (unsigned i = 0; i < PX_WAL_STREAMS_MAX; i++)
		h->upto[i] = px_load64(b + 64 + 8 * i);
	return 0;
}

void wal_file_name(const char *dir, enum wal_file_kind kind, uint64_t seq, char *out, size_t n)
{
	if (kind == WAL_KIND_SNAP)
		snprintf(out, n, "%s/snap-%016" PRIx64 ".snap", dir, seq);
	else
		snprintf(out, n, "%s/wal-%016" PRIx64 ".log", dir, seq);
}

static int file_cmp(const void *a, const void *b)
{
	const struct wal_file *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

/* "wal-<16 hex>.log" or "snap-<16 hex>.snap": the seq, or -1. */
static int name_parse(const char *name, enum wal_file_kind *kind, uint64_t *seq)
{
	const char *hex;
	const char *ext;
	char *end;

	if (strncmp(name, "wal-", 4) == 0) {
		*kind = WAL_KIND_LOG;
		hex = name + 4;
		ext = ".log";
	} else if (strncmp(name, "snap-", 5) == 0) {
		*kind = WAL_KIND_SNAP;
		hex = name + 5;
		ext = ".snap";
	} else {
		return -1;
	}
	if (strlen(hex) != 16 + strlen(ext) || strcmp(hex + 16, ext) != 0)
		return -1;
	errno = 0;
	*seq = strtoull(hex, &end, 16);
	return end == hex + 16 && errno == 0 ? 0 : -1;
}

int wal_dir_list(const char *dir, struct wal_file **files, size_t *n)
{
	DIR *d = opendir(dir);
	struct wal_file *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;

	*files = NULL;
	*n = 0;
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		struct wal_file f = { 0 };
		size_t len = strlen(e->d_name);
		if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
			char p[1024];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p); /* an unfinished snapshot or segment */
			continue;
		}
		if (name_parse(e->d_name, &f.kind, &f.seq) != 0)
			continue;
		snprintf(f.path, sizeof(f.path), "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(f.path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		f.size = (uint64_t)st.st_size;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			struct wal_file *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = f;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), file_cmp);
	*files = v;
	*n = cnt;
	return 0;
}

/* A mapped file. */
struct map {
	const uint8_t *p;
	size_t len;
};

static int map_open(const char *path, struct map *m)
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	m->p = NULL;
	m->len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = -errno;
			close(fd);
			return e;
		}
		madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
		m->p = p;
		m->len = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

static void map_close(struct map *m)
{
	if (m->p != NULL)
		munmap((void *)m->p, m->len);
	m->p = NULL;
}

/* First 8-aligned offset >= from in m holding a valid record, or 0 (none). */
static uint64_t next_valid(const struct map *m, uint64_t from)
{
	from = (from + 7) & ~7ULL;
	for (uint64_t o = from; o + PX_WAL_REC_HDR <= m->len; o += 8) {
		struct px_wal_rec r;
		uint32_t n;
		if (px_wal_decode(m->p + o, m->len - o, &r, &n) == PX_WAL_DEC_OK)
			return o;
	}
	return 0;
}

/* Whether any file after index i holds a valid header and a valid record. */
static bool later_valid(const struct wal_file *files, size_t nfiles, size_t i)
{
	for (size_t j = i + 1; j < nfiles; j++) {
		struct map m;
		struct wal_file_hdr h;
		if (map_open(files[j].path, &m) != 0)
			continue;
		bool ok = wal_file_hdr_decode(m.p, m.len, &h) == 0 && next_valid(&m, WAL_FILE_HDR) != 0;
		map_close(&m);
		if (ok)
			return true;
	}
	return false;
}

/* Write len bytes to path (a .cut file); 0 or -errno. */
static int write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		b += w;
		len -= (size_t)w;
	}
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

/* A span [off, end) of a file to cut in repair. */
struct span {
	uint64_t off, end;
};

/*
 * Rewrite f without the spans (sorted, disjoint), saving each span's bytes
 * in <path>.<off>.cut. 0 or -errno.
 */
static int cut_spans(const struct wal_file *f, const struct map *m, const struct span *s,
		     size_t ns, struct wal_read_report *rep)
{
	char tmp[600], cut[600];
	uint8_t *buf = malloc(m->len ? m->len : 1);
	size_t len = 0;
	uint64_t at = 0;
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ns; i++) {
		memcpy(buf + len, m->p + at, s[i].off - at);
		len += s[i].off - at;
		snprintf(cut, sizeof(cut), "%s.%" PRIu64 ".cut", f->path, s[i].off);
		rc = write_file(cut, m->p + s[i].off, s[i].end - s[i].off);
		if (rc != 0)
			goto out;
		rep->cut_bytes += s[i].end - s[i].off;
		at = s[i].end;
	}
	memcpy(buf + len, m->p + at, m->len - at);
	len += m->len - at;
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	rc = write_file(tmp, buf, len);
	if (rc == 0 && rename(tmp, f->path) != 0)
		rc = -errno;
out:
	free(buf);
	return rc;
}

struct reader {
	const char *dir;
	unsigned flags;
	wal_rec_fn fn;
	void *ctx;
	struct wal_read_report *rep;
	uint64_t last[PX_WAL_STREAMS_MAX];
};

static int deliver(struct reader *rd, const struct px_wal_rec *r, const struct wal_file *f,
		   uint64_t off, bool snap)
{
	struct wal_read_report *rep = rd->rep;

	if (!snap && !(rd->flags & WAL_READ_ALL)) {
		uint64_t last = rd->last[r->stream];
		if (r->lsn <= last) {
			rep->dups++;
			return 0;
		}
		if (last != 0 && r->lsn != last + 1)
			rep->gaps++;
		rd->last[r->stream] = r->lsn;
	} else if (!snap && r->lsn > rd->last[r->stream]) {
		rd->last[r->stream] = r->lsn;
	}
	rep->records++;
	rep->snap_records += snap;
	return rd->fn != NULL ? rd->fn(rd->ctx, r, f, off) : 0;
}

/* Torn tail from file i at off: report, and truncate if asked. */
static int torn_tail(struct reader *rd, const struct wal_file *files, size_t nfiles, size_t i,
		     uint64_t off)
{
	struct wal_read_report *rep = rd->rep;
	uint64_t bytes = files[i].size - off;

	for (size_t j = i + 1; j < nfiles; j++)
		bytes += files[j].size;
	rep->torn = true;
	snprintf(rep->torn_file, sizeof(rep->torn_file), "%s", files[i].path);
	rep->torn_off = off;
	rep->torn_bytes = bytes;
	if (!(rd->flags & WAL_READ_FIX_TAIL))
		return 0;
	if (off < WAL_FILE_HDR) {
		if (unlink(files[i].path) != 0)
			return -errno;
	} else if (truncate(files[i].path, (off_t)off) != 0) {
		return -errno;
	}
	for (size_t j = i + 1; j < nfiles; j++)
		if (unlink(files[j].path) != 0)
			return -errno;
	return 0;
}

/*
 * Read one file. Returns 0 to go on, 1 when a torn tail ended the log, or
 * a negative errno / -EBADMSG.
 */
static int read_file(struct reader *rd, const struct wal_file *files, size_t nfiles, size_t i)
{
	struct wal_read_report *rep = rd->rep;
	const struct wal_file *f = &files[i];
	struct wal_file_hdr h;
	struct map m;
	struct span spans[64];
	size_t nspans = 0;
	int rc = map_open(f->path, &m);

	if (rc != 0) {
		snprintf(rep->msg, sizeof(rep->msg), "%s: %s", f->path, strerror(-rc));
		return rc;
	}
	if (wal_file_hdr_decode(m.p, m.len, &h) != 0 || h.seq != f->seq || h.kind != f->kind) {
		map_close(&m);
		if (!later_valid(files, nfiles, i))
			return torn_tail(rd, files, nfiles, i, 0) ?: 1;
		rep->corrupt_spans++;
		if (!(rd->flags & WAL_READ_REPAIR)) {
			snprintf(rep->msg, sizeof(rep->msg),
				 "%s: bad file header, and valid records follow: corruption in the "
				 "middle of the log (pollux-wal verify shows it; --repair cuts it, keeping "
				 "a copy)", f->path);
			return -EBADMSG;
		}
		char cut[600];
		snprintf(cut, sizeof(cut), "%s.0.cut", f->path);
		if (rename(f->path, cut) != 0)
			return -errno;
		rep->cut_bytes += f->size;
		return 0;
	}
	bool snap = f->kind == WAL_KIND_SNAP;
	if (snap)
		for (unsigned s = 0; s < PX_WAL_STREAMS_MAX; s++)
			if (h.upto[s] > rd->last[s])
				rd->last[s] = h.upto[s];
	rep->files++;
	uint64_t off = WAL_FILE_HDR;
	while (off < m.len) {
		struct px_wal_rec r;
		uint32_t n;
		int d = px_wal_decode(m.p + off, m.len - off, &r, &n);
		if (d == PX_WAL_DEC_OK) {
			rc = deliver(rd, &r, f, off, snap);
			if (rc != 0)
				goto out;
			off += n;
			continue;
		}
		uint64_t nv = next_valid(&m, off + 8);
		/* a snapshot is renamed in whole: never a torn tail */
		if (nv == 0 && !snap && !later_valid(files, nfiles, i)) {
			rep->bytes += off;
			map_close(&m);
			return torn_tail(rd, files, nfiles, i, off) ?: 1;
		}
		rep->corrupt_spans++;
		if (!(rd->flags & WAL_READ_REPAIR)) {
			snprintf(rep->msg, sizeof(rep->msg),
				 "%s: offset %" PRIu64 ": %s, and valid records follow: corruption "
				 "in the middle of the log (pollux-wal verify shows it; --repair cuts it, "
				 "keeping a copy)", f->path, off, px_wal_dec_str(d));
			rc = -EBADMSG;
			goto out;
		}
		uint64_t end = nv ? nv : m.len;
		if (nspans == sizeof(spans) / sizeof(spans[0])) {
			snprintf(rep->msg, sizeof(rep->msg), "%s: more than %zu corrupt spans: "
				 "not repairing this file", f->path, nspans);
			rc = -EBADMSG;
			goto out;
		}
		spans[nspans++] = (struct span){ off, end };
		off = end;
	}
	rep->bytes += m.len;
	if (nspans > 0)
		rc = cut_spans(f, &m, spans, nspans, rep);
out:
	map_close(&m);
	return rc;
}

int wal_read(const char *dir, unsigned flags, wal_rec_fn fn, void *ctx, struct wal_read_report *rep)
{
	struct reader rd = { .dir = dir, .flags = flags, .fn = fn, .ctx = ctx, .rep = rep };
	struct wal_file *files;
	size_t n, start = 0;

	memset(rep, 0, sizeof(*rep));
	int rc = wal_dir_list(dir, &files, &n);
	if (rc != 0) {
		snprintf(rep->msg, sizeof(rep->msg), "WAL directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	rep->next_seq = n ? files[n - 1].seq + 1 : 1;
	/* the newest complete snapshot supersedes everything before it */
	if (!(flags & WAL_READ_ALL))
		for (size_t i = n; i-- > 0;) {
			struct map m;
			struct wal_file_hdr h;
			if (files[i].kind != WAL_KIND_SNAP || map_open(files[i].path, &m) != 0)
				continue;
			bool ok = wal_file_hdr_decode(m.p, m.len, &h) == 0;
			map_close(&m);
			if (ok) {
				start = i;
				break;
			}
		}
	for (size_t i = start; i < n; i++) {
		if (files[i].kind == WAL_KIND_SNAP && i != start && !(flags & WAL_READ_ALL))
			continue; /* an older or broken snapshot */
		rc = read_file(&rd, files, n, i);
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
	}
	memcpy(rep->last_lsn, rd.last, sizeof(rd.last));
	free(files);
	return rc;
}
