/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker of `pollux-bench udp`: its sockets and request slots, the
 * choice of each request (preload: every key of its share once, retrying
 * timeouts; measure: Zipf or uniform keys, gets at --get-ratio), sendmmsg
 * batches, and the epoll loop that sleeps until a reply, the oldest
 * timeout, the next open-loop arrival or the end of the phase. Closed loop
 * tops every socket up to --depth; open loop sends Poisson arrivals, each
 * timed from its intended send time (no coordinated omission).
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "px_clock.h"

#include "bench_udp_pvt.h"

static int sock_init(struct udp_sock *s, uint32_t bits)
{
	uint32_t n = 1u << bits;
	struct sockaddr_in any = {.sin_family = AF_INET};
	int buf = 4 << 20;

	s->bits = bits;
	s->slots = calloc(n, sizeof(*s->slots));
	s->free_ring = malloc(n * sizeof(*s->free_ring));
	if (s->slots == NULL || s->free_ring == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		s->free_ring[i] = i;
	s->free_n = n;
	s->head = s->tail = UDP_NIL;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	/* Best effort: past net.core.{r,w}mem_max only with CAP_NET_ADMIN (FORCE). */
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(s->fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(s->fd, (struct sockaddr *)&any, sizeof(any)) < 0)
		return -errno;
	return 0;
}

static void sock_fini(struct udp_sock *s)
{
	if (s->slots != NULL) {
		for (uint32_t i = 0; i < (1u << s->bits); i++)
			free(s->slots[i].rasm);
	}
	free(s->slots);
	free(s->free_ring);
	if (s->fd >= 0)
		close(s->fd);
}

static uint32_t key_partition(const struct udp_run *run, uint64_t idx)
{
	if (run->ndests == 1)
		return 0;
	return px_reduce32((uint32_t)run->keys.hashes[idx], run->ndests);
}

/* The next request of this phase. False when the preload has nothing left to set. */
static bool next_request(struct udp_worker *w, uint64_t *idx, uint8_t *op, uint8_t *attempt)
{
	if (w->phase == UDP_PHASE_MEASURE) {
		*idx = zipf_next(&w->zipf);
		*op = zipf_rng_double(&w->rng) < w->o->get_ratio ? UDP_OP_GET : UDP_OP_SET;
		*attempt = 0;
		return true;
	}
	*op = UDP_OP_SET;
	if (w->retry_n > 0) {
		uint64_t v = w->retry[w->retry_head];

		w->retry_head = (w->retry_head + 1) % w->retry_cap;
		w->retry_n--;
		*idx = v >> 8;
		*attempt = (uint8_t)v;
		return true;
	}
	if (w->pl_next >= w->o->keys)
		return false;
	*idx = w->pl_next;
	*attempt = 0;
	w->pl_next += w->o->threads;
	return true;
}

/*
 * Build up to n requests for socket s and send them in one sendmmsg. start
 * holds each request's latency origin (NULL: the send time). Returns the
 * number issued (sent or failed), which is below n only when the preload
 * runs out of keys.
 */
static uint32_t send_batch(struct udp_worker *w, struct udp_sock *s, uint32_t n,
			   const uint64_t *start)
{
	const struct udp_run *run = w->run;
	uint32_t k = 0;

	for (; k < n && s->free_n > 0; k++) {
		uint64_t idx;
		uint8_t op, attempt;

		if (!next_request(w, &idx, &op, &attempt))
			break;
		uint32_t i = udp_slot_get(s);
		struct udp_slot *sl = &s->slots[i];
		uint16_t gen = (uint16_t)(sl->gen + 1);

		sl->gen = gen;
		sl->req_id = (uint16_t)(((uint32_t)gen << s->bits) | i);
		sl->idx = idx;
		sl->op = op;
		sl->attempt = attempt;
		w->sslot[k] = i;
		w->siov[k].iov_base = w->sbuf + (size_t)k * w->req_max;
		w->siov[k].iov_len = udp_req_build(w->siov[k].iov_base, w->o->proto, op,
						   sl->req_id, bench_key(&run->keys, idx),
						   w->o->key_size, idx, w->o->value_size,
						   w->o->value_version);
		w->smsg[k].msg_hdr = (struct msghdr){
			.msg_name = &run->dests[key_partition(run, idx)],
			.msg_namelen = sizeof(struct sockaddr_in),
			.msg_iov = &w->siov[k],
			.msg_iovlen = 1,
		};
	}
	if (k == 0)
		return 0;

	uint64_t now = px_clock_ns();
	int sent = sendmmsg(s->fd, w->smsg, k, 0);
	struct udp_counters *c = udp_cnt(w);

	if (sent < 0)
		sent = 0;
	for (uint32_t j = 0; j < k; j++) {
		struct udp_slot *sl = &s->slots[w->sslot[j]];

		sl->t_sent = now;
		sl->t_start = start != NULL ? start[j] : now;
		udp_slot_link(s, w->sslot[j]);
		if (j >= (uint32_t)sent) {
			udp_slot_put(s, w->sslot[j]);
			UDP_CNT_ADD(c->send_failures, 1);
			if (w->phase == UDP_PHASE_PRELOAD)
				UDP_CNT_ADD(c->preload_failed, 1);
		}
	}
	UDP_CNT_ADD(c->sent, (uint64_t)sent);
	return k;
}

static bool issuing(struct udp_worker *w, uint64_t now)
{
	if (udp_stopping(w))
		return false;
	if (w->phase == UDP_PHASE_PRELOAD)
		return w->retry_n > 0 || w->pl_next < w->o->keys;
	if (w->issued >= w->quota)
		return false;
	return w->run->t_end == 0 || now < w->run->t_end;
}

/* Closed loop and preload: top every socket up to its depth in flight. */
static void issue_closed(struct udp_worker *w)
{
	uint32_t depth = w->phase == UDP_PHASE_PRELOAD ? w->pl_depth : w->o->depth;

	for (uint32_t i = 0; i < w->nsocks; i++) {
		struct udp_sock *s = &w->socks[i];

		while (s->inflight < depth && s->free_n > 0) {
			uint64_t want = depth - s->inflight;

			if (w->phase == UDP_PHASE_MEASURE && w->quota - w->issued < want)
				want = w->quota - w->issued;
			if (want == 0)
				return;
			uint32_t got;

			got = send_batch(w, s, (uint32_t)PX_MIN(want, (uint64_t)UDP_BATCH), NULL);

			w->issued += got;
			if (got == 0)
				return;
		}
	}
}

static double exp_gap(struct udp_worker *w)
{
	return -log1p(-zipf_rng_double(&w->rng)) * w->gap_ns;
}

/*
 * Open loop: send every arrival due by now, each batch to the next socket
 * in turn. An arrival that finds every socket full waits (its latency keeps
 * counting from its intended time). Sends at most 8 batches per call.
 */
static void issue_open(struct udp_worker *w, uint64_t now)
{
	uint64_t start[UDP_BATCH];

	for (int b = 0; b < 8 && w->next_at <= now; b++) {
		struct udp_sock *s = &w->socks[w->rr];
		uint32_t n = 0, room;

		for (uint32_t tried = 1; s->free_n < UDP_BATCH && tried < w->nsocks; tried++) {
			w->rr = (w->rr + 1) % w->nsocks;
			s = &w->socks[w->rr];
		}
		room = PX_MIN(s->free_n, (uint32_t)UDP_BATCH);
		/* Each arrival's gap is drawn once and kept, or the schedule would drift. */
		while (n < room && w->next_at <= now && w->issued + n < w->quota &&
		       (w->run->t_end == 0 || w->next_at < w->run->t_end)) {
			start[n++] = w->next_at;
			w->next_at += (uint64_t)exp_gap(w) + 1;
		}
		if (n == 0)
			return; /* all sockets full, or the quota or the time is up */
		send_batch(w, s, n, start);
		w->issued += n;
		w->rr = (w->rr + 1) % w->nsocks;
	}
}

static uint64_t inflight(const struct udp_worker *w)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < w->nsocks; k++)
		n += w->socks[k].inflight;
	return n;
}

