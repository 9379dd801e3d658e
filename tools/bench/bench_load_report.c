/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What `pollux-bench udp` and `pollux-bench tcp` print: the live progress
 * line on stderr, and the summary, as text or as one JSON object on stdout;
 * the few lines that differ by transport say so. Latencies are recorded
 * in nanoseconds and printed in microseconds. Formatting only.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "bench_load.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

void load_counters_add(struct load_counters *sum, const struct load_counters *c)
{
	sum->sent += LOAD(&c->sent);
	sum->hits += LOAD(&c->hits);
	sum->misses += LOAD(&c->misses);
	sum->stale += LOAD(&c->stale);
	sum->stored += LOAD(&c->stored);
	sum->bad_values += LOAD(&c->bad_values);
	sum->server_errors += LOAD(&c->server_errors);
	sum->garbled += LOAD(&c->garbled);
	sum->bad_frames += LOAD(&c->bad_frames);
	sum->timeouts += LOAD(&c->timeouts);
	sum->late += LOAD(&c->late);
	sum->stray += LOAD(&c->stray);
	sum->send_failures += LOAD(&c->send_failures);
	sum->preload_failed += LOAD(&c->preload_failed);
	sum->lost += LOAD(&c->lost);
	sum->conn_failures += LOAD(&c->conn_failures);
}

/* The server's hit ratio: stale and bad values are hits too, for the cache. */
static double hit_ratio(const struct load_counters *c)
{
	uint64_t found = c->hits + c->stale + c->bad_values;
	uint64_t gets = found + c->misses;

	return gets > 0 ? (double)found / (double)gets : 0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

void load_report_progress(FILE *f, const struct load_opts *o, double t, double rps,
			  uint64_t p99_ns, const struct load_counters *c)
{
	fprintf(f, "\r[%s %.1fs] %.1f kreq/s  p99 %.0fus  hits %.1f%%  timeouts %" PRIu64
		"  errors %" PRIu64 "   ", o->cmd, t, rps / 1000.0, us(p99_ns),
		100.0 * hit_ratio(c), c->timeouts, load_errors(c));
	fflush(f);
}

static const char *loop_name(const struct load_opts *o)
{
	return o->loop == LOAD_LOOP_OPEN ? "open" : "closed";
}

static const char *proto_name(const struct load_opts *o)
{
	return o->proto == LOAD_PROTO_META ? "meta" : "text";
}

static double rps(const struct load_result *r)
{
	uint64_t replies = load_ok(&r->c) + r->c.bad_values + r->c.server_errors + r->c.garbled;

	return r->duration_s > 0 ? (double)replies / r->duration_s : 0;
}

void load_report_text(FILE *f, const struct load_opts *o, const struct load_result *r)
{
	const struct load_counters *c = &r->c;
	const struct hist *h = &r->hist;
	bool tcp = o->transport == LOAD_TCP;
	char dist[32];

	fprintf(f, "%s %s:%u%s, %s protocol, %s loop, %u %s%s, %u thread%s, ", o->cmd,
		o->server_str, o->port, o->partition_aware ? " (+partition)" : "",
		proto_name(o), loop_name(o), o->conns, tcp ? "connections" : "sockets",
		!tcp ? "" : o->uring ? " (io_uring)" : " (epoll)",
		o->threads, o->threads == 1 ? "" : "s");
	if (o->loop == LOAD_LOOP_OPEN)
		fprintf(f, "%.0f req/s offered\n", o->rate);
	else
		fprintf(f, "depth %u\n", o->depth);
	fprintf(f, "keys       %" PRIu64 " x %u B, values %u B, %s, get ratio %.3g\n", o->keys,
		o->key_size, o->value_size, load_opts_dist(o, dist, sizeof(dist)), o->get_ratio);
	if (o->preload)
		fprintf(f, "preload    %" PRIu64 " sets, %" PRIu64 " stored, %" PRIu64
			" keys failed, %" PRIu64 " timeouts, %.2f s\n", r->pre.sent,
			r->pre.stored, r->pre.preload_failed, r->pre.timeouts, r->preload_s);
	fprintf(f, "requests   %" PRIu64 " in %.2f s%s: %.0f replies/s\n", c->sent,
		r->duration_s, r->interrupted ? " (interrupted)" : "", rps(r));
	fprintf(f, "ok         %" PRIu64 " (hits %" PRIu64 ", misses %" PRIu64 ", stored %" PRIu64
		", stale %" PRIu64 "), hit ratio %.2f%%\n", load_ok(c), c->hits, c->misses,
		c->stored, c->stale, 100.0 * hit_ratio(c));
	if (tcp) {
		fprintf(f, "errors     %" PRIu64 " (bad values %" PRIu64 ", server errors %" PRIu64
			", garbled %" PRIu64 ", lost with their connection %" PRIu64 ")\n",
			load_errors(c), c->bad_values, c->server_errors, c->garbled, c->lost);
		fprintf(f, "timeouts   %" PRIu64 " (after %u ms), connections failed %" PRIu64
			" of %u\n", c->timeouts, o->timeout_ms, c->conn_failures + r->pre.conn_failures,
			o->conns);
	} else {
		fprintf(f, "errors     %" PRIu64 " (bad values %" PRIu64 ", server errors %" PRIu64
			", garbled %" PRIu64 ", bad frames %" PRIu64 ")\n", load_errors(c),
			c->bad_values, c->server_errors, c->garbled, c->bad_frames);
		fprintf(f, "timeouts   %" PRIu64 " (after %u ms), late %" PRIu64 ", stray %" PRIu64
			", send failures %" PRIu64 "\n", c->timeouts, o->timeout_ms, c->late,
			c->stray, c->send_failures);
	}
	fprintf(f, "latency us p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f%s\n",
		us(hist_percentile(h, 50)), us(hist_percentile(h, 90)),
		us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)), us(h->max),
		hist_mean(h) / 1000.0,
		o->loop == LOAD_LOOP_OPEN ? " (from intended send times)" : "");
}

