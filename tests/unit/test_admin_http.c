/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of pollux-cp's management interfaces against a test double of
 * cp.h (a fake struct cp with a canned snapshot, no shared region, no
 * dataplane): the admin socket's file handling and every command over a
 * real unix socket, its error cases (bad JSON, unknown command, over-long
 * line, too many clients), and the HTTP server's /health, /ready (503 then
 * 200) and /metrics, whose text is checked here and by prometheus_client's
 * parser when /usr/bin/python3 has it. admin.c, admin_cmd.c and http.c are
 * included to reach their static functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../control/admin.c"
#include "../../control/admin_cmd.c"
#include "../../control/http.c"
#include "../../control/wal/wal_report.c"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/wait.h>

/* ---- the test double of cp.h ---- */

struct cp {
	struct px_settings set;
	struct cp_snapshot snap;
	bool ready;
	int flush_rc;
	unsigned flushes;
	uint64_t started;
};

void cp_snapshot(struct cp *cp, struct cp_snapshot *s)
{
	struct timespec ts;

	*s = cp->snap;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->taken_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool cp_ready(struct cp *cp, char *why, size_t n)
{
	snprintf(why, n, "%s", cp->ready ? "serving" : "no dataplane has attached");
	return cp->ready;
}

const struct px_settings *cp_settings(struct cp *cp)
{
	return &cp->set;
}

uint64_t cp_started(struct cp *cp)
{
	return cp->started;
}

bool cp_key_runtime(const char *key)
{
	return strcmp(key, "mem_mb") == 0 || strcmp(key, "log_level") == 0;
}

int cp_config_set(struct cp *cp, const char *key, const char *value, char *msg, size_t n)
{
	struct px_settings s = cp->set;
	const char *why = "";
	int rc = px_settings_set(&s, key, value, &why);

	if (rc != 0) {
		snprintf(msg, n, "%s: %s", key, why);
		return rc;
	}
	if (!cp_key_runtime(key)) {
		snprintf(msg, n, "%s cannot change at run time", key);
		return -EPERM;
	}
	cp->set = s;
	snprintf(msg, n, "%s applied", key);
	return 0;
}

int cp_config_get(struct cp *cp, const char *key, char *out, size_t n)
{
	return px_settings_get(&cp->set, key, out, n);
}

int cp_flush(struct cp *cp, char *msg, size_t n)
{
	if (cp->flush_rc != 0) {
		snprintf(msg, n, "dataplane did not answer within 2 s");
		return cp->flush_rc;
	}
	cp->flushes++;
	snprintf(msg, n, "flushed 2 partitions");
	return 0;
}

/* The write-ahead log is off in this double. */
void cp_wal_info(struct cp *cp, struct cp_wal_status *out)
{
	(void)cp;
	memset(out, 0, sizeof(*out));
	snprintf(out->mode, sizeof(out->mode), "off");
	out->lcores = 2; /* as many as the fake dataplane */
}

int cp_wal_snapshot_now(struct cp *cp, char *msg, size_t n)
{
	(void)cp;
	snprintf(msg, n, "the write-ahead log is off (wal_mode=off)");
	return -ENOTSUP;
}

const char *cp_wal_state_name(enum cp_wal_state s)
{
	return s == CP_WAL_OFF ? "off" : "other";
}

/* Two lcores with known counters; lcore i has (i + 1) times lcore 0's. */
static struct cp *fake_cp(void)
{
	struct cp *cp = calloc(1, sizeof(*cp));
	struct cp_snapshot *s = &cp->snap;

	assert_non_null(cp);
	px_settings_defaults(&cp->set);
	cp->started = (uint64_t)time(NULL) - 30;
	s->generation = 7;
	s->dp_attached = true;
	s->dp_alive = true;
	s->dp_state = PX_DP_SERVING;
	s->dp_pid = 4242;
	s->dp_uptime_s = 100;
	s->dp_heartbeat_age_ms = 3;
	s->lcores = 2;
	s->mem_limit = 128u << 20;
	s->tsc_hz = 2000000000u;
	s->ip = 0xc6120001; /* 198.18.0.1 */
	s->udp_port = 11211;
	snprintf(s->version, sizeof(s->version), "0.1.0");
	snprintf(s->port, sizeof(s->port), "we\"ird\\port");
	snprintf(s->iface, sizeof(s->iface), "veth0");
	for (unsigned i = 0; i < 2; i++) {
		struct px_shm_lcore *l = &s->lc[i];
		uint64_t k = i + 1, v = 1;
#define T_X_FILL(n) l->n = k * v++;
		PX_SHM_COUNTERS(T_X_FILL)
#undef T_X_FILL
		l->get_hits = 75 * k;
		l->get_misses = 25 * k;
		l->cmd_set = 40 * k;
		l->cas_hits = 5 * k, l->cas_misses = 3 * k, l->cas_badval = 2 * k;
		l->busy_cycles = 2000000000u * k; /* k seconds */
		l->lat_hist[px_shm_lat_bucket(1000)] = 90 * k;
		l->lat_hist[px_shm_lat_bucket(100000)] = 10 * k;
		l->lat_count = 100 * k;
		l->lat_sum_ns = (90 * 1000 + 10 * 100000) * k;
#define T_X_SUM(n) s->total.n += l->n;
		PX_SHM_COUNTERS(T_X_SUM)
#undef T_X_SUM
		for (unsigned b = 0; b < PX_SHM_LAT_BUCKETS; b++)
			s->total.lat_hist[b] += l->lat_hist[b];
	}
	return cp;
}

/* ---- admin socket helpers ---- */

struct fixture {
	struct cp *cp;
	char dir[64];
	char path[100];
	int lfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cp = fake_cp();
	snprintf(f->dir, sizeof(f->dir), "/tmp/px-admin-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/run/pollux/admin.sock", f->dir);
	f->lfd = admin_open(f->path);
	assert_true(f->lfd >= 0);
	*state = f;
	return 0;
}

/* Wait (bounded) until every admin client thread has finished. */
static void clients_drain(void)
{
	for (int i = 0; i < 300 && atomic_load(&admin_clients) != 0; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&admin_clients), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[160];

	clients_drain();
	close(f->lfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->cp);
	free(f);
	return 0;
}

/* A connected client whose connection pollux-cp has accepted. */
static int client(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	admin_accept(f->cp, f->lfd);
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Next reply line as JSON (a byte at a time: simple, and replies are small). */
static json_t *recv_reply(int fd)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	json_error_t err;

	assert_non_null(buf);
	for (;;) {
		assert_true(n < cap);
		ssize_t r = recv(fd, buf + n, 1, 0);
		assert_true(r == 1);
		if (buf[n] == '\n')
			break;
		n++;
	}
	json_t *j = json_loadb(buf, n, 0, &err);
	if (j == NULL)
		fail_msg("reply is not JSON: %s: %.*s", err.text, (int)n, buf);
	free(buf);
	assert_true(json_is_object(j));
	return j;
}

static json_t *call(int fd, const char *line)
{
	send_all(fd, line, strlen(line));
	send_all(fd, "\n", 1);
	return recv_reply(fd);
}

static void assert_ok(const json_t *r)
{
	if (!json_is_true(json_object_get(r, "ok")))
		fail_msg("not ok: %s", json_string_value(json_object_get(r, "error")));
}

static void assert_error(const json_t *r, const char *needle)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_non_null(e);
	if (strstr(e, needle) == NULL)
		fail_msg("error '%s' lacks '%s'", e, needle);
}

