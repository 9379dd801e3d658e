/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Settings parsing: the PX_SETTINGS table turned into a lookup, value
 * parsers with bounds, INI loading through libinih and key=value
 * arguments. No process-specific logic: callers decide what to do with
 * the values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "px_settings.h"

struct setting_info {
	const char *name;
	enum px_setting_type type;
	const char *def;
	double lo, hi;
	const char *doc;
	size_t off;
};

static const struct setting_info settings_table[] = {
#define PX_X_INFO(name, type, def, lo, hi, doc) \
	{ #name, PX_SET_##type, def, (double)(lo), (double)(hi), doc, offsetof(struct px_settings, name) },
	PX_SETTINGS(PX_X_INFO)
#undef PX_X_INFO
};

static const struct setting_info *setting_find(const char *key)
{
	for (size_t i = 0; i < sizeof(settings_table) / sizeof(settings_table[0]); i++)
		if (strcmp(settings_table[i].name, key) == 0)
			return &settings_table[i];
	return NULL;
}

/* Keys whose text values come from a fixed set, and address-shaped keys. */
static const struct {
	const char *key;
	const char *const values[5];
	const char *why;
} str_enums[] = {
	{ "policy", { "clock", "fifo" }, "expected clock or fifo" },
	{ "pmd", { "auto", "af_xdp", "af_packet" }, "expected auto, af_xdp or af_packet" },
	{ "log_level", { "error", "warn", "info", "debug" }, "expected error, warn, info or debug" },
	{ "wal_mode", { "off", "async", "sync" }, "expected off, async or sync" },
};

/* "ADDR:PORT" with a numeric IPv4 or [IPv6] address and a port 1..65535. */
static bool listen_ok(const char *v)
{
	const char *colon = strrchr(v, ':');
	char host[64];
	char *end;
	struct in6_addr a6;
	struct in_addr a4;

	if (colon == NULL || colon == v || (size_t)(colon - v) >= sizeof(host))
		return false;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535 || colon[1] == '\0')
		return false;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']')
			return false;
		host[n - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, &a6) == 1;
	}
	return inet_pton(AF_INET, host, &a4) == 1;
}

static bool str_value_ok(const char *key, const char *v, const char **why)
{
	for (size_t i = 0; i < sizeof(str_enums) / sizeof(str_enums[0]); i++) {
		if (strcmp(key, str_enums[i].key) != 0)
			continue;
		for (size_t j = 0; j < 5 && str_enums[i].values[j] != NULL; j++)
			if (strcmp(v, str_enums[i].values[j]) == 0)
				return true;
		*why = str_enums[i].why;
		return false;
	}
	if (strcmp(key, "http_listen") == 0 && !listen_ok(v)) {
		*why = "expected ADDR:PORT with a numeric IPv4 or [IPv6] address";
		return false;
	}
	return true;
}

static int parse_u64(const struct setting_info *si, const char *v, uint64_t *out, const char **why)
{
	char *end;

	if (si->lo == 0 && si->hi == 1) {
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on")) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off")) {
			*out = 0;
			return 0;
		}
	}
	if (*v == '\0' || *v == '-') {
		*why = "expected a non-negative integer";
		return -EINVAL;
	}
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno != 0 || *end != '\0') {
		*why = "expected a non-negative integer";
		return -EINVAL;
	}
	if ((double)x < si->lo || (double)x > si->hi) {
		*why = "out of range";
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int px_settings_set(struct px_settings *s, const char *key, const char *value, const char **why)
{
	const struct setting_info *si = setting_find(key);
	char *field;

	if (si == NULL) {
		*why = "unknown key";
		return -ENOENT;
	}
	field = (char *)s + si->off;
	switch (si->type) {
	case PX_SET_U64:
		return parse_u64(si, value, (uint64_t *)field, why);
	case PX_SET_STR:
		if (strlen(value) >= 256) {
			*why = "longer than 255 bytes";
			return -EINVAL;
		}
		if (!str_value_ok(si->name, value, why))
			return -EINVAL;
		strcpy(field, value);
		return 0;
	case PX_SET_F64: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (errno != 0 || end == value || *end != '\0' || d < si->lo || d > si->hi) {
			*why = "expected a number from 0 to 1";
			return -EINVAL;
		}
		*(double *)field = d;
		return 0;
	}
	case PX_SET_IP4: {
		struct in_addr a;
		if (inet_pton(AF_INET, value, &a) != 1) {
			*why = "expected an IPv4 address (a.b.c.d)";
			return -EINVAL;
		}
		*(uint32_t *)field = ntohl(a.s_addr);
		return 0;
	}
	}
	*why = "bad setting type";
	return -EINVAL;
}

