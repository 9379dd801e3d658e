/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `polluxctl top`: a live view from two successive `stats` samples, every
 * --interval seconds (default 1) until ^C or --count refreshes: ops/s by
 * command, hit ratio, latency quantiles of the interval (from the
 * difference of the latency histograms), per-lcore busy share, memory,
 * items and evictions. With --json it prints one object per refresh (JSON
 * lines) for scripts. On a terminal each refresh redraws the screen.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_lat.h"
#include "ctl.h"

static volatile sig_atomic_t top_quit;

static void top_on_signal(int sig)
{
	(void)sig;
	top_quit = 1;
}

static double d(const json_t *a, const json_t *b, const char *key)
{
	uint64_t x = ctl_u64(a, key), y = ctl_u64(b, key);

	return y > x ? (double)(y - x) : 0;
}

/* What one refresh shows, computed from samples a then b. */
struct top_view {
	double dt;
	double ops[9]; /* the top_cmds order, then the total */
	double hit_ratio; /* -1: no gets in the interval */
	double lat_us[3]; /* p50 p99 p99.9, -1: no requests */
	double rx_pps, tx_pps, evict_ps;
	uint64_t mem_used, mem_limit, items, evictions, lcores;
	double busy[PX_SHM_LCORES_MAX];
	bool alive;
};

static const char *const top_cmds[] = { "get", "set", "touch", "delete", "incr",
					"decr", "flush", "meta" };

static void top_compute(const json_t *a, const json_t *b, struct top_view *v)
{
	const json_t *ta = json_object_get(a, "total"), *tb = json_object_get(b, "total");
	uint64_t hist[PX_SHM_LAT_BUCKETS];
	static const double qs[3] = { 0.5, 0.99, 0.999 };

	memset(v, 0, sizeof(*v));
	v->dt = d(a, b, "taken_ns") / 1e9;
	double dt = v->dt > 0 ? v->dt : 1;
	double n[8] = {
		d(ta, tb, "cmd_get"),
		d(ta, tb, "cmd_set"),
		d(ta, tb, "cmd_touch"),
		d(ta, tb, "delete_hits") + d(ta, tb, "delete_misses"),
		d(ta, tb, "incr_hits") + d(ta, tb, "incr_misses"),
		d(ta, tb, "decr_hits") + d(ta, tb, "decr_misses"),
		d(ta, tb, "cmd_flush"),
		d(ta, tb, "cmd_meta"),
	};
	for (int i = 0; i < 8; i++) {
		v->ops[i] = n[i] / dt;
		if (i < 7) /* meta commands are also counted as get/set/... */
			v->ops[8] += n[i] / dt;
	}
	double hits = d(ta, tb, "get_hits"), gets = hits + d(ta, tb, "get_misses");
	v->hit_ratio = gets > 0 ? hits / gets : -1;
	const json_t *la = json_object_get(a, "lat_hist"), *lb = json_object_get(b, "lat_hist");
	for (unsigned i = 0; i < PX_SHM_LAT_BUCKETS; i++) {
		json_int_t x = json_integer_value(json_array_get(la, i));
		json_int_t y = json_integer_value(json_array_get(lb, i));
		hist[i] = y > x ? (uint64_t)(y - x) : 0;
	}
	for (int i = 0; i < 3; i++) {
		double ns = cp_lat_quantile_ns(hist, qs[i]);
		v->lat_us[i] = ns < 0 ? -1 : ns / 1e3;
	}
	v->rx_pps = d(ta, tb, "rx_pkts") / dt;
	v->tx_pps = d(ta, tb, "tx_pkts") / dt;
	v->evict_ps = d(ta, tb, "evictions") / dt;
	v->mem_used = ctl_u64(tb, "bytes");
	v->mem_limit = ctl_u64(b, "mem_limit");
	v->items = ctl_u64(tb, "curr_items");
	v->evictions = ctl_u64(tb, "evictions");
	v->alive = json_is_true(json_object_get(b, "dp_alive"));
	double hz = (double)ctl_u64(b, "tsc_hz");
	const json_t *pa = json_object_get(a, "per_lcore"), *pb = json_object_get(b, "per_lcore");
	v->lcores = json_array_size(pb);
	if (v->lcores > PX_SHM_LCORES_MAX)
		v->lcores = PX_SHM_LCORES_MAX;
	for (size_t i = 0; i < v->lcores; i++) {
		const json_t *x = json_array_get(pa, i), *y = json_array_get(pb, i);
		double ldt = d(x, y, "published_ns") / 1e9;
		if (ldt <= 0)
			ldt = v->dt;
		double share = ldt > 0 && hz > 0 ? d(x, y, "busy_cycles") / (ldt * hz) : 0;
		v->busy[i] = share > 1 ? 1 : share;
	}
}

static json_t *num_or_null(double x)
{
	return x < 0 ? json_null() : json_real(x);
}

