/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin socket's commands (docs/operations.md): one request line in,
 * one reply object out. Pure request handling: no sockets, no threads; the
 * control plane is read and changed only through cp.h. Every reply has
 * "ok"; failures carry "error" (and "code" where an errno explains it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_pvt.h"
#include "cp_lat.h"
#include "wal/wal_report.h"

#ifndef PX_VERSION
#define PX_VERSION "unknown"
#endif

/* ---- replies ---- */

static json_t *jint(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static const char *dp_state_name(enum px_dp_state s)
{
	switch (s) {
	case PX_DP_NONE:
		return "none";
	case PX_DP_STARTING:
		return "starting";
	case PX_DP_SERVING:
		return "serving";
	case PX_DP_STOPPING:
		return "stopping";
	}
	return "unknown";
}

static json_t *ip_string(uint32_t ip)
{
	struct in_addr a = { .s_addr = htonl(ip) };
	char buf[INET_ADDRSTRLEN];

	return json_string(inet_ntop(AF_INET, &a, buf, sizeof(buf)) ? buf : "?");
}

static struct cp_snapshot *snap_take(struct cp *cp, char *err, size_t n)
{
	struct cp_snapshot *s = malloc(sizeof(*s));

	if (s == NULL)
		snprintf(err, n, "out of memory");
	else
		cp_snapshot(cp, s);
	return s;
}

/* {"p50":µs,"p99":µs,"p999":µs,"mean":µs,"count":n}, nulls when empty. */
static json_t *latency_json(const struct px_shm_lcore *l)
{
	static const struct { const char *name; double q; } qs[] = {
		{ "p50", 0.50 }, { "p99", 0.99 }, { "p999", 0.999 },
	};
	json_t *o = json_object();
	uint64_t n = cp_lat_count(l->lat_hist);

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		json_object_set_new(o, qs[i].name,
				    n ? json_real(cp_lat_quantile_ns(l->lat_hist, qs[i].q) / 1e3)
				      : json_null());
	json_object_set_new(o, "mean", l->lat_count ? json_real((double)l->lat_sum_ns /
								 (double)l->lat_count / 1e3)
						    : json_null());
	json_object_set_new(o, "count", jint(n));
	return o;
}

static json_t *hit_ratio_json(const struct px_shm_lcore *l)
{
	uint64_t g = l->get_hits + l->get_misses;

	return g ? json_real((double)l->get_hits / (double)g) : json_null();
}

/* Every PX_SHM_COUNTERS field of l, by name. */
static json_t *counters_json(const struct px_shm_lcore *l)
{
	json_t *o = json_object();

#define ADMIN_X_COUNTER(n) json_object_set_new(o, #n, jint(l->n));
	PX_SHM_COUNTERS(ADMIN_X_COUNTER)
#undef ADMIN_X_COUNTER
	return o;
}

static json_t *hist_json(const uint64_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jint(v[i]));
	return a;
}

/* ---- commands: fill r (which holds "ok":true) or return -1 with err ---- */

typedef int (*admin_cmd_fn)(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n);

static int cmd_status(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	const struct px_settings *set = cp_settings(cp);
	struct cp_snapshot *s = snap_take(cp, err, n);
	char why[256];
	uint64_t now = (uint64_t)time(NULL), started = cp_started(cp);

	(void)req;
	if (s == NULL)
		return -1;
	bool ready = cp_ready(cp, why, sizeof(why));
	json_object_set_new(r, "ready", json_boolean(ready));
	json_object_set_new(r, "reason", json_string(why));
	json_object_set_new(r, "cp", json_pack("{s:I, s:s, s:I, s:I, s:s, s:s}",
		"pid", (json_int_t)getpid(), "version", PX_VERSION,
		"started", (json_int_t)started,
		"uptime_s", (json_int_t)(now > started ? now - started : 0),
		"admin_socket", set->admin_socket, "http_listen", set->http_listen));
	json_object_set_new(r, "region", json_pack("{s:s, s:o, s:i}",
		"path", set->shm_path, "generation", jint(s->generation), "abi", PX_SHM_ABI));
	json_t *dp = json_object();
	json_object_set_new(dp, "attached", json_boolean(s->dp_attached));
	json_object_set_new(dp, "alive", json_boolean(s->dp_alive));
	json_object_set_new(dp, "state", json_string(dp_state_name(s->dp_state)));
	json_object_set_new(dp, "pid", jint(s->dp_pid));
	json_object_set_new(dp, "uptime_s", jint(s->dp_uptime_s));
	json_object_set_new(dp, "heartbeat_age_ms", jint(s->dp_heartbeat_age_ms));
	json_object_set_new(dp, "version", json_string(s->version));
	json_object_set_new(dp, "lcores", jint(s->lcores));
	json_object_set_new(dp, "ip", ip_string(s->ip));
	json_object_set_new(dp, "udp_port", jint(s->udp_port));
	json_object_set_new(dp, "port", json_string(s->port));
	json_object_set_new(dp, "iface", json_string(s->iface));
	json_object_set_new(dp, "mem_limit", jint(s->mem_limit));
	json_object_set_new(r, "dataplane", dp);
	free(s);
	return 0;
}

static int cmd_stats(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	struct cp_snapshot *s = snap_take(cp, err, n);
	double lower[PX_SHM_LAT_BUCKETS];

	(void)req;
	if (s == NULL)
		return -1;
	json_object_set_new(r, "taken_ns", jint(s->taken_ns));
	json_object_set_new(r, "dp_alive", json_boolean(s->dp_alive));
	json_object_set_new(r, "uptime_s", jint(s->dp_uptime_s));
	json_object_set_new(r, "tsc_hz", jint(s->tsc_hz));
	json_object_set_new(r, "lcores", jint(s->lcores));
	json_object_set_new(r, "mem_limit", jint(s->mem_limit));
	json_object_set_new(r, "total", counters_json(&s->total));
	json_object_set_new(r, "hit_ratio", hit_ratio_json(&s->total));
	json_object_set_new(r, "latency_us", latency_json(&s->total));
	json_object_set_new(r, "lat_hist", hist_json(s->total.lat_hist, PX_SHM_LAT_BUCKETS));
	json_t *lo = json_array();
	for (unsigned b = 0; b < PX_SHM_LAT_BUCKETS; b++) {
		lower[b] = px_shm_lat_lower(b);
		json_array_append_new(lo, json_real(lower[b]));
	}
	json_object_set_new(r, "lat_bucket_lower_ns", lo);
	json_t *per = json_array();
	for (unsigned i = 0; i < s->lcores; i++) {
		json_t *o = counters_json(&s->lc[i]);
		json_object_set_new(o, "lcore", jint(i));
		json_object_set_new(o, "published_ns", jint(s->lc[i].published_ns));
		json_object_set_new(o, "hit_ratio", hit_ratio_json(&s->lc[i]));
		json_object_set_new(o, "latency_us", latency_json(&s->lc[i]));
		json_array_append_new(per, o);
	}
	json_object_set_new(r, "per_lcore", per);
	free(s);
	return 0;
}

static int cmd_lcores(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	struct cp_snapshot *s = snap_take(cp, err, n);

	(void)req;
	if (s == NULL)
		return -1;
	json_object_set_new(r, "taken_ns", jint(s->taken_ns));
	json_object_set_new(r, "tsc_hz", jint(s->tsc_hz));
	json_object_set_new(r, "uptime_s", jint(s->dp_uptime_s));
	json_t *a = json_array();
	for (unsigned i = 0; i < s->lcores; i++) {
		const struct px_shm_lcore *l = &s->lc[i];
		json_t *o = json_object();
		json_object_set_new(o, "lcore", jint(i));
		json_object_set_new(o, "published_ns", jint(l->published_ns));
		json_object_set_new(o, "busy_cycles", jint(l->busy_cycles));
		json_object_set_new(o, "loops", jint(l->loops));
		json_object_set_new(o, "idle_loops", jint(l->idle_loops));
		json_object_set_new(o, "sleeps", jint(l->sleeps));
		json_object_set_new(o, "rx_pkts", jint(l->rx_pkts));
		json_object_set_new(o, "tx_pkts", jint(l->tx_pkts));
		json_object_set_new(o, "rx_bytes", jint(l->rx_bytes));
		json_object_set_new(o, "tx_bytes", jint(l->tx_bytes));
		json_object_set_new(o, "rx_drops", jint(l->rx_drops));
		json_object_set_new(o, "tx_drops", jint(l->tx_drops));
		json_object_set_new(o, "curr_items", jint(l->curr_items));
		json_object_set_new(o, "bytes", jint(l->bytes));
		json_array_append_new(a, o);
	}
	json_object_set_new(r, "lcores", a);
	free(s);
	return 0;
}

static int cmd_ports(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	struct cp_snapshot *s = snap_take(cp, err, n);

	(void)req;
	if (s == NULL)
		return -1;
	json_t *a = json_array();
	if (s->dp_attached) {
		const struct px_shm_lcore *t = &s->total;
		json_t *p = json_object();
		json_object_set_new(p, "name", json_string(s->port));
		json_object_set_new(p, "iface", json_string(s->iface));
		json_object_set_new(p, "ip", ip_string(s->ip));
		json_object_set_new(p, "udp_port", jint(s->udp_port));
		json_object_set_new(p, "queues", jint(s->lcores));
		json_object_set_new(p, "rx_packets", jint(t->rx_pkts));
		json_object_set_new(p, "tx_packets", jint(t->tx_pkts));
		json_object_set_new(p, "rx_bytes", jint(t->rx_bytes));
		json_object_set_new(p, "tx_bytes", jint(t->tx_bytes));
		json_object_set_new(p, "rx_drops", jint(t->rx_drops));
		json_object_set_new(p, "tx_drops", jint(t->tx_drops));
		json_array_append_new(a, p);
	}
	json_object_set_new(r, "taken_ns", jint(s->taken_ns));
	json_object_set_new(r, "ports", a);
	free(s);
	return 0;
}

/* The key of a request: NULL when absent; -1 when present but not a string. */
static int req_key(const json_t *req, const char **key, char *err, size_t n)
{
	const json_t *k = json_object_get(req, "key");

	*key = NULL;
	if (k == NULL || json_is_null(k))
		return 0;
	if (!json_is_string(k)) {
		snprintf(err, n, "\"key\" must be a string");
		return -1;
	}
	*key = json_string_value(k);
	return 0;
}

static const char *const setting_names[] = {
#define ADMIN_X_NAME(name, type, def, lo, hi, doc) #name,
	PX_SETTINGS(ADMIN_X_NAME)
#undef ADMIN_X_NAME
};

static int cmd_config_get(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	char val[512];
	const char *key;

	if (req_key(req, &key, err, n) != 0)
		return -1;
	if (key != NULL) {
		if (cp_config_get(cp, key, val, sizeof(val)) != 0) {
			snprintf(err, n, "unknown key '%.64s'", key);
			return -1;
		}
		json_object_set_new(r, "key", json_string(key));
		json_object_set_new(r, "value", json_string(val));
		json_object_set_new(r, "runtime", json_boolean(cp_key_runtime(key)));
		return 0;
	}
	json_t *all = json_object(), *rt = json_array();
	for (size_t i = 0; i < sizeof(setting_names) / sizeof(setting_names[0]); i++) {
		if (cp_config_get(cp, setting_names[i], val, sizeof(val)) == 0)
			json_object_set_new(all, setting_names[i], json_string(val));
		if (cp_key_runtime(setting_names[i]))
			json_array_append_new(rt, json_string(setting_names[i]));
	}
	json_object_set_new(r, "config", all);
	json_object_set_new(r, "runtime", rt);
	return 0;
}

static const char *errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return "ENOENT";
	case EINVAL:
		return "EINVAL";
	case EPERM:
		return "EPERM";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ENODEV:
		return "ENODEV";
	case ENOTSUP:
		return "ENOTSUP";
	}
	return "EIO";
}

