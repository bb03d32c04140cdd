/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.h - the healthz and metrics HTTP servers (libmicrohttpd, own thread).
 *
 *   --healthz-bind-address (default 127.0.0.1:10256): /healthz, /livez
 *   --metrics-bind-address (default 127.0.0.1:10249): /metrics, and also
 *     /healthz and /livez as kube-proxy serves them there too
 *
 * An address is "IP:PORT" or "[IPv6]:PORT"; an empty string disables that
 * server. Both read state from metrics.h only.
 */
#ifndef SVCPROXY_HTTP_H
#define SVCPROXY_HTTP_H

#include <stdbool.h>

/*
 * Limits of every HTTP server svcproxy runs (these and the
 * healthCheckNodePort servers of nodeports.c). Probes and scrapers finish
 * in milliseconds; a client silent for HTTP_CONN_TIMEOUT seconds is
 * dropped, so idle connections cannot hold a server for long. Servers
 * reachable from outside the node cap each client address at
 * HTTP_PER_IP_LIMIT, so one client cannot lock out a load balancer's
 * probes.
 */
#define HTTP_CONN_TIMEOUT 5
#define HTTP_PER_IP_LIMIT 32

/*
 * How many connections one server takes at once: a share of the file
 * limit (raised to its hard limit at start), between 64 and 4096, so an
 * idle flood is absorbed as Go's kube-proxy absorbs it, yet never starves
 * the sources and the dataplane of file descriptors. healthCheckNodePort
 * servers (one per Service) get a smaller share each.
 */
unsigned int http_conn_limit(bool per_service);

struct http_servers;

/* Returns NULL with errno set and a logged message naming the address. */
struct http_servers *http_start(const char *healthz_addr, const char *metrics_addr);
void http_stop(struct http_servers *h);

#endif
