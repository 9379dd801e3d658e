/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The transport of `pollux-bench tcp`: each worker owns --conns/--threads
 * kernel TCP connections (TCP_NODELAY), non-blocking in one epoll set.
 * Requests are written into a connection's output buffer and flushed with
 * one send per batch, so a pipelined connection carries --depth requests
 * per write; replies are split from the byte stream incrementally
 * (bench_tcp_stream.c) and matched, in order, to the connection's queue of
 * requests in flight. A connection that breaks (EOF, reset, a reply that
 * cannot be framed or is not a reply, or --timeout-ms without its oldest
 * reply) is closed and stays closed: its requests in flight count as lost
 * or timed out, and the run fails. Choosing requests and counting replies
 * are shared with UDP (bench_load_worker.c).
 *
 * The epoll engine is here; --io uring drives the same connections through
 * io_uring instead (bench_tcp_uring.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "px_clock.h"

#include "bench.h"
#include "bench_tcp_pvt.h"

#define TCP_OPEN_INFLIGHT 4096      /* open loop: requests in flight per connection, at most */
#define TCP_OUT_MIN (64u << 10)     /* output buffer bytes per connection, at least */
#define TCP_RX_MIN (64u << 10)      /* receive buffer bytes per connection, at first */
#define TCP_CONNECT_MS 5000
#define TCP_BATCH 32                /* open loop: arrivals taken per connection per turn */
#define TCP_READ_ROUNDS 4           /* recv calls per ready connection per wakeup */

/*
 * Close connection c for good. Its requests in flight end as timeouts (the
 * oldest waited --timeout-ms) or as lost; either fails the run.
 */
void tcp_conn_fail(struct tcp_worker *w, struct tcp_conn *c, bool timed_out)
{
	struct load_counters *cnt = load_cnt(&w->lw);

	if (c->dead)
		return;
	if (timed_out)
		LOAD_CNT_ADD(cnt->timeouts, c->qn);
	else
		LOAD_CNT_ADD(cnt->lost, c->qn);
	if (w->lw.phase == LOAD_PHASE_PRELOAD)
		LOAD_CNT_ADD(cnt->preload_failed, c->qn);
	LOAD_CNT_ADD(cnt->conn_failures, 1);
	if (w->lw.o->uring)
		shutdown(c->fd, SHUT_RDWR); /* ends its operations in flight on the ring */
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	c->qn = 0;
	c->out_off = c->out_len = 0;
	w->live--;
}

static void arm_out(struct tcp_worker *w, struct tcp_conn *c, uint32_t i, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = i};

	if (c->want_out == on)
		return;
	if (epoll_ctl(w->lw.epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = on;
}

/*
 * Write what the socket takes of the output buffer; wait for EPOLLOUT for
 * the rest. With --io uring: queue a send of it unless one is in flight
 * (its completion sends what was added meanwhile).
 */
static void conn_flush(struct tcp_worker *w, uint32_t i)
{
	struct tcp_conn *c = &w->conns[i];

	if (w->lw.o->uring) {
		if (!c->dead && !c->sending && c->out_off < c->out_len)
			tcp_uring_send(w, i);
		return;
	}

	while (!c->dead && c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			arm_out(w, c, i, true);
			return;
		}
		LOAD_CNT_ADD(load_cnt(&w->lw)->send_failures, 1);
		tcp_conn_fail(w, c, false);
		return;
	}
	if (!c->dead) {
		c->out_off = c->out_len = 0;
		arm_out(w, c, i, false);
	}
}

/*
 * Room for one more request on c (in flight and output bytes). Bytes the
 * socket already took from the front of the output buffer are reclaimed.
 */
static bool conn_room(const struct tcp_worker *w, struct tcp_conn *c)
{
	if (c->dead || c->qn >= w->qmax)
		return false;
	/* A send in flight reads from out_off: the bytes stay where they are until it ends. */
	if (w->out_cap - c->out_len < w->cmd_max && c->out_off > 0 && !c->sending) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	return w->out_cap - c->out_len >= w->cmd_max;
}

/* Queue one request for key idx on c (conn_room said yes); it is sent at the next flush. */
static void conn_queue(struct tcp_worker *w, struct tcp_conn *c, uint64_t idx, uint8_t op,
		       uint64_t t_start, uint64_t now)
{
	const struct load_opts *o = w->lw.o;
	struct tcp_req *r = q_at(c, c->qn++);

	c->out_len += load_cmd_build(c->out + c->out_len, o->proto, op,
				     bench_key(&w->lw.run->keys, idx), o->key_size, idx,
				     o->value_size, o->value_version);
	*r = (struct tcp_req){.t_start = t_start, .t_sent = now, .idx = idx, .op = op};
	LOAD_CNT_ADD(load_cnt(&w->lw)->sent, 1);
}

/* Closed loop and preload: top c up to the phase's depth, then flush. */
void tcp_conn_top_up(struct tcp_worker *w, uint32_t i, uint64_t now)
{
	struct load_worker *lw = &w->lw;
	struct tcp_conn *c = &w->conns[i];
	uint32_t queued = 0;

	while (conn_room(w, c) && load_may_issue(lw, now)) {
		uint64_t idx;
		uint8_t op = LOAD_OP_SET;

		if (lw->phase == LOAD_PHASE_MEASURE) {
			load_next_measured(lw, &idx, &op);
			lw->issued++;
		} else if (!load_next_preload(lw, &idx)) {
			break;
		}
		conn_queue(w, c, idx, op, now, now);
		queued++;
	}
	if (queued > 0 && !c->want_out)
		conn_flush(w, i);
}

/*
 * Open loop: hand every arrival due by now to the connections in turn, up
 * to TCP_BATCH per connection per turn. An arrival that finds every
 * connection full waits (its latency counts from its intended time).
 */
static void issue_open(struct tcp_worker *w, uint64_t now)
{
	struct load_worker *lw = &w->lw;
	uint64_t start[TCP_BATCH];

	for (uint32_t tried = 0; tried < w->nconns && lw->next_at <= now; tried++) {
		uint32_t i = w->rr;
		struct tcp_conn *c = &w->conns[i];
		uint32_t room = 0;

		w->rr = (w->rr + 1) % w->nconns;
		if (!conn_room(w, c))
			continue;
		room = PX_MIN(w->qmax - c->qn, (uint32_t)((w->out_cap - c->out_len) / w->cmd_max));
		uint32_t n = load_arrivals(lw, now, start, PX_MIN(room, (uint32_t)TCP_BATCH));
		for (uint32_t k = 0; k < n; k++) {
			uint64_t idx;
			uint8_t op;

			load_next_measured(lw, &idx, &op);
			conn_queue(w, c, idx, op, start[k], now);
		}
		lw->issued += n;
		if (n > 0) {
			tried = 0;
			if (!c->want_out)
				conn_flush(w, i);
		}
	}
}

/* Match the whole replies read so far to c's requests in flight, oldest first. */
void tcp_conn_replies(struct tcp_worker *w, struct tcp_conn *c, uint64_t now)
{
	const struct load_opts *o = w->lw.o;

	while (c->qn > 0) {
		struct tcp_req *r = q_at(c, 0);
		const uint8_t *p;
		size_t len;
		enum tcp_rx_status st = tcp_rx_next(&c->rx, o->proto, r->op, &p, &len);

		if (st == TCP_RX_MORE)
			return;
		enum load_verdict v = LOAD_V_GARBLED;

		if (st == TCP_RX_REPLY)
			v = load_reply_check(p, len, o->proto, r->op,
					     bench_key(&w->lw.run->keys, r->idx), o->key_size,
					     r->idx, o->value_size, o->value_version);
		load_count_reply(&w->lw, v, r->t_start, now);
		c->qhead = (c->qhead + 1) & (c->qcap - 1);
		c->qn--;
		if (v == LOAD_V_GARBLED) {
			/* Where the next reply starts is anyone's guess now. */
			tcp_conn_fail(w, c, false);
			return;
		}
	}
	if (tcp_rx_pending(&c->rx) > 0) {
		/* Bytes no request asked for. */
		LOAD_CNT_ADD(load_cnt(&w->lw)->garbled, 1);
		tcp_conn_fail(w, c, false);
	}
}

/* Where c reads next (*room bytes); NULL after breaking c when no reply of this run fits. */
uint8_t *tcp_conn_rx_space(struct tcp_worker *w, struct tcp_conn *c, size_t *room)
{
	uint8_t *space = tcp_rx_space(&c->rx, room);

	if (space != NULL)
		return space;
	/* A reply larger than any this run can hold. */
	if (c->qn > 0) {
		load_count_reply(&w->lw, LOAD_V_GARBLED, q_at(c, 0)->t_start, px_clock_ns());
		c->qhead = (c->qhead + 1) & (c->qcap - 1);
		c->qn--;
	}
	tcp_conn_fail(w, c, false);
	return NULL;
}

static void conn_read(struct tcp_worker *w, struct tcp_conn *c)
{
	for (int round = 0; round < TCP_READ_ROUNDS && !c->dead; round++) {
		size_t room;
		uint8_t *space = tcp_conn_rx_space(w, c, &room);

		if (space == NULL)
			return;
		ssize_t n = recv(c->fd, space, room, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			tcp_conn_fail(w, c, false); /* EOF or reset */
			return;
		}
		tcp_rx_commit(&c->rx, (size_t)n);
		tcp_conn_replies(w, c, px_clock_ns());
		if ((size_t)n < room)
			return;
	}
}

static void tcp_on_event(struct load_worker *lw, const struct epoll_event *ev, bool closed,
			 uint64_t now)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;
	uint32_t i = ev->data.u32;
	struct tcp_conn *c = &w->conns[i];

	if (c->dead)
		return;
	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(w, c);
	if (!c->dead && (ev->events & EPOLLOUT))
		conn_flush(w, i);
	if (!c->dead && closed)
		tcp_conn_top_up(w, i, now);
}