static json_int_t jget(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", key);
	return json_integer_value(v);
}

/* ---- admin socket ---- */

static void test_admin_open_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char parent[160];

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(parent, sizeof(parent), "%s/run/pollux", f->dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_true(fcntl(f->lfd, F_GETFL) & O_NONBLOCK);
	/* nothing pending: returns at once */
	admin_accept(f->cp, f->lfd);

	/* a live socket is not stolen */
	errno = 0;
	assert_int_equal(admin_open(f->path), -1);
	assert_int_equal(errno, EADDRINUSE);

	/* a stale one (its server is gone) is replaced */
	close(f->lfd);
	f->lfd = admin_open(f->path);
	assert_true(f->lfd >= 0);

	/* a file that is not a socket is left alone */
	char other[160];
	snprintf(other, sizeof(other), "%s/plain", f->dir);
	int fd = open(other, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	errno = 0;
	assert_int_equal(admin_open(other), -1);
	assert_int_equal(errno, EEXIST);
	errno = 0;
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(admin_open(longp), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

static void test_admin_status_version(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);

	json_t *r = call(fd, "{\"cmd\":\"status\"}");
	assert_ok(r);
	assert_true(json_is_false(json_object_get(r, "ready")));
	assert_string_equal(json_string_value(json_object_get(r, "reason")),
			    "no dataplane has attached");
	const json_t *dp = json_object_get(r, "dataplane"), *cpj = json_object_get(r, "cp");
	assert_true(json_is_true(json_object_get(dp, "attached")));
	assert_true(json_is_true(json_object_get(dp, "alive")));
	assert_string_equal(json_string_value(json_object_get(dp, "state")), "serving");
	assert_int_equal(jget(dp, "pid"), 4242);
	assert_int_equal(jget(dp, "uptime_s"), 100);
	assert_int_equal(jget(dp, "lcores"), 2);
	assert_int_equal(jget(dp, "udp_port"), 11211);
	assert_string_equal(json_string_value(json_object_get(dp, "ip")), "198.18.0.1");
	assert_string_equal(json_string_value(json_object_get(dp, "iface")), "veth0");
	assert_string_equal(json_string_value(json_object_get(dp, "port")), "we\"ird\\port");
	assert_int_equal(jget(cpj, "pid"), getpid());
	assert_true(jget(cpj, "uptime_s") >= 30);
	assert_int_equal(jget(json_object_get(r, "region"), "generation"), 7);
	json_decref(r);

	f->cp->ready = true;
	r = call(fd, "{\"cmd\":\"status\"}");
	assert_true(json_is_true(json_object_get(r, "ready")));
	json_decref(r);

	r = call(fd, "{\"cmd\":\"version\"}");
	assert_ok(r);
	assert_string_equal(json_string_value(json_object_get(r, "dataplane")), "0.1.0");
	assert_int_equal(jget(r, "shm_abi"), PX_SHM_ABI);
	json_decref(r);
	close(fd);
}

static void test_admin_stats(void **state)
{
	struct fixture *f = *state;
	const struct cp_snapshot *s = &f->cp->snap;
	int fd = client(f);
	json_t *r = call(fd, "{\"cmd\":\"stats\"}");

	assert_ok(r);
	assert_true(jget(r, "taken_ns") > 0);
	assert_int_equal(jget(r, "tsc_hz"), 2000000000);
	const json_t *t = json_object_get(r, "total");
#define T_X_CHECK(n) assert_int_equal(jget(t, #n), s->total.n);
	PX_SHM_COUNTERS(T_X_CHECK)
#undef T_X_CHECK
	assert_true(json_real_value(json_object_get(r, "hit_ratio")) == 0.75);
	const json_t *lat = json_object_get(r, "latency_us");
	/* 90% in [768, 1024) ns, 10% in [98304, 131072) ns */
	double p50 = json_real_value(json_object_get(lat, "p50"));
	double p99 = json_real_value(json_object_get(lat, "p99"));
	assert_true(p50 >= 0.768 && p50 <= 1.024);
	assert_true(p99 >= 98.304 && p99 <= 131.072);
	assert_int_equal(jget(lat, "count"), 300);
	assert_int_equal(json_array_size(json_object_get(r, "lat_hist")), PX_SHM_LAT_BUCKETS);
	assert_int_equal(json_array_size(json_object_get(r, "lat_bucket_lower_ns")),
			 PX_SHM_LAT_BUCKETS);
	const json_t *per = json_object_get(r, "per_lcore");
	assert_int_equal(json_array_size(per), 2);
	assert_int_equal(jget(json_array_get(per, 1), "lcore"), 1);
	assert_int_equal(jget(json_array_get(per, 1), "rx_pkts"), s->lc[1].rx_pkts);
	json_decref(r);

	r = call(fd, "{\"cmd\":\"lcores\"}");
	assert_ok(r);
	const json_t *lc = json_object_get(r, "lcores");
	assert_int_equal(json_array_size(lc), 2);
	assert_int_equal(jget(json_array_get(lc, 0), "busy_cycles"), 2000000000);
	assert_int_equal(jget(json_array_get(lc, 1), "sleeps"), s->lc[1].sleeps);
	assert_int_equal(jget(r, "tsc_hz"), 2000000000);
	json_decref(r);

	r = call(fd, "{\"cmd\":\"ports\"}");
	assert_ok(r);
	const json_t *p = json_array_get(json_object_get(r, "ports"), 0);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "iface")), "veth0");
	assert_int_equal(jget(p, "rx_packets"), s->total.rx_pkts);
	assert_int_equal(jget(p, "tx_drops"), s->total.tx_drops);
	json_decref(r);
	close(fd);
}

