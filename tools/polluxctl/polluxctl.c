/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * polluxctl: the operator's CLI for a running appliance. It talks to
 * pollux-cp over the admin unix socket (JSON lines, docs/operations.md) and
 * prints tables, or the server's JSON with --json. It never touches the
 * shared region or the dataplane directly. Exit codes: 0 ok, 1 the command
 * failed, 2 usage, 3 pollux-cp not running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "px_settings.h"

#ifndef PX_VERSION
#define PX_VERSION "unknown"
#endif

static void usage(FILE *f, const char *sock)
{
	fprintf(f,
		"usage: polluxctl [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  status                  pollux-cp and dataplane state, readiness, address\n"
		"  stats                   every counter, hit ratio, latency, per-lcore table\n"
		"  top [--count N] [--interval S]\n"
		"                          live ops/s, hit ratio, latency, lcore busy share\n"
		"  lcores                  per-lcore busy share and packet rates (0.5 s sample)\n"
		"  ports                   ports and their packet/byte/drop totals\n"
		"  config get [KEY]        settings (all keys without KEY)\n"
		"  config set KEY VALUE    change a runtime setting (mem_mb, log_level, ...)\n"
		"  flush                   flush_all on every partition\n"
		"  wal status              write-ahead log: mode, state, disk, fsync latency, LSNs\n"
		"  snapshot                compact the write-ahead log into a snapshot now\n"
		"  version                 versions of polluxctl, pollux-cp and pollux-dp\n"
		"\n"
		"options:\n"
		"  --socket PATH   admin socket (default %s;\n"
		"                  also $POLLUX_ADMIN_SOCKET, or admin_socket in --config FILE)\n"
		"  --json          print the server's JSON reply (top: one object per refresh)\n"
		"\n"
		"exit status: 0 ok, 1 the command failed, 2 usage error, 3 pollux-cp not running\n",
		sock);
}

static int cmd_status(const struct ctl *c)
{
	char up[32], dpup[32], lim[32];
	int rc;
	json_t *r = ctl_for_text(c, ctl_cmd(c, "status", &rc), &rc);

	if (r == NULL)
		return rc;
	const json_t *cp = json_object_get(r, "cp"), *dp = json_object_get(r, "dataplane");
	const json_t *reg = json_object_get(r, "region");
	ctl_fmt_duration(up, sizeof(up), ctl_u64(cp, "uptime_s"));
	ctl_fmt_duration(dpup, sizeof(dpup), ctl_u64(dp, "uptime_s"));
	ctl_fmt_bytes(lim, sizeof(lim), (double)ctl_u64(dp, "mem_limit"));
	printf("%-12s %s (%s)\n", "ready", json_is_true(json_object_get(r, "ready")) ? "yes" : "NO",
	       ctl_str(r, "reason"));
	printf("%-12s pid %llu, version %s, up %s\n", "pollux-cp",
	       (unsigned long long)ctl_u64(cp, "pid"), ctl_str(cp, "version"), up);
	printf("%-12s admin %s, http %s\n", "", ctl_str(cp, "admin_socket"),
	       ctl_str(cp, "http_listen"));
	printf("%-12s %s, generation %llu, ABI %llu\n", "region", ctl_str(reg, "path"),
	       (unsigned long long)ctl_u64(reg, "generation"),
	       (unsigned long long)ctl_u64(reg, "abi"));
	if (!json_is_true(json_object_get(dp, "attached"))) {
		printf("%-12s none attached\n", "dataplane");
		json_decref(r);
		return CTL_EXIT_OK;
	}
	printf("%-12s %s%s, pid %llu, version %s, up %s, heartbeat %llu ms ago\n", "dataplane",
	       ctl_str(dp, "state"), json_is_true(json_object_get(dp, "alive")) ? "" : " (not alive)",
	       (unsigned long long)ctl_u64(dp, "pid"), ctl_str(dp, "version"), dpup,
	       (unsigned long long)ctl_u64(dp, "heartbeat_age_ms"));
	printf("%-12s %s udp %llu\n", "address", ctl_str(dp, "ip"),
	       (unsigned long long)ctl_u64(dp, "udp_port"));
	printf("%-12s %s%s%s\n", "port", ctl_str(dp, "port"), *ctl_str(dp, "iface") ? " on " : "",
	       ctl_str(dp, "iface"));
	printf("%-12s %llu\n", "lcores", (unsigned long long)ctl_u64(dp, "lcores"));
	printf("%-12s %s\n", "memory", lim);
	json_decref(r);
	return CTL_EXIT_OK;
}

