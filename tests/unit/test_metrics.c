/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_metrics.c - health transitions, the Prometheus exposition, and the
 * HTTP servers on loopback, fetched with a plain socket client.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "daemon/http.h"
#include "daemon/metrics.h"

#define GO_ZERO_TIME "\"lastUpdated\":\"0001-01-01T00:00:00Z\""

/* ---- health --------------------------------------------------------- */

static void test_fresh_is_healthy(void **unused)
{
	char body[256];

	metrics_init(10);
	assert_int_equal(metrics_health(body, sizeof(body)), 1);
	/* kube-proxy 1.33's json.Marshal(ProxyHealth): no status before a sync */
	assert_non_null(strstr(body, "{\"lastUpdated\":\"20"));
	assert_non_null(strstr(body, ",\"currentTime\":\"20"));
	assert_non_null(strstr(body, "Z\",\"healthy\":true}"));
	assert_null(strstr(body, "nodeEligible")); /* /livez has none */
	/* healthy reports lastUpdated = currentTime, never Go's zero time */
	assert_null(strstr(body, GO_ZERO_TIME));
	/* /healthz: nodeEligible, and not ready before the first sync */
	assert_int_equal(metrics_healthz(body, sizeof(body)), 0);
	assert_non_null(strstr(body, "\",\"nodeEligible\":true,\"healthy\":true}"));
	metrics_sync_done(0.001, 1);
	assert_int_equal(metrics_healthz(body, sizeof(body)), 1);
	assert_non_null(strstr(body, ",\"status\":{\"IPv4\":{\"lastUpdated\":\"20"));
	assert_non_null(strstr(body, "\"healthy\":true},\"IPv6\":{\"lastUpdated\":\"20"));
	/* a Node being deleted: /healthz 503, /livez unaffected */
	metrics_set_node_eligible(false);
	assert_int_equal(metrics_healthz(body, sizeof(body)), 0);
	assert_non_null(strstr(body, "\"nodeEligible\":false"));
	assert_int_equal(metrics_health(body, sizeof(body)), 1);
	metrics_set_node_eligible(true);
	assert_int_equal(metrics_healthz(body, sizeof(body)), 1);
	/* a short buffer is truncated, not overrun, and health still answered */
	assert_int_equal(metrics_health(body, 8), 1);
	assert_int_equal(strlen(body), 7);
}

static void test_queued_within_timeout_is_healthy(void **unused)
{
	char body[256];

	metrics_init(10);
	metrics_change_queued();
	assert_int_equal(metrics_health(body, sizeof(body)), 1);
}

static void test_stall_then_sync(void **unused)
{
	char body[256];

	metrics_init(0.05);
	metrics_change_queued();
	usleep(100 * 1000);
	/* starting up (never synced): healthy, as kube-proxy; /healthz not ready */
	assert_int_equal(metrics_health(body, sizeof(body)), 1);
	assert_int_equal(metrics_healthz(body, sizeof(body)), 0);
	/* a failed sync does not make it synced either */
	metrics_sync_done(0.01, 0);
	assert_int_equal(metrics_health(body, sizeof(body)), 1);

	metrics_sync_done(0.01, 1);
	assert_int_equal(metrics_health(body, sizeof(body)), 1);

	/* a fresh stall after a sync reports that sync's time, not zero */
	metrics_change_queued();
	usleep(100 * 1000);
	assert_int_equal(metrics_health(body, sizeof(body)), 0);
	assert_null(strstr(body, GO_ZERO_TIME));
	assert_non_null(strstr(body, "{\"lastUpdated\":\"20"));
	assert_non_null(strstr(body, "\"healthy\":false,\"status\":{\"IPv4\":"));

	/* a failed sync does not clear the pending change */
	metrics_sync_done(0.01, 0);
	assert_int_equal(metrics_health(body, sizeof(body)), 0);
}

static void test_oldest_queued_counts(void **unused)
{
	metrics_init(0.05);
	metrics_sync_done(0.001, 1);
	metrics_change_queued();
	usleep(100 * 1000);
	/* a later change must not restart the clock of the older one */
	metrics_change_queued();
	assert_int_equal(metrics_health(NULL, 0), 0);
	metrics_sync_done(0.001, 1);
	assert_int_equal(metrics_health(NULL, 0), 1);
}

/* A main loop that stops beating turns health 503 though nothing is queued. */
static void test_heartbeat(void **unused)
{
	metrics_init(0.05);
	/* before the loop starts (initial sync): no heartbeat is expected */
	usleep(100 * 1000);
	assert_int_equal(metrics_health(NULL, 0), 1);
	metrics_heartbeat();
	assert_int_equal(metrics_health(NULL, 0), 1);
	usleep(100 * 1000);
	assert_int_equal(metrics_health(NULL, 0), 0);
	/* a sync does not stand in for the loop */
	metrics_sync_done(0.001, 1);
	assert_int_equal(metrics_health(NULL, 0), 0);
	metrics_heartbeat();
	assert_int_equal(metrics_health(NULL, 0), 1);
}