/* The oldest request of every connection that has waited --timeout-ms breaks it. */
static void tcp_expire(struct load_worker *lw, uint64_t now)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;

	for (uint32_t i = 0; i < w->nconns; i++) {
		struct tcp_conn *c = &w->conns[i];

		if (!c->dead && c->qn > 0 && now - q_at(c, 0)->t_sent >= lw->run->timeout_ns)
			tcp_conn_fail(w, c, true);
	}
}

static uint64_t tcp_inflight(struct load_worker *lw, uint64_t *oldest)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;
	uint64_t n = 0;

	for (uint32_t i = 0; i < w->nconns; i++) {
		struct tcp_conn *c = &w->conns[i];

		n += c->qn;
		if (c->qn > 0)
			*oldest = PX_MIN(*oldest, q_at(c, 0)->t_sent);
	}
	return n;
}

static bool tcp_preload_hopeless(struct load_worker *lw)
{
	return ((struct tcp_worker *)lw)->live == 0;
}

static bool tcp_may_issue(struct load_worker *lw, uint64_t now)
{
	return ((struct tcp_worker *)lw)->live > 0 && load_may_issue(lw, now);
}

static void tcp_issue(struct load_worker *lw, uint64_t now, bool open)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;

	if (open) {
		issue_open(w, now);
		return;
	}
	for (uint32_t i = 0; i < w->nconns; i++)
		tcp_conn_top_up(w, i, now);
}

