/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-wal: offline inspection of a WAL directory (format in
 * control/wal/wal_seg.h). dump prints every record, verify reads the log
 * as recovery would and changes nothing, repair truncates a torn tail and
 * cuts corrupt spans out of the middle, keeping each in a .cut file. Run
 * it on a directory no pollux-cp is writing to.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal/wal_seg.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pollux-wal dump DIR [--values] [--all]\n"
		   "       pollux-wal verify DIR\n"
		   "       pollux-wal repair DIR\n"
		   "dump    print every record recovery would apply (--all: also superseded\n"
		   "        files and duplicates; --values: the values too)\n"
		   "verify  read the log as recovery does, change nothing; exit 0 if clean,\n"
		   "        1 if a torn tail or corruption was found\n"
		   "repair  truncate a torn tail and cut corrupt spans (kept in *.cut files)\n"
		   "exit 2: bad usage, or the directory cannot be read\n");
}

/* Key or value bytes, printable ones as they are, others as \xNN. */
static void put_bytes(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (p[i] >= 0x21 && p[i] < 0x7f && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

struct dump {
	bool values;
	const char *file;
};

static int dump_rec(void *ctx, const struct px_wal_rec *r, const struct wal_file *f, uint64_t off)
{
	struct dump *d = ctx;
	if (d->file != f->path) {
		d->file = f->path;
		printf("# %s\n", f->path);
	}
	printf("%" PRIu64 " stream=%u lsn=%" PRIu64 " %s cmd=%s", off, r->stream, r->lsn,
	       px_wal_op_name(r->op), px_wal_cmd_name(r->cmd));
	if (r->op == PX_WAL_OP_FLUSH) {
		printf(" at=%u\n", r->exptime);
		return 0;
	}
	printf(" key=");
	put_bytes(r->key, r->klen);
	if (r->op == PX_WAL_OP_SET) {
		printf(" flags=%u exptime=%u cas=%" PRIu64 " bytes=%u%s", r->flags, r->exptime, r->cas,
		       r->vlen, (r->iflags & PX_WAL_IF_STALE) ? " stale" : "");
		if (d->values) {
			printf(" value=");
			put_bytes(r->value, r->vlen);
		}
	}
	printf(" time=%u\n", r->time);
	return 0;
}

static void summary(const struct wal_read_report *rep)
{
	unsigned streams = 0;
	for (unsigned s = 0; s < PX_WAL_STREAMS_MAX; s++)
		streams += rep->last_lsn[s] != 0;
	printf("files %" PRIu64 ", records %" PRIu64 " (%" PRIu64 " from a snapshot), bytes %" PRIu64
	       ", duplicates skipped %" PRIu64 ", LSN gaps %" PRIu64 ", streams %u\n",
	       rep->files, rep->records, rep->snap_records, rep->bytes, rep->dups, rep->gaps, streams);
	for (unsigned s = 0; s < PX_WAL_STREAMS_MAX; s++)
		if (rep->last_lsn[s])
			printf("stream %u: last LSN %" PRIu64 "\n", s, rep->last_lsn[s]);
}

int main(int argc, char **argv)
{
	struct wal_read_report rep;
	struct dump d = { 0 };
	unsigned flags = 0;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1], *dir = argv[2];
	for (int i = 3; i < argc; i++) {
		if (strcmp(cmd, "dump") == 0 && strcmp(argv[i], "--values") == 0)
			d.values = true;
		else if (strcmp(cmd, "dump") == 0 && strcmp(argv[i], "--all") == 0)
			flags |= WAL_READ_ALL;
		else {
			fprintf(stderr, "pollux-wal: unknown option '%s' for %s\n", argv[i], cmd);
			return 2;
		}
	}
	int rc;
	if (strcmp(cmd, "dump") == 0) {
		rc = wal_read(dir, flags, dump_rec, &d, &rep);
	} else if (strcmp(cmd, "verify") == 0) {
		rc = wal_read(dir, 0, NULL, NULL, &rep);
	} else if (strcmp(cmd, "repair") == 0) {
		rc = wal_read(dir, WAL_READ_FIX_TAIL | WAL_READ_REPAIR, NULL, NULL, &rep);
	} else {
		fprintf(stderr, "pollux-wal: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (rc == -EBADMSG) {
		fprintf(stderr, "pollux-wal: %s\n", rep.msg);
		summary(&rep);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "pollux-wal: %s\n", rep.msg[0] ? rep.msg : strerror(-rc));
		return 2;
	}
	summary(&rep);
	if (rep.torn)
		printf("torn tail: %s at offset %" PRIu64 ", %" PRIu64 " bytes %s\n", rep.torn_file,
		       rep.torn_off, rep.torn_bytes,
		       strcmp(cmd, "repair") == 0 ? "truncated" : "past the last valid record");
	if (rep.cut_bytes)
		printf("cut %" PRIu64 " bytes in %" PRIu64 " spans (kept in *.cut files)\n",
		       rep.cut_bytes, rep.corrupt_spans);
	if (strcmp(cmd, "verify") == 0) {
		if (rep.torn)
			return 1;
		printf("ok\n");
	}
	return 0;
}
