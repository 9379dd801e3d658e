/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `pollux-bench udp`: memcached over UDP from plain Linux sockets, for
 * Pollux or any memcached; no DPDK EAL. This file sets the run up (keys,
 * destinations, workers), starts one thread per --threads, prints progress
 * every 0.5 s while they run and the summary after. The workers
 * (bench_udp_loop.c, bench_udp_recv.c) do all the I/O; every request ends
 * as a reply or a timeout, so every phase is bounded.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "px_clock.h"

#include "bench.h"
#include "bench_udp_pvt.h"

#define PROGRESS_NS 500000000ULL

static int udp_stop; /* SIGINT */

static void on_sigint(int sig)
{
	(void)sig;
	__atomic_store_n(&udp_stop, 1, __ATOMIC_RELAXED);
}

bool udp_stopping(const struct udp_worker *w)
{
	return __atomic_load_n(&udp_stop, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&w->run->abort, __ATOMIC_RELAXED);
}

bool udp_interrupted(void)
{
	return __atomic_load_n(&udp_stop, __ATOMIC_RELAXED) != 0;
}

static int run_init(struct udp_run *run, const struct udp_opts *o)
{
	int rc;

	run->o = o;
	run->timeout_ns = (uint64_t)o->timeout_ms * 1000000u;
	run->ndests = o->partition_aware ? o->partitions : 1;
	run->dests = calloc(run->ndests, sizeof(*run->dests));
	if (run->dests == NULL)
		return -ENOMEM;
	for (uint32_t p = 0; p < run->ndests; p++) {
		run->dests[p].sin_family = AF_INET;
		run->dests[p].sin_addr = o->server;
		run->dests[p].sin_port = htons((uint16_t)(o->port + p));
	}
	rc = bench_keys_build(&run->keys, o->keys, o->key_size, o->hash_seed);
	if (rc < 0)
		return rc;
	return zipf_init(&run->zipf, o->keys, o->zipf_s, o->seed, o->zipf_s > 0);
}

static void run_fini(struct udp_run *run)
{
	free(run->dests);
	bench_keys_free(&run->keys);
	zipf_free(&run->zipf);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	nanosleep(&ts, NULL);
}