static int cmd_config_set(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	const json_t *v = json_object_get(req, "value");
	char val[512], msg[256] = "";
	const char *key;

	if (req_key(req, &key, err, n) != 0)
		return -1;
	if (key == NULL || v == NULL) {
		snprintf(err, n, "config_set needs \"key\" and \"value\"");
		return -1;
	}
	if (json_is_string(v))
		snprintf(val, sizeof(val), "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(val, sizeof(val), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(val, sizeof(val), "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(val, sizeof(val), "%s", json_is_true(v) ? "yes" : "no");
	else {
		snprintf(err, n, "\"value\" must be a string, number or boolean");
		return -1;
	}
	int rc = cp_config_set(cp, key, val, msg, sizeof(msg));
	if (rc != 0) {
		snprintf(err, n, "%s", *msg ? msg : strerror(-rc));
		json_object_set_new(r, "code", json_string(errno_code(-rc)));
		return -1;
	}
	json_object_set_new(r, "key", json_string(key));
	json_object_set_new(r, "value", json_string(val));
	json_object_set_new(r, "message", json_string(msg));
	return 0;
}

static int cmd_flush(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	char msg[256] = "";

	(void)req;
	int rc = cp_flush(cp, msg, sizeof(msg));
	if (rc != 0) {
		snprintf(err, n, "%s", *msg ? msg : strerror(-rc));
		json_object_set_new(r, "code", json_string(errno_code(-rc)));
		return -1;
	}
	json_object_set_new(r, "message", json_string(*msg ? msg : "flushed"));
	return 0;
}

static int cmd_version(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	struct cp_snapshot *s = snap_take(cp, err, n);

	(void)req;
	if (s == NULL)
		return -1;
	json_object_set_new(r, "version", json_string(PX_VERSION));
	json_object_set_new(r, "dataplane", s->dp_attached && *s->version ? json_string(s->version)
									  : json_null());
	json_object_set_new(r, "shm_abi", json_integer(PX_SHM_ABI));
	free(s);
	return 0;
}

static int cmd_wal_status(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	struct cp_wal_status *st = malloc(sizeof(*st));

	(void)req;
	if (st == NULL) {
		snprintf(err, n, "out of memory");
		return -1;
	}
	cp_wal_info(cp, st);
	json_t *o = wal_status_json(st);
	json_object_update(r, o);
	json_decref(o);
	free(st);
	return 0;
}

static int cmd_snapshot(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	char msg[512] = "";

	(void)req;
	int rc = cp_wal_snapshot_now(cp, msg, sizeof(msg));
	if (rc != 0) {
		snprintf(err, n, "%s", *msg ? msg : strerror(-rc));
		json_object_set_new(r, "code", json_string(errno_code(-rc)));
		return -1;
	}
	json_object_set_new(r, "message", json_string(msg));
	return 0;
}

static int cmd_help(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n);

static const struct admin_cmd {
	const char *name;
	admin_cmd_fn fn;
} admin_cmds[] = {
	{ "status", cmd_status },         { "stats", cmd_stats },
	{ "config_get", cmd_config_get }, { "config_set", cmd_config_set },
	{ "flush", cmd_flush },           { "version", cmd_version },
	{ "lcores", cmd_lcores },         { "ports", cmd_ports },
	{ "help", cmd_help },             { "wal_status", cmd_wal_status },
	{ "snapshot", cmd_snapshot },
};

#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

static int cmd_help(struct cp *cp, const json_t *req, json_t *r, char *err, size_t n)
{
	json_t *a = json_array();

	(void)cp, (void)req, (void)err, (void)n;
	for (size_t i = 0; i < ADMIN_NCMDS; i++)
		json_array_append_new(a, json_string(admin_cmds[i].name));
	json_object_set_new(r, "commands", a);
	return 0;
}

json_t *admin_error(const char *msg, const json_t *extra)
{
	json_t *r = json_pack("{s:b, s:s}", "ok", 0, "error", msg);

	if (extra != NULL) {
		json_t *code = json_object_get(extra, "code");
		if (code != NULL)
			json_object_set(r, "code", code);
	}
	return r;
}

json_t *admin_handle(struct cp *cp, const char *line, size_t len)
{
	json_error_t jerr;
	char err[512];
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);

	if (req == NULL) {
		snprintf(err, sizeof(err), "bad JSON: %s (column %d)", jerr.text, jerr.column);
		return admin_error(err, NULL);
	}
	if (!json_is_object(req)) {
		json_decref(req);
		return admin_error("request must be a JSON object like {\"cmd\":\"status\"}", NULL);
	}
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (cmd == NULL) {
		json_decref(req);
		return admin_error("missing \"cmd\" (a string): try {\"cmd\":\"help\"}", NULL);
	}
	for (size_t i = 0; i < ADMIN_NCMDS; i++) {
		if (strcmp(cmd, admin_cmds[i].name) != 0)
			continue;
		json_t *r = json_pack("{s:b}", "ok", 1);
		err[0] = '\0';
		if (admin_cmds[i].fn(cp, req, r, err, sizeof(err)) != 0) {
			json_t *e = admin_error(*err ? err : "failed", r);
			json_decref(r);
			r = e;
		}
		json_decref(req);
		return r;
	}
	snprintf(err, sizeof(err), "unknown command '%.64s': try {\"cmd\":\"help\"}", cmd);
	json_decref(req);
	return admin_error(err, NULL);
}
