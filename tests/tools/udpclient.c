// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * udpclient: send one datagram (or a steady stream of them), print the reply.
 *
 *   udpclient [--sport PORT] [--timeout-ms MS] [--count N [--interval-ms MS]] ADDR:PORT [MESSAGE]
 *
 * ADDR is IPv4 (10.96.0.13:53) or IPv6, bracketed or not ([fd00:10:96::13]:53).
 * Sends MESSAGE (default "ping") from a connected UDP socket (source port PORT, or an
 * ephemeral one) and prints the first reply on stdout. Exit status:
 *   0  a reply was printed
 *   1  no reply within the timeout (default 1000 ms)
 *   3  refused: an ICMP port unreachable came back (ECONNREFUSED on the connected socket)
 *   2  bad usage
 * It returns as soon as the reply arrives, unlike socat's half-close wait, and a fixed
 * --sport keeps every datagram in one conntrack entry (for stale-entry tests).
 *
 * Stream mode (--count N, N > 0): N datagrams from the SAME socket (so the same source port
 * and the same conntrack entry throughout), one every --interval-ms (default 200), each
 * followed by one line on stdout, flushed at once:
 *
 *   <wall-clock ms since the epoch when it was sent> <reply, without its newline>
 *   <ms> -          no reply before the next datagram was due
 *   <ms> refused    ICMP port unreachable (ECONNREFUSED)
 *   <ms> error: <strerror>
 *
 * Exit status 0 if any datagram was answered, 1 otherwise. Meant to run in the background
 * while a test changes the Service under it, then to be read back with timestamps.
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
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: udpclient [--sport PORT] [--timeout-ms MS] [--count N "
	             "[--interval-ms MS]] ADDR:PORT [MESSAGE]\n");
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

static long long now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ADDR:PORT or [ADDR]:PORT into dst (IPv4 or IPv6); -1 if malformed. */
static int parse_dst(const char *arg, struct sockaddr_storage *dst, socklen_t *dlen)
{
	char host[128], *colon, *h = host;
	long port;

	snprintf(host, sizeof(host), "%s", arg);
	colon = strrchr(host, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if ((port = parse_num(colon + 1, 1, 65535)) < 0)
		return -1;
	if (h[0] == '[') {
		size_t l = strlen(h);
		if (l < 2 || h[l - 1] != ']')
			return -1;
		h[l - 1] = '\0';
		h++;
	}
	memset(dst, 0, sizeof(*dst));
	struct sockaddr_in *v4 = (struct sockaddr_in *)dst;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)dst;
	if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*dlen = sizeof(*v4);
	} else if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*dlen = sizeof(*v6);
	} else {
		return -1;
	}
	return 0;
}

/* Stream mode: see the header comment. */
static int stream(int fd, const char *msg, long count, long interval_ms)
{
	long long start = now_ms(CLOCK_MONOTONIC);
	char buf[2048];
	int answered = 0;

	for (long i = 0; i < count; i++) {
		long long due = start + (long long)i * interval_ms, next = due + interval_ms, t;
		const char *verdict = "-";
		char line[2200];
		ssize_t n;

		while ((t = now_ms(CLOCK_MONOTONIC)) < due)
			usleep((useconds_t)(due - t) * 1000);
		long long sent_at = now_ms(CLOCK_REALTIME);
		/* Drop what is left over from earlier datagrams (late replies, old errors). */
		while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0 || errno == ECONNREFUSED)
			;
		if (send(fd, msg, strlen(msg), 0) < 0) {
			if (errno == ECONNREFUSED && send(fd, msg, strlen(msg), 0) >= 0)
				goto wait_reply; /* an older ICMP error was pending */
			snprintf(line, sizeof(line), "%s%s",
			         errno == ECONNREFUSED ? "refused" : "error: ",
			         errno == ECONNREFUSED ? "" : strerror(errno));
			printf("%lld %s\n", sent_at, line);
			fflush(stdout);
			continue;
		}
	wait_reply:
		for (;;) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			long long left = next - now_ms(CLOCK_MONOTONIC);
			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				verdict = errno == ECONNREFUSED ? "refused" : strerror(errno);
				break;
			}
			while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
				n--;
			buf[n] = '\0';
			verdict = buf;
			answered = 1;
			break;
		}
		printf("%lld %s\n", sent_at, verdict);
		fflush(stdout);
	}
	return answered ? 0 : 1;
}

/* Bind fd to source port sport of any address of family. 0, or -1 (said on stderr). */
static int bind_sport(int fd, int family, uint16_t sport)
{
	struct sockaddr_storage src;
	socklen_t slen;
	int one = 1;

	memset(&src, 0, sizeof(src));
	src.ss_family = (sa_family_t)family;
	if (family == AF_INET6) {
		((struct sockaddr_in6 *)&src)->sin6_port = htons(sport);
		slen = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&src)->sin_port = htons(sport);
		slen = sizeof(struct sockaddr_in);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&src, slen) < 0) {
		perror("udpclient: bind");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"sport", required_argument, NULL, 's'}, {"timeout-ms", required_argument, NULL, 't'},
	    {"count", required_argument, NULL, 'c'}, {"interval-ms", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct sockaddr_storage dst;
	socklen_t dlen = 0;
	const char *msg = "ping";
	long sport = 0, timeout_ms = 1000, count = 0, interval_ms = 200;
	char buf[2048];
	struct pollfd pfd;
	ssize_t n;
	int c, fd;

	while ((c = getopt_long(argc, argv, "s:t:c:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if ((sport = parse_num(optarg, 1, 65535)) < 0)
				goto bad_usage;
			break;
		case 't':
			if ((timeout_ms = parse_num(optarg, 1, 600000)) < 0)
				goto bad_usage;
			break;
		case 'c':
			if ((count = parse_num(optarg, 1, 1000000)) < 0)
				goto bad_usage;
			break;
		case 'i':
			if ((interval_ms = parse_num(optarg, 10, 600000)) < 0)
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
	if (parse_dst(argv[optind], &dst, &dlen) < 0)
		goto bad_usage;

	fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpclient: socket");
		return 1;
	}
	if (sport && bind_sport(fd, dst.ss_family, (uint16_t)sport) < 0)
		return 1;
	if (connect(fd, (struct sockaddr *)&dst, dlen) < 0) {
		if (errno == ECONNREFUSED) /* the bpf dataplane refuses in connect() itself */
			goto refused;
		perror("udpclient: connect");
		return 1;
	}
	if (count > 0)
		return stream(fd, msg, count, interval_ms);
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