static bool all_done(struct udp_worker *ws, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!__atomic_load_n(&ws[i].done, __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

/* Wait for the preload, showing its progress. Returns its length in seconds. */
static double wait_preload(struct udp_run *run, struct udp_worker *ws, uint32_t started)
{
	const struct udp_opts *o = run->o;
	uint64_t t0 = px_clock_ns(), next = t0 + PROGRESS_NS;
	bool printed = false;

	while (__atomic_load_n(&run->ready, __ATOMIC_ACQUIRE) < (int)started) {
		sleep_ns(1000000);
		if (o->json || !o->preload || px_clock_ns() < next)
			continue;
		next += PROGRESS_NS;

		struct udp_counters c = {0};
		for (uint32_t i = 0; i < o->threads; i++)
			udp_counters_add(&c, &ws[i].pc);
		fprintf(stderr, "\r[udp preload %.1fs] %" PRIu64 "/%" PRIu64 " keys stored  "
			"timeouts %" PRIu64 "   ", (double)(px_clock_ns() - t0) / 1e9, c.stored,
			o->keys, c.timeouts);
		printed = true;
	}
	if (printed)
		fputc('\n', stderr);
	return (double)(px_clock_ns() - t0) / 1e9;
}

/* Print progress every 0.5 s until every worker is done. */
static void watch(struct udp_run *run, struct udp_worker *ws)
{
	const struct udp_opts *o = run->o;
	struct hist *cur = malloc(sizeof(*cur)), *prev = malloc(sizeof(*prev));
	struct hist *delta = malloc(sizeof(*delta));
	uint64_t next = run->t0 + PROGRESS_NS, prev_replies = 0, prev_t = run->t0;
	bool printed = false;

	if (cur == NULL || prev == NULL || delta == NULL)
		goto out;
	hist_init(prev);
	while (!all_done(ws, o->threads)) {
		sleep_ns(5000000);
		uint64_t now = px_clock_ns();
		if (o->json || now < next)
			continue;
		next += PROGRESS_NS;

		struct udp_counters c = {0};
		hist_init(cur);
		for (uint32_t i = 0; i < o->threads; i++) {
			udp_counters_add(&c, &ws[i].c);
			hist_merge(cur, &ws[i].hist);
		}
		hist_delta(delta, cur, prev);
		uint64_t replies = cur->count;
		udp_report_progress(stderr, (double)(now - run->t0) / 1e9,
				    (double)(replies - prev_replies) * 1e9 / (double)(now - prev_t),
				    hist_percentile(delta, 99), &c);
		printed = true;
		prev_replies = replies;
		prev_t = now;
		struct hist *t = prev;
		prev = cur;
		cur = t;
	}
	if (printed)
		fputc('\n', stderr);
out:
	free(cur);
	free(prev);
	free(delta);
}

static void collect(struct udp_run *run, struct udp_worker *ws, struct udp_result *r)
{
	uint64_t t_last = run->t0;

	for (uint32_t i = 0; i < run->o->threads; i++) {
		udp_counters_add(&r->c, &ws[i].c);
		udp_counters_add(&r->pre, &ws[i].pc);
		hist_merge(&r->hist, &ws[i].hist);
		t_last = PX_MAX(t_last, PX_MAX(ws[i].t_last_reply, ws[i].t_issue_end));
	}
	r->duration_s = (double)(t_last - run->t0) / 1e9;
	r->interrupted = udp_interrupted();
}

static int exit_code(const struct udp_opts *o, const struct udp_result *r)
{
	if (udp_errors(&r->c) > 0) {
		fprintf(stderr, "pollux-bench udp: %" PRIu64 " wrong replies\n", udp_errors(&r->c));
		return BENCH_EXIT_FAIL;
	}
	if (r->c.sent > 0 && udp_ok(&r->c) == 0) {
		fprintf(stderr, "pollux-bench udp: no reply from %s:%u\n", o->server_str, o->port);
		return BENCH_EXIT_FAIL;
	}
	return BENCH_EXIT_OK;
}

int bench_udp_main(int argc, char **argv)
{
	struct udp_opts o;
	struct udp_run run = {0};
	struct udp_worker *ws = NULL;
	struct udp_result *res = NULL;
	struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
	uint32_t started = 0;
	int rc = udp_opts_parse(argc, argv, &o), code = BENCH_EXIT_FAIL;

	if (rc != 0)
		return rc > 0 ? BENCH_EXIT_OK : BENCH_EXIT_USAGE;
	udp_value_init();
	ws = aligned_alloc(PX_CACHE_LINE, sizeof(*ws) * o.threads);
	res = calloc(1, sizeof(*res));
	if (ws == NULL || res == NULL) {
		fprintf(stderr, "pollux-bench udp: out of memory\n");
		goto out;
	}
	memset(ws, 0, sizeof(*ws) * o.threads);
	for (uint32_t i = 0; i < o.threads; i++)
		ws[i].epfd = -1;
	rc = run_init(&run, &o);
	for (uint32_t i = 0; rc == 0 && i < o.threads; i++)
		rc = udp_worker_init(&ws[i], &run, i);
	if (rc < 0) {
		fprintf(stderr, "pollux-bench udp: setup failed: %s\n", strerror(-rc));
		goto out;
	}
	hist_init(&res->hist);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);
	for (; started < o.threads; started++) {
		rc = pthread_create(&ws[started].tid, NULL, udp_worker_main, &ws[started]);
		if (rc != 0) {
			fprintf(stderr, "pollux-bench udp: pthread_create: %s\n", strerror(rc));
			__atomic_store_n(&run.abort, 1, __ATOMIC_RELAXED);
			break;
		}
	}
	res->preload_s = wait_preload(&run, ws, started);
	run.t0 = px_clock_ns();
	run.t_end = o.seconds > 0 ? run.t0 + (uint64_t)(o.seconds * 1e9) : 0;
	__atomic_store_n(&run.go, 1, __ATOMIC_RELEASE);
	if (started == o.threads)
		watch(&run, ws);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	sigaction(SIGINT, &old_sa, NULL);
	collect(&run, ws, res);
	if (started < o.threads)
		goto out;
	if (__atomic_load_n(&run.abort, __ATOMIC_RELAXED)) {
		fprintf(stderr, "pollux-bench udp: preload gave up: %" PRIu64 " of %" PRIu64
			" keys not stored (%" PRIu64 " timeouts, %" PRIu64 " error replies); "
			"is memcached UDP listening at %s:%u%s?\n",
			o.keys - PX_MIN(res->pre.stored, o.keys), o.keys, res->pre.timeouts,
			udp_errors(&res->pre), o.server_str, o.port,
			o.partition_aware ? " and the ports after it" : "");
		goto out;
	}
	if (o.json)
		udp_report_json(stdout, &o, res);
	else
		udp_report_text(stdout, &o, res);
	code = exit_code(&o, res);
out:
	if (ws != NULL) {
		for (uint32_t i = 0; i < o.threads; i++)
			udp_worker_fini(&ws[i]);
	}
	run_fini(&run);
	free(ws);
	free(res);
	return code;
}