/* ---- exposition ----------------------------------------------------- */

static char *metrics_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_write(f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The value on the line that starts with exactly "prefix " (name{labels}). */
static double sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = text;

	for (;;) {
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (!p)
			fail_msg("no sample \"%s\" in:\n%s", prefix, text);
		p++;
	}
}

static void assert_family(const char *text, const char *name, const char *type)
{
	char line[256];

	snprintf(line, sizeof(line), "# HELP %s ", name);
	assert_non_null(strstr(text, line));
	snprintf(line, sizeof(line), "# TYPE %s %s\n", name, type);
	assert_non_null(strstr(text, line));
}

static void test_metrics_write(void **unused)
{
	static const char *const le[] = {"0.001", "0.002", "0.004",  "0.008", "0.016", "0.032",
	                                 "0.064", "0.128", "0.256",  "0.512", "1.024", "2.048",
	                                 "4.096", "8.192", "16.384", "+Inf"};
	const char *dur = "kubeproxy_sync_proxy_rules_duration_seconds";
	double prev = 0, v;
	char key[128];
	char *text;
	size_t i;

	metrics_init(10);
	metrics_add_changes(2, 3);
	metrics_add_changes(1, 1);
	metrics_change_queued();
	metrics_sync_done(0.001, 1);  /* le is inclusive: first bucket */
	metrics_sync_done(0.0015, 1); /* 0.002 */
	metrics_sync_done(3, 0);      /* 4.096, failed */
	metrics_sync_done(100, 1);    /* only +Inf */
	metrics_set_programmed(4, 7);
	text = metrics_text();

	assert_family(text, dur, "histogram");
	assert_family(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge");
	assert_family(text, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "gauge");
	assert_family(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total", "counter");
	assert_family(text, "kubeproxy_sync_proxy_rules_service_changes_total", "counter");
	assert_family(text, "svcproxy_syncs_total", "counter");
	assert_family(text, "svcproxy_programmed_services", "gauge");
	assert_family(text, "svcproxy_programmed_endpoints", "gauge");

	for (i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
		snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"%s\"}", dur, le[i]);
		v = sample(text, key);
		assert_true(v >= prev); /* cumulative */
		prev = v;
	}
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"0.001\"}", dur);
	assert_true(sample(text, key) == 1);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"0.002\"}", dur);
	assert_true(sample(text, key) == 2);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"2.048\"}", dur);
	assert_true(sample(text, key) == 2);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"4.096\"}", dur);
	assert_true(sample(text, key) == 3);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"16.384\"}", dur);
	assert_true(sample(text, key) == 3);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"+Inf\"}", dur);
	assert_true(sample(text, key) == 4);
	snprintf(key, sizeof(key), "%s_count{ip_family=\"IPv6\"}", dur);
	assert_true(sample(text, key) == 4);
	snprintf(key, sizeof(key), "%s_sum{ip_family=\"IPv4\"}", dur);
	v = sample(text, key);
	assert_true(v > 103.0025 - 1e-9 && v < 103.0025 + 1e-9);

	assert_true(sample(text, "kubeproxy_sync_proxy_rules_service_changes_total") == 3);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_total") == 4);
	v = sample(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"}");
	assert_true(v > (double)time(NULL) - 60 && v < (double)time(NULL) + 60);
	v = sample(text,
	           "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family=\"IPv4\"}");
	assert_true(v > (double)time(NULL) - 60 && v < (double)time(NULL) + 60);
	assert_true(sample(text, "svcproxy_syncs_total{result=\"ok\"}") == 3);
	assert_true(sample(text, "svcproxy_syncs_total{result=\"error\"}") == 1);
	assert_true(sample(text, "svcproxy_programmed_services") == 4);
	assert_true(sample(text, "svcproxy_programmed_endpoints") == 7);

	/* metrics_sync_done() is a partial sync; a failed one counts as an IPv4 failure */
	assert_true(sample(text, "kubeproxy_sync_partial_proxy_rules_duration_seconds_count{"
	                         "ip_family=\"IPv4\"}") == 4);
	assert_true(sample(text, "kubeproxy_sync_full_proxy_rules_duration_seconds_count{"
	                         "ip_family=\"IPv4\"}") == 0);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{"
	                         "ip_family=\"IPv4\"}") == 1);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{"
	                         "ip_family=\"IPv6\"}") == 0);
	free(text);

	/* full syncs, a failure of the IPv6 table, trigger times, pending changes */
	metrics_init(10);
	metrics_sync_result(0.01, true, 0);
	metrics_sync_result(0.01, true, AF_INET6);
	metrics_add_pending(2, 5);
	{
		struct timeval tv;

		gettimeofday(&tv, NULL);
		metrics_note_trigger_time(AF_INET6, (double)tv.tv_sec + tv.tv_usec / 1e6 - 3.5);
	}                                                             /* bucket le=4 */
	metrics_note_trigger_time(AF_INET, (double)time(NULL) + 100); /* clock skew: 0 */
	text = metrics_text();
	assert_true(sample(text, "kubeproxy_sync_full_proxy_rules_duration_seconds_count{"
	                         "ip_family=\"IPv6\"}") == 2);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{"
	                         "ip_family=\"IPv6\"}") == 1);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_service_changes_pending") == 2);
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_pending") == 5);
	/* not observed before a successful sync */
	assert_true(sample(text, "kubeproxy_network_programming_duration_seconds_count{"
	                         "ip_family=\"IPv6\"}") == 0);
	free(text);
	metrics_sync_result(0.01, false, 0);
	text = metrics_text();
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_endpoint_changes_pending") == 0);
	assert_true(sample(text, "kubeproxy_network_programming_duration_seconds_bucket{"
	                         "ip_family=\"IPv6\",le=\"3\"}") == 0);
	assert_true(sample(text, "kubeproxy_network_programming_duration_seconds_bucket{"
	                         "ip_family=\"IPv6\",le=\"4\"}") == 1);
	assert_true(sample(text, "kubeproxy_network_programming_duration_seconds_bucket{"
	                         "ip_family=\"IPv4\",le=\"0\"}") == 1);
	assert_true(sample(text, "kubeproxy_network_programming_duration_seconds_bucket{"
	                         "ip_family=\"IPv4\",le=\"300\"}") == 1);
	assert_non_null(strstr(text, "le=\"0.25\"} 1\n"));
	assert_true(sample(text, "kubeproxy_proxy_livez_total{code=\"200\"}") == 0);
	free(text);

	/* fresh state: zeros, never-synced timestamp 0 */
	metrics_init(10);
	text = metrics_text();
	assert_true(sample(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{"
	                         "ip_family=\"IPv4\"}") == 0);
	snprintf(key, sizeof(key), "%s_bucket{ip_family=\"IPv4\",le=\"+Inf\"}", dur);
	assert_true(sample(text, key) == 0);
	free(text);
}