static void tcp_phase_start(struct load_worker *lw)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;
	bool open = lw->phase == LOAD_PHASE_MEASURE && lw->o->loop == LOAD_LOOP_OPEN;

	if (lw->o->uring) {
		int rc = tcp_uring_start(w);

		if (rc < 0) {
			fprintf(stderr, "pollux-bench tcp: io_uring: %s\n", strerror(-rc));
			__atomic_store_n(&lw->run->abort, 1, __ATOMIC_RELAXED);
			for (uint32_t i = 0; i < w->nconns; i++)
				tcp_conn_fail(w, &w->conns[i], false);
		}
	}

	/* The preload keeps --depth in flight too, so a server's work is all at one depth. */
	w->qmax = open ? TCP_OPEN_INFLIGHT : lw->o->depth;
}

/* Start a non-blocking connect of c to the server. 0 or a negative errno. */
static int conn_open(struct tcp_conn *c, const struct load_opts *o)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = o->server,
				 .sin_port = htons(o->port)};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	/* Each request goes out when written: no Nagle delay behind a reply in flight. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return -errno;
	return 0;
}

/* Wait until every connection of w is established, at most TCP_CONNECT_MS. */
static int conns_wait(struct tcp_worker *w)
{
	uint64_t deadline = px_clock_ns() + TCP_CONNECT_MS * 1000000ULL;
	uint32_t pending = w->nconns;
	struct epoll_event ev[64];

	while (pending > 0) {
		int n = load_wait_events(&w->lw, ev, (int)PX_ARRAY_SIZE(ev), deadline);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 && px_clock_ns() >= deadline)
			return -ETIMEDOUT;
		for (int j = 0; j < n; j++) {
			struct tcp_conn *c = &w->conns[ev[j].data.u32];
			struct epoll_event in = {.events = EPOLLIN, .data.u32 = ev[j].data.u32};
			int err = 0;
			socklen_t len = sizeof(err);

			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				return -errno;
			if (err != 0)
				return -err;
			if (epoll_ctl(w->lw.epfd, EPOLL_CTL_MOD, c->fd, &in) < 0)
				return -errno;
			pending--;
		}
	}
	return 0;
}