/* Sleep until a socket is readable or deadline (monotonic ns). */
static int wait_events(struct udp_worker *w, struct epoll_event *ev, int max, uint64_t deadline)
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

/* Preload gives up when the server does not answer at all, or loses too many keys. */
static bool preload_hopeless(const struct udp_worker *w)
{
	uint64_t share = w->o->keys / w->o->threads + 1;

	if (w->pl_replies == 0 && w->pc.timeouts >= (uint64_t)w->nsocks * w->pl_depth)
		return true;
	return w->pc.preload_failed > share / 100 + 64;
}

static void run_phase(struct udp_worker *w)
{
	struct epoll_event ev[64];
	bool open = w->phase == UDP_PHASE_MEASURE && w->o->loop == UDP_LOOP_OPEN;
	bool was_issuing = true;

	for (;;) {
		uint64_t now = px_clock_ns();

		udp_expire(w, now);
		if (w->phase == UDP_PHASE_PRELOAD && preload_hopeless(w))
			__atomic_store_n(&w->run->abort, 1, __ATOMIC_RELAXED);

		bool on = issuing(w, now);
		if (on) {
			if (open)
				issue_open(w, now);
			else
				issue_closed(w);
		} else if (was_issuing) {
			w->t_issue_end = now;
			was_issuing = false;
		}
		if (!on && inflight(w) == 0)
			break;

		/* Wake for the oldest timeout, the next arrival or the end of the phase. */
		uint64_t deadline = now + 100000000ULL;
		for (uint32_t k = 0; k < w->nsocks; k++) {
			const struct udp_sock *s = &w->socks[k];

			if (s->head != UDP_NIL)
				deadline = PX_MIN(deadline,
						  s->slots[s->head].t_sent + w->run->timeout_ns);
		}
		if (on && open)
			deadline = PX_MIN(deadline, w->next_at);
		if (on && w->run->t_end != 0 && w->phase == UDP_PHASE_MEASURE)
			deadline = PX_MIN(deadline, w->run->t_end);

		int n = wait_events(w, ev, (int)PX_ARRAY_SIZE(ev), deadline);
		for (int j = 0; j < n; j++)
			udp_recv_sock(w, &w->socks[ev[j].data.u32]);
	}
}