static void test_admin_config(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);

	json_t *r = call(fd, "{\"cmd\":\"config_get\"}");
	assert_ok(r);
	const json_t *cfg = json_object_get(r, "config");
#define T_X_KEY(name, type, def, lo, hi, doc) \
	assert_non_null(json_string_value(json_object_get(cfg, #name)));
	PX_SETTINGS(T_X_KEY)
#undef T_X_KEY
	assert_string_equal(json_string_value(json_object_get(cfg, "udp_port")), "11211");
	assert_int_equal(json_array_size(json_object_get(r, "runtime")), 2);
	json_decref(r);

	r = call(fd, "{\"cmd\":\"config_get\",\"key\":\"mem_mb\"}");
	assert_ok(r);
	assert_string_equal(json_string_value(json_object_get(r, "value")), "64");
	assert_true(json_is_true(json_object_get(r, "runtime")));
	json_decref(r);

	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"mem_mb\",\"value\":256}");
	assert_ok(r);
	assert_string_equal(json_string_value(json_object_get(r, "value")), "256");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"log_level\",\"value\":\"debug\"}");
	assert_ok(r);
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_get\",\"key\":\"mem_mb\"}");
	assert_string_equal(json_string_value(json_object_get(r, "value")), "256");
	json_decref(r);

	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"udp_port\",\"value\":\"99\"}");
	assert_error(r, "run time");
	assert_string_equal(json_string_value(json_object_get(r, "code")), "EPERM");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"nope\",\"value\":\"1\"}");
	assert_error(r, "unknown key");
	assert_string_equal(json_string_value(json_object_get(r, "code")), "ENOENT");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"mem_mb\",\"value\":\"lots\"}");
	assert_error(r, "mem_mb");
	assert_string_equal(json_string_value(json_object_get(r, "code")), "EINVAL");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"mem_mb\"}");
	assert_error(r, "needs");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_set\",\"key\":\"mem_mb\",\"value\":{}}");
	assert_error(r, "value");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_get\",\"key\":\"nope\"}");
	assert_error(r, "unknown key");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"config_get\",\"key\":3}");
	assert_error(r, "string");
	json_decref(r);
	close(fd);
}

