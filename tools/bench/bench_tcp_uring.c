/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The io_uring engine of `pollux-bench tcp` (--io uring). The same
 * connections as the epoll engine (bench_tcp.c), driven through one ring
 * per worker: every connection keeps one recv armed and at most one send
 * in flight, and each wakeup submits all the sends and re-armed receives
 * queued since the last one and waits for completions in a single
 * io_uring_enter(), where epoll costs an epoll_wait plus a send and a recv
 * system call per request. Without pipelining the client thread is what
 * bounds the rate on a small machine, and in a VM system calls were a third
 * of its cost (docs/performance.md). Sockets are blocking here: on a
 * non-blocking one the ring would end a send or recv that cannot go on at
 * once with -EAGAIN instead of waiting for the socket. The ring is single
 * issuer with deferred task work, so the receives' copies run inside the
 * worker's own io_uring_enter(); only the worker's thread may enter it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "px_clock.h"

#include "bench_tcp_pvt.h"

#define TCP_DRAIN_MS 1000   /* waiting for the operations of shut connections at the end */
#define UD_SEND 1u          /* user_data: connection index << 1 | UD_SEND for a send */

/*
 * A free submission entry. The ring has two per connection, as many as can
 * be in flight, so it runs out only between submits; then the queued ones
 * go now. NULL only if the ring is broken.
 */
static struct io_uring_sqe *uring_sqe(struct tcp_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (sqe == NULL && io_uring_submit(&w->ring) >= 0)
		sqe = io_uring_get_sqe(&w->ring);
	return sqe;
}

/* Send the rest of connection i's output buffer (none in flight). */
void tcp_uring_send(struct tcp_worker *w, uint32_t i)
{
	struct tcp_conn *c = &w->conns[i];
	struct io_uring_sqe *sqe = uring_sqe(w);

	if (sqe == NULL) {
		LOAD_CNT_ADD(load_cnt(&w->lw)->send_failures, 1);
		tcp_conn_fail(w, c, false);
		return;
	}
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)i << 1 | UD_SEND);
	c->sending = true;
	w->ops++;
}

/* Arm connection i's receive into its reply buffer (none in flight). */
static void uring_recv(struct tcp_worker *w, uint32_t i)
{
	struct tcp_conn *c = &w->conns[i];
	size_t room;
	uint8_t *space = tcp_conn_rx_space(w, c, &room);
	struct io_uring_sqe *sqe;

	if (space == NULL)
		return;
	sqe = uring_sqe(w);
	if (sqe == NULL) {
		tcp_conn_fail(w, c, false);
		return;
	}
	io_uring_prep_recv(sqe, c->fd, space, room, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)i << 1);
	c->recving = true;
	w->ops++;
}

/* One completion: res of the send or recv that ud names. */
static void uring_done(struct tcp_worker *w, uint64_t ud, int res, bool closed, uint64_t now)
{
	uint32_t i = (uint32_t)(ud >> 1);
	struct tcp_conn *c = &w->conns[i];

	w->ops--;
	if (ud & UD_SEND) {
		c->sending = false;
		if (c->dead)
			return;
		if (res > 0) {
			c->out_off += (size_t)res;
			if (c->out_off == c->out_len)
				c->out_off = c->out_len = 0;
			else
				tcp_uring_send(w, i); /* the rest, or what was queued meanwhile */
		} else if (res == -EINTR || res == -EAGAIN) {
			tcp_uring_send(w, i);
		} else {
			LOAD_CNT_ADD(load_cnt(&w->lw)->send_failures, 1);
			tcp_conn_fail(w, c, false);
		}
		return;
	}
	c->recving = false;
	if (c->dead)
		return;
	if (res > 0) {
		tcp_rx_commit(&c->rx, (size_t)res);
		tcp_conn_replies(w, c, now);
	} else if (res != -EINTR && res != -EAGAIN) {
		tcp_conn_fail(w, c, false); /* EOF or reset */
		return;
	}
	if (!c->dead)
		uring_recv(w, i);
	if (!c->dead && closed)
		tcp_conn_top_up(w, i, now);
}

