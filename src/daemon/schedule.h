/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * schedule.h - when the daemon syncs, and what kind of sync: the timing
 * policy alone, no I/O, on a clock the caller passes in (seconds, any
 * monotonic origin), so it is tested with a table of events and times.
 *
 * It follows kube-proxy's BoundedFrequencyRunner (pkg/proxy/runner):
 *
 *  - min interval (--min-sync-period): at least this long between the end
 *    of one sync and the start of the next; changes arriving meanwhile are
 *    coalesced into one sync at the end of the interval. A change after a
 *    quiet time is applied at once.
 *  - max interval (--sync-period): a periodic reconcile at least this often,
 *    counted from the last reconcile (not from the last change sync, so a
 *    steady stream of changes never postpones drift repair).
 *  - retry: a failed sync of any kind is retried as a repair (read the
 *    kernel back, then a full sync) after a backoff of retry_base seconds,
 *    doubling with every consecutive failure up to the max interval; any
 *    successful sync ends the backoff. kube-proxy retries at a fixed
 *    interval; doubling keeps a persistent failure (a kernel refusing every
 *    batch) from costing a full read-back every second.
 *
 *   state after            pending  repair  failures  next sync due at
 *   ---------------------  -------  ------  --------  ------------------------------
 *   sched_init / ok sync   no       no      0         last_full + max       PERIODIC
 *   sched_change           yes      -       -         last_end + min        CHANGE
 *   failed sync            -        yes     n+1       max(now + backoff(n+1),
 *                                                         last_end + min)   REPAIR
 *   sched_resync (SIGHUP)  -        yes     -         last_end + min        REPAIR
 *
 * Due dates are never earlier than last_end + min. A repair or periodic
 * sync also applies whatever change is pending (every sync programs the
 * whole model; "incremental" only means the diff is taken against memory
 * instead of the kernel).
 */
#ifndef SVCPROXY_SCHEDULE_H
#define SVCPROXY_SCHEDULE_H

#include <stdbool.h>

enum sync_kind {
	SYNC_NONE,     /* nothing due yet */
	SYNC_CHANGE,   /* pending changes: diff against what the last sync programmed */
	SYNC_PERIODIC, /* the sync-period reconcile: check the kernel, repair drift */
	SYNC_REPAIR,   /* after a failure or on request: read the kernel back, full sync */
};

struct sync_schedule {
	double min_interval;  /* --min-sync-period, seconds */
	double max_interval;  /* --sync-period, seconds; > 0 */
	double retry_base;    /* the first retry's delay, seconds */
	double last_end;      /* when the last sync ended (ok or not) */
	double last_full;     /* when the last periodic or repair sync succeeded */
	double retry_at;      /* repair: not before then */
	double pending_since; /* pending: when the oldest change not yet applied arrived */
	bool pending;         /* a change arrived that no sync has applied yet */
	bool repair;          /* the next sync must read the kernel back */
	unsigned failures;    /* consecutive failed syncs */
};

/* After the initial sync, which ended at now. max_interval is raised to min_interval. */
void sched_init(struct sync_schedule *s, double min_interval, double max_interval,
                double retry_base, double now);
/* The source reported changed objects at now. */
void sched_change(struct sync_schedule *s, double now);
/* A full resync is wanted (SIGHUP): a repair as soon as the min interval allows. */
void sched_resync(struct sync_schedule *s, double now);
/* What to do at now; SYNC_NONE until something is due. */
enum sync_kind sched_due(const struct sync_schedule *s, double now);
/* Seconds from now until sched_due() stops saying SYNC_NONE; 0 when it already does. */
double sched_delay(const struct sync_schedule *s, double now);
/* A sync of kind k, started because sched_due() said so, ended at now. */
void sched_done(struct sync_schedule *s, enum sync_kind k, bool ok, double now);
/* The backoff before retry number n (n >= 1) of a failing sync. */
double sched_backoff(const struct sync_schedule *s, unsigned n);

#endif