static void top_print_json(const struct top_view *v)
{
	json_t *ops = json_object(), *busy = json_array();

	for (int i = 0; i < 8; i++)
		json_object_set_new(ops, top_cmds[i], json_real(v->ops[i]));
	json_object_set_new(ops, "total", json_real(v->ops[8]));
	for (size_t i = 0; i < v->lcores; i++)
		json_array_append_new(busy, json_real(v->busy[i]));
	json_t *o = json_pack("{s:b, s:f, s:o, s:o, s:{s:o, s:o, s:o}, s:o, s:f, s:f, s:I, s:I, s:I,"
			      " s:I, s:f}",
			      "dp_alive", v->alive, "interval_s", v->dt, "ops_per_s", ops,
			      "hit_ratio", num_or_null(v->hit_ratio), "latency_us",
			      "p50", num_or_null(v->lat_us[0]), "p99", num_or_null(v->lat_us[1]),
			      "p999", num_or_null(v->lat_us[2]), "lcore_busy", busy,
			      "rx_pps", v->rx_pps, "tx_pps", v->tx_pps,
			      "mem_used", (json_int_t)v->mem_used, "mem_limit",
			      (json_int_t)v->mem_limit, "items", (json_int_t)v->items,
			      "evictions", (json_int_t)v->evictions, "evictions_per_s", v->evict_ps);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

static void fmt_lat(char *buf, size_t n, double us)
{
	if (us < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f us", us);
}

static void top_print(const struct top_view *v, const struct ctl *c, bool tty)
{
	char used[32], lim[32], l0[32], l1[32], l2[32];

	if (tty)
		fputs("\033[H\033[J", stdout);
	printf("pollux top: dataplane %s, %llu lcores, every %.1f s (^C quits)\n\n",
	       v->alive ? "serving" : "NOT serving", (unsigned long long)v->lcores, c->interval);
	printf("ops/s   %10.0f total\n       ", v->ops[8]);
	for (int i = 0; i < 8; i++)
		printf(" %s %.0f", top_cmds[i], v->ops[i]);
	putchar('\n');
	if (v->hit_ratio >= 0)
		printf("hits    %9.2f%%\n", 100 * v->hit_ratio);
	else
		printf("hits    %10s\n", "-");
	fmt_lat(l0, sizeof(l0), v->lat_us[0]);
	fmt_lat(l1, sizeof(l1), v->lat_us[1]);
	fmt_lat(l2, sizeof(l2), v->lat_us[2]);
	printf("latency  p50 %s  p99 %s  p99.9 %s\n", l0, l1, l2);
	ctl_fmt_bytes(used, sizeof(used), (double)v->mem_used);
	ctl_fmt_bytes(lim, sizeof(lim), (double)v->mem_limit);
	printf("memory   %s / %s (%.1f%%)  items %llu  evictions %llu (%.0f/s)\n", used, lim,
	       v->mem_limit ? 100.0 * (double)v->mem_used / (double)v->mem_limit : 0.0,
	       (unsigned long long)v->items, (unsigned long long)v->evictions, v->evict_ps);
	printf("packets  rx %.0f/s  tx %.0f/s\n\n%-6s %6s\n", v->rx_pps, v->tx_pps, "lcore",
	       "busy");
	for (size_t i = 0; i < v->lcores; i++)
		printf("%-6zu %5.1f%%\n", i, 100 * v->busy[i]);
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

static void sleep_until(double deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	double left = deadline - ((double)now.tv_sec + (double)now.tv_nsec / 1e9);
	if (left <= 0 || top_quit)
		return;
	struct timespec ts = { .tv_sec = (time_t)left,
			       .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };
	nanosleep(&ts, NULL); /* a signal ends it early, which is what ^C wants */
}

static double mono_s(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int ctl_top(const struct ctl *c)
{
	struct sigaction sa = { .sa_handler = top_on_signal };
	bool tty = !c->json && isatty(STDOUT_FILENO);
	struct top_view v;
	int rc = CTL_EXIT_OK;
	json_t *prev, *cur;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	prev = ctl_cmd(c, "stats", &rc);
	if (prev == NULL)
		return rc;
	if (!ctl_ok(prev)) {
		json_decref(prev);
		return CTL_EXIT_FAILED;
	}
	double next = mono_s() + c->interval;
	for (long n = 0; !top_quit && (c->count == 0 || n < c->count); n++) {
		sleep_until(next);
		if (top_quit)
			break;
		next += c->interval;
		cur = ctl_cmd(c, "stats", &rc);
		if (cur == NULL)
			break;
		if (!ctl_ok(cur)) {
			json_decref(cur);
			rc = CTL_EXIT_FAILED;
			break;
		}
		top_compute(prev, cur, &v);
		if (c->json)
			top_print_json(&v);
		else
			top_print(&v, c, tty);
		json_decref(prev);
		prev = cur;
	}
	json_decref(prev);
	return rc;
}