/* ---- HTTP ----------------------------------------------------------- */

struct http_reply {
	int status;
	char *raw; /* whole response, headers and body */
	const char *body;
};

/* GET path from 127.0.0.1:port over HTTP/1.0 and read to EOF. */
static void http_get(int family, unsigned port, const char *path, struct http_reply *r)
{
	struct sockaddr_storage ss = {0};
	struct timeval tv = {.tv_sec = 5};
	size_t cap = 4096, len = 0;
	char req[256];
	socklen_t slen;
	ssize_t n;
	int fd;

	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_loopback;
		slen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		slen = sizeof(*s4);
	}
	fd = socket(family, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, slen), 0);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);

	r->raw = malloc(cap);
	assert_non_null(r->raw);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			r->raw = realloc(r->raw, cap);
			assert_non_null(r->raw);
		}
		n = read(fd, r->raw + len, cap - len - 1);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	r->raw[len] = '\0';
	assert_int_equal(sscanf(r->raw, "HTTP/1.%*d %d", &r->status), 1);
	r->body = strstr(r->raw, "\r\n\r\n");
	assert_non_null(r->body);
	r->body += 4;
}

static void assert_header(const struct http_reply *r, const char *line)
{
	if (!strcasestr(r->raw, line))
		fail_msg("header \"%s\" missing in:\n%s", line, r->raw);
}

/*
 * Start servers on two random high loopback ports, retrying while they are
 * taken: on 127.0.0.1, or on [::1] if v6. Returns NULL with errno set for
 * any other failure.
 */
static struct http_servers *start_random(bool v6, unsigned *hport, unsigned *mport)
{
	char ha[64], ma[64];
	struct http_servers *h;
	int tries;

	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (tries = 0; tries < 50; tries++) {
		*hport = 20000 + (unsigned)rand() % 40000;
		*mport = *hport + 1;
		snprintf(ha, sizeof(ha), v6 ? "[::1]:%u" : "127.0.0.1:%u", *hport);
		snprintf(ma, sizeof(ma), v6 ? "[::1]:%u" : "127.0.0.1:%u", *mport);
		h = http_start(ha, ma);
		if (h || errno != EADDRINUSE)
			return h;
	}
	return NULL;
}

