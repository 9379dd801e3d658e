/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * polluxctl's side of the admin socket: connect, write one JSON line, read
 * one JSON line back. A connection per call, so a long-running `top` never
 * holds one of pollux-cp's few admin client slots between refreshes. Also
 * small JSON and formatting helpers shared by the commands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_REPLY_MAX (64u << 20)
#define CTL_TIMEOUT_S 10 /* config_set and flush wait up to 2 s for the dataplane */

static int ctl_connect(const struct ctl *c, int *rc)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	int fd;

	if (strlen(c->socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "polluxctl: socket path too long: %s\n", c->socket);
		*rc = CTL_EXIT_USAGE;
		return -1;
	}
	memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "polluxctl: socket: %s\n", strerror(errno));
		*rc = CTL_EXIT_FAILED;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		*rc = CTL_EXIT_NOT_RUNNING;
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
			fprintf(stderr,
				"polluxctl: pollux-cp is not running (no socket at %s): start it with "
				"scripts/quickstart.sh, or give --socket PATH\n",
				c->socket);
		else if (e == EACCES || e == EPERM)
			fprintf(stderr,
				"polluxctl: permission denied on %s (mode 0600): run as the user "
				"that runs pollux-cp (usually root)\n",
				c->socket);
		else
			fprintf(stderr, "polluxctl: cannot connect to %s: %s\n", c->socket,
				strerror(e));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int ctl_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read up to the first newline; malloc'd, NUL-terminated, or NULL. */
static char *ctl_read_line(int fd, size_t *len)
{
	size_t cap = 64u << 10, n = 0;
	char *buf = malloc(cap);

	while (buf != NULL) {
		char *nl = n ? memchr(buf, '\n', n) : NULL;
		if (nl != NULL) {
			*nl = '\0';
			*len = (size_t)(nl - buf);
			return buf;
		}
		if (n + 1 >= cap) {
			char *nb = cap >= CTL_REPLY_MAX ? NULL : realloc(buf, cap * 2);
			if (nb == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	free(buf);
	return NULL;
}

json_t *ctl_call(const struct ctl *c, json_t *req, int *rc)
{
	char *text = json_dumps(req, JSON_COMPACT), *line = NULL;
	json_t *reply = NULL;
	json_error_t jerr;
	size_t len;
	int fd = -1;

	json_decref(req);
	*rc = CTL_EXIT_FAILED;
	if (text == NULL)
		return NULL;
	fd = ctl_connect(c, rc);
	if (fd < 0)
		goto out;
	*rc = CTL_EXIT_FAILED;
	if (ctl_write_all(fd, text, strlen(text)) != 0 || ctl_write_all(fd, "\n", 1) != 0) {
		fprintf(stderr, "polluxctl: writing to %s: %s\n", c->socket, strerror(errno));
		goto out;
	}
	shutdown(fd, SHUT_WR);
	errno = 0;
	line = ctl_read_line(fd, &len);
	if (line == NULL) {
		fprintf(stderr, "polluxctl: no answer from pollux-cp on %s%s%s\n", c->socket,
			errno ? ": " : "", errno ? strerror(errno) : "");
		goto out;
	}
	reply = json_loadb(line, len, 0, &jerr);
	if (reply == NULL || !json_is_object(reply)) {
		fprintf(stderr, "polluxctl: bad reply from pollux-cp: %s\n",
			reply ? "not an object" : jerr.text);
		json_decref(reply);
		reply = NULL;
		goto out;
	}
	*rc = CTL_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(text);
	return reply;
}

json_t *ctl_cmd(const struct ctl *c, const char *cmd, int *rc)
{
	return ctl_call(c, json_pack("{s:s}", "cmd", cmd), rc);
}

bool ctl_ok(const json_t *reply)
{
	if (json_is_true(json_object_get(reply, "ok")))
		return true;
	const char *e = ctl_str(reply, "error");
	fprintf(stderr, "polluxctl: %s\n", *e ? e : "failed (no reason given)");
	return false;
}

int ctl_print_json(json_t *reply)
{
	size_t flags = isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT;
	int rc = json_is_true(json_object_get(reply, "ok")) ? CTL_EXIT_OK : CTL_EXIT_FAILED;

	json_dumpf(reply, stdout, flags | JSON_REAL_PRECISION(12));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(reply);
	return rc;
}

uint64_t ctl_u64(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
	if (json_is_real(v))
		return json_real_value(v) > 0 ? (uint64_t)json_real_value(v) : 0;
	return 0;
}

double ctl_f64(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

const char *ctl_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

void ctl_fmt_duration(char *buf, size_t n, uint64_t s)
{
	if (s >= 86400)
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, n, "%llus", (unsigned long long)s);
}

void ctl_fmt_bytes(char *buf, size_t n, double b)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (b >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		b /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

json_t *ctl_for_text(const struct ctl *c, json_t *reply, int *rc)
{
	if (reply == NULL)
		return NULL;
	if (c->json) {
		*rc = ctl_print_json(reply);
		return NULL;
	}
	if (!ctl_ok(reply)) {
		json_decref(reply);
		*rc = CTL_EXIT_FAILED;
		return NULL;
	}
	return reply;
}
