/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * connrate - new-TCP-connection-rate client (and a trivial server) for the
 * svcproxy benchmark (bench/README.md).
 *
 * Client: every transaction is a fresh TCP connection to a target chosen at
 * random: nonblocking connect(), wait until established (epoll EPOLLOUT),
 * optionally write N bytes and read them back, then close with an RST
 * (SO_LINGER 0: no TIME_WAIT, so ports and conntrack entries do not pile
 * up). C connections are kept in flight. Connect latency is the time from
 * connect() (the SYN leaves) to the socket becoming writable (the SYN-ACK
 * came back: established). Stops after --duration seconds or --count
 * connections, whichever comes first, or on SIGINT/SIGTERM, and prints a
 * summary.
 *
 * Over 800 lines: one self-contained tool on purpose (bench/meson.build
 * builds it alone, linked with nothing of svcproxy's, so a benchmark of
 * svcproxy never measures with svcproxy's code); client, server and the
 * group and cgroup options are its parts.
 *
 * Groups (A/B comparison under a noisy machine): `--group LABEL[,BINDADDR]`
 * starts a group; the targets after it belong to it. With several groups
 * the client alternates: for --slice ms it opens connections of one group
 * only, waits until those in flight are done, then moves to the next group.
 * Each group is credited with its own time (slice + drain) and its own
 * connections and latencies, so slow drifts of background load hit every
 * group alike. One summary line per group.
 *
 * cgroups (the bpf dataplane's socket programs see the sockets of the
 * processes in their cgroup): `--cgroup DIR` after `--group` puts that
 * group's connections in the cgroup v2 directory DIR (before any --group:
 * every group's). A socket belongs to the cgroup its process was in when
 * it was created, so at each switch of groups, once the previous group's
 * connections are all closed, connrate moves itself into the next group's
 * cgroup (writes its PID to DIR/cgroup.procs); the time the move takes is
 * credited to no group. Either every group has a cgroup or none has.
 *
 *   connrate [-c INFLIGHT] [-d SECONDS] [-n COUNT] [-t TIMEOUT_MS] [-b ADDR]
 *            [--rw BYTES] [--interval MS] [--kv|--csv] [--slice MS] [--cgroup DIR]
 *            [--group LABEL[,BIND]] [--cgroup DIR] TARGET... [--group ...]
 *   TARGET = ADDR:PORT or ADDR:PORT/COUNT (COUNT consecutive IPv4 addresses
 *            starting at ADDR), or @FILE (one TARGET per line)
 *
 * Server: connrate --serve [--port 8080] [-d SECONDS]: listens on
 * 0.0.0.0:PORT, accepts, echoes whatever arrives until the peer closes,
 * closes. Prints "ready" once listening.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 4096
#define MAX_DURATION 3600.0
#define MAX_RW 4096
#define MAX_GROUPS 8
#define MAX_PATH 4096

/* latency histogram: 100 ns buckets up to 20 ms, then 100 us buckets up to 10 s */
#define FINE_NS 100
#define FINE_N 200000
#define COARSE_NS 100000
#define COARSE_N 100000

struct range {
	uint32_t addr; /* host order */
	uint32_t count;
	uint16_t port;
};

struct stats {
	uint64_t ok, fail, fail_refused, fail_timeout, fail_other, slow;
};

struct group {
	char label[32];
	struct sockaddr_in bind; /* source address when sin_family is set */
	const char *cgroup;      /* cgroup v2 directory of its sockets, NULL: none */
	int cg_fd;               /* cgroup's cgroup.procs, open for writing */
	struct range *ranges;
	size_t n_ranges;
	uint64_t total_targets;
	struct stats st, last_st;
	double time;            /* seconds this group had the client */
	uint32_t *hist_fine;    /* [FINE_N] */
	uint32_t *hist_coarse;  /* [COARSE_N + 1] */
	uint64_t hist_n;
	double lat_sum;
};

struct slot {
	int fd;
	int state; /* 0 free, 1 connecting, 2 reading */
	int group;
	double t_start;
	size_t got;
};

static volatile sig_atomic_t g_stop;
static struct group g_groups[MAX_GROUPS];
static int g_n_groups;
static double g_slow_s = 0.5; /* a connection slower than this counts as "slow" */
static const char *g_in_cgroup; /* the cgroup connrate last moved itself into */
static struct group g_defaults;  /* --cgroup before any --group */
static uint64_t g_cg_moves;
static double g_cg_move_s;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *msg, const char *arg)
{
	fprintf(stderr, "connrate: %s%s\n", msg, arg);
	exit(2);
}

