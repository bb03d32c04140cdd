/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sockcost - what a cgroup's socket programs cost one socket, in ns: the
 * same loop of socket(AF_INET, SOCK_DGRAM) + connect() + close() to random
 * targets, run in turn from each cgroup given (bench/sockcost.sh: svcproxy's
 * programs attached to one, nothing to the other). A connected UDP socket
 * sends nothing, so no network, peer or scheduler is in the figure: only the
 * system calls, and the connect4 and sock_release programs they run.
 *
 *   sockcost [-r ROUNDS] [-m MS] [-s SEED] ADDR/COUNT:PORT CGROUP...
 *
 * Each round runs MS milliseconds of the loop in every CGROUP, in order (the
 * process moves itself: writes its PID to CGROUP/cgroup.procs), so drifts of
 * the machine's load hit every cgroup alike. Targets: COUNT consecutive IPv4
 * addresses from ADDR, picked at random (a seeded generator: every cgroup
 * sees the same sequence). Prints one line per cgroup: "CGROUP NS ns/op".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CG 16

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void enter(const char *cg)
{
	char path[4096], pid[32];
	int fd, n = snprintf(pid, sizeof(pid), "%d", (int)getpid());

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pid, (size_t)n) != n) {
		fprintf(stderr, "sockcost: cannot enter cgroup %s: %s\n", cg, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* xorshift32: cheap and the same sequence for every cgroup */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ops of the loop for ms milliseconds; *secs: the time they took */
static long run(uint32_t base, uint32_t count, uint16_t port, double ms, uint32_t *seed,
                double *secs)
{
	double t0 = now_s(), t;
	long ops = 0;

	do {
		for (int k = 0; k < 256; k++) {
			struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
			int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

			sa.sin_addr.s_addr = htonl(base + next_rand(seed) % count);
			if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				fprintf(stderr, "sockcost: connect: %s\n", strerror(errno));
				exit(1);
			}
			close(s);
		}
		ops += 256;
		t = now_s();
	} while ((t - t0) * 1000 < ms);
	*secs = t - t0;
	return ops;
}

int main(int argc, char **argv)
{
	int rounds = 30, opt, n_cg;
	double ms = 100, secs[MAX_CG] = {0};
	long ops[MAX_CG] = {0};
	uint32_t seed = 1, base, count;
	unsigned port;
	char addr[64];

	while ((opt = getopt(argc, argv, "r:m:s:")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'm':
			ms = atof(optarg);
			break;
		case 's':
			seed = (uint32_t)strtoul(optarg, NULL, 0) | 1;
			break;
		default:
			goto usage;
		}
	}
	n_cg = argc - optind - 1;
	if (n_cg < 1 || n_cg > MAX_CG || rounds < 1 || ms <= 0 ||
	    sscanf(argv[optind], "%63[0-9.]/%u:%u", addr, &count, &port) != 3 || !count ||
	    port > 65535 || inet_pton(AF_INET, addr, &base) != 1)
		goto usage;
	base = ntohl(base);
	for (int r = 0; r < rounds; r++)
		for (int g = 0; g < n_cg; g++) {
			double s;

			enter(argv[optind + 1 + g]);
			ops[g] += run(base, count, (uint16_t)port, ms, &seed, &s);
			secs[g] += s;
		}
	for (int g = 0; g < n_cg; g++)
		printf("%s %.1f ns/op\n", argv[optind + 1 + g], secs[g] / (double)ops[g] * 1e9);
	return 0;
usage:
	fprintf(stderr,
	        "usage: sockcost [-r ROUNDS] [-m MS] [-s SEED] ADDR/COUNT:PORT CGROUP...\n");
	return 2;
}