/*
 * Submit what was queued and wait, until deadline, for at least one
 * completion; handle every completion there is. The kernel runs the
 * receives' copies in this call (deferred task work), on this thread.
 */
bool tcp_uring_wait(struct load_worker *lw, uint64_t deadline, bool closed)
{
	struct tcp_worker *w = (struct tcp_worker *)lw;
	uint64_t now = px_clock_ns(), dt = deadline > now ? deadline - now : 0;
	struct __kernel_timespec ts = {(long long)(dt / 1000000000u), (long long)(dt % 1000000000u)};
	struct io_uring_cqe *cqe;
	uint32_t budget;

	if (!lw->o->uring)
		return false;
	/* With nothing in flight this sleeps to the deadline. */
	io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
	now = px_clock_ns();
	/* Completions handled may queue more; those wait for the next round. */
	for (budget = 2 * w->nconns + 2; budget > 0; budget--) {
		if (io_uring_peek_cqe(&w->ring, &cqe) != 0)
			break;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&w->ring, cqe);
		uring_done(w, ud, res, closed, now);
	}
	return true;
}

/*
 * The worker thread's ring: created by tcp_init on the main thread,
 * disabled, because only the thread that submits may own a single-issuer
 * ring; enabled here, then every live connection's receive is armed.
 */
int tcp_uring_start(struct tcp_worker *w)
{
	if (w->ring_off) {
		/* io_uring_enable_rings() is missing from Debian 12's liburing 2.3 library. */
		if (syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
			    NULL, 0) < 0)
			return -errno;
		w->ring_off = false;
	}
	for (uint32_t i = 0; i < w->nconns; i++)
		if (!w->conns[i].dead && !w->conns[i].recving)
			uring_recv(w, i);
	return 0;
}

int tcp_uring_setup(struct tcp_worker *w)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_R_DISABLED,
	};
	uint32_t entries = 8;
	int rc;

	while (entries < 2 * w->nconns)
		entries <<= 1;
	rc = io_uring_queue_init_params(entries, &w->ring, &p);
	if (rc == -EINVAL) {
		/* A kernel before 6.1: a plain ring, which any thread may use. */
		p = (struct io_uring_params){0};
		rc = io_uring_queue_init_params(entries, &w->ring, &p);
	} else if (rc == 0) {
		w->ring_off = true;
	}
	if (rc < 0)
		return rc;
	w->ring_live = true;
	/*
	 * The connections stay in epoll only for the connect; the ring waits
	 * for them now. Blocking sockets: on a non-blocking one the ring ends a
	 * send or recv that cannot go on at once with -EAGAIN instead of
	 * waiting for the socket, and a full send buffer would spin.
	 */
	for (uint32_t i = 0; i < w->nconns; i++) {
		int fd = w->conns[i].fd, fl = fcntl(fd, F_GETFL);

		epoll_ctl(w->lw.epfd, EPOLL_CTL_DEL, fd, NULL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

/*
 * Shut every connection, so its operations end, and wait for them before
 * buffers go. On the worker's thread, the only one that may enter its ring
 * (tcp_worker_end); tcp_fini then finds it gone, or never enabled.
 */
void tcp_uring_teardown(struct tcp_worker *w)
{
	uint64_t deadline = px_clock_ns() + TCP_DRAIN_MS * 1000000ULL;

	if (!w->ring_live)
		return;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct tcp_conn *c = &w->conns[i];

		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		c->dead = true;
	}
	while (w->ops > 0 && px_clock_ns() < deadline) {
		struct __kernel_timespec ts = {0, 10000000};
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);

		if (rc < 0 && rc != -ETIME && rc != -EINTR)
			break; /* not this ring's thread: closing it cancels what is left */
		while (io_uring_peek_cqe(&w->ring, &cqe) == 0) {
			io_uring_cqe_seen(&w->ring, cqe);
			w->ops--;
		}
	}
	io_uring_queue_exit(&w->ring);
	w->ring_live = false;
}