/* xorshift64* */
static uint64_t g_rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 2685821657736338717ull;
}

static struct group *new_group(const char *spec)
{
	struct group *g;
	const char *comma;
	size_t len;

	if (g_n_groups == MAX_GROUPS)
		die("too many groups", "");
	g = &g_groups[g_n_groups++];
	g->cg_fd = -1;
	comma = strchr(spec, ',');
	len = comma ? (size_t)(comma - spec) : strlen(spec);
	if (!len || len >= sizeof(g->label))
		die("bad group label in ", spec);
	memcpy(g->label, spec, len);
	if (comma) {
		g->bind.sin_family = AF_INET;
		if (inet_pton(AF_INET, comma + 1, &g->bind.sin_addr) != 1)
			die("bad bind address in group ", spec);
	}
	g->hist_fine = calloc(FINE_N, sizeof(*g->hist_fine));
	g->hist_coarse = calloc(COARSE_N + 1, sizeof(*g->hist_coarse));
	if (!g->hist_fine || !g->hist_coarse)
		die("out of memory", "");
	return g;
}

static void add_target(struct group *g, const char *s)
{
	char buf[128], *colon, *slash, *end;
	struct in_addr a;
	unsigned long port, count = 1;

	if (strlen(s) >= sizeof(buf))
		die("target too long: ", s);
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		count = strtoul(slash + 1, &end, 10);
		if (*end || !count || count > (1ul << 24))
			die("bad count in target ", s);
	}
	colon = strrchr(buf, ':');
	if (!colon)
		die("expected ADDR:PORT[/COUNT], got ", s);
	*colon = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || !port || port > 65535)
		die("bad port in target ", s);
	if (inet_pton(AF_INET, buf, &a) != 1)
		die("bad IPv4 address in target ", s);
	g->ranges = realloc(g->ranges, (g->n_ranges + 1) * sizeof(*g->ranges));
	if (!g->ranges)
		die("out of memory", "");
	g->ranges[g->n_ranges++] = (struct range){ .addr = ntohl(a.s_addr),
						   .count = (uint32_t)count,
						   .port = (uint16_t)port };
	g->total_targets += count;
}

static void add_targets_file(struct group *g, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (!f)
		die("cannot open ", path);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n#")] = '\0';
		if (line[0])
			add_target(g, line);
	}
	fclose(f);
}