static void test_admin_flush(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);

	json_t *r = call(fd, "{\"cmd\":\"flush\"}");
	assert_ok(r);
	assert_int_equal(f->cp->flushes, 1);
	json_decref(r);
	f->cp->flush_rc = -ETIMEDOUT;
	r = call(fd, "{\"cmd\":\"flush\"}");
	assert_error(r, "within 2 s");
	assert_string_equal(json_string_value(json_object_get(r, "code")), "ETIMEDOUT");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"help\"}");
	assert_ok(r);
	assert_int_equal(json_array_size(json_object_get(r, "commands")), ADMIN_NCMDS);
	json_decref(r);
	close(fd);
}

static void test_admin_errors(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);

	json_t *r = call(fd, "{\"cmd\":");
	assert_error(r, "bad JSON");
	json_decref(r);
	r = call(fd, "\x01\xff garbage");
	assert_error(r, "bad JSON");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"frobnicate\"}");
	assert_error(r, "unknown command 'frobnicate'");
	json_decref(r);
	r = call(fd, "[\"status\"]");
	assert_error(r, "JSON object");
	json_decref(r);
	r = call(fd, "{\"command\":\"status\"}");
	assert_error(r, "missing \"cmd\"");
	json_decref(r);
	r = call(fd, "{\"cmd\":42}");
	assert_error(r, "missing \"cmd\"");
	json_decref(r);
	r = call(fd, "{\"cmd\":\"status\",\"cmd\":\"stats\"}");
	assert_error(r, "duplicate");
	json_decref(r);

	/* blank lines are ignored; \r\n works */
	send_all(fd, "\n\r\n", 3);
	r = call(fd, "{\"cmd\":\"version\"}\r");
	assert_ok(r);
	json_decref(r);

	/* 1 MiB without a newline: one error, then the connection still works */
	size_t big = 1u << 20;
	char *huge = malloc(big);
	assert_non_null(huge);
	memset(huge, '[', big);
	send_all(fd, huge, big);
	free(huge);
	r = recv_reply(fd);
	assert_error(r, "longer than 65536");
	json_decref(r);
	/* the rest of the long line is skipped up to its newline, unanswered */
	send_all(fd, "]]]\n", 4);
	r = call(fd, "{\"cmd\":\"version\"}");
	assert_ok(r);
	json_decref(r);

	/* pipelined requests are answered in order */
	const char *three = "{\"cmd\":\"version\"}\n{\"cmd\":\"nope\"}\n{\"cmd\":\"ports\"}\n";
	send_all(fd, three, strlen(three));
	r = recv_reply(fd);
	assert_ok(r);
	json_decref(r);
	r = recv_reply(fd);
	assert_error(r, "unknown command");
	json_decref(r);
	r = recv_reply(fd);
	assert_non_null(json_object_get(r, "ports"));
	json_decref(r);

	/* a last request without its newline is answered at EOF */
	send_all(fd, "{\"cmd\":\"version\"}", 17);
	shutdown(fd, SHUT_WR);
	r = recv_reply(fd);
	assert_ok(r);
	json_decref(r);
	char c;
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
}