void load_report_json(FILE *f, const struct load_opts *o, const struct load_result *r)
{
	const struct load_counters *c = &r->c;
	const struct hist *h = &r->hist;
	char dist[32];

	fprintf(f, "{\"bench\":\"%s\",\"server\":\"%s\",\"port\":%u,\"partitions\":%u,"
		"\"partition_aware\":%s,\"hash_seed\":%" PRIu64 ",\"proto\":\"%s\","
		"\"loop\":\"%s\",\"rate\":%.0f,\"conns\":%u,\"depth\":%u,\"io\":\"%s\",\"threads\":%u,"
		"\"keys\":%" PRIu64 ",\"key_size\":%u,\"value_size\":%u,\"dist\":\"%s\","
		"\"get_ratio\":%g,\"seconds\":%g,\"requests_limit\":%" PRIu64 ","
		"\"timeout_ms\":%u,\"preload\":%s,\"seed\":%" PRIu64 ",\"value_version\":%u,",
		o->cmd, o->server_str, o->port, o->partitions, o->partition_aware ? "true" : "false",
		o->hash_seed, proto_name(o), loop_name(o),
		o->loop == LOAD_LOOP_OPEN ? o->rate : 0, o->conns, o->depth,
		o->uring ? "uring" : "epoll", o->threads, o->keys,
		o->key_size, o->value_size, load_opts_dist(o, dist, sizeof(dist)), o->get_ratio,
		o->seconds, o->requests, o->timeout_ms, o->preload ? "true" : "false", o->seed,
		o->value_version);
	fprintf(f, "\"preload_sets\":%" PRIu64 ",\"preload_stored\":%" PRIu64
		",\"preload_failed\":%" PRIu64 ",\"preload_timeouts\":%" PRIu64
		",\"preload_errors\":%" PRIu64 ",\"preload_s\":%.3f,",
		r->pre.sent, r->pre.stored, r->pre.preload_failed, r->pre.timeouts,
		load_errors(&r->pre), r->preload_s);
	fprintf(f, "\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"errors\":%" PRIu64
		",\"timeouts\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
		",\"stored\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"bad_values\":%" PRIu64
		",\"server_errors\":%" PRIu64 ",\"garbled\":%" PRIu64 ",\"bad_frames\":%" PRIu64
		",\"late\":%" PRIu64 ",\"stray\":%" PRIu64 ",\"send_failures\":%" PRIu64
		",\"lost\":%" PRIu64 ",\"conn_failures\":%" PRIu64 ",\"failures\":%" PRIu64 ",",
		c->sent, load_ok(c), load_errors(c), c->timeouts, c->hits, c->misses, c->stored,
		c->stale, c->bad_values, c->server_errors, c->garbled, c->bad_frames, c->late,
		c->stray, c->send_failures, c->lost, c->conn_failures + r->pre.conn_failures,
		load_failures(o, r));
	fprintf(f, "\"duration_s\":%.3f,\"interrupted\":%s,\"rps\":%.1f,\"hit_ratio\":%.6f,"
		"\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
		"\"max_us\":%.1f,\"min_us\":%.1f,\"mean_us\":%.1f}\n",
		r->duration_s, r->interrupted ? "true" : "false", rps(r), hit_ratio(c),
		us(hist_percentile(h, 50)), us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
		us(hist_percentile(h, 99.9)), us(h->max), h->count > 0 ? us(h->min) : 0,
		hist_mean(h) / 1000.0);
}