/* DIR/cgroup.procs, open for writing (checked here, so a bad path fails before the run). */
static int open_cgroup(const char *dir)
{
	char path[MAX_PATH];
	int fd;

	if (snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= (int)sizeof(path))
		die("cgroup path too long: ", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "connrate: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* --cgroup DIR: of group g, or of every group without one (g NULL). */
static void set_cgroup(struct group *g, const char *dir)
{
	g = g ? g : &g_defaults;
	g->cgroup = dir;
	g->cg_fd = open_cgroup(dir);
}

/* Move connrate into g's cgroup unless it is there already. 0, or -1 (printed). */
static int join_cgroup(const struct group *g)
{
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	double t0;

	if (!g->cgroup || (g_in_cgroup && !strcmp(g_in_cgroup, g->cgroup)))
		return 0;
	t0 = now_s();
	if (write(g->cg_fd, pid, (size_t)len) != len) {
		fprintf(stderr, "connrate: moving into cgroup %s: %s\n", g->cgroup,
			strerror(errno));
		return -1;
	}
	g_cg_move_s += now_s() - t0;
	g_cg_moves++;
	g_in_cgroup = g->cgroup;
	return 0;
}

static void pick_target(const struct group *g, struct sockaddr_in *sa)
{
	uint64_t k = rnd() % g->total_targets;
	size_t i = 0;

	while (k >= g->ranges[i].count) {
		k -= g->ranges[i].count;
		i++;
	}
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(g->ranges[i].port);
	sa->sin_addr.s_addr = htonl(g->ranges[i].addr + (uint32_t)k);
}

static void hist_add(struct group *g, double sec)
{
	uint64_t ns = sec > 0 ? (uint64_t)(sec * 1e9) : 0;

	if (ns < (uint64_t)FINE_N * FINE_NS)
		g->hist_fine[ns / FINE_NS]++;
	else {
		uint64_t b = ns / COARSE_NS;

		g->hist_coarse[b < COARSE_N ? b : COARSE_N]++;
	}
	g->hist_n++;
	g->lat_sum += sec;
}

/* the q-quantile in microseconds (bucket midpoint), -1 when empty */
static double hist_quantile(const struct group *g, double q)
{
	uint64_t want, seen = 0;

	if (!g->hist_n)
		return -1;
	want = (uint64_t)(q * (double)(g->hist_n - 1)) + 1;
	for (size_t i = 0; i < FINE_N; i++) {
		seen += g->hist_fine[i];
		if (seen >= want)
			return ((double)i + 0.5) * FINE_NS / 1e3;
	}
	for (size_t i = 0; i <= COARSE_N; i++) {
		seen += g->hist_coarse[i];
		if (seen >= want)
			return ((double)i + 0.5) * COARSE_NS / 1e3;
	}
	return -1;
}

static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---------------------------------------------------------------- server */

static int serve(int port, double duration)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct epoll_event ev, evs[256];
	int one = 1, lfd, efd;
	double deadline = now_s() + duration;
	char buf[MAX_RW];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("connrate: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096)) {
		perror("connrate: bind/listen");
		return 1;
	}
	efd = epoll_create1(EPOLL_CLOEXEC);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(efd, EPOLL_CTL_ADD, lfd, &ev);
	printf("ready\n");
	fflush(stdout);
	while (!g_stop && now_s() < deadline) {
		int n = epoll_wait(efd, evs, 256, 200);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				for (int k = 0; k < 256; k++) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (c < 0)
						break;
					ev = (struct epoll_event){ .events = EPOLLIN | EPOLLRDHUP,
								   .data.fd = c };
					if (epoll_ctl(efd, EPOLL_CTL_ADD, c, &ev))
						close(c);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					if (write(fd, buf, (size_t)r) != r) {
						close(fd);
						break;
					}
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd); /* EOF, RST or error */
				break;
			}
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- client */

static void print_result(const char *fmt, const struct group *g, int inflight, bool header)
{
	const struct stats *st = &g->st;
	double rate = g->time > 0 ? (double)st->ok / g->time : 0;
	double p50 = hist_quantile(g, 0.50), p90 = hist_quantile(g, 0.90);
	double p99 = hist_quantile(g, 0.99);
	double mean = g->hist_n ? g->lat_sum / (double)g->hist_n * 1e6 : -1;

	if (!strcmp(fmt, "csv")) {
		if (header)
			printf("group,conns,failures,fail_refused,fail_timeout,fail_other,slow,seconds,"
			       "conn_per_s,p50_us,p90_us,p99_us,mean_us,inflight,targets\n");
		printf("%s,%llu,%llu,%llu,%llu,%llu,%llu,%.3f,%.1f,%.1f,%.1f,%.1f,%.1f,%d,%llu\n",
		       g->label, (unsigned long long)st->ok, (unsigned long long)st->fail,
		       (unsigned long long)st->fail_refused, (unsigned long long)st->fail_timeout,
		       (unsigned long long)st->fail_other, (unsigned long long)st->slow, g->time,
		       rate, p50, p90, p99, mean, inflight, (unsigned long long)g->total_targets);
	} else if (!strcmp(fmt, "kv")) {
		printf("group=%s conns=%llu failures=%llu fail_refused=%llu fail_timeout=%llu "
		       "fail_other=%llu slow=%llu seconds=%.3f conn_per_s=%.1f p50_us=%.1f "
		       "p90_us=%.1f p99_us=%.1f mean_us=%.1f inflight=%d targets=%llu\n",
		       g->label, (unsigned long long)st->ok, (unsigned long long)st->fail,
		       (unsigned long long)st->fail_refused, (unsigned long long)st->fail_timeout,
		       (unsigned long long)st->fail_other, (unsigned long long)st->slow, g->time,
		       rate, p50, p90, p99, mean, inflight, (unsigned long long)g->total_targets);
	} else {
		printf("[%s] %llu connections in %.2f s: %.0f conn/s, %d in flight, %llu targets\n",
		       g->label, (unsigned long long)st->ok, g->time, rate, inflight,
		       (unsigned long long)g->total_targets);
		printf("[%s] connect latency: p50 %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n",
		       g->label, p50, p90, p99, mean);
		printf("[%s] failures: %llu (refused %llu, timeout %llu, other %llu); slow (connect > "
		       "%g ms): %llu\n",
		       g->label, (unsigned long long)st->fail, (unsigned long long)st->fail_refused,
		       (unsigned long long)st->fail_timeout, (unsigned long long)st->fail_other,
		       g_slow_s * 1e3, (unsigned long long)st->slow);
	}
}

static void count_fail(struct stats *st, int err)
{
	st->fail++;
	if (err == ECONNREFUSED)
		st->fail_refused++;
	else if (err == ETIMEDOUT)
		st->fail_timeout++;
	else
		st->fail_other++;
}

/* Start a connection of group cur in slot i. 1: in flight, 0: failed at once (counted), -1: fatal. */
static int start_conn(int efd, struct slot *s, uint32_t i, int cur)
{
	struct group *g = &g_groups[cur];
	struct sockaddr_in sa;
	struct epoll_event ev;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("connrate: socket");
		return -1;
	}
	if (g->bind.sin_family) {
		int one = 1;

		/* the port is picked at connect(), unique per 4-tuple */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&g->bind, sizeof(g->bind))) {
			perror("connrate: bind");
			return -1;
		}
	}
	pick_target(g, &sa);
	s->t_start = now_s();
	s->group = cur;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		count_fail(&g->st, errno);
		close(fd);
		return 0;
	}
	s->fd = fd;
	s->state = 1;
	s->got = 0;
	ev = (struct epoll_event){ .events = EPOLLOUT, .data.u32 = i };
	epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
	return 1;
}