static int cmd_config(const struct ctl *c, int argc, char **argv)
{
	json_t *req;
	int rc;

	if (argc >= 1 && strcmp(argv[0], "get") == 0 && argc <= 2)
		req = argc == 2 ? json_pack("{s:s, s:s}", "cmd", "config_get", "key", argv[1])
				: json_pack("{s:s}", "cmd", "config_get");
	else if (argc == 3 && strcmp(argv[0], "set") == 0)
		req = json_pack("{s:s, s:s, s:s}", "cmd", "config_set", "key", argv[1], "value",
				argv[2]);
	else {
		fprintf(stderr, "usage: polluxctl config get [KEY] | config set KEY VALUE\n");
		return CTL_EXIT_USAGE;
	}
	bool get_all = argc == 1, set = argc == 3;
	json_t *r = ctl_for_text(c, ctl_call(c, req, &rc), &rc);
	if (r == NULL)
		return rc;
	if (set) {
		const char *m = ctl_str(r, "message");
		printf("%s = %s%s%s\n", ctl_str(r, "key"), ctl_str(r, "value"), *m ? ": " : "", m);
	} else if (!get_all) {
		printf("%s\n", ctl_str(r, "value"));
	} else {
		const json_t *cfg = json_object_get(r, "config"), *rt = json_object_get(r, "runtime");
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)cfg, key, v) {
			bool runtime = false;
			for (size_t i = 0; i < json_array_size(rt); i++)
				runtime |= strcmp(json_string_value(json_array_get(rt, i)), key) == 0;
			if (runtime)
				printf("%-22s %-24s (runtime)\n", key, json_string_value(v));
			else
				printf("%-22s %s\n", key, json_string_value(v));
		}
	}
	json_decref(r);
	return CTL_EXIT_OK;
}

static int cmd_simple(const struct ctl *c, const char *cmd)
{
	int rc;
	json_t *r = ctl_for_text(c, ctl_cmd(c, cmd, &rc), &rc);

	if (r == NULL)
		return rc;
	if (strcmp(cmd, "flush") == 0 || strcmp(cmd, "snapshot") == 0) {
		printf("%s\n", ctl_str(r, "message"));
	} else if (strcmp(cmd, "version") == 0) {
		const char *dp = json_string_value(json_object_get(r, "dataplane"));
		printf("polluxctl  %s\npollux-cp  %s\npollux-dp  %s\n", PX_VERSION,
		       ctl_str(r, "version"), dp ? dp : "(not attached)");
	} else { /* ports */
		size_t i;
		json_t *p;
		printf("%-16s %-10s %14s %14s %16s %16s %10s %10s\n", "port", "iface", "rx_packets",
		       "tx_packets", "rx_bytes", "tx_bytes", "rx_drops", "tx_drops");
		json_array_foreach(json_object_get(r, "ports"), i, p) {
			printf("%-16s %-10s %14llu %14llu %16llu %16llu %10llu %10llu\n",
			       ctl_str(p, "name"), *ctl_str(p, "iface") ? ctl_str(p, "iface") : "-",
			       (unsigned long long)ctl_u64(p, "rx_packets"),
			       (unsigned long long)ctl_u64(p, "tx_packets"),
			       (unsigned long long)ctl_u64(p, "rx_bytes"),
			       (unsigned long long)ctl_u64(p, "tx_bytes"),
			       (unsigned long long)ctl_u64(p, "rx_drops"),
			       (unsigned long long)ctl_u64(p, "tx_drops"));
		}
		if (json_array_size(json_object_get(r, "ports")) == 0)
			printf("(no dataplane attached)\n");
	}
	json_decref(r);
	return CTL_EXIT_OK;
}

static int cmd_wal_status(const struct ctl *c)
{
	char disk[32], bytes[32];
	int rc;
	json_t *r = ctl_for_text(c, ctl_cmd(c, "wal_status", &rc), &rc);

	if (r == NULL)
		return rc;
	const json_t *lat = json_object_get(r, "fsync_latency_us");
	ctl_fmt_bytes(disk, sizeof(disk), (double)ctl_u64(r, "disk_bytes"));
	ctl_fmt_bytes(bytes, sizeof(bytes), (double)ctl_u64(r, "bytes"));
	printf("%-18s %s\n", "mode", ctl_str(r, "mode"));
	printf("%-18s %s%s%s\n", "state", ctl_str(r, "state"),
	       json_is_string(json_object_get(r, "error")) ? ": " : "",
	       json_is_string(json_object_get(r, "error")) ? ctl_str(r, "error") : "");
	printf("%-18s %s\n", "dir", ctl_str(r, "dir"));
	printf("%-18s %llu records, %s, %llu fsyncs, %llu I/O errors\n", "written",
	       (unsigned long long)ctl_u64(r, "records"), bytes,
	       (unsigned long long)ctl_u64(r, "fsyncs"), (unsigned long long)ctl_u64(r, "io_errors"));
	if (json_is_number(json_object_get(lat, "p50")))
		printf("%-18s p50 %.1f us, p99 %.1f us\n", "fsync latency",
		       json_number_value(json_object_get(lat, "p50")),
		       json_number_value(json_object_get(lat, "p99")));
	printf("%-18s %s in %llu segments (current %llu), %llu snapshots written\n", "disk", disk,
	       (unsigned long long)ctl_u64(r, "segments"), (unsigned long long)ctl_u64(r, "segment"),
	       (unsigned long long)ctl_u64(r, "snapshots"));
	printf("%-18s %llu recoveries, last %llu records in %.3f s\n", "recovery",
	       (unsigned long long)ctl_u64(r, "recoveries"),
	       (unsigned long long)ctl_u64(r, "recovered_records"),
	       json_number_value(json_object_get(r, "recovery_seconds")));
	size_t i;
	json_t *l;
	printf("%-6s %16s %16s %10s\n", "lcore", "pushed_lsn", "durable_lsn", "lag");
	json_array_foreach(json_object_get(r, "lcores"), i, l)
		printf("%-6llu %16llu %16llu %10llu\n", (unsigned long long)ctl_u64(l, "lcore"),
		       (unsigned long long)ctl_u64(l, "pushed_lsn"),
		       (unsigned long long)ctl_u64(l, "durable_lsn"),
		       (unsigned long long)ctl_u64(l, "lag"));
	json_decref(r);
	return CTL_EXIT_OK;
}

