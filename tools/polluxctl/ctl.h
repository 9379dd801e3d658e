/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * polluxctl's internals: the admin-socket client (one JSON request line,
 * one JSON reply line) and the commands, which print either the server's
 * JSON or a human-readable table. Exit codes are the CTL_EXIT_* below.
 */
#ifndef PX_CTL_H
#define PX_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum {
	CTL_EXIT_OK = 0,         /* the command succeeded */
	CTL_EXIT_FAILED = 1,     /* the server answered ok:false, or the exchange broke */
	CTL_EXIT_USAGE = 2,      /* bad command line */
	CTL_EXIT_NOT_RUNNING = 3 /* no pollux-cp listening on the socket */
};

struct ctl {
	const char *socket;      /* admin socket path */
	bool json;               /* print the server's JSON */
	long count;              /* top: refreshes before exiting (0: until ^C) */
	double interval;         /* top: seconds between refreshes */
};

/*
 * Send req (consumed) and return the reply object, or NULL with *rc set to
 * an exit code and the reason printed on stderr. A reply of ok:false is
 * returned as is: see ctl_ok().
 */
json_t *ctl_call(const struct ctl *c, json_t *req, int *rc);
/* ctl_call of {"cmd":cmd}. */
json_t *ctl_cmd(const struct ctl *c, const char *cmd, int *rc);
/* true for ok:true; else prints the error on stderr. */
bool ctl_ok(const json_t *reply);
/* Print reply as JSON (pretty on a terminal), consume it, return the exit code. */
int ctl_print_json(json_t *reply);
/*
 * A reply to show as text, or NULL when it is already dealt with (*rc holds
 * the exit code): no reply (rc as ctl_cmd left it), printed as JSON under
 * --json, or a failure (reported by ctl_ok).
 */
json_t *ctl_for_text(const struct ctl *c, json_t *reply, int *rc);

/* Integer / number fields, 0 when absent. */
uint64_t ctl_u64(const json_t *o, const char *key);
double ctl_f64(const json_t *o, const char *key);
const char *ctl_str(const json_t *o, const char *key);
/* "1h02m", "3d04h", "42s" */
void ctl_fmt_duration(char *buf, size_t n, uint64_t s);
/* "12.3 MiB" */
void ctl_fmt_bytes(char *buf, size_t n, double b);

/* stats.c */
int ctl_stats(const struct ctl *c);
int ctl_lcores(const struct ctl *c);
/* top.c */
int ctl_top(const struct ctl *c);

#endif
