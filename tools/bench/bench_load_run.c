/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The main thread of `pollux-bench udp` and `pollux-bench tcp`: it sets
 * the run up (keys, workers through the transport's ops), starts one thread
 * per --threads, prints progress every 0.5 s while they run, and the
 * summary and exit status after. The workers do all the I/O; every request
 * ends as a reply, a timeout or (TCP) a broken connection, so every phase
 * is bounded.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "px_clock.h"

#include "bench.h"
#include "bench_load_pvt.h"

#define PROGRESS_NS 500000000ULL

static int load_stop; /* SIGINT */

static void on_sigint(int sig)
{
	(void)sig;
	__atomic_store_n(&load_stop, 1, __ATOMIC_RELAXED);
}

bool load_stopping(const struct load_worker *w)
{
	return __atomic_load_n(&load_stop, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&w->run->abort, __ATOMIC_RELAXED);
}

static bool interrupted(void)
{
	return __atomic_load_n(&load_stop, __ATOMIC_RELAXED) != 0;
}

/* Workers live in one array of ops->worker_size elements. */
static struct load_worker *worker_at(void *ws, const struct load_run *run, uint32_t i)
{
	return (struct load_worker *)((char *)ws + (size_t)i * run->ops->worker_size);
}

static int run_init(struct load_run *run, const struct load_opts *o)
{
	int rc;

	run->o = o;
	run->timeout_ns = (uint64_t)o->timeout_ms * 1000000u;
	rc = bench_keys_build(&run->keys, o->keys, o->key_size, o->hash_seed);
	if (rc < 0)
		return rc;
	return zipf_init(&run->zipf, o->keys, o->zipf_s, o->seed, o->zipf_s > 0);
}

static void run_fini(struct load_run *run)
{
	bench_keys_free(&run->keys);
	zipf_free(&run->zipf);
}

/* The part of a worker that is not the transport's: streams, quota, clock. */
static int worker_init(struct load_worker *w, struct load_run *run, uint32_t id)
{
	const struct load_opts *o = run->o;
	int rc;

	w->id = id;
	w->run = run;
	w->o = o;
	w->have_pwait2 = true;
	hist_init(&w->hist);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	rc = zipf_init(&w->zipf, o->keys, o->zipf_s, o->seed + 1 + id, false);
	if (rc < 0)
		return rc;
	w->zipf.perm = run->zipf.perm; /* shared, owned by run */
	zipf_rng_seed(&w->rng, o->seed * 0x9e3779b97f4a7c15ULL + id + 1);
	w->quota = o->requests == 0 ? UINT64_MAX :
		   o->requests / o->threads + (id < o->requests % o->threads);
	w->gap_ns = 1e9 * o->threads / o->rate;
	return run->ops->init(w);
}

static void worker_fini(struct load_worker *w)
{
	if (w->run == NULL)
		return;
	w->run->ops->fini(w);
	if (w->epfd >= 0)
		close(w->epfd);
	w->zipf.perm = NULL;
	zipf_free(&w->zipf);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	nanosleep(&ts, NULL);
}

static bool all_done(void *ws, const struct load_run *run)
{
	for (uint32_t i = 0; i < run->o->threads; i++) {
		if (!__atomic_load_n(&worker_at(ws, run, i)->done, __ATOMIC_ACQUIRE))
			return false;
	}
	return true;
}

/* Wait for the preload, showing its progress. Returns its length in seconds. */
static double wait_preload(struct load_run *run, void *ws, uint32_t started)
{
	const struct load_opts *o = run->o;
	uint64_t t0 = px_clock_ns(), next = t0 + PROGRESS_NS;
	bool printed = false;

	while (__atomic_load_n(&run->ready, __ATOMIC_ACQUIRE) < (int)started) {
		sleep_ns(1000000);
		if (o->json || !o->preload || px_clock_ns() < next)
			continue;
		next += PROGRESS_NS;

		struct load_counters c = {0};
		for (uint32_t i = 0; i < o->threads; i++)
			load_counters_add(&c, &worker_at(ws, run, i)->pc);
		fprintf(stderr, "\r[%s preload %.1fs] %" PRIu64 "/%" PRIu64 " keys stored  "
			"timeouts %" PRIu64 "   ", o->cmd, (double)(px_clock_ns() - t0) / 1e9,
			c.stored, o->keys, c.timeouts);
		printed = true;
	}
	if (printed)
		fputc('\n', stderr);
	return (double)(px_clock_ns() - t0) / 1e9;
}

/* Print progress every 0.5 s until every worker is done. */
static void watch(struct load_run *run, void *ws)
{
	const struct load_opts *o = run->o;
	struct hist *cur = malloc(sizeof(*cur)), *prev = malloc(sizeof(*prev));
	struct hist *delta = malloc(sizeof(*delta));
	uint64_t next = run->t0 + PROGRESS_NS, prev_replies = 0, prev_t = run->t0;
	bool printed = false;

	if (cur == NULL || prev == NULL || delta == NULL)
		goto out;
	hist_init(prev);
	while (!all_done(ws, run)) {
		sleep_ns(5000000);
		uint64_t now = px_clock_ns();
		if (o->json || now < next)
			continue;
		next += PROGRESS_NS;

		struct load_counters c = {0};
		hist_init(cur);
		for (uint32_t i = 0; i < o->threads; i++) {
			load_counters_add(&c, &worker_at(ws, run, i)->c);
			hist_merge(cur, &worker_at(ws, run, i)->hist);
		}
		hist_delta(delta, cur, prev);
		uint64_t replies = cur->count;
		load_report_progress(stderr, o, (double)(now - run->t0) / 1e9,
				     (double)(replies - prev_replies) * 1e9 /
					     (double)(now - prev_t),
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

static void collect(struct load_run *run, void *ws, struct load_result *r)
{
	uint64_t t_last = run->t0;

	for (uint32_t i = 0; i < run->o->threads; i++) {
		struct load_worker *w = worker_at(ws, run, i);

		load_counters_add(&r->c, &w->c);
		load_counters_add(&r->pre, &w->pc);
		hist_merge(&r->hist, &w->hist);
		t_last = PX_MAX(t_last, PX_MAX(w->t_last_reply, w->t_issue_end));
	}
	r->duration_s = (double)(t_last - run->t0) / 1e9;
	r->interrupted = interrupted();
}

static int exit_code(const struct load_opts *o, const struct load_result *r)
{
	const struct load_counters *c = &r->c;
	uint64_t broken = c->conn_failures + r->pre.conn_failures;

	if (load_failures(o, r) > 0) {
		fprintf(stderr, "pollux-bench %s: %" PRIu64 " wrong replies", o->cmd,
			load_errors(c));
		if (o->transport == LOAD_TCP)
			fprintf(stderr, " (%" PRIu64 " of them requests lost with their "
				"connection), %" PRIu64 " timeouts, %" PRIu64 " connections broken",
				c->lost, c->timeouts, broken);
		fputc('\n', stderr);
		return BENCH_EXIT_FAIL;
	}
	if (c->sent > 0 && load_ok(c) == 0) {
		fprintf(stderr, "pollux-bench %s: no reply from %s:%u\n", o->cmd, o->server_str,
			o->port);
		return BENCH_EXIT_FAIL;
	}
	return BENCH_EXIT_OK;
}

int load_main(enum load_transport t, const struct load_transport_ops *ops, int argc,
	      char **argv)
{
	struct load_opts o;
	struct load_run run = {.ops = ops};
	void *ws = NULL;
	struct load_result *res = NULL;
	struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
	uint32_t started = 0;
	int rc = load_opts_parse(t, argc, argv, &o), code = BENCH_EXIT_FAIL;

	if (rc != 0)
		return rc > 0 ? BENCH_EXIT_OK : BENCH_EXIT_USAGE;
	load_value_init();
	ws = aligned_alloc(PX_CACHE_LINE, ops->worker_size * o.threads);
	res = calloc(1, sizeof(*res));
	if (ws == NULL || res == NULL) {
		fprintf(stderr, "pollux-bench %s: out of memory\n", o.cmd);
		goto out;
	}
	memset(ws, 0, ops->worker_size * o.threads);
	rc = run_init(&run, &o);
	for (uint32_t i = 0; rc == 0 && i < o.threads; i++)
		rc = worker_init(worker_at(ws, &run, i), &run, i);
	if (rc < 0) {
		fprintf(stderr, "pollux-bench %s: setup failed: %s\n", o.cmd, strerror(-rc));
		goto out;
	}
	hist_init(&res->hist);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_sa);
	for (; started < o.threads; started++) {
		struct load_worker *w = worker_at(ws, &run, started);

		rc = pthread_create(&w->tid, NULL, load_worker_main, w);
		if (rc != 0) {
			fprintf(stderr, "pollux-bench %s: pthread_create: %s\n", o.cmd,
				strerror(rc));
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
		pthread_join(worker_at(ws, &run, i)->tid, NULL);
	sigaction(SIGINT, &old_sa, NULL);
	collect(&run, ws, res);
	if (started < o.threads)
		goto out;
	if (__atomic_load_n(&run.abort, __ATOMIC_RELAXED)) {
		fprintf(stderr, "pollux-bench %s: preload gave up: %" PRIu64 " of %" PRIu64
			" keys not stored (%" PRIu64 " timeouts, %" PRIu64 " error replies, %"
			PRIu64 " broken connections); %s\n", o.cmd,
			o.keys - PX_MIN(res->pre.stored, o.keys), o.keys, res->pre.timeouts,
			load_errors(&res->pre), res->pre.conn_failures, ops->hint);
		goto out;
	}
	if (o.json)
		load_report_json(stdout, &o, res);
	else
		load_report_text(stdout, &o, res);
	code = exit_code(&o, res);
out:
	if (ws != NULL) {
		for (uint32_t i = 0; i < o.threads; i++)
			worker_fini(worker_at(ws, &run, i));
	}
	run_fini(&run);
	free(ws);
	free(res);
	return code;
}
