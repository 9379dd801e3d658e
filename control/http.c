/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pollux-cp's management HTTP server (libmicrohttpd, its own thread), bound
 * to http_listen only (127.0.0.1 by default): /metrics in the Prometheus
 * text format, with memcached_exporter's metric names where one exists and
 * pollux_ names for the rest; /health (200 while pollux-cp runs); /ready
 * (200 when a dataplane is attached, serving and alive, else 503 and why).
 * Handlers only take a snapshot of the shared region: they never block on
 * the dataplane. No configuration changes over HTTP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cp.h"
#include "prom.h"
#include "wal/wal_report.h"

#ifndef PX_VERSION
#define PX_VERSION "unknown"
#endif

#define HTTP_CONN_MAX 32
#define HTTP_TIMEOUT_S 10
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct MHD_Daemon *httpd;

/* ---- /metrics ---- */

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static void metrics_commands(FILE *f, const struct px_shm_lcore *t)
{
	static const char *const name = "memcached_commands_total";
	const struct { const char *cmd, *status; uint64_t v; } rows[] = {
		{ "get", "hit", t->get_hits },        { "get", "miss", t->get_misses },
		{ "delete", "hit", t->delete_hits },  { "delete", "miss", t->delete_misses },
		{ "incr", "hit", t->incr_hits },      { "incr", "miss", t->incr_misses },
		{ "decr", "hit", t->decr_hits },      { "decr", "miss", t->decr_misses },
		{ "cas", "hit", t->cas_hits },        { "cas", "miss", t->cas_misses },
		{ "cas", "badval", t->cas_badval },   { "touch", "hit", t->touch_hits },
		{ "touch", "miss", t->touch_misses },
		/* as memcached, cmd_set counts cas too; the exporter subtracts it */
		{ "set", "hit", sub0(t->cmd_set, t->cas_hits + t->cas_misses + t->cas_badval) },
		{ "flush", "hit", t->cmd_flush },
	};

	prom_head(f, name, "counter",
		  "Total number of all requests broken down by command (get, set, etc.) and status.");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		fprintf(f, "%s{command=\"%s\",status=\"%s\"} %llu\n", name, rows[i].cmd,
			rows[i].status, (unsigned long long)rows[i].v);
}

/* memcached_exporter's names, from the dataplane's totals. */
static void metrics_memcached(FILE *f, const struct cp_snapshot *s)
{
	const struct px_shm_lcore *t = &s->total;

	prom_u64(f, "memcached_up", "gauge",
		 "Could the memcached server be reached (the dataplane is serving).", s->dp_alive);
	prom_u64(f, "memcached_uptime_seconds", "counter",
		 "Number of seconds since the server started.", s->dp_uptime_s);
	prom_u64(f, "memcached_time_seconds", "gauge",
		 "current UNIX time according to the server.", (uint64_t)time(NULL));
	prom_head(f, "memcached_version", "gauge", "The version of this memcached server.");
	fputs("memcached_version{version=\"", f);
	prom_label(f, s->version);
	fputs("\"} 1\n", f);
	metrics_commands(f, t);
	prom_u64(f, "memcached_current_items", "gauge",
		 "Current number of items stored by this instance.", t->curr_items);
	prom_u64(f, "memcached_items_total", "counter",
		 "Total number of items stored during the life of this instance.", t->total_items);
	prom_u64(f, "memcached_items_evicted_total", "counter",
		 "Total number of valid items removed from cache to free memory for new items.",
		 t->evictions);
	prom_u64(f, "memcached_items_reclaimed_total", "counter",
		 "Total number of times an entry was stored using memory from an expired entry.",
		 t->reclaimed);
	prom_u64(f, "memcached_item_too_large_total", "counter",
		 "The number of times an item exceeded the max-item-size when being stored.",
		 t->store_too_large);
	prom_u64(f, "memcached_item_no_memory_total", "counter",
		 "The number of times an item could not be stored due to no more memory.",
		 t->store_no_memory);
	prom_u64(f, "memcached_current_bytes", "gauge",
		 "Current number of bytes used to store items.", t->bytes);
	prom_u64(f, "memcached_limit_bytes", "gauge",
		 "Number of bytes this server is allowed to use for storage.", s->mem_limit);
	prom_u64(f, "memcached_read_bytes_total", "counter",
		 "Total number of bytes read by this server from network (frames received).",
		 t->rx_bytes);
	prom_u64(f, "memcached_written_bytes_total", "counter",
		 "Total number of bytes sent by this server to network (frames sent).", t->tx_bytes);
	prom_u64(f, "memcached_current_connections", "gauge",
		 "Current number of open TCP connections (UDP has none).", t->tcp_curr_conns);
	prom_u64(f, "memcached_connections_total", "counter",
		 "Total number of TCP connections opened since the dataplane started.",
		 t->tcp_accepts);
	prom_u64(f, "memcached_connections_rejected_total", "counter",
		 "TCP connections closed at once because max_conns were open.", t->tcp_refused);
}