/*
 * Event ev of slot s (in state 1 connecting, 2 reading the echo): counts
 * what it completes. True when the connection is done (the slot is freed).
 */
static bool on_event(int efd, struct slot *s, const struct epoll_event *ev, int rw,
		     const char *wbuf, double now)
{
	static char rbuf[MAX_RW];
	struct group *g = &g_groups[s->group];
	int err = 0;
	socklen_t len = sizeof(err);

	if (s->state == 1) {
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || ((ev->events & (EPOLLERR | EPOLLHUP)) && !(ev->events & EPOLLOUT))) {
			count_fail(&g->st, err ? err : ECONNRESET);
			return true;
		}
		hist_add(g, now - s->t_start);
		if (now - s->t_start > g_slow_s)
			g->st.slow++;
		if (!rw) {
			g->st.ok++;
			return true;
		}
		if (write(s->fd, wbuf, (size_t)rw) != rw) {
			count_fail(&g->st, errno);
			return true;
		}
		struct epoll_event in = { .events = EPOLLIN, .data.u32 = ev->data.u32 };
		epoll_ctl(efd, EPOLL_CTL_MOD, s->fd, &in);
		s->state = 2;
		return false;
	}
	/* state 2: reading the echo */
	for (;;) {
		ssize_t r = read(s->fd, rbuf, sizeof(rbuf));

		if (r > 0) {
			s->got += (size_t)r;
			if (s->got >= (size_t)rw) {
				g->st.ok++;
				return true;
			}
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return false;
		count_fail(&g->st, r == 0 ? ECONNRESET : errno);
		return true;
	}
}

static void slot_free(struct slot *s)
{
	close_rst(s->fd);
	s->fd = -1;
	s->state = 0;
}

/* Fail the connections older than timeout; returns how many. */
static int expire(struct slot *slots, int inflight, double timeout, double now)
{
	int n = 0;

	for (int i = 0; i < inflight; i++) {
		struct slot *s = &slots[i];

		if (s->state && now - s->t_start > timeout) {
			count_fail(&g_groups[s->group].st, ETIMEDOUT);
			slot_free(s);
			n++;
		}
	}
	return n;
}

/* A 'tick' line per group on stderr: what happened since last_tick. */
static void print_ticks(double now, double t0, double last_tick)
{
	for (int i = 0; i < g_n_groups; i++) {
		struct group *g = &g_groups[i];

		fprintf(stderr,
			"tick t=%.3f group=%s conns=%llu failures=%llu slow=%llu "
			"conn_per_s=%.0f\n",
			now - t0, g->label, (unsigned long long)(g->st.ok - g->last_st.ok),
			(unsigned long long)(g->st.fail - g->last_st.fail),
			(unsigned long long)(g->st.slow - g->last_st.slow),
			(double)(g->st.ok - g->last_st.ok) / (now - last_tick));
		g->last_st = g->st;
	}
}