static void test_http_loopback(void **unused)
{
	struct http_reply r;
	unsigned hp, mp;
	struct http_servers *h;

	metrics_init(10);
	metrics_sync_done(0.003, 1);
	h = start_random(false, &hp, &mp);
	assert_non_null(h);

	http_get(AF_INET, hp, "/healthz", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "\r\nContent-Type: application/json\r\n");
	assert_header(&r, "\r\nX-Content-Type-Options: nosniff\r\n");
	assert_non_null(strstr(r.body, "{\"lastUpdated\":\""));
	assert_non_null(strstr(r.body, "\"nodeEligible\":true,\"healthy\":true,\"status\":"));
	free(r.raw);

	http_get(AF_INET, hp, "/livez", &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.body, "nodeEligible"));
	free(r.raw);

	/* /metrics lives on the metrics address only */
	http_get(AF_INET, hp, "/metrics", &r);
	assert_int_equal(r.status, 404);
	free(r.raw);

	http_get(AF_INET, mp, "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "\r\nContent-Type: text/plain; version=0.0.4");
	assert_non_null(strstr(r.body, "# TYPE kubeproxy_sync_proxy_rules_duration_seconds "
	                               "histogram\n"));
	assert_non_null(strstr(r.body, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{"
	                               "ip_family=\"IPv4\",le=\"0.004\"} 1\n"));
	/* the /healthz and /livez answers above are counted */
	assert_non_null(strstr(r.body, "kubeproxy_proxy_healthz_total{code=\"200\"} 1\n"));
	assert_non_null(strstr(r.body, "kubeproxy_proxy_livez_total{code=\"200\"} 1\n"));
	free(r.raw);

	http_get(AF_INET, mp, "/healthz", &r);
	assert_int_equal(r.status, 200);
	free(r.raw);

	http_get(AF_INET, mp, "/nope", &r);
	assert_int_equal(r.status, 404);
	free(r.raw);
	http_get(AF_INET, hp, "/healthz/", &r);
	assert_int_equal(r.status, 404);
	free(r.raw);

	/* a taken port fails with the bind errno and leaves nothing running */
	{
		char ha[64], ma[64];
		struct http_servers *h2;

		snprintf(ha, sizeof(ha), "127.0.0.1:%u", hp);
		snprintf(ma, sizeof(ma), "127.0.0.1:%u", mp + 1);
		errno = 0;
		assert_null(http_start(ma, ha)); /* healthz starts, metrics cannot bind */
		assert_int_equal(errno, EADDRINUSE);
		h2 = http_start(ma, ""); /* so mp + 1 was released again */
		assert_non_null(h2);
		http_stop(h2);
	}

	/* stalled after a sync: 503 on both paths of both servers */
	metrics_init(0.01);
	metrics_sync_done(0.001, 1);
	metrics_change_queued();
	usleep(50 * 1000);
	http_get(AF_INET, hp, "/healthz", &r);
	assert_int_equal(r.status, 503);
	assert_header(&r, "\r\nContent-Type: application/json\r\n");
	assert_non_null(strstr(r.body, "\"healthy\":false"));
	free(r.raw);
	http_get(AF_INET, mp, "/livez", &r);
	assert_int_equal(r.status, 503);
	free(r.raw);

	http_stop(h);
}

static void test_http_ipv6_loopback(void **unused)
{
	struct http_reply r;
	unsigned hp, mp;
	struct http_servers *h;

	metrics_init(10);
	metrics_sync_done(0.001, 1); /* /healthz is ready after a first sync */
	h = start_random(true, &hp, &mp);
	if (!h && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT))
		skip(); /* no IPv6 loopback here */
	assert_non_null(h);
	http_get(AF_INET6, hp, "/healthz", &r);
	assert_int_equal(r.status, 200);
	free(r.raw);
	http_get(AF_INET6, mp, "/metrics", &r);
	assert_int_equal(r.status, 200);
	free(r.raw);
	http_stop(h);
}

static void test_http_addresses(void **unused)
{
	static const char *const bad[] = {
	    "127.0.0.1",     "127.0.0.1:",   "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:+80",
	    "127.0.0.1:80x", "::1:10256",    "[::1]",       "[::1]10256",      "[127.0.0.1]:80",
	    "[::1:80",       "localhost:80", ":80",         "[]:80",
	};
	struct http_servers *h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_null(http_start(bad[i], ""));
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(http_start("", bad[i]));
		assert_int_equal(errno, EINVAL);
	}

	/* both disabled: a valid handle that serves nothing */
	h = http_start("", NULL);
	assert_non_null(h);
	http_stop(h);
	http_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh_is_healthy),
	    cmocka_unit_test(test_queued_within_timeout_is_healthy),
	    cmocka_unit_test(test_stall_then_sync),
	    cmocka_unit_test(test_oldest_queued_counts),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_metrics_write),
	    cmocka_unit_test(test_http_loopback),
	    cmocka_unit_test(test_http_ipv6_loopback),
	    cmocka_unit_test(test_http_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