/* One pollux_lcore_* family: a value per lcore. */
#define LCORE_FAMILY(f, s, name, type, help, expr)                                     \
	do {                                                                            \
		prom_head(f, name, type, help);                                         \
		for (unsigned i_ = 0; i_ < (s)->lcores; i_++) {                         \
			const struct px_shm_lcore *l = &(s)->lc[i_];                    \
			fprintf(f, name "{lcore=\"%u\"} %llu\n", i_,                    \
				(unsigned long long)(expr));                            \
		}                                                                       \
	} while (0)

static void metrics_lcores(FILE *f, const struct cp_snapshot *s)
{
	double hz = s->tsc_hz ? (double)s->tsc_hz : 1e9;

	prom_head(f, "pollux_lcore_busy_seconds_total", "counter",
		  "Seconds the lcore spent on bursts that carried packets (not idle polling).");
	for (unsigned i = 0; i < s->lcores; i++)
		fprintf(f, "pollux_lcore_busy_seconds_total{lcore=\"%u\"} %.9f\n", i,
			(double)s->lc[i].busy_cycles / hz);
	LCORE_FAMILY(f, s, "pollux_lcore_loops_total", "counter", "Polling loop iterations.",
		     l->loops);
	LCORE_FAMILY(f, s, "pollux_lcore_idle_loops_total", "counter",
		     "Polling loop iterations that received nothing.", l->idle_loops);
	LCORE_FAMILY(f, s, "pollux_lcore_sleeps_total", "counter",
		     "Idle sleeps of the adaptive polling back-off.", l->sleeps);
	LCORE_FAMILY(f, s, "pollux_lcore_rx_packets_total", "counter", "Packets received.",
		     l->rx_pkts);
	LCORE_FAMILY(f, s, "pollux_lcore_tx_packets_total", "counter", "Packets sent.",
		     l->tx_pkts);
	LCORE_FAMILY(f, s, "pollux_lcore_rx_bytes_total", "counter", "Bytes received.",
		     l->rx_bytes);
	LCORE_FAMILY(f, s, "pollux_lcore_tx_bytes_total", "counter", "Bytes sent.", l->tx_bytes);
	prom_head(f, "pollux_lcore_drops_total", "counter",
		  "Packets dropped, by reason: malformed (bad IP/UDP/frame), rx_other (not for us, "
		  "no memory, fault injection), tx (the port refused them), forward_full (the owner "
		  "lcore's forward ring was full).");
	for (unsigned i = 0; i < s->lcores; i++) {
		const struct px_shm_lcore *l = &s->lc[i];
		const struct { const char *reason; uint64_t v; } d[] = {
			{ "malformed", l->drop_malformed },
			{ "rx_other", sub0(l->rx_drops, l->drop_malformed) },
			{ "tx", l->tx_drops },
			{ "forward_full", l->fwd_full },
		};
		for (size_t k = 0; k < sizeof(d) / sizeof(d[0]); k++)
			fprintf(f, "pollux_lcore_drops_total{lcore=\"%u\",reason=\"%s\"} %llu\n", i,
				d[k].reason, (unsigned long long)d[k].v);
	}
	prom_head(f, "pollux_lcore_forwards_total", "counter",
		  "Requests forwarded between lcores to the key's owner partition.");
	for (unsigned i = 0; i < s->lcores; i++) {
		fprintf(f, "pollux_lcore_forwards_total{lcore=\"%u\",direction=\"out\"} %llu\n", i,
			(unsigned long long)s->lc[i].fwd_out);
		fprintf(f, "pollux_lcore_forwards_total{lcore=\"%u\",direction=\"in\"} %llu\n", i,
			(unsigned long long)s->lc[i].fwd_in);
	}
	LCORE_FAMILY(f, s, "pollux_lcore_udp_requests_total", "counter",
		     "memcached UDP requests received.", l->udp_reqs);
	LCORE_FAMILY(f, s, "pollux_lcore_udp_replies_total", "counter",
		     "memcached UDP replies sent.", l->udp_replies);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_connections", "gauge",
		     "Open TCP connections on the lcore.", l->tcp_curr_conns);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_payload_bytes_received_total", "counter",
		     "memcached bytes received over TCP (payload).", l->tcp_bytes_in);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_payload_bytes_sent_total", "counter",
		     "memcached bytes queued for sending over TCP (payload).", l->tcp_bytes_out);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_retransmits_total", "counter",
		     "TCP segments sent again (RTO, fast retransmit).", l->tcp_retransmits);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_syn_cookies_total", "counter",
		     "SYN-ACKs answered with a SYN cookie (SYN backlog full).", l->tcp_syn_cookies);
	LCORE_FAMILY(f, s, "pollux_lcore_tcp_resets_sent_total", "counter",
		     "TCP RST segments sent.", l->tcp_resets);
	LCORE_FAMILY(f, s, "pollux_lcore_arp_replies_total", "counter", "ARP replies sent.",
		     l->arp_replies);
	LCORE_FAMILY(f, s, "pollux_lcore_icmp_echo_replies_total", "counter",
		     "ICMP echo replies sent.", l->icmp_echo);
	LCORE_FAMILY(f, s, "pollux_lcore_meta_commands_total", "counter",
		     "memcached meta commands (mg ms md ma mn me) executed.", l->cmd_meta);
	LCORE_FAMILY(f, s, "pollux_lcore_current_items", "gauge",
		     "Items in the lcore's partition.", l->curr_items);
	LCORE_FAMILY(f, s, "pollux_lcore_current_bytes", "gauge",
		     "Bytes of items in the lcore's partition.", l->bytes);
	LCORE_FAMILY(f, s, "pollux_lcore_limit_bytes", "gauge",
		     "Item memory of the lcore's partition.", l->mem_limit);
	LCORE_FAMILY(f, s, "pollux_lcore_index_bytes", "gauge",
		     "Memory of the lcore's hash index.", l->index_bytes);
	LCORE_FAMILY(f, s, "pollux_lcore_evictions_total", "counter",
		     "Items evicted from the lcore's partition.", l->evictions);
}

