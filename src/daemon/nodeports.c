/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "daemon/nodeports.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "daemon/http.h"
#include "daemon/metrics.h"

struct held_port {
	uint8_t proto;
	uint16_t port;
	int fd;
	bool seen; /* still wanted, during a sync */
};

struct hc_server {
	uint16_t port;
	char *ns, *name;
	size_t local; /* guarded by nodeports.lock */
	struct MHD_Daemon *d;
	struct nodeports *owner;
	bool seen;
};

struct nodeports {
	pthread_mutex_t lock; /* the health check threads read local counts */
	struct held_port *held;
	size_t n_held;
	struct hc_server **hc;
	size_t n_hc;
};

struct nodeports *nodeports_new(void)
{
	struct nodeports *np = xcalloc(1, sizeof(*np));

	pthread_mutex_init(&np->lock, NULL);
	return np;
}

/* Open the socket that holds proto/port on every address. -1 on failure (logged). */
static int hold(uint8_t proto, uint16_t port)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int type = proto == L4_UDP ? SOCK_DGRAM : SOCK_STREAM, zero = 0, ret;
	int l4 = proto == L4_SCTP ? IPPROTO_SCTP : 0;
	/* one IPv6 socket holds the port for both families; IPv4 when IPv6 is off */
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, l4);

	if (fd >= 0) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		ret = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	} else {
		fd = socket(AF_INET, type | SOCK_CLOEXEC, l4);
		ret = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (fd < 0 || ret < 0 || (type == SOCK_STREAM && listen(fd, 1) < 0)) {
		log_warn("nodeport", "cannot hold %s port %u: %s; another process may take it",
		         l4proto_name(proto), port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	log_info("nodeport", "holding %s port %u", l4proto_name(proto), port);
	return fd;
}

static void sync_held(struct nodeports *np, const struct desired *dss, size_t n_ds)
{
	size_t w = 0;

	for (size_t i = 0; i < np->n_held; i++)
		np->held[i].seen = false;
	for (size_t f = 0; f < n_ds; f++)
		for (size_t e = 0; e < dss[f].n_entries; e++) {
			const struct entry *en = &dss[f].entries[e];
			bool found = false;

			if (en->kind != ENTRY_NODE_PORT)
				continue;
			for (size_t i = 0; i < np->n_held && !found; i++)
				if (np->held[i].proto == en->proto && np->held[i].port == en->port)
					found = np->held[i].seen = true;
			if (found)
				continue;
			np->held = xrealloc(np->held, (np->n_held + 1) * sizeof(*np->held));
			np->held[np->n_held++] = (struct held_port){
			    en->proto, en->port, hold(en->proto, en->port), true};
		}
	for (size_t i = 0; i < np->n_held; i++) {
		if (np->held[i].seen) {
			np->held[w++] = np->held[i];
			continue;
		}
		if (np->held[i].fd >= 0) {
			close(np->held[i].fd);
			log_info("nodeport", "released %s port %u", l4proto_name(np->held[i].proto),
			         np->held[i].port);
		}
	}
	np->n_held = w;
}

static enum MHD_Result hc_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
	struct hc_server *hc = cls;
	char body[512], weight[32], health[256];
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t local;
	int healthy = metrics_health(health, sizeof(health));

	(void)url, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
	pthread_mutex_lock(&hc->owner->lock);
	local = hc->local;
	snprintf(body, sizeof(body),
	         "{\"service\":{\"namespace\":\"%s\",\"name\":\"%s\"},\"localEndpoints\":%zu,"
	         "\"serviceProxyHealthy\":%s}\n",
	         hc->ns, hc->name, local, healthy ? "true" : "false");
	pthread_mutex_unlock(&hc->owner->lock);
	snprintf(weight, sizeof(weight), "%zu", local);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Load-Balancing-Endpoint-Weight", weight);
	ret = MHD_queue_response(
	    conn, local && healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void hc_free(struct hc_server *hc)
{
	if (!hc)
		return;
	if (hc->d)
		MHD_stop_daemon(hc->d);
	free(hc->ns);
	free(hc->name);
	free(hc);
}

static void sync_hc(struct nodeports *np, const struct desired *dss, size_t n_ds)
{
	size_t w = 0;

	for (size_t i = 0; i < np->n_hc; i++)
		np->hc[i]->seen = false;
	for (size_t f = 0; f < n_ds; f++)
		for (size_t j = 0; j < dss[f].n_health_checks; j++) {
			const struct health_check *want = &dss[f].health_checks[j];
			struct hc_server *hc = NULL;

			for (size_t i = 0; i < np->n_hc && !hc; i++)
				if (np->hc[i]->port == want->port &&
				    !strcmp(np->hc[i]->ns, want->ns) &&
				    !strcmp(np->hc[i]->name, want->name))
					hc = np->hc[i];
			if (hc) {
				/* a dual-stack Service: the family with more local endpoints counts
				 */
				pthread_mutex_lock(&np->lock);
				if (!hc->seen || want->local_endpoints > hc->local)
					hc->local = want->local_endpoints;
				pthread_mutex_unlock(&np->lock);
				hc->seen = true;
				continue;
			}
			hc = xcalloc(1, sizeof(*hc));
			hc->port = want->port;
			hc->ns = xstrdup(want->ns);
			hc->name = xstrdup(want->name);
			hc->local = want->local_endpoints;
			hc->owner = np;
			hc->seen = true;
			hc->d = MHD_start_daemon(
			    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, hc->port, NULL, NULL,
			    hc_handle, hc, MHD_OPTION_CONNECTION_TIMEOUT,
			    (unsigned int)HTTP_CONN_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT,
			    http_conn_limit(true), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
			    (unsigned int)HTTP_PER_IP_LIMIT, MHD_OPTION_END);
			if (!hc->d)
				log_warn("nodeport",
				         "Service %s/%s: cannot serve healthCheckNodePort %u: %s",
				         hc->ns, hc->name, hc->port,
				         strerror(errno ? errno : EADDRINUSE));
			else
				log_info("nodeport", "Service %s/%s: health check on port %u",
				         hc->ns, hc->name, hc->port);
			np->hc = xrealloc(np->hc, (np->n_hc + 1) * sizeof(*np->hc));
			np->hc[np->n_hc++] = hc;
		}
	for (size_t i = 0; i < np->n_hc; i++) {
		if (np->hc[i]->seen)
			np->hc[w++] = np->hc[i];
		else
			hc_free(np->hc[i]);
	}
	np->n_hc = w;
}

void nodeports_sync(struct nodeports *np, const struct desired *ds, size_t n)
{
	sync_held(np, ds, n);
	sync_hc(np, ds, n);
}

void nodeports_free(struct nodeports *np)
{
	if (!np)
		return;
	for (size_t i = 0; i < np->n_held; i++)
		if (np->held[i].fd >= 0)
			close(np->held[i].fd);
	for (size_t i = 0; i < np->n_hc; i++)
		hc_free(np->hc[i]);
	free(np->held);
	free(np->hc);
	pthread_mutex_destroy(&np->lock);
	free(np);
}
