/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The run and the worker as both transports of the memcached load generator
 * see them. bench_load_run.c owns the main thread: setup, one thread per
 * --threads, progress, the summary and the exit status. bench_load_worker.c
 * holds what every worker does the same way: the choice of each request,
 * open-loop arrivals, the verdict of a reply, sleeping in epoll, and the
 * thread body (preload, wait for go, measure). A transport (struct
 * load_transport_ops) embeds struct load_worker first in its own worker and
 * does the I/O. Each worker owns its sockets and counters; the main thread
 * only reads counters (relaxed) and flips the run's flags.
 */
#ifndef PX_BENCH_LOAD_PVT_H
#define PX_BENCH_LOAD_PVT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "px_compiler.h"

#include "bench_keys.h"
#include "bench_load.h"
#include "histogram.h"
#include "zipf.h"

#define LOAD_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Counters have one writer and live readers: a relaxed store, no lock prefix. */
#define LOAD_CNT_ADD(c, n) LOAD_STORE(&(c), (c) + (n))

enum load_phase { LOAD_PHASE_PRELOAD, LOAD_PHASE_MEASURE };

struct load_worker;
struct load_run;

/*
 * A transport: its worker's size and life, and the hooks the shared phase
 * loop (load_run_phase) calls. Every hook gets the transport's own worker,
 * which starts with struct load_worker.
 */
struct load_transport_ops {
	size_t worker_size;
	/* Sockets or connections of worker w (base already set up). 0 or a negative errno. */
	int (*init)(struct load_worker *w);
	/* Undo init, also after a partial one. */
	void (*fini)(struct load_worker *w);
	/* Optional: before a phase starts. */
	void (*phase_start)(struct load_worker *w);
	/* End whatever has waited --timeout-ms. */
	void (*expire)(struct load_worker *w, uint64_t now);
	/* Whether w may issue now (load_may_issue, and what the transport adds). */
	bool (*may_issue)(struct load_worker *w, uint64_t now);
	/* Issue what the loop allows now: top up (closed loop, preload) or due arrivals. */
	void (*issue)(struct load_worker *w, uint64_t now, bool open);
	/* Requests in flight; *oldest: the earliest send time among them (untouched if none). */
	uint64_t (*inflight)(struct load_worker *w, uint64_t *oldest);
	/* One epoll event; closed: the closed loop is issuing (a reply may make room). */
	void (*on_event)(struct load_worker *w, const struct epoll_event *ev, bool closed,
			 uint64_t now);
	/*
	 * Optional: wait until deadline (monotonic ns) for the transport's own
	 * completions and handle them, like on_event; false when the worker's
	 * events come through epoll instead (then the loop waits in epoll).
	 */
	bool (*wait)(struct load_worker *w, uint64_t deadline, bool closed);
	/* Optional: on the worker's thread after its last phase (fini runs on the main thread). */
	void (*worker_end)(struct load_worker *w);
	/* Preload: the server clearly is not there (no reply at all, every connection broke). */
	bool (*preload_hopeless)(struct load_worker *w);
	const char *hint;     /* what to check when the preload fails */
};

/* Read-only for workers once they start, except the flags (atomics). */
struct load_run {
	const struct load_opts *o;
	const struct load_transport_ops *ops;
	struct bench_keys keys;
	struct zipf_gen zipf;          /* owns the rank permutation workers share */
	uint64_t timeout_ns;
	uint64_t t0;                   /* measured phase start; written before go */
	uint64_t t_end;                /* 0: no time limit */
	int go;                        /* main: wo, workers: ro (acquire) */
	int abort;                     /* anyone: wo; preload gave up or fatal error */
	int ready;                     /* workers done with preload */
};

/* The part of a worker both transports share; the first member of theirs. */
struct load_worker {
	uint32_t id;
	pthread_t tid;
	struct load_run *run;
	const struct load_opts *o;
	enum load_phase phase;
	struct zipf_gen zipf;
	struct zipf_rng rng;
	int epfd;
	bool have_pwait2;
	/* measured phase */
	uint64_t quota;             /* requests to issue; UINT64_MAX: by time only */
	uint64_t issued;
	double gap_ns;              /* open loop: mean inter-arrival */
	uint64_t next_at;           /* open loop: next intended send */
	uint64_t t_issue_end;
	uint64_t t_last_reply;
	/* preload */
	uint64_t pl_next;           /* next key of this worker's share */
	uint64_t pl_replies;
	int done;                   /* worker: wo; main: ro (acquire) */
	struct load_counters pc;    /* preload; worker: wo, main: ro */
	struct load_counters c;     /* measured; worker: wo, main: ro */
	struct hist hist;           /* latency of measured replies, ns; worker: wo, main: ro */
} px_cache_aligned;

/* The counters of the worker's current phase. */
static inline struct load_counters *load_cnt(struct load_worker *w)
{
	return w->phase == LOAD_PHASE_PRELOAD ? &w->pc : &w->c;
}

/* pollux-bench udp/tcp: parse, set up, run, report. Returns the exit code. */
int load_main(enum load_transport t, const struct load_transport_ops *ops, int argc,
	      char **argv);

/* Thread body: preload, wait for run->go, measure, set done (bench_load_worker.c). */
void *load_worker_main(void *arg);
/*
 * One phase of w: expire, issue, sleep in epoll until a reply, the oldest
 * timeout, the next open-loop arrival or the end of the phase; until w may
 * issue no more and nothing is in flight. Bounded: every request ends as a
 * reply or a timeout.
 */
void load_run_phase(struct load_worker *w);

/* SIGINT or a failed preload: workers stop issuing and drain (bench_load_run.c). */
bool load_stopping(const struct load_worker *w);

/* This worker's share of --conns: [*first, *last). */
void load_worker_share(const struct load_worker *w, uint32_t *first, uint32_t *last);
/*
 * The next measured request: a key from the distribution, a get with
 * probability --get-ratio. The next preload key of this worker's share:
 * false when none is left.
 */
void load_next_measured(struct load_worker *w, uint64_t *idx, uint8_t *op);
bool load_next_preload(struct load_worker *w, uint64_t *idx);
/* Whether w may issue more now (base rules: stop flags, quota, end time, preload keys). */
bool load_may_issue(struct load_worker *w, uint64_t now);
/* Open loop: draw the gap to the next arrival (exponential, mean gap_ns). */
uint64_t load_exp_gap(struct load_worker *w);
/*
 * Open loop: the intended send times of up to max arrivals due by now, into
 * start[], within the quota and the phase's end; advances the schedule by
 * those taken. The caller issues them all (issued += the count returned).
 */
uint32_t load_arrivals(struct load_worker *w, uint64_t now, uint64_t *start, uint32_t max);
/* Count verdict v of a reply, sample its latency from t_start in the measured phase. */
void load_count_reply(struct load_worker *w, enum load_verdict v, uint64_t t_start,
		      uint64_t now);
/* Sleep in epoll until an event or deadline (monotonic ns). Returns epoll's count. */
int load_wait_events(struct load_worker *w, struct epoll_event *ev, int max, uint64_t deadline);

#endif