static int tcp_init(struct load_worker *lw)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;
	const struct load_opts *o = lw->o;
	uint32_t first, last, qmax;
	int rc;

	load_worker_share(lw, &first, &last);
	w->nconns = last - first;
	w->conns = calloc(w->nconns, sizeof(*w->conns));
	if (w->conns == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->nconns; i++)
		w->conns[i].fd = -1;
	w->cmd_max = load_cmd_max(o->key_size, o->value_size);
	w->out_cap = PX_MAX((size_t)TCP_OUT_MIN, 2 * w->cmd_max);
	qmax = o->loop == LOAD_LOOP_OPEN ? PX_MAX(o->depth, (uint32_t)TCP_OPEN_INFLIGHT) : o->depth;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct tcp_conn *c = &w->conns[i];
		struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};

		c->qcap = 1;
		while (c->qcap < qmax)
			c->qcap <<= 1;
		c->q = calloc(c->qcap, sizeof(*c->q));
		c->out = malloc(w->out_cap);
		/* Room for the largest value, a first line and a trailer, and then some. */
		rc = tcp_rx_init(&c->rx, PX_MAX((size_t)TCP_RX_MIN, 2 * w->cmd_max),
				 LOAD_VALUE_MAX + 2 * LOAD_LINE_MAX);
		if (c->q == NULL || c->out == NULL || rc < 0)
			return -ENOMEM;
		rc = conn_open(c, o);
		if (rc < 0)
			goto err;
		if (epoll_ctl(lw->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -errno;
	}
	rc = conns_wait(w);
	if (rc < 0)
		goto err;
	w->live = w->nconns;
	if (o->uring) {
		rc = tcp_uring_setup(w);
		if (rc < 0) {
			fprintf(stderr, "pollux-bench tcp: io_uring setup: %s\n", strerror(-rc));
			return rc;
		}
	}
	return 0;
err:
	fprintf(stderr, "pollux-bench tcp: connect to %s:%u: %s\n", o->server_str, o->port,
		strerror(-rc));
	return rc;
}

static void tcp_worker_end(struct load_worker *lw)
{
	tcp_uring_teardown((struct tcp_worker *)lw);
}

static void tcp_fini(struct load_worker *lw)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;

	if (w->conns != NULL)
		tcp_uring_teardown(w);
	for (uint32_t i = 0; w->conns != NULL && i < w->nconns; i++) {
		struct tcp_conn *c = &w->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->q);
		free(c->out);
		tcp_rx_free(&c->rx);
	}
	free(w->conns);
	w->conns = NULL;
}

static const struct load_transport_ops tcp_transport = {
	.worker_size = sizeof(struct tcp_worker),
	.init = tcp_init,
	.fini = tcp_fini,
	.phase_start = tcp_phase_start,
	.expire = tcp_expire,
	.may_issue = tcp_may_issue,
	.issue = tcp_issue,
	.inflight = tcp_inflight,
	.on_event = tcp_on_event,
	.wait = tcp_uring_wait,
	.worker_end = tcp_worker_end,
	.preload_hopeless = tcp_preload_hopeless,
	.hint = "does the server accept memcached over TCP there, and keep the connections?",
};

int bench_tcp_main(int argc, char **argv)
{
	return load_main(LOAD_TCP, &tcp_transport, argc, argv);
}