/* The latency histogram: one bucket per lat_hist bucket, le = its upper bound. */
static void metrics_latency(FILE *f, const struct cp_snapshot *s)
{
	prom_hist_ns(f, "pollux_request_duration_seconds",
		     "Request service time in the dataplane, from receive burst to transmit.",
		     s->total.lat_hist, PX_SHM_LAT_BUCKETS, s->total.lat_sum_ns);
}

static void metrics_pollux(FILE *f, struct cp *cp, const struct cp_snapshot *s)
{
	char why[256];
	uint64_t now = (uint64_t)time(NULL), started = cp_started(cp);

	prom_u64(f, "pollux_dataplane_up", "gauge",
		 "1 while a dataplane is attached, serving and its heartbeat is fresh.", s->dp_alive);
	prom_f64(f, "pollux_dataplane_heartbeat_age_seconds", "gauge",
		 "Age of the dataplane's last heartbeat.", (double)s->dp_heartbeat_age_ms / 1e3);
	prom_u64(f, "pollux_dataplane_pid", "gauge", "Process id of the dataplane (0: none).",
		 s->dp_pid);
	prom_u64(f, "pollux_dataplane_lcores", "gauge", "Dataplane lcores (partitions).",
		 s->lcores);
	prom_u64(f, "pollux_dataplane_state", "gauge",
		 "Dataplane state: 0 none, 1 starting, 2 serving, 3 stopping.", s->dp_state);
	prom_head(f, "pollux_dataplane_info", "gauge", "The dataplane's port and version.");
	fputs("pollux_dataplane_info{version=\"", f);
	prom_label(f, s->version);
	fputs("\",port=\"", f);
	prom_label(f, s->port);
	fputs("\",iface=\"", f);
	prom_label(f, s->iface);
	fputs("\"} 1\n", f);
	prom_u64(f, "pollux_ready", "gauge", "1 when /ready answers 200.",
		 cp_ready(cp, why, sizeof(why)));
	prom_u64(f, "pollux_cp_uptime_seconds", "counter", "Seconds since pollux-cp started.",
		 now > started ? now - started : 0);
	prom_u64(f, "pollux_region_generation", "gauge",
		 "Generation of the shared region (changes when pollux-cp recreates it).",
		 s->generation);
	prom_head(f, "pollux_build_info", "gauge", "pollux-cp's version.");
	fputs("pollux_build_info{version=\"" PX_VERSION "\"} 1\n", f);
}

