/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * client.h - HTTPS GETs to the API server, the body passed on as it arrives.
 *
 * libcurl underneath: HTTP/2 when the server offers it (ALPN), else
 * HTTP/1.1; the server's certificate always verified (against the CA given,
 * or the system's); a bearer token (a token file is read again whenever it
 * changes: service account tokens rotate) or a client certificate. One
 * client per thread: a client is not shared.
 */
#ifndef SVCPROXY_KUBE_CLIENT_H
#define SVCPROXY_KUBE_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "source/kube/kubeconfig.h"

struct kube_client;

/* What a request came to, for the caller's decision and its log line. */
struct kube_result {
	long status;   /* HTTP status; 0 when none was received */
	char msg[256]; /* why it failed: the transport's error, or the Status message */
};

/* Called once per process, before any thread uses a client. 0 or -EIO. */
int kube_client_global_init(void);

/* c must outlive the client. Never NULL (out of memory aborts). */
struct kube_client *kube_client_new(const struct kube_config *c);
void kube_client_free(struct kube_client *kc); /* accepts NULL */

/*
 * GET server + path ("/api/v1/services?limit=500"). With status 200 the
 * body goes to body() as it arrives (a nonzero return aborts the request
 * and is returned); any other status' body (the first 64 KiB) is read for
 * its Status message. Requests take at most timeout seconds (0: no limit)
 * and are abandoned when *stop becomes true (looked at about once a second).
 *
 * Returns 0 when an answer was received completely (res->status says which),
 * -EIO when the exchange failed (connection refused, reset, TLS, timeout:
 * res->msg says which), -ECANCELED when stopped, or body()'s value.
 */
int kube_get(struct kube_client *kc, const char *path,
             int (*body)(void *arg, const char *p, size_t n), void *arg, long timeout,
             const atomic_bool *stop, struct kube_result *res);

/* "key=value" with value percent-encoded (RFC 3986 unreserved kept): malloc'd. */
char *kube_query_param(const char *key, const char *value);

#endif
