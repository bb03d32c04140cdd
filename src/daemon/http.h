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

struct http_servers;

/* Returns NULL with errno set and a logged message naming the address. */
struct http_servers *http_start(const char *healthz_addr, const char *metrics_addr);
void http_stop(struct http_servers *h);

#endif
