/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `polluxctl stats` and `polluxctl lcores`: the dataplane's counters as
 * tables. Rates and busy shares need two samples; `lcores` takes them half
 * a second apart (with --json it prints the single raw sample instead).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static void fmt_us(char *buf, size_t n, const json_t *v)
{
	if (json_is_number(v))
		snprintf(buf, n, "%.1f us", json_number_value(v));
	else
		snprintf(buf, n, "-");
}

static void print_latency(const json_t *lat)
{
	char p50[32], p99[32], p999[32], mean[32];

	fmt_us(p50, sizeof(p50), json_object_get(lat, "p50"));
	fmt_us(p99, sizeof(p99), json_object_get(lat, "p99"));
	fmt_us(p999, sizeof(p999), json_object_get(lat, "p999"));
	fmt_us(mean, sizeof(mean), json_object_get(lat, "mean"));
	printf("latency      p50 %s   p99 %s   p99.9 %s   mean %s   (%llu requests)\n", p50, p99,
	       p999, mean, (unsigned long long)ctl_u64(lat, "count"));
}

int ctl_stats(const struct ctl *c)
{
	static const char *const cols[] = { "rx_pkts", "tx_pkts",  "rx_drops",   "cmd_get",
					    "cmd_set", "get_hits", "curr_items", "bytes",
					    "evictions" };
	char up[32], used[32], lim[32];
	const char *key;
	json_t *v;
	int rc;
	json_t *r = ctl_for_text(c, ctl_cmd(c, "stats", &rc), &rc);

	if (r == NULL)
		return rc;
	const json_t *t = json_object_get(r, "total");
	const json_t *hr = json_object_get(r, "hit_ratio");
	ctl_fmt_duration(up, sizeof(up), ctl_u64(r, "uptime_s"));
	ctl_fmt_bytes(used, sizeof(used), (double)ctl_u64(t, "bytes"));
	ctl_fmt_bytes(lim, sizeof(lim), (double)ctl_u64(r, "mem_limit"));
	printf("dataplane    %s, %llu lcores, up %s\n",
	       json_is_true(json_object_get(r, "dp_alive")) ? "serving" : "NOT serving",
	       (unsigned long long)ctl_u64(r, "lcores"), up);
	if (json_is_number(hr))
		printf("hit ratio    %.2f%%\n", 100 * json_number_value(hr));
	else
		printf("hit ratio    - (no gets yet)\n");
	print_latency(json_object_get(r, "latency_us"));
	printf("memory       %s of %s, %llu items\n\ncounters (all lcores):\n", used, lim,
	       (unsigned long long)ctl_u64(t, "curr_items"));
	int i = 0;
	json_object_foreach((json_t *)t, key, v) {
		printf("  %-16s %12llu%s", key, (unsigned long long)ctl_u64(t, key),
		       ++i % 3 == 0 ? "\n" : "  ");
	}
	if (i % 3)
		putchar('\n');
	printf("\n%-5s", "lcore");
	for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		printf(" %12s", cols[k]);
	putchar('\n');
	size_t idx;
	json_array_foreach(json_object_get(r, "per_lcore"), idx, v) {
		printf("%-5llu", (unsigned long long)ctl_u64(v, "lcore"));
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
			printf(" %12llu", (unsigned long long)ctl_u64(v, cols[k]));
		putchar('\n');
	}
	json_decref(r);
	return CTL_EXIT_OK;
}

/* Counter b - a of one key, 0 when it went backwards (a dataplane restart). */
static double delta(const json_t *a, const json_t *b, const char *key)
{
	uint64_t x = ctl_u64(a, key), y = ctl_u64(b, key);

	return y > x ? (double)(y - x) : 0;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) != 0)
		;
}

int ctl_lcores(const struct ctl *c)
{
	int rc;
	json_t *a = ctl_cmd(c, "lcores", &rc), *b;

	if (a == NULL)
		return rc;
	if (c->json)
		return ctl_print_json(a);
	if (!ctl_ok(a)) {
		json_decref(a);
		return CTL_EXIT_FAILED;
	}
	sleep_s(0.5);
	b = ctl_cmd(c, "lcores", &rc);
	if (b == NULL || !ctl_ok(b)) {
		json_decref(a);
		json_decref(b);
		return b ? CTL_EXIT_FAILED : rc;
	}
	double hz = (double)ctl_u64(b, "tsc_hz");
	double wall = delta(a, b, "taken_ns") / 1e9;
	printf("%-5s %7s %7s %12s %12s %12s %14s %14s\n", "lcore", "busy", "idle", "loops/s",
	       "rx pkt/s", "tx pkt/s", "rx_pkts", "tx_pkts");
	const json_t *la = json_object_get(a, "lcores"), *lb = json_object_get(b, "lcores");
	for (size_t i = 0; i < json_array_size(lb); i++) {
		const json_t *x = json_array_get(la, i), *y = json_array_get(lb, i);
		double dt = delta(x, y, "published_ns") / 1e9;
		if (dt <= 0)
			dt = wall;
		double loops = delta(x, y, "loops");
		double busy = dt > 0 && hz > 0 ? delta(x, y, "busy_cycles") / (dt * hz) : 0;
		printf("%-5llu %6.1f%% %6.1f%% %12.0f %12.0f %12.0f %14llu %14llu\n",
		       (unsigned long long)ctl_u64(y, "lcore"), 100 * busy,
		       loops > 0 ? 100 * delta(x, y, "idle_loops") / loops : 0,
		       dt > 0 ? loops / dt : 0, dt > 0 ? delta(x, y, "rx_pkts") / dt : 0,
		       dt > 0 ? delta(x, y, "tx_pkts") / dt : 0,
		       (unsigned long long)ctl_u64(y, "rx_pkts"),
		       (unsigned long long)ctl_u64(y, "tx_pkts"));
	}
	if (json_array_size(lb) == 0)
		printf("(no dataplane lcores: is pollux-dp running?)\n");
	json_decref(a);
	json_decref(b);
	return CTL_EXIT_OK;
}
