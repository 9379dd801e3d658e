/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport of `pollux-bench udp`: a worker's sockets and request
 * slots, the preload's retries of timed-out sets, and sendmmsg batches.
 * Closed loop tops every socket up to --depth; open loop sends the arrivals
 * bench_load_worker.c schedules. The phase loop, choosing requests and
 * counting replies are shared with TCP (bench_load_worker.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "px_clock.h"

#include "bench.h"
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

static uint32_t key_partition(const struct udp_worker *w, uint64_t idx)
{
	if (w->ndests == 1)
		return 0;
	return px_reduce32((uint32_t)w->lw.run->keys.hashes[idx], w->ndests);
}

/* The next request of this phase. False when the preload has nothing left to set. */
static bool next_request(struct udp_worker *w, uint64_t *idx, uint8_t *op, uint8_t *attempt)
{
	if (w->lw.phase == LOAD_PHASE_MEASURE) {
		load_next_measured(&w->lw, idx, op);
		*attempt = 0;
		return true;
	}
	*op = LOAD_OP_SET;
	if (w->retry_n > 0) {
		uint64_t v = w->retry[w->retry_head];

		w->retry_head = (w->retry_head + 1) % w->retry_cap;
		w->retry_n--;
		*idx = v >> 8;
		*attempt = (uint8_t)v;
		return true;
	}
	*attempt = 0;
	return load_next_preload(&w->lw, idx);
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
	const struct load_run *run = w->lw.run;
	const struct load_opts *o = w->lw.o;
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
		w->siov[k].iov_len = udp_req_build(w->siov[k].iov_base, o->proto, op,
						   sl->req_id, bench_key(&run->keys, idx),
						   o->key_size, idx, o->value_size,
						   o->value_version);
		w->smsg[k].msg_hdr = (struct msghdr){
			.msg_name = &w->dests[key_partition(w, idx)],
			.msg_namelen = sizeof(struct sockaddr_in),
			.msg_iov = &w->siov[k],
			.msg_iovlen = 1,
		};
	}
	if (k == 0)
		return 0;

	uint64_t now = px_clock_ns();
	int sent = sendmmsg(s->fd, w->smsg, k, 0);
	struct load_counters *c = load_cnt(&w->lw);

	if (sent < 0)
		sent = 0;
	for (uint32_t j = 0; j < k; j++) {
		struct udp_slot *sl = &s->slots[w->sslot[j]];

		sl->t_sent = now;
		sl->t_start = start != NULL ? start[j] : now;
		udp_slot_link(s, w->sslot[j]);
		if (j >= (uint32_t)sent) {
			udp_slot_put(s, w->sslot[j]);
			LOAD_CNT_ADD(c->send_failures, 1);
			if (w->lw.phase == LOAD_PHASE_PRELOAD)
				LOAD_CNT_ADD(c->preload_failed, 1);
		}
	}
	LOAD_CNT_ADD(c->sent, (uint64_t)sent);
	return k;
}

/* Closed loop and preload: top every socket up to its depth in flight. */
static void issue_closed(struct udp_worker *w)
{
	struct load_worker *lw = &w->lw;
	uint32_t depth = lw->phase == LOAD_PHASE_PRELOAD ? w->pl_depth : lw->o->depth;

	for (uint32_t i = 0; i < w->nsocks; i++) {
		struct udp_sock *s = &w->socks[i];

		while (s->inflight < depth && s->free_n > 0) {
			uint64_t want = depth - s->inflight;

			if (lw->phase == LOAD_PHASE_MEASURE && lw->quota - lw->issued < want)
				want = lw->quota - lw->issued;
			if (want == 0)
				return;
			uint32_t got;

			got = send_batch(w, s, (uint32_t)PX_MIN(want, (uint64_t)UDP_BATCH), NULL);

			lw->issued += got;
			if (got == 0)
				return;
		}
	}
}

/*
 * Open loop: send every arrival due by now, each batch to the next socket
 * in turn. An arrival that finds every socket full waits (its latency keeps
 * counting from its intended time). Sends at most 8 batches per call.
 */
static void issue_open(struct udp_worker *w, uint64_t now)
{
	struct load_worker *lw = &w->lw;
	uint64_t start[UDP_BATCH];

	for (int b = 0; b < 8 && lw->next_at <= now; b++) {
		struct udp_sock *s = &w->socks[w->rr];
		uint32_t n, room;

		for (uint32_t tried = 1; s->free_n < UDP_BATCH && tried < w->nsocks; tried++) {
			w->rr = (w->rr + 1) % w->nsocks;
			s = &w->socks[w->rr];
		}
		room = PX_MIN(s->free_n, (uint32_t)UDP_BATCH);
		n = load_arrivals(lw, now, start, room);
		if (n == 0)
			return; /* all sockets full, or the quota or the time is up */
		send_batch(w, s, n, start);
		lw->issued += n;
		w->rr = (w->rr + 1) % w->nsocks;
	}
}

static uint64_t udp_inflight(struct load_worker *lw, uint64_t *oldest)
{
	struct udp_worker *w = (struct udp_worker *)lw;
	uint64_t n = 0;

	for (uint32_t k = 0; k < w->nsocks; k++) {
		const struct udp_sock *s = &w->socks[k];

		n += s->inflight;
		if (s->head != UDP_NIL)
			*oldest = PX_MIN(*oldest, s->slots[s->head].t_sent);
	}
	return n;
}