static int client(int inflight, double duration, uint64_t count, double timeout, int rw,
		  double interval, double slice, const char *fmt)
{
	static struct slot slots[MAX_INFLIGHT];
	static struct epoll_event evs[MAX_INFLIGHT];
	char wbuf[MAX_RW];
	uint64_t started = 0;
	int efd = epoll_create1(EPOLL_CLOEXEC), active = 0, cur = 0;
	double t0, deadline, next_tick, last_tick, next_scan, slice_start;
	bool draining = false;

	memset(wbuf, 'x', sizeof(wbuf));
	for (int i = 0; i < inflight; i++)
		slots[i].fd = -1;
	if (join_cgroup(&g_groups[0]))
		return 1;
	t0 = slice_start = next_scan = last_tick = now_s();
	deadline = t0 + duration;
	next_tick = t0 + interval;

	for (;;) {
		double now = now_s();
		bool stopping = g_stop || now >= deadline || (count && started >= count);

		/* alternate groups: slice, then drain, then the next group */
		if (g_n_groups > 1 && !draining && now - slice_start >= slice)
			draining = true;
		if (draining && !active) {
			g_groups[cur].time += now - slice_start;
			cur = (cur + 1) % g_n_groups;
			if (join_cgroup(&g_groups[cur]))
				return 1;
			slice_start = now_s(); /* the move is nobody's time */
			draining = false;
		}
		/* refill */
		for (int i = 0; !stopping && !draining && i < inflight; i++) {
			int r;

			if (slots[i].state || (count && started >= count))
				continue;
			r = start_conn(efd, &slots[i], (uint32_t)i, cur);
			if (r < 0)
				return 1;
			started++;
			active += r;
		}
		if (stopping && !active)
			break;
		if (stopping && now >= deadline + timeout + 0.5)
			break; /* hard stop: never run much past the cap */

		int n = epoll_wait(efd, evs, MAX_INFLIGHT, 5);

		now = now_s();
		for (int k = 0; k < n; k++) {
			struct slot *s = &slots[evs[k].data.u32];

			if (s->state && on_event(efd, s, &evs[k], rw, wbuf, now)) {
				slot_free(s);
				active--;
			}
		}
		/* per-connection timeout */
		if (now >= next_scan) {
			next_scan = now + 0.005;
			active -= expire(slots, inflight, timeout, now);
		}
		if (interval > 0 && now >= next_tick) {
			print_ticks(now, t0, last_tick);
			last_tick = now;
			next_tick = now + interval;
		}
	}
	g_groups[cur].time += now_s() - slice_start;
	for (int i = 0; i < g_n_groups; i++)
		print_result(fmt, &g_groups[i], inflight, i == 0);
	fflush(stdout);
	if (g_cg_moves)
		fprintf(stderr, "connrate: %llu cgroup moves, %.1f us each on average\n",
			(unsigned long long)g_cg_moves, g_cg_move_s / (double)g_cg_moves * 1e6);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: connrate [OPTIONS] [--group LABEL[,BIND]] TARGET... [--group ...]\n"
		"       connrate --serve [--port P] [-d S]   accept, echo, close\n"
		"New TCP connection per transaction; prints conn/s, connect latency, failures.\n"
		"TARGET: ADDR:PORT, ADDR:PORT/COUNT (COUNT consecutive IPv4 addresses), @FILE\n"
		"  -c, --inflight N     connections in flight (default 8, max %d)\n"
		"  -d, --duration S     stop after S seconds (default 5, max %g; also the server's)\n"
		"  -n, --count N        stop after N connections started\n"
		"  -t, --timeout MS     a connection not done after MS ms fails (default 3000)\n"
		"      --slow MS        count connects slower than MS ms as slow (default 500)\n"
		"  -b, --bind ADDR      source address (of the default group)\n"
		"      --group L[,BIND] start a group: the targets after it are its own; several\n"
		"                       groups alternate every --slice ms, each measured apart\n"
		"      --slice MS       time slice per group (default 100)\n"
		"      --cgroup DIR     the group's sockets are made in cgroup v2 directory DIR\n"
		"                       (connrate moves itself there; before any --group: all\n"
		"                       groups'); every group has one or none has\n"
		"      --rw BYTES       after connecting write BYTES, read them back (max %d)\n"
		"  -i, --interval MS    print a 'tick' line per group to stderr every MS ms\n"
		"      --kv             key=value lines; --csv: header + one row per group\n"
		"      --seed N         random seed\n",
		MAX_INFLIGHT, MAX_DURATION, MAX_RW);
}