static void test_admin_client_cap(void **state)
{
	struct fixture *f = *state;
	int fds[ADMIN_CLIENTS_MAX + 1];

	for (int i = 0; i < ADMIN_CLIENTS_MAX; i++)
		fds[i] = client(f);
	fds[ADMIN_CLIENTS_MAX] = client(f);
	json_t *r = recv_reply(fds[ADMIN_CLIENTS_MAX]);
	assert_error(r, "too many");
	json_decref(r);
	for (int i = 0; i <= ADMIN_CLIENTS_MAX; i++)
		close(fds[i]);
	clients_drain();
	int fd = client(f);
	r = call(fd, "{\"cmd\":\"version\"}");
	assert_ok(r);
	json_decref(r);
	close(fd);
}

/* An idle client is dropped after ADMIN_TIMEOUT_S, freeing its slot. */
static void test_admin_idle_timeout(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	char c;

	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
	clients_drain();
}

/* ---- latency quantiles ---- */

static void test_lat_quantile(void **state)
{
	uint64_t h[PX_SHM_LAT_BUCKETS] = { 0 };

	(void)state;
	assert_true(cp_lat_quantile_ns(h, 0.5) < 0);
	h[px_shm_lat_bucket(1000)] = 100;
	double p = cp_lat_quantile_ns(h, 0.5);
	unsigned b = px_shm_lat_bucket(1000);
	assert_true(p >= px_shm_lat_lower(b) && p <= px_shm_lat_lower(b + 1));
	h[PX_SHM_LAT_BUCKETS - 1] = 100;
	assert_true(cp_lat_quantile_ns(h, 1.0) == px_shm_lat_lower(PX_SHM_LAT_BUCKETS - 1));
	double last = 0;
	for (double q = 0.01; q <= 1.0; q += 0.01) {
		double x = cp_lat_quantile_ns(h, q);
		assert_true(x >= last);
		last = x;
	}
}

/* ---- HTTP ---- */

static uint16_t http_port(void)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);

	assert_non_null(di);
	return di->port;
}

/* One request; the status code, and the body (malloc'd) in *body. */
static int http_get(const char *method, const char *path, char **body, char *ctype, size_t cn)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(http_port()),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char req[256];
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0 && buf != NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
	send_all(fd, req, strlen(req));
	for (;;) {
		assert_true(n + 1 < cap);
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	int status = 0;
	assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &status), 1);
	const char *ct = strcasestr(buf, "\r\nContent-Type: ");
	if (ctype != NULL) {
		assert_non_null(ct);
		ct += 16;
		snprintf(ctype, cn, "%.*s", (int)strcspn(ct, "\r"), ct);
	}
	char *sep = strstr(buf, "\r\n\r\n");
	assert_non_null(sep);
	*body = strdup(sep + 4);
	free(buf);
	return status;
}

