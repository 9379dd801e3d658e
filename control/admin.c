/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin unix socket that polluxctl talks to (docs/operations.md): its
 * file (parent directory, stale socket, mode 0600) and its clients. Each
 * client is served on its own short-lived thread, so a slow client or a
 * mailbox command that waits for the dataplane never stalls pollux-cp's main
 * loop; clients are capped and idle ones time out. Lines are framed here
 * and answered by admin_cmd.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin_pvt.h"

#define ADMIN_BACKLOG 16

static atomic_uint admin_clients;

/* ---- socket ---- */

/* mkdir -p of path's parent directory, mode 0755 for what it creates. */
static int admin_mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/*
 * Remove a socket file left by a pollux-cp that died. A live one (something
 * accepts on it) is EADDRINUSE; a path that is not a socket is EEXIST, and
 * neither is touched.
 */
static int admin_remove_stale(const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(sa->sun_path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	if (live) {
		errno = EADDRINUSE;
		return -1;
	}
	return unlink(sa->sun_path) == 0 || errno == ENOENT ? 0 : -1;
}

int admin_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1, saved;

	if (path == NULL || *path == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (admin_mkdir_parent(path) != 0 || admin_remove_stale(&sa) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Born 0600: no window in which another user could connect. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, ADMIN_BACKLOG) != 0)
		goto err;
	return fd;
err:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* ---- connections ---- */

static int admin_send(int fd, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(12));
	int rc = -1;

	json_decref(reply);
	if (text == NULL)
		return -1;
	size_t len = strlen(text), off = 0;
	text[len++] = '\n'; /* replaces the NUL; len now counts the newline */
	while (off < len) {
		ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

/*
 * Serve one client until EOF, an idle ADMIN_TIMEOUT_S or a write error.
 * Requests are answered in order; an over-long line gets an error and is
 * skipped up to its newline, so the connection stays usable. Blank lines
 * are ignored. Memory: one ADMIN_LINE_MAX buffer.
 */
static void admin_serve(struct cp *cp, int fd)
{
	char *buf = malloc(ADMIN_LINE_MAX);
	bool skipping = false;
	size_t len = 0;

	if (buf == NULL)
		return;
	for (;;) {
		char *nl;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			size_t l = (size_t)(nl - buf);
			size_t body = l > 0 && buf[l - 1] == '\r' ? l - 1 : l;
			if (!skipping && body > 0 &&
			    admin_send(fd, admin_handle(cp, buf, body)) != 0)
				goto out;
			skipping = false;
			memmove(buf, nl + 1, len - l - 1);
			len -= l + 1;
		}
		if (len == ADMIN_LINE_MAX) {
			if (!skipping) {
				char msg[96];
				snprintf(msg, sizeof(msg), "request longer than %u bytes: skipped",
					 ADMIN_LINE_MAX);
				if (admin_send(fd, admin_error(msg, NULL)) != 0)
					goto out;
			}
			skipping = true; /* drop the rest of the line as it arrives */
			len = 0;
		}
		ssize_t r = recv(fd, buf + len, ADMIN_LINE_MAX - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* EOF: a last request without its newline still gets an answer */
			if (r == 0 && len > 0 && !skipping)
				admin_send(fd, admin_handle(cp, buf, len));
			goto out;
		}
		len += (size_t)r;
	}
out:
	free(buf);
}

struct admin_client {
	struct cp *cp;
	int fd;
};

static void *admin_thread(void *arg)
{
	struct admin_client c = *(struct admin_client *)arg;

	free(arg);
	admin_serve(c.cp, c.fd);
	close(c.fd);
	atomic_fetch_sub(&admin_clients, 1);
	return NULL;
}

/* Hand fd to a detached thread; on failure the caller still owns fd. */
static int admin_spawn(struct cp *cp, int fd)
{
	struct admin_client *c = malloc(sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (c == NULL)
		return -1;
	c->cp = cp;
	c->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256u << 10);
	rc = pthread_create(&t, &attr, admin_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(c);
		return -1;
	}
	return 0;
}

void admin_accept(struct cp *cp, int lfd)
{
	struct timeval tv = { .tv_sec = ADMIN_TIMEOUT_S };

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: none left; anything else: try at the next poll */
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (atomic_fetch_add(&admin_clients, 1) >= ADMIN_CLIENTS_MAX) {
			atomic_fetch_sub(&admin_clients, 1);
			admin_send(fd, admin_error("too many admin clients; try again", NULL));
			close(fd);
			continue;
		}
		if (admin_spawn(cp, fd) != 0) {
			atomic_fetch_sub(&admin_clients, 1);
			admin_send(fd, admin_error("cannot start a thread for this client", NULL));
			close(fd);
		}
	}
}
