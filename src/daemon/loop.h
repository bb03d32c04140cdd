/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.h - the daemon's event loop: one thread, one epoll over
 *
 *   the signalfd    SIGTERM/SIGINT: stop (the rules stay); SIGHUP: re-read
 *                   the source and do a full resync
 *   the source fd   objects changed: a sync is scheduled
 *   the lock socket another instance asking who runs: accepted, closed
 *
 * and a timeout that is the schedule's next due sync (schedule.h), at most
 * LOOP_HEARTBEAT seconds: every turn records a heartbeat that /healthz
 * reads (metrics.h), so a loop stuck anywhere turns health 503. The HTTP
 * servers run in their own threads and read metrics.h only.
 */
#ifndef SVCPROXY_LOOP_H
#define SVCPROXY_LOOP_H

#include <stdbool.h>

#include "daemon/runner.h"
#include "source/source.h"

struct loop_opts {
	double min_sync_period; /* seconds */
	double sync_period;     /* seconds */
	const char *healthz_addr;
	const char *metrics_addr;
	int sigfd;           /* from process_setup() */
	int lockfd;          /* from instance_lock(); -1: none */
	bool initial_failed; /* the initial sync failed: retry it as a repair */
};

/*
 * Wait until the source's initial state is complete (source.h: nothing is
 * programmed from a partial one). 0 when ready, 1 when a stop signal came
 * first, -errno when the source fails.
 */
int loop_wait_ready(struct source *src, int sigfd);

/*
 * After the initial sync (done by the caller at about now, failed or not):
 * serve until a stop signal. 0 then, -errno when the loop cannot run (logged).
 */
int loop_run(struct runner *r, struct source *src, const struct loop_opts *o);

#endif
