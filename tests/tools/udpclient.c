// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * udpclient: send one datagram, print the reply.
 *
 *   udpclient [--sport PORT] [--timeout-ms MS] ADDR:PORT [MESSAGE]
 *
 * Sends MESSAGE (default "ping") from a connected UDP socket (source port PORT, or an
 * ephemeral one) and prints the first reply on stdout. Exit status:
 *   0  a reply was printed
 *   1  no reply within the timeout (default 1000 ms)
 *   3  refused: an ICMP port unreachable came back (ECONNREFUSED on the connected socket)
 *   2  bad usage
 * It returns as soon as the reply arrives, unlike socat's half-close wait, and a fixed
 * --sport keeps every datagram in one conntrack entry (for stale-entry tests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: udpclient [--sport PORT] [--timeout-ms MS] ADDR:PORT [MESSAGE]\n");
}

static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sport", required_argument, NULL, 's'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sockaddr_in dst = {.sin_family = AF_INET};
	struct sockaddr_in src = {.sin_family = AF_INET};
	const char *msg = "ping";
	long sport = 0, timeout_ms = 1000, port;
	char host[64], buf[2048], *colon;
	struct pollfd pfd;
	ssize_t n;
	int c, fd, one = 1;

	while ((c = getopt_long(argc, argv, "s:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if ((sport = parse_num(optarg, 1, 65535)) < 0)
				goto bad_usage;
			break;
		case 't':
			if ((timeout_ms = parse_num(optarg, 1, 600000)) < 0)
				goto bad_usage;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad_usage;
		}
	}
	if (optind >= argc || argc - optind > 2)
		goto bad_usage;
	if (argc - optind == 2)
		msg = argv[optind + 1];
	snprintf(host, sizeof(host), "%s", argv[optind]);
	colon = strrchr(host, ':');
	if (!colon)
		goto bad_usage;
	*colon = '\0';
	if ((port = parse_num(colon + 1, 1, 65535)) < 0 ||
	    inet_pton(AF_INET, host, &dst.sin_addr) != 1)
		goto bad_usage;
	dst.sin_port = htons((uint16_t)port);

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpclient: socket");
		return 1;
	}
	if (sport) {
		src.sin_port = htons((uint16_t)sport);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			perror("udpclient: bind");
			return 1;
		}
	}
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("udpclient: connect");
		return 1;
	}
	if (send(fd, msg, strlen(msg), 0) < 0) {
		if (errno == ECONNREFUSED)
			goto refused;
		perror("udpclient: send");
		return 1;
	}
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, (int)timeout_ms) <= 0) {
		fprintf(stderr, "udpclient: no reply from %s within %ld ms\n", argv[optind],
		        timeout_ms);
		return 1;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		if (errno == ECONNREFUSED)
			goto refused;
		perror("udpclient: recv");
		return 1;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
refused:
	fprintf(stderr, "udpclient: %s: Connection refused\n", argv[optind]);
	return 3;
bad_usage:
	usage(stderr);
	return 2;
}
