/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp: the control plane process. Reads the same settings as
 * pollux-dp (INI file, key=value arguments), creates or adopts the shared
 * region, serves the admin socket and the HTTP management endpoints, and
 * watches the dataplane's heartbeat. It never sits on the request path; it
 * can be killed and restarted without disturbing a running dataplane.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_pvt.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pollux-cp [--config FILE] [--repair] [key=value ...]\n"
		   "--repair: let WAL recovery cut corrupt spans (kept as *.cut files)\n"
		   "settings (INI keys and key=value arguments; pollux-cp uses shm_path,\n"
		   "admin_socket and http_listen, and hands runtime keys to the dataplane):\n");
	px_settings_usage(f);
}

int main(int argc, char **argv)
{
	static struct cp cp;
	bool repair = false;

	/* --repair: recovery may cut corrupt spans out of the WAL (wal_repair=1) */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			break;
		} else if (strcmp(argv[i], "--repair") == 0) {
			repair = true;
			memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	int rest, rc = px_settings_parse_argv(&cp.set, argc, argv, "pollux-cp", &rest);
	if (rc == 1) {
		usage(stdout);
		return 0;
	}
	if (rc != 0 || rest != argc) {
		if (rc == 0)
			fprintf(stderr, "pollux-cp: unexpected arguments after --\n");
		return 2;
	}
	pthread_mutex_init(&cp.mbox_lock, NULL);
	cp.started = (uint64_t)time(NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (cp_region_open(&cp) != 0)
		return 1;
	char err[1024];
	cp.wal = cp_wal_open(&cp.set, cp.shm, repair || cp.set.wal_repair, err, sizeof(err));
	if (cp.wal == NULL) {
		fprintf(stderr, "pollux-cp: write-ahead log: %s\n", err);
		return 1;
	}
	if (cp_wal_start(cp.wal) != 0) {
		fprintf(stderr, "pollux-cp: write-ahead log thread: %s\n", strerror(errno));
		return 1;
	}
	int lfd = admin_open(cp.set.admin_socket);
	if (lfd < 0) {
		fprintf(stderr, "pollux-cp: admin socket %s: %s\n", cp.set.admin_socket, strerror(errno));
		return 1;
	}
	if (http_start(&cp, cp.set.http_listen) != 0) {
		fprintf(stderr, "pollux-cp: HTTP on %s failed (address in use, or bad address?)\n",
			cp.set.http_listen);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("pollux-cp: ready: admin socket %s, http://%s/metrics\n", cp.set.admin_socket,
	       cp.set.http_listen);

	while (!quit) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		cp_heartbeat(&cp);
		int n = poll(&p, 1, 100);
		if (n > 0 && (p.revents & POLLIN))
			admin_accept(&cp, lfd);
	}
	http_stop();
	cp_wal_stop(cp.wal);
	close(lfd);
	unlink(cp.set.admin_socket);
	/* The region stays: a running dataplane keeps its counters and rings. */
	printf("pollux-cp: stopped\n");
	return 0;
}