/* Preload: the server has not answered one set in a whole round of timeouts. */
static bool udp_preload_hopeless(struct load_worker *lw)
{
	struct udp_worker *w = (struct udp_worker *)lw;

	return lw->pl_replies == 0 && lw->pc.timeouts >= (uint64_t)w->nsocks * w->pl_depth;
}

static bool udp_may_issue(struct load_worker *lw, uint64_t now)
{
	struct udp_worker *w = (struct udp_worker *)lw;

	if (lw->phase == LOAD_PHASE_PRELOAD && w->retry_n > 0 && !load_stopping(lw))
		return true;
	return load_may_issue(lw, now);
}

static void udp_issue(struct load_worker *lw, uint64_t now, bool open)
{
	if (open)
		issue_open((struct udp_worker *)lw, now);
	else
		issue_closed((struct udp_worker *)lw);
}

static void udp_on_event(struct load_worker *lw, const struct epoll_event *ev, bool closed,
			 uint64_t now)
{
	struct udp_worker *w = (struct udp_worker *)lw;

	(void)closed;
	(void)now;
	udp_recv_sock(w, &w->socks[ev->data.u32]);
}

static void udp_expire_hook(struct load_worker *lw, uint64_t now)
{
	udp_expire((struct udp_worker *)lw, now);
}

static uint32_t bits_for(uint32_t n)
{
	uint32_t b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static int udp_init(struct load_worker *lw)
{
	struct udp_worker *w = (struct udp_worker *)lw;
	const struct load_opts *o = lw->o;
	uint32_t first, last;
	uint32_t bits = o->loop == LOAD_LOOP_OPEN ? UDP_OPEN_SLOT_BITS :
			PX_MIN(PX_MAX(bits_for(o->depth) + 2, 4u), (uint32_t)UDP_OPEN_SLOT_BITS);
	int rc;

	/* The preload keeps --depth in flight even in open loop. */
	bits = PX_MAX(bits, PX_MIN(bits_for(o->depth) + 2, (uint32_t)UDP_OPEN_SLOT_BITS));
	load_worker_share(lw, &first, &last);
	w->nsocks = last - first;
	w->socks = calloc(w->nsocks, sizeof(*w->socks));
	for (uint32_t k = 0; w->socks != NULL && k < w->nsocks; k++)
		w->socks[k].fd = -1;
	w->ndests = o->partition_aware ? o->partitions : 1;
	w->dests = calloc(w->ndests, sizeof(*w->dests));
	w->req_max = udp_req_max(o->key_size, o->value_size);
	w->sbuf = malloc(w->req_max * UDP_BATCH);
	w->rbuf = malloc((size_t)UDP_RECV_BUF_LEN * UDP_BATCH);
	w->retry_cap = w->nsocks * (1u << bits);
	w->retry = malloc(w->retry_cap * sizeof(*w->retry));
	if (w->socks == NULL || w->dests == NULL || w->sbuf == NULL || w->rbuf == NULL ||
	    w->retry == NULL)
		return -ENOMEM;
	for (uint32_t p = 0; p < w->ndests; p++) {
		w->dests[p].sin_family = AF_INET;
		w->dests[p].sin_addr = o->server;
		w->dests[p].sin_port = htons((uint16_t)(o->port + p));
	}
	for (uint32_t k = 0; k < w->nsocks; k++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = k};

		rc = sock_init(&w->socks[k], bits);
		if (rc < 0)
			return rc;
		if (epoll_ctl(lw->epfd, EPOLL_CTL_ADD, w->socks[k].fd, &ev) < 0)
			return -errno;
	}
	/*
	 * Preload sets are all large when values are: keep at most
	 * UDP_PRELOAD_BYTES of them in flight in all, or a server with a default
	 * socket buffer (memcached: net.core.rmem_default, 208 KiB) drops them.
	 */
	uint64_t pl_depth = UDP_PRELOAD_BYTES / ((uint64_t)o->conns * w->req_max);

	w->pl_depth = (uint32_t)PX_MIN((uint64_t)o->depth, PX_MAX(pl_depth, (uint64_t)1));
	return 0;
}

static void udp_fini(struct load_worker *lw)
{
	struct udp_worker *w = (struct udp_worker *)lw;

	if (w->socks != NULL) {
		for (uint32_t k = 0; k < w->nsocks; k++)
			sock_fini(&w->socks[k]);
	}
	free(w->socks);
	free(w->dests);
	free(w->sbuf);
	free(w->rbuf);
	free(w->retry);
}

const struct load_transport_ops udp_transport = {
	.worker_size = sizeof(struct udp_worker),
	.init = udp_init,
	.fini = udp_fini,
	.expire = udp_expire_hook,
	.may_issue = udp_may_issue,
	.issue = udp_issue,
	.inflight = udp_inflight,
	.on_event = udp_on_event,
	.preload_hopeless = udp_preload_hopeless,
	.hint = "is memcached UDP listening there (and on the ports after it, with "
		"--partition-aware)?",
};

int bench_udp_main(int argc, char **argv)
{
	return load_main(LOAD_UDP, &udp_transport, argc, argv);
}