/* pollux_wal_*: the writer's status, and the dataplane's side of it. */
static void metrics_wal(FILE *f, struct cp *cp, const struct cp_snapshot *s)
{
	struct cp_wal_status *ws = malloc(sizeof(*ws));

	if (ws == NULL)
		return;
	cp_wal_info(cp, ws);
	wal_metrics(f, ws);
	free(ws);
	prom_u64(f, "pollux_wal_refused_total", "counter",
		 "Writes the dataplane refused with SERVER_ERROR because their WAL record could not "
		 "be logged (ring full, or no control plane has opened the log).",
		 s->total.wal_refused);
	prom_u64(f, "pollux_wal_replies_held_total", "counter",
		 "Replies the dataplane held until their records were durable (wal_mode=sync).",
		 s->total.wal_held);
	prom_u64(f, "pollux_wal_replayed_records_total", "counter",
		 "Records the dataplane applied from recovery.", s->total.wal_replayed);
}

/* The whole exposition into a malloc'd string (*len bytes), or NULL. */
static char *metrics_render(struct cp *cp, size_t *len)
{
	struct cp_snapshot *s = malloc(sizeof(*s));
	char *buf = NULL;
	FILE *f;

	if (s == NULL)
		return NULL;
	cp_snapshot(cp, s);
	f = open_memstream(&buf, len);
	if (f != NULL) {
		metrics_memcached(f, s);
		metrics_pollux(f, cp, s);
		metrics_lcores(f, s);
		metrics_latency(f, s);
		metrics_wal(f, cp, s);
		if (fclose(f) != 0) {
			free(buf);
			buf = NULL;
		}
	}
	free(s);
	return buf;
}

/* ---- server ---- */

static enum MHD_Result http_reply(struct MHD_Connection *c, unsigned status, const char *type,
				  char *body, size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return MHD_NO;
	size_t len = strlen(text);
	text[len++] = '\n';
	return http_reply(c, status, "application/json", text, len);
}

static enum MHD_Result http_handler(void *cls, struct MHD_Connection *c, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size,
				    void **con_cls)
{
	struct cp *cp = cls;

	(void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return http_json(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				 json_pack("{s:s}", "error", "only GET and HEAD"));
	if (strcmp(url, "/metrics") == 0) {
		size_t len = 0;
		char *body = metrics_render(cp, &len);
		if (body == NULL)
			return http_json(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					 json_pack("{s:s}", "error", "out of memory"));
		return http_reply(c, MHD_HTTP_OK, METRICS_TYPE, body, len);
	}
	if (strcmp(url, "/health") == 0)
		return http_json(c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	if (strcmp(url, "/ready") == 0) {
		char why[256];
		if (cp_ready(cp, why, sizeof(why)))
			return http_json(c, MHD_HTTP_OK, json_pack("{s:b}", "ready", 1));
		return http_json(c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 json_pack("{s:b, s:s}", "ready", 0, "reason", why));
	}
	return http_json(c, MHD_HTTP_NOT_FOUND,
			 json_pack("{s:s, s:[s,s,s]}", "error", "not found", "paths", "/metrics",
				   "/health", "/ready"));
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric only. 0 or -1. */
static int http_parse_listen(const char *listen, struct sockaddr_storage *ss)
{
	char host[128];
	const char *port;
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM }, *ai;

	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(end - listen - 1), listen + 1);
		port = end + 2;
	} else {
		const char *colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
			return -1;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
		port = colon + 1;
	}
	if (*port == '\0' || getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

int http_start(struct cp *cp, const char *listen)
{
	struct sockaddr_storage ss = { 0 };

	if (httpd != NULL) {
		errno = EALREADY;
		return -1;
	}
	if (listen == NULL || http_parse_listen(listen, &ss) != 0) {
		errno = EINVAL;
		return -1;
	}
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	uint16_t port;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	httpd = MHD_start_daemon(flags, port, NULL, NULL, http_handler, cp,
				 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_MAX,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
				 MHD_OPTION_END);
	if (httpd == NULL) {
		if (errno == 0)
			errno = EADDRINUSE;
		return -1;
	}
	return 0;
}

void http_stop(void)
{
	if (httpd != NULL)
		MHD_stop_daemon(httpd);
	httpd = NULL;
}
