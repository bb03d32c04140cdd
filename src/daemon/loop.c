/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.c - the epoll plumbing of the daemon (loop.h); what to sync when is
 * schedule.c's, how is runner.c's.
 */
#include "daemon/loop.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "daemon/process.h"
#include "daemon/schedule.h"

/* The loop turns at least this often (seconds), beating the heartbeat. */
#define LOOP_HEARTBEAT 1.0
/* The first retry of a failed sync, doubling up to --sync-period. */
#define RETRY_BASE 1.0

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Handle one waiting signal. 1: stop, 0: carry on. */
static int on_signal(int sigfd, struct source *src, struct sync_schedule *s)
{
	int sig = process_next_signal(sigfd);
	struct diag d = {0};

	if (sig == SIGTERM || sig == SIGINT) {
		log_info("run", "%s: stopping; the rules stay in place", strsignal(sig));
		return 1;
	}
	if (sig == SIGHUP) {
		log_info("run", "SIGHUP: re-reading the %s source and resyncing in full",
		         source_name(src));
		if (source_reload(src, &d) > 0)
			metrics_change_queued();
		diag_log(&d, LOG_LVL_ERROR, source_name(src));
		sched_resync(s, now_mono());
	}
	return 0;
}

static void on_source(struct source *src, struct sync_schedule *s)
{
	struct diag d = {0};
	int changed = source_handle(src, &d);
	unsigned n_svc, n_eps;

	diag_log(&d, LOG_LVL_ERROR, source_name(src));
	metrics_set_node_eligible(source_node_eligible(src));
	source_changes(src, &n_svc, &n_eps);
	metrics_add_pending(n_svc, n_eps);
	if (changed > 0) {
		sched_change(s, now_mono());
		metrics_change_queued();
	}
}

/* Run what the schedule says is due now, if anything. */
static void sync_due(struct runner *r, struct sync_schedule *s)
{
	double now = now_mono();
	enum sync_kind k = sched_due(s, now);
	int ret;

	if (k == SYNC_NONE)
		return;
	ret = runner_sync(r, k, s->pending ? now - s->pending_since : -1);
	sched_done(s, k, ret == 0, now_mono());
	if (ret)
		log_warn("run",
		         "sync failed %u time%s in a row: reading the kernel back and syncing in "
		         "full in %.1f s",
		         s->failures, s->failures == 1 ? "" : "s", sched_delay(s, now_mono()));
}

static int epoll_add(int efd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return fd < 0 ? 0 : epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
}

static int loop_setup(struct source *src, const struct loop_opts *o)
{
	int efd = epoll_create1(EPOLL_CLOEXEC), sfd = source_fd(src), err;

	if (efd < 0 || sfd < 0) {
		err = efd < 0 ? errno : -sfd;
		log_err("run", "cannot set up the event loop: %s", strerror(err));
		if (efd >= 0)
			close(efd);
		return -err;
	}
	if (epoll_add(efd, o->sigfd) || epoll_add(efd, sfd) || epoll_add(efd, o->lockfd)) {
		err = errno;
		log_err("run", "cannot set up the event loop: epoll_ctl: %s", strerror(err));
		close(efd);
		return -err;
	}
	return efd;
}

int loop_run(struct runner *r, struct source *src, const struct loop_opts *o)
{
	struct http_servers *http = http_start(o->healthz_addr, o->metrics_addr);
	struct sync_schedule s;
	int efd, ret = 0, stop = 0;

	if (!http)
		return -errno;
	efd = loop_setup(src, o);
	if (efd < 0) {
		http_stop(http);
		return efd;
	}
	sched_init(&s, o->min_sync_period, o->sync_period, RETRY_BASE, now_mono());
	if (o->initial_failed) {
		sched_done(&s, SYNC_REPAIR, false, now_mono());
		log_warn("run",
		         "the initial sync failed: reading the kernel back and syncing in "
		         "full in %.1f s",
		         sched_delay(&s, now_mono()));
	}
	log_info("run", "watching the %s source; min-sync-period %gs, sync-period %gs",
	         source_name(src), o->min_sync_period, o->sync_period);
	while (!stop) {
		struct epoll_event ev[4];
		double wait = fmin(sched_delay(&s, now_mono()), LOOP_HEARTBEAT);
		int n;

		metrics_heartbeat();
		n = epoll_wait(efd, ev, 4, (int)ceil(wait * 1e3));
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			log_err("run", "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !stop; i++) {
			if (ev[i].data.fd == o->sigfd)
				stop = on_signal(o->sigfd, src, &s);
			else if (ev[i].data.fd == o->lockfd)
				instance_lock_serve(o->lockfd);
			else
				on_source(src, &s);
		}
		if (!stop)
			sync_due(r, &s);
	}
	http_stop(http);
	close(efd);
	return ret;
}

int loop_wait_ready(struct source *src, int sigfd)
{
	struct pollfd pfd[2] = {{.fd = source_fd(src), .events = POLLIN},
	                        {.fd = sigfd, .events = POLLIN}};
	double since = now_mono(), said = since;

	if (pfd[0].fd < 0 && !source_ready(src)) {
		log_err("run", "cannot watch the %s source: %s", source_name(src),
		        strerror(-pfd[0].fd));
		return pfd[0].fd;
	}
	while (!source_ready(src)) {
		struct diag d = {0};
		int sig;

		if (poll(pfd, 2, 1000) < 0 && errno != EINTR)
			return -errno;
		while ((sig = process_next_signal(sigfd)))
			if (sig == SIGTERM || sig == SIGINT) {
				log_info("run",
				         "%s before the initial state was complete: stopping",
				         strsignal(sig));
				return 1;
			}
		source_handle(src, &d);
		diag_log(&d, LOG_LVL_ERROR, source_name(src));
		metrics_set_node_eligible(source_node_eligible(src));
		if (now_mono() - said >= 10) {
			said = now_mono();
			log_info("run", "waiting for the %s source's initial state (%.0f s)",
			         source_name(src), said - since);
		}
	}
	return 0;
}