static const struct option opts[] = {
	{ "inflight", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "count", required_argument, NULL, 'n' },
	{ "timeout", required_argument, NULL, 't' },
	{ "rw", required_argument, NULL, 'w' },
	{ "interval", required_argument, NULL, 'i' },
	{ "kv", no_argument, NULL, 'k' },
	{ "csv", no_argument, NULL, 'C' },
	{ "serve", no_argument, NULL, 'S' },
	{ "port", required_argument, NULL, 'p' },
	{ "seed", required_argument, NULL, 's' },
	{ "bind", required_argument, NULL, 'b' },
	{ "slow", required_argument, NULL, 'W' },
	{ "group", required_argument, NULL, 'g' },
	{ "slice", required_argument, NULL, 'L' },
	{ "cgroup", required_argument, NULL, 'G' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/*
 * Every group has targets; those without a source address or cgroup take the default one.
 * Every group has a cgroup or none has: otherwise a group's sockets would land in whichever
 * cgroup the group before it had.
 */
static void groups_finish(const struct sockaddr_in *bind_addr)
{
	int with_cg = 0;

	for (int i = 0; i < g_n_groups; i++) {
		struct group *g = &g_groups[i];

		if (!g->total_targets)
			die("no targets in group ", g->label);
		if (!g->bind.sin_family && bind_addr->sin_family)
			g->bind = *bind_addr;
		if (!g->cgroup && g_defaults.cgroup) {
			g->cgroup = g_defaults.cgroup;
			g->cg_fd = g_defaults.cg_fd;
		}
		with_cg += g->cgroup != NULL;
	}
	if (with_cg && with_cg != g_n_groups)
		die("--cgroup: some groups have one, others not", "");
}

int main(int argc, char **argv)
{
	int inflight = 8, rw = 0, port = 8080, c;
	double duration = 5, timeout_ms = 3000, interval_ms = 0, slice_ms = 100;
	uint64_t count = 0;
	bool server = false;
	const char *fmt = "text";
	struct sigaction sa = { .sa_handler = on_signal };
	struct group *g = NULL;
	struct sockaddr_in bind_addr = { 0 };

	/* "-" first: targets (non-options) come back in order, as argument 1 */
	while ((c = getopt_long(argc, argv, "-c:d:n:t:i:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (!g)
				g = new_group("all");
			if (optarg[0] == '@')
				add_targets_file(g, optarg + 1);
			else
				add_target(g, optarg);
			break;
		case 'g':
			g = new_group(optarg);
			break;
		case 'c':
			inflight = atoi(optarg);
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 't':
			timeout_ms = atof(optarg);
			break;
		case 'w':
			rw = atoi(optarg);
			break;
		case 'i':
			interval_ms = atof(optarg);
			break;
		case 'k':
			fmt = "kv";
			break;
		case 'C':
			fmt = "csv";
			break;
		case 'S':
			server = true;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 's':
			g_rng = strtoull(optarg, NULL, 10) | 1;
			break;
		case 'b':
			bind_addr.sin_family = AF_INET;
			if (inet_pton(AF_INET, optarg, &bind_addr.sin_addr) != 1)
				die("bad --bind address ", optarg);
			break;
		case 'W':
			g_slow_s = atof(optarg) / 1e3;
			break;
		case 'L':
			slice_ms = atof(optarg);
			break;
		case 'G':
			set_cgroup(g, optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (inflight < 1 || inflight > MAX_INFLIGHT || !(duration > 0) || duration > MAX_DURATION ||
	    rw < 0 || rw > MAX_RW || !(timeout_ms > 0) || port < 1 || port > 65535 ||
	    !(slice_ms >= 1)) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (server)
		return serve(port, duration);
	if (!g_n_groups) {
		usage(stderr);
		return 2;
	}
	groups_finish(&bind_addr);
	return client(inflight, duration, count, timeout_ms / 1e3, rw, interval_ms / 1e3,
		      slice_ms / 1e3, fmt);
}