static int http_setup(void **state)
{
	struct cp *cp = fake_cp();

	assert_int_equal(http_start(cp, "127.0.0.1:0"), 0);
	*state = cp;
	return 0;
}

static int http_teardown(void **state)
{
	http_stop();
	free(*state);
	return 0;
}

static void test_http_listen_parse(void **state)
{
	struct sockaddr_storage ss;

	(void)state;
	assert_int_equal(http_parse_listen("127.0.0.1:11280", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 11280);
	assert_int_equal(http_parse_listen("[::1]:9100", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(http_parse_listen("127.0.0.1", &ss), -1);
	assert_int_equal(http_parse_listen("127.0.0.1:", &ss), -1);
	assert_int_equal(http_parse_listen("localhost:80", &ss), -1);
	assert_int_equal(http_parse_listen("[::1:80", &ss), -1);
	assert_int_equal(http_parse_listen("1.2.3.4:http", &ss), -1);
	/* already running; and a bad address */
	assert_int_equal(http_start(NULL, "127.0.0.1:0"), -1);
}

static void test_http_health_ready(void **state)
{
	struct cp *cp = *state;
	char *body, ct[128];

	assert_int_equal(http_get("GET", "/health", &body, ct, sizeof(ct)), 200);
	assert_string_equal(ct, "application/json");
	assert_string_equal(body, "{\"status\":\"ok\"}\n");
	free(body);

	cp->ready = false;
	assert_int_equal(http_get("GET", "/ready", &body, NULL, 0), 503);
	assert_string_equal(body, "{\"ready\":false,\"reason\":\"no dataplane has attached\"}\n");
	free(body);
	cp->ready = true;
	assert_int_equal(http_get("GET", "/ready", &body, NULL, 0), 200);
	assert_string_equal(body, "{\"ready\":true}\n");
	free(body);
	cp->ready = false;
	assert_int_equal(http_get("GET", "/ready", &body, NULL, 0), 503);
	free(body);

	assert_int_equal(http_get("GET", "/nope", &body, NULL, 0), 404);
	free(body);
	assert_int_equal(http_get("GET", "/metrics/x", &body, NULL, 0), 404);
	free(body);
	assert_int_equal(http_get("POST", "/metrics", &body, NULL, 0), 405);
	free(body);
	assert_int_equal(http_get("HEAD", "/metrics", &body, NULL, 0), 200);
	assert_string_equal(body, "");
	free(body);
}

static void assert_has_line(const char *text, const char *line)
{
	char want[512];

	assert_true(strlen(line) + 3 <= sizeof(want));
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("/metrics lacks the line: %s", line);
}

/*
 * The exposition parsed by prometheus_client: every family typed, the
 * histogram cumulative and consistent, the escaped label intact. Exit 77:
 * prometheus_client missing (skip).
 */
static const char *const prom_check_py =
	"import sys\n"
	"try:\n"
	"    from prometheus_client.parser import text_string_to_metric_families as parse\n"
	"except ImportError:\n"
	"    sys.exit(77)\n"
	"fams = {f.name: f for f in parse(open(sys.argv[1]).read())}\n"
	"assert fams['memcached_up'].samples[0].value == 1\n"
	"assert fams['memcached_commands'].type == 'counter'\n"
	"cmd = {(s.labels['command'], s.labels['status']): s.value\n"
	"       for s in fams['memcached_commands'].samples if s.name.endswith('_total')}\n"
	"assert cmd[('get', 'hit')] == 225 and cmd[('get', 'miss')] == 75, cmd\n"
	"assert cmd[('set', 'hit')] == 120 - 30, cmd\n"
	"assert cmd[('cas', 'badval')] == 6, cmd\n"
	"h = fams['pollux_request_duration_seconds']\n"
	"assert h.type == 'histogram'\n"
	"b = [s for s in h.samples if s.name.endswith('_bucket')]\n"
	"les = [float(s.labels['le']) for s in b]\n"
	"assert les == sorted(les) and les[-1] == float('inf'), les\n"
	"vals = [s.value for s in b]\n"
	"assert vals == sorted(vals) and vals[-1] == 300, vals\n"
	"cnt = [s.value for s in h.samples if s.name.endswith('_count')][0]\n"
	"assert cnt == 300\n"
	"busy = {s.labels['lcore']: s.value for s in fams['pollux_lcore_busy_seconds'].samples\n"
	"        if s.name.endswith('_total')}\n"
	"assert busy == {'0': 1.0, '1': 2.0}, busy\n"
	"info = fams['pollux_dataplane_info'].samples[0].labels\n"
	"assert info['port'] == 'we\"ird\\\\port', info\n"
	"for n, f in fams.items():\n"
	"    assert f.type in ('counter', 'gauge', 'histogram'), (n, f.type)\n"
	"    assert f.documentation, n\n"
	"    assert f.samples, n\n"
	"print('%d metric families parsed' % len(fams))\n";

static void test_http_metrics(void **state)
{
	struct cp *cp = *state;
	char *body, ct[128], cmd[512];
	char py[] = "/tmp/px-prom-XXXXXX.py", txt[] = "/tmp/px-metrics-XXXXXX";

	(void)cp;
	assert_int_equal(http_get("GET", "/metrics", &body, ct, sizeof(ct)), 200);
	assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
	assert_has_line(body, "# TYPE memcached_commands_total counter");
	assert_has_line(body, "memcached_commands_total{command=\"get\",status=\"hit\"} 225");
	assert_has_line(body, "memcached_commands_total{command=\"set\",status=\"hit\"} 90");
	assert_has_line(body, "memcached_up 1");
	assert_has_line(body, "memcached_limit_bytes 134217728");
	assert_has_line(body, "memcached_version{version=\"0.1.0\"} 1");
	const struct cp_snapshot *s = &cp->snap;
	char want[96];
	snprintf(want, sizeof(want), "memcached_current_connections %llu",
		 (unsigned long long)s->total.tcp_curr_conns);
	assert_has_line(body, want);
	snprintf(want, sizeof(want), "memcached_connections_total %llu",
		 (unsigned long long)s->total.tcp_accepts);
	assert_has_line(body, want);
	snprintf(want, sizeof(want), "pollux_lcore_tcp_connections{lcore=\"1\"} %llu",
		 (unsigned long long)s->lc[1].tcp_curr_conns);
	assert_has_line(body, want);
	assert_has_line(body, "pollux_dataplane_up 1");
	assert_has_line(body, "pollux_dataplane_heartbeat_age_seconds 0.003");
	assert_has_line(body, "pollux_lcore_busy_seconds_total{lcore=\"1\"} 2.000000000");
	assert_has_line(body, "pollux_request_duration_seconds_bucket{le=\"+Inf\"} 300");
	assert_has_line(body, "pollux_request_duration_seconds_count 300");
	assert_has_line(body, "pollux_dataplane_info{version=\"0.1.0\",port=\"we\\\"ird\\\\port\","
			      "iface=\"veth0\"} 1");
	assert_true(body[strlen(body) - 1] == '\n');

	int fd = mkstemp(txt);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	fd = mkstemps(py, 3);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, prom_check_py, strlen(prom_check_py)),
			 (ssize_t)strlen(prom_check_py));
	close(fd);
	free(body);
	if (access("/usr/bin/python3", X_OK) != 0) {
		unlink(txt), unlink(py);
		skip();
	}
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s", py, txt);
	int st = system(cmd);
	unlink(txt);
	unlink(py);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest admin[] = {
		cmocka_unit_test_setup_teardown(test_admin_open_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_status_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_client_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_idle_timeout, setup, teardown),
		cmocka_unit_test(test_lat_quantile),
	};
	const struct CMUnitTest http[] = {
		cmocka_unit_test(test_http_listen_parse),
		cmocka_unit_test(test_http_health_ready),
		cmocka_unit_test(test_http_metrics),
	};
	int failed = cmocka_run_group_tests_name("admin", admin, NULL, NULL);

	return failed + cmocka_run_group_tests_name("http", http, http_setup, http_teardown);
}
