/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sockpeer - what an application sees of the address it talked to (e2e tests of the bpf
 * dataplane, which rewrites Service addresses inside the socket calls).
 *
 *   sockpeer tcp ADDR PORT   connect(), then print getpeername() as "ADDR:PORT"
 *   sockpeer udp ADDR PORT   sendto() "ping" from an unconnected socket, then print the
 *                            recvfrom() source of the reply and the reply: "ADDR:PORT REPLY"
 *
 * ADDR is IPv4 or IPv6 (printed in brackets). Exit 0 on success, 1 on any failure (the
 * reason on stderr), 3 when the connect or send is refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static socklen_t parse(const char *addr, const char *port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	int p = atoi(port);

	memset(ss, 0, sizeof(*ss));
	if (p <= 0 || p > 65535)
		return 0;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		return sizeof(*s4);
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		return sizeof(*s6);
	}
	return 0;
}

static void print_addr(const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		printf("%s:%u", buf, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		printf("[%s]:%u", buf, ntohs(s6->sin6_port));
	}
}

static int fail(const char *what)
{
	fprintf(stderr, "sockpeer: %s: %s\n", what, strerror(errno));
	return errno == ECONNREFUSED ? 3 : 1;
}

static int tcp(const struct sockaddr_storage *dst, socklen_t len)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	int fd = socket(dst->ss_family, SOCK_STREAM, 0);

	if (fd < 0)
		return fail("socket");
	if (connect(fd, (const struct sockaddr *)dst, len) < 0)
		return fail("connect");
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		return fail("getpeername");
	print_addr(&peer);
	putchar('\n');
	close(fd);
	return 0;
}

static int udp(const struct sockaddr_storage *dst, socklen_t len)
{
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	struct pollfd pfd;
	char buf[512];
	ssize_t n;
	int fd = socket(dst->ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		return fail("socket");
	if (sendto(fd, "ping", 4, 0, (const struct sockaddr *)dst, len) < 0)
		return fail("sendto");
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, 2000) <= 0) {
		fprintf(stderr, "sockpeer: no reply within 2 s\n");
		return 1;
	}
	n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &flen);
	if (n < 0)
		return fail("recvfrom");
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	print_addr(&from);
	printf(" %s\n", buf);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t len;

	if (argc != 4 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
		fprintf(stderr, "usage: sockpeer tcp|udp ADDR PORT\n");
		return 2;
	}
	len = parse(argv[2], argv[3], &dst);
	if (!len) {
		fprintf(stderr, "sockpeer: bad address or port: %s %s\n", argv[2], argv[3]);
		return 2;
	}
	return !strcmp(argv[1], "tcp") ? tcp(&dst, len) : udp(&dst, len);
}
