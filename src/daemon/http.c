/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http.c - the healthz and metrics servers, one libmicrohttpd daemon each.
 *
 * Each daemon runs its own polling thread and answers from metrics.h only;
 * nothing here touches the model or the dataplane. Routes, as kube-proxy:
 *
 *   server    path                 answer
 *   --------  -------------------  ---------------------------------------
 *   healthz   /healthz, /livez     200 / 503 + JSON (metrics_healthz, _health)
 *   metrics   /metrics             200 + Prometheus text 0.0.4
 *   metrics   /healthz, /livez     as on the healthz server
 *   both      anything else        404
 *
 * Only GET and HEAD are answered (405 otherwise), so no request body is
 * ever read.
 */
#include "daemon/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/mem.h"
#include "daemon/metrics.h"

#define HTTP_SUBSYS "http"

struct http_role {
	const char *name; /* the flag that configures it, for messages */
	bool metrics;     /* serves /metrics too */
};

static const struct http_role role_healthz = {"healthz-bind-address", false};
static const struct http_role role_metrics = {"metrics-bind-address", true};

struct http_servers {
	struct MHD_Daemon *healthz;
	struct MHD_Daemon *metrics;
};

/* MHD's own error log, one line per message, through ours; errno is kept
 * because http_start() reports the errno of a failed bind. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	int saved = errno;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_err(HTTP_SUBSYS, "%s", msg);
	errno = saved;
}

/*
 * Queue a response whose body is buf (len bytes). free_fn, if set, takes
 * ownership of buf whatever happens. Returns what MHD_queue_response does.
 */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *ctype,
                             void *buf, size_t len, void (*free_fn)(void *))
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (free_fn)
		resp = MHD_create_response_from_buffer_with_free_callback(len, buf, free_fn);
	else
		resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_COPY);
	if (!resp) {
		if (free_fn)
			free_fn(buf);
		return MHD_NO; /* MHD closes the connection */
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int status,
                                  const char *text)
{
	return reply(conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text), NULL);
}

static enum MHD_Result serve_health(struct MHD_Connection *conn, bool healthz)
{
	char body[512];
	int healthy =
	    healthz ? metrics_healthz(body, sizeof(body)) : metrics_health(body, sizeof(body));

	return reply(conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
	             body, strlen(body), NULL);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool failed;

	if (!f) {
		log_err(HTTP_SUBSYS, "/metrics: cannot buffer the response: %s", strerror(errno));
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	}
	metrics_write(f);
	failed = ferror(f);
	if (fclose(f) != 0 || failed) {
		log_err(HTTP_SUBSYS, "/metrics: cannot buffer the response: %s", strerror(errno));
		free(buf);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
	}
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len, free);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
	const struct http_role *role = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0)
		return serve_health(conn, url[1] == 'h');
	if (role->metrics && strcmp(url, "/metrics") == 0)
		return serve_metrics(conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "404 page not found\n");
}

/*
 * Parse "IP:PORT" or "[IPv6]:PORT" (port 1-65535) into *ss. Returns 0, or
 * -EINVAL after logging what is wrong with it.
 */
static int addr_parse(const struct http_role *role, const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_s, *host_s = s;
	size_t host_len;
	unsigned long port;
	char *end;
	bool v6 = false;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad_form;
		host_s = s + 1;
		host_len = (size_t)(close - host_s);
		port_s = close + 2;
		v6 = true;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon)
			goto bad_form;
		host_len = (size_t)(colon - s);
		port_s = colon + 1;
		if (memchr(s, ':', host_len)) {
			log_err(HTTP_SUBSYS,
			        "--%s \"%s\": an IPv6 address needs brackets, as \"[::1]:10256\"",
			        role->name, s);
			return -EINVAL;
		}
	}
	if (host_len == 0 || host_len >= sizeof(host))
		goto bad_host;
	memcpy(host, host_s, host_len);
	host[host_len] = '\0';

	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (*port_s < '0' || *port_s > '9' || *end || errno || port < 1 || port > 65535) {
		log_err(HTTP_SUBSYS, "--%s \"%s\": \"%s\" is not a valid port (1-65535)",
		        role->name, s, port_s);
		return -EINVAL;
	}

	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_host;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_host;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	}
	return 0;

bad_host:
	log_err(HTTP_SUBSYS, "--%s \"%s\": \"%.*s\" is not an IP%s address", role->name, s,
	        (int)host_len, host_s, v6 ? "v6" : "v4");
	return -EINVAL;
bad_form:
	log_err(HTTP_SUBSYS, "--%s \"%s\": expected IP:PORT or [IPv6]:PORT, as \"127.0.0.1:10256\"",
	        role->name, s);
	return -EINVAL;
}

/*
 * Start one daemon on addr. Returns 0 with *out set, 0 with *out NULL when
 * addr is NULL or "" (disabled), or -errno (bind/listen's errno where MHD
 * leaves it, else -EIO) after logging a line naming the address.
 */
unsigned int http_conn_limit(bool per_service)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	n /= per_service ? 64 : 8;
	return (unsigned int)(n < 64 ? 64 : n > 4096 ? 4096 : n);
}

static bool sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
}

static int daemon_start(const struct http_role *role, const char *addr, struct MHD_Daemon **out)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	struct sockaddr_storage ss;
	uint16_t port;
	int err;

	*out = NULL;
	if (!addr || !*addr)
		return 0;
	err = addr_parse(role, addr, &ss);
	if (err)
		return err;
	if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}

	errno = 0;
	/*
	 * The logger must come first or MHD logs option errors to stderr itself.
	 * On loopback every client has the same address: no per-address cap.
	 */
	*out = MHD_start_daemon(
	    flags, port, NULL, NULL, handle, (void *)role, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)HTTP_CONN_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT, http_conn_limit(false),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)(sockaddr_is_loopback(&ss) ? 0 : HTTP_PER_IP_LIMIT), MHD_OPTION_END);
	if (!*out) {
		err = errno ? -errno : -EIO;
		log_err(HTTP_SUBSYS, "--%s %s: cannot start the server: %s", role->name, addr,
		        strerror(-err));
		return err;
	}
	log_info(HTTP_SUBSYS, "serving %s on %s",
	         role->metrics ? "/metrics, /healthz, /livez" : "/healthz, /livez", addr);
	return 0;
}

/*
 * Start the servers whose address is not empty. On failure nothing is left
 * running: returns NULL with errno set (EINVAL for a malformed address, the
 * bind errno such as EADDRINUSE or EADDRNOTAVAIL otherwise).
 */
struct http_servers *http_start(const char *healthz_addr, const char *metrics_addr)
{
	struct http_servers *h = xcalloc(1, sizeof(*h));
	int err;

	err = daemon_start(&role_healthz, healthz_addr, &h->healthz);
	if (err)
		goto err_out;
	err = daemon_start(&role_metrics, metrics_addr, &h->metrics);
	if (err)
		goto err_out;
	return h;

err_out:
	http_stop(h);
	errno = -err;
	return NULL;
}

/* Stop both daemons (joining their threads, closing their sockets) and free h.
 * Accepts NULL. */
void http_stop(struct http_servers *h)
{
	if (!h)
		return;
	if (h->metrics)
		MHD_stop_daemon(h->metrics);
	if (h->healthz)
		MHD_stop_daemon(h->healthz);
	free(h);
}