/* The compiled-in default of admin_socket, from the settings table. */
static const char *default_socket(void)
{
#define CTL_X_DEFAULT(name, type, def, lo, hi, doc) \
	if (strcmp(#name, "admin_socket") == 0)    \
		return def;
	PX_SETTINGS(CTL_X_DEFAULT)
#undef CTL_X_DEFAULT
	return "/run/pollux/admin.sock";
}

static int parse_number(const char *opt, const char *v, double lo, double *out)
{
	char *end;

	errno = 0;
	double x = v ? strtod(v, &end) : 0;
	if (v == NULL || errno != 0 || end == v || *end != '\0' || x < lo) {
		fprintf(stderr, "polluxctl: %s needs a number >= %g\n", opt, lo);
		return -1;
	}
	*out = x;
	return 0;
}

int main(int argc, char **argv)
{
	static struct px_settings set;
	struct ctl c = { .socket = NULL, .interval = 1.0 };
	const char *config = NULL;
	char *pos[8];
	int npos = 0;
	double count = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--") == 0) {
			while (++i < argc && npos < 8)
				pos[npos++] = argv[i];
			break;
		} else if (strcmp(a, "--json") == 0) {
			c.json = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
			   (npos == 0 && strcmp(a, "help") == 0)) {
			usage(stdout, default_socket());
			return CTL_EXIT_OK;
		} else if (strcmp(a, "--socket") == 0 || strcmp(a, "-s") == 0) {
			if (val == NULL)
				goto bad;
			c.socket = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			c.socket = a + 9;
		} else if (strcmp(a, "--config") == 0) {
			if (val == NULL)
				goto bad;
			config = argv[++i];
		} else if (strcmp(a, "--count") == 0 || strcmp(a, "-n") == 0) {
			if (parse_number(a, val, 1, &count) != 0)
				return CTL_EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--interval") == 0) {
			if (parse_number(a, val, 0.1, &c.interval) != 0)
				return CTL_EXIT_USAGE;
			i++;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "polluxctl: unknown option %s (see --help)\n", a);
			return CTL_EXIT_USAGE;
		} else if (npos < 8) {
			pos[npos++] = argv[i];
		} else {
			goto bad;
		}
	}
	c.count = (long)count;
	if (c.socket == NULL)
		c.socket = getenv("POLLUX_ADMIN_SOCKET");
	if (c.socket == NULL && config != NULL) {
		char msg[512];
		px_settings_defaults(&set);
		if (px_settings_load(&set, config, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "polluxctl: %s\n", msg);
			return CTL_EXIT_USAGE;
		}
		c.socket = set.admin_socket;
	}
	if (c.socket == NULL || *c.socket == '\0')
		c.socket = default_socket();
	if (npos == 0)
		goto bad;

	const char *cmd = pos[0];
	if (strcmp(cmd, "config") == 0)
		return cmd_config(&c, npos - 1, pos + 1);
	if (strcmp(cmd, "wal") == 0) {
		if (npos != 2 || strcmp(pos[1], "status") != 0) {
			fprintf(stderr, "usage: polluxctl wal status\n");
			return CTL_EXIT_USAGE;
		}
		return cmd_wal_status(&c);
	}
	if (npos != 1) {
		fprintf(stderr, "polluxctl: %s takes no arguments (see --help)\n", cmd);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(cmd, "status") == 0)
		return cmd_status(&c);
	if (strcmp(cmd, "stats") == 0)
		return ctl_stats(&c);
	if (strcmp(cmd, "top") == 0)
		return ctl_top(&c);
	if (strcmp(cmd, "lcores") == 0)
		return ctl_lcores(&c);
	if (strcmp(cmd, "ports") == 0 || strcmp(cmd, "flush") == 0 || strcmp(cmd, "version") == 0 ||
	    strcmp(cmd, "snapshot") == 0)
		return cmd_simple(&c, cmd);
	fprintf(stderr, "polluxctl: unknown command '%s' (see --help)\n", cmd);
	return CTL_EXIT_USAGE;
bad:
	usage(stderr, default_socket());
	return CTL_EXIT_USAGE;
}