void *udp_worker_main(void *arg)
{
	struct udp_worker *w = arg;
	struct udp_run *run = w->run;

	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0); /* open-loop sends need us wakeups */
	if (w->o->preload) {
		w->phase = UDP_PHASE_PRELOAD;
		w->pl_next = w->id;
		run_phase(w);
	}
	__atomic_fetch_add(&run->ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&run->go, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 200000};

		nanosleep(&ts, NULL);
	}
	if (!__atomic_load_n(&run->abort, __ATOMIC_RELAXED)) {
		w->phase = UDP_PHASE_MEASURE;
		w->issued = 0;
		w->next_at = run->t0 + (uint64_t)exp_gap(w);
		w->t_issue_end = run->t0;
		run_phase(w);
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static uint32_t bits_for(uint32_t n)
{
	uint32_t b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

int udp_worker_init(struct udp_worker *w, struct udp_run *run, uint32_t id)
{
	const struct udp_opts *o = run->o;
	uint32_t first = (uint32_t)((uint64_t)o->conns * id / o->threads);
	uint32_t last = (uint32_t)((uint64_t)o->conns * (id + 1) / o->threads);
	uint32_t bits = o->loop == UDP_LOOP_OPEN ? UDP_OPEN_SLOT_BITS :
			PX_MIN(PX_MAX(bits_for(o->depth) + 2, 4u), (uint32_t)UDP_OPEN_SLOT_BITS);
	int rc;

	/* The preload keeps --depth in flight even in open loop. */
	bits = PX_MAX(bits, PX_MIN(bits_for(o->depth) + 2, (uint32_t)UDP_OPEN_SLOT_BITS));
	w->id = id;
	w->run = run;
	w->o = o;
	w->have_pwait2 = true;
	hist_init(&w->hist);
	w->nsocks = last - first;
	w->socks = calloc(w->nsocks, sizeof(*w->socks));
	for (uint32_t k = 0; w->socks != NULL && k < w->nsocks; k++)
		w->socks[k].fd = -1;
	w->req_max = udp_req_max(o->key_size, o->value_size);
	w->sbuf = malloc(w->req_max * UDP_BATCH);
	w->rbuf = malloc((size_t)UDP_RECV_BUF_LEN * UDP_BATCH);
	w->retry_cap = w->nsocks * (1u << bits);
	w->retry = malloc(w->retry_cap * sizeof(*w->retry));
	if (w->socks == NULL || w->sbuf == NULL || w->rbuf == NULL || w->retry == NULL)
		return -ENOMEM;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	for (uint32_t k = 0; k < w->nsocks; k++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = k};

		rc = sock_init(&w->socks[k], bits);
		if (rc < 0)
			return rc;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->socks[k].fd, &ev) < 0)
			return -errno;
	}
	rc = zipf_init(&w->zipf, o->keys, o->zipf_s, o->seed + 1 + id, false);
	if (rc < 0)
		return rc;
	w->zipf.perm = run->zipf.perm; /* shared, owned by run */
	zipf_rng_seed(&w->rng, o->seed * 0x9e3779b97f4a7c15ULL + id + 1);
	w->quota = o->requests == 0 ? UINT64_MAX :
		   o->requests / o->threads + (id < o->requests % o->threads);
	w->gap_ns = 1e9 * o->threads / o->rate;
	/*
	 * Preload sets are all large when values are: keep at most
	 * UDP_PRELOAD_BYTES of them in flight in all, or a server with a default
	 * socket buffer (memcached: net.core.rmem_default, 208 KiB) drops them.
	 */
	uint64_t pl_depth = UDP_PRELOAD_BYTES / ((uint64_t)o->conns * w->req_max);

	w->pl_depth = (uint32_t)PX_MIN((uint64_t)o->depth, PX_MAX(pl_depth, (uint64_t)1));
	return 0;
}

void udp_worker_fini(struct udp_worker *w)
{
	if (w->socks != NULL) {
		for (uint32_t k = 0; k < w->nsocks; k++)
			sock_fini(&w->socks[k]);
	}
	free(w->socks);
	free(w->sbuf);
	free(w->rbuf);
	free(w->retry);
	if (w->epfd >= 0)
		close(w->epfd);
	w->zipf.perm = NULL;
	zipf_free(&w->zipf);
}
