/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What every worker of the memcached load generator does the same way,
 * whatever its transport: the choice of each request (preload: every key of
 * its share once; measure: Zipf or uniform keys, gets at --get-ratio), the
 * schedule of open-loop arrivals (Poisson, each timed from its intended send
 * time, so no coordinated omission), the count of a reply's verdict with its
 * latency, sleeping in epoll, the loop of a phase and the thread body.
 * The transport's hooks do the sends and receives.
 */
#include <errno.h>
#include <math.h>
#include <sys/prctl.h>
#include <time.h>

#include "px_clock.h"

#include "bench_load_pvt.h"

void load_worker_share(const struct load_worker *w, uint32_t *first, uint32_t *last)
{
	const struct load_opts *o = w->o;

	*first = (uint32_t)((uint64_t)o->conns * w->id / o->threads);
	*last = (uint32_t)((uint64_t)o->conns * (w->id + 1) / o->threads);
}

void load_next_measured(struct load_worker *w, uint64_t *idx, uint8_t *op)
{
	*idx = zipf_next(&w->zipf);
	*op = zipf_rng_double(&w->rng) < w->o->get_ratio ? LOAD_OP_GET : LOAD_OP_SET;
}

bool load_next_preload(struct load_worker *w, uint64_t *idx)
{
	if (w->pl_next >= w->o->keys)
		return false;
	*idx = w->pl_next;
	w->pl_next += w->o->threads;
	return true;
}

bool load_may_issue(struct load_worker *w, uint64_t now)
{
	if (load_stopping(w))
		return false;
	if (w->phase == LOAD_PHASE_PRELOAD)
		return w->pl_next < w->o->keys;
	if (w->issued >= w->quota)
		return false;
	return w->run->t_end == 0 || now < w->run->t_end;
}

uint64_t load_exp_gap(struct load_worker *w)
{
	return (uint64_t)(-log1p(-zipf_rng_double(&w->rng)) * w->gap_ns);
}

uint32_t load_arrivals(struct load_worker *w, uint64_t now, uint64_t *start, uint32_t max)
{
	uint32_t n = 0;

	/* Each arrival's gap is drawn once and kept, or the schedule would drift. */
	while (n < max && w->next_at <= now && w->issued + n < w->quota &&
	       (w->run->t_end == 0 || w->next_at < w->run->t_end)) {
		start[n++] = w->next_at;
		w->next_at += load_exp_gap(w) + 1;
	}
	return n;
}

void load_count_reply(struct load_worker *w, enum load_verdict v, uint64_t t_start, uint64_t now)
{
	struct load_counters *c = load_cnt(w);

	switch (v) {
	case LOAD_V_HIT:
		LOAD_CNT_ADD(c->hits, 1);
		break;
	case LOAD_V_MISS:
		LOAD_CNT_ADD(c->misses, 1);
		break;
	case LOAD_V_STORED:
		LOAD_CNT_ADD(c->stored, 1);
		break;
	case LOAD_V_STALE:
		LOAD_CNT_ADD(c->stale, 1);
		break;
	case LOAD_V_BAD_VALUE:
		LOAD_CNT_ADD(c->bad_values, 1);
		break;
	case LOAD_V_SERVER_ERR:
		LOAD_CNT_ADD(c->server_errors, 1);
		break;
	case LOAD_V_GARBLED:
		LOAD_CNT_ADD(c->garbled, 1);
		break;
	}
	if (w->phase == LOAD_PHASE_MEASURE) {
		hist_record(&w->hist, now > t_start ? now - t_start : 0);
		w->t_last_reply = now;
	} else {
		w->pl_replies++;
		if (v != LOAD_V_STORED)
			LOAD_CNT_ADD(c->preload_failed, 1);
	}
}

int load_wait_events(struct load_worker *w, struct epoll_event *ev, int max, uint64_t deadline)
{
	uint64_t now = px_clock_ns();
	uint64_t dt = deadline > now ? deadline - now : 0;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
	if (w->have_pwait2) {
		struct timespec ts = {(time_t)(dt / 1000000000u), (long)(dt % 1000000000u)};
		int n = epoll_pwait2(w->epfd, ev, max, &ts, NULL);

		if (n >= 0 || errno != ENOSYS)
			return n;
		w->have_pwait2 = false;
	}
#endif
	/* Millisecond timer: spin below 1 ms rather than oversleep an open-loop send. */
	return epoll_wait(w->epfd, ev, max, (int)(dt / 1000000u));
}

/* The preload gives up when it lost more than 1% of this worker's keys (and 64). */
static bool preload_lossy(const struct load_worker *w)
{
	uint64_t share = w->o->keys / w->o->threads + 1;

	return w->pc.preload_failed > share / 100 + 64;
}

void load_run_phase(struct load_worker *w)
{
	const struct load_transport_ops *ops = w->run->ops;
	struct epoll_event ev[64];
	bool open = w->phase == LOAD_PHASE_MEASURE && w->o->loop == LOAD_LOOP_OPEN;
	bool was_issuing = true;

	if (ops->phase_start != NULL)
		ops->phase_start(w);
	for (;;) {
		uint64_t now = px_clock_ns(), oldest = UINT64_MAX;

		ops->expire(w, now);
		if (w->phase == LOAD_PHASE_PRELOAD && (ops->preload_hopeless(w) || preload_lossy(w)))
			__atomic_store_n(&w->run->abort, 1, __ATOMIC_RELAXED);

		bool on = ops->may_issue(w, now);
		if (on) {
			ops->issue(w, now, open);
		} else if (was_issuing) {
			w->t_issue_end = now;
			was_issuing = false;
		}
		if (ops->inflight(w, &oldest) == 0 && !on)
			break;

		/* Wake for the oldest timeout, the next arrival or the end of the phase. */
		uint64_t deadline = now + 100000000ULL;
		if (oldest != UINT64_MAX)
			deadline = PX_MIN(deadline, oldest + w->run->timeout_ns);
		if (on && open)
			deadline = PX_MIN(deadline, w->next_at);
		if (on && w->run->t_end != 0 && w->phase == LOAD_PHASE_MEASURE)
			deadline = PX_MIN(deadline, w->run->t_end);

		if (ops->wait != NULL && ops->wait(w, deadline, on && !open))
			continue;
		int n = load_wait_events(w, ev, (int)PX_ARRAY_SIZE(ev), deadline);
		now = px_clock_ns();
		for (int j = 0; j < n; j++)
			ops->on_event(w, &ev[j], on && !open, now);
	}
}

void *load_worker_main(void *arg)
{
	struct load_worker *w = arg;
	struct load_run *run = w->run;

	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* open-loop sends need us wakeups */
	if (w->o->preload) {
		w->phase = LOAD_PHASE_PRELOAD;
		w->pl_next = w->id;
		load_run_phase(w);
	}
	__atomic_fetch_add(&run->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&run->go, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 200000};

		nanosleep(&ts, NULL);
	}
	if (!__atomic_load_n(&run->abort, __ATOMIC_RELAXED)) {
		w->phase = LOAD_PHASE_MEASURE;
		w->issued = 0;
		w->next_at = run->t0 + load_exp_gap(w);
		w->t_issue_end = run->t0;
		load_run_phase(w);
	}
	if (run->ops->worker_end != NULL)
		run->ops->worker_end(w);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}
