// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * podserver: the "application" inside an end-to-end test pod.
 *
 *   podserver --name NAME --port PORT [--port PORT...] [--tcp] [--udp] [--bind ADDR]
 *
 * TCP: every connection is read (an HTTP request up to its blank line, or whatever raw bytes
 * arrive first) and answered with
 *
 *   HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n<name> <peer-ip>\n
 *
 * then closed. UDP: every datagram is answered, to its sender, with "<name> <peer-ip>\n".
 * The peer address is the one the kernel reports after any NAT, which is what the tests are
 * about: "did the backend see the client pod, or the node (masquerade)?".
 *
 * Without --tcp/--udp both are served. It binds 0.0.0.0 unless --bind is given, prints
 * "ready" on stdout once every socket listens, and runs until killed. One connection at a
 * time with a short read timeout: this is a test fixture, not a server.
 *
 * --bind takes an IPv4 or an IPv6 address. "--bind ::" opens dual-stack sockets
 * (IPV6_V6ONLY off) that serve both families; any other IPv6 address serves IPv6 only. The
 * peer is printed in its own family: an IPv4 client of a dual-stack socket is printed as
 * a.b.c.d (not ::ffff:a.b.c.d), an IPv6 client in the usual compressed form.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define MAX_FDS   (2 * MAX_PORTS)

struct listener {
	int fd;
	bool udp;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: podserver --name NAME --port PORT [--port PORT...] [--tcp] [--udp] "
	             "[--bind ADDR]\n");
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

/* Returns a bound (and for TCP listening) socket, or -1 with a message on stderr. */
static int open_socket(const struct sockaddr_storage *bind_addr, int port, bool udp)
{
	struct sockaddr_storage ss = *bind_addr;
	socklen_t slen;
	int one = 1, zero = 0;
	int fd;

	if (ss.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		slen = sizeof(struct sockaddr_in);
	}
	fd = socket(ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto err;
	/* "::" serves both families; a specific IPv6 address only IPv6. */
	if (ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
	               IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) ? &zero
	                                                                                 : &one,
	               sizeof(int)) < 0)
		goto err;
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0)
		goto err;
	if (!udp && listen(fd, 64) < 0)
		goto err;
	return fd;
err:
	fprintf(stderr, "podserver: %s port %d: %s\n", udp ? "udp" : "tcp", port, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The peer's address as text, in its own family (v4-mapped IPv6 printed as IPv4). */
static void peer_text(const struct sockaddr_storage *peer, char *out, size_t outlen)
{
	if (peer->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, out,
		          (socklen_t)outlen);
	}
}

static bool looks_like_http(const char *buf, size_t len)
{
	static const char *const methods[] = {"GET ",    "HEAD ",    "POST ", "PUT ",
	                                      "DELETE ", "OPTIONS ", "PATCH "};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t n = strlen(methods[i]);
		if (len >= n && memcmp(buf, methods[i], n) == 0)
			return true;
	}
	return false;
}

/* Reads the request (best effort, bounded by a 1 s timeout), answers, closes. */
static void serve_tcp(int lfd, const char *name)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct timeval tv = {.tv_sec = 1};
	char buf[4096], ip[INET6_ADDRSTRLEN], reply[512];
	size_t len = 0;
	int fd, n;

	fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		if (!looks_like_http(buf, len) || strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
	peer_text(&peer, ip, sizeof(ip));
	n = snprintf(reply, sizeof(reply),
	             "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%s %s\n", name, ip);
	if (write(fd, reply, (size_t)n) < 0)
		fprintf(stderr, "podserver: write to %s: %s\n", ip, strerror(errno));
	close(fd);
}

static void serve_udp(int fd, const char *name)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char buf[2048], ip[INET6_ADDRSTRLEN], reply[256];
	ssize_t r;
	int n;

	r = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen);
	if (r < 0)
		return;
	peer_text(&peer, ip, sizeof(ip));
	n = snprintf(reply, sizeof(reply), "%s %s\n", name, ip);
	sendto(fd, reply, (size_t)n, 0, (struct sockaddr *)&peer, plen);
}

/* An IPv4 or IPv6 address into *a (port 0); false when s is neither. */
static bool parse_bind(const char *s, struct sockaddr_storage *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)a)->sin_addr) == 1)
		a->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)a)->sin6_addr) == 1)
		a->ss_family = AF_INET6;
	else
		return false;
	return true;
}

/* Answer on the nls listeners until poll() fails (returns 1). */
static int serve(const struct listener *ls, struct pollfd *pfd, int nls, const char *name)
{
	for (;;) {
		if (poll(pfd, (nfds_t)nls, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "podserver: poll: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < nls; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (ls[i].udp)
				serve_udp(ls[i].fd, name);
			else
				serve_tcp(ls[i].fd, name);
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"port", required_argument, NULL, 'p'},
	    {"bind", required_argument, NULL, 'b'},
	    {"tcp", no_argument, NULL, 't'},
	    {"udp", no_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sockaddr_storage bind_addr = {.ss_family = AF_INET};
	struct listener ls[MAX_FDS];
	struct pollfd pfd[MAX_FDS];
	const char *name = NULL;
	int ports[MAX_PORTS], nports = 0, nls = 0;
	bool tcp = false, udp = false;
	int c;

	while ((c = getopt_long(argc, argv, "n:p:b:tuh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'p':
			if (nports == MAX_PORTS || (ports[nports] = parse_port(optarg)) < 0) {
				fprintf(stderr, "podserver: bad or too many --port: %s\n", optarg);
				return 2;
			}
			nports++;
			break;
		case 'b':
			if (!parse_bind(optarg, &bind_addr)) {
				fprintf(stderr,
				        "podserver: --bind %s: not an IPv4 or IPv6 address\n",
				        optarg);
				return 2;
			}
			break;
		case 't':
			tcp = true;
			break;
		case 'u':
			udp = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!name || nports == 0 || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!tcp && !udp)
		tcp = udp = true;
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < nports; i++) {
		for (int u = 0; u < 2; u++) {
			if ((u ? !udp : !tcp))
				continue;
			ls[nls].udp = u;
			ls[nls].fd = open_socket(&bind_addr, ports[i], u);
			if (ls[nls].fd < 0)
				return 1;
			pfd[nls] = (struct pollfd){.fd = ls[nls].fd, .events = POLLIN};
			nls++;
		}
	}
	printf("ready\n");
	fflush(stdout);
	return serve(ls, pfd, nls, name);
}