void px_settings_defaults(struct px_settings *s)
{
	const char *why;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < sizeof(settings_table) / sizeof(settings_table[0]); i++)
		if (px_settings_set(s, settings_table[i].name, settings_table[i].def, &why) != 0)
			abort(); /* a default outside its own bounds is a bug */
}

struct ini_ctx {
	struct px_settings *s;
	const char *why;
	char key[64];
};

static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	const char *why = NULL;
	(void)section; /* sections only group keys */
	if (px_settings_set(c->s, name, value, &why) == 0)
		return 1;
	/* libinih reports the first failing line and parses on: keep its error */
	if (c->why == NULL) {
		snprintf(c->key, sizeof(c->key), "%s", name);
		c->why = why;
	}
	return 0;
}

int px_settings_load(struct px_settings *s, const char *path, char *msg, size_t n)
{
	struct ini_ctx c = { .s = s };
	int rc = ini_parse(path, ini_cb, &c);

	if (rc == 0)
		return 0;
	if (rc == -1)
		snprintf(msg, n, "%s: cannot open: %s", path, strerror(errno));
	else if (c.why != NULL)
		snprintf(msg, n, "%s:%d: %s: %s", path, rc, c.key, c.why);
	else
		snprintf(msg, n, "%s:%d: syntax error", path, rc);
	return -1;
}

int px_settings_arg(struct px_settings *s, const char *arg, char *msg, size_t n)
{
	const char *eq = strchr(arg, '=');
	const char *why = NULL;
	char key[64];

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
		snprintf(msg, n, "argument '%s': expected key=value", arg);
		return -1;
	}
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	if (px_settings_set(s, key, eq + 1, &why) != 0) {
		snprintf(msg, n, "argument '%s': %s: %s", arg, key, why);
		return -1;
	}
	return 0;
}

int px_settings_get(const struct px_settings *s, const char *key, char *out, size_t n)
{
	const struct setting_info *si = setting_find(key);
	const char *field;

	if (si == NULL)
		return -ENOENT;
	field = (const char *)s + si->off;
	switch (si->type) {
	case PX_SET_U64:
		snprintf(out, n, "%llu", (unsigned long long)*(const uint64_t *)field);
		break;
	case PX_SET_STR:
		snprintf(out, n, "%s", field);
		break;
	case PX_SET_F64:
		snprintf(out, n, "%g", *(const double *)field);
		break;
	case PX_SET_IP4: {
		uint32_t a = *(const uint32_t *)field;
		snprintf(out, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
		break;
	}
	}
	return 0;
}

void px_settings_usage(void *file)
{
	for (size_t i = 0; i < sizeof(settings_table) / sizeof(settings_table[0]); i++)
		fprintf(file, "  %-20s default %-22s %s\n", settings_table[i].name,
			settings_table[i].def[0] ? settings_table[i].def : "\"\"", settings_table[i].doc);
}

int px_settings_parse_argv(struct px_settings *s, int argc, char **argv, const char *prog, int *rest)
{
	char msg[512];
	int end = argc;

	px_settings_defaults(s);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			end = i;
			break;
		}
	*rest = end < argc ? end + 1 : argc;
	/* --config first, so command-line keys override the file */
	for (int i = 1; i < end; i++) {
		if (strcmp(argv[i], "--config") != 0)
			continue;
		if (++i >= end) {
			fprintf(stderr, "%s: --config needs a file\n", prog);
			return -1;
		}
		if (px_settings_load(s, argv[i], msg, sizeof(msg)) != 0) {
			fprintf(stderr, "%s: %s\n", prog, msg);
			return -1;
		}
	}
	for (int i = 1; i < end; i++) {
		if (strcmp(argv[i], "--config") == 0)
			i++;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
		else if (px_settings_arg(s, argv[i], msg, sizeof(msg)) != 0) {
			fprintf(stderr, "%s: %s (see --help)\n", prog, msg);
			return -1;
		}
	}
	return 0;
}
