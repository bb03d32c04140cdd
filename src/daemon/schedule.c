/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * schedule.c - the sync timing policy (schedule.h): pure arithmetic on the
 * times the caller passes in.
 */
#include "daemon/schedule.h"

void sched_init(struct sync_schedule *s, double min_interval, double max_interval,
                double retry_base, double now)
{
	*s = (struct sync_schedule){
	    .min_interval = min_interval > 0 ? min_interval : 0,
	    .max_interval = max_interval > min_interval ? max_interval : min_interval,
	    .retry_base = retry_base > 0 ? retry_base : 0,
	    .last_end = now,
	    .last_full = now,
	};
}

void sched_change(struct sync_schedule *s, double now)
{
	if (!s->pending)
		s->pending_since = now;
	s->pending = true;
}

void sched_resync(struct sync_schedule *s, double now)
{
	s->repair = true;
	s->retry_at = now;
}

double sched_backoff(const struct sync_schedule *s, unsigned n)
{
	double d = s->retry_base;

	for (unsigned i = 1; i < n && d < s->max_interval; i++)
		d *= 2;
	return d < s->max_interval ? d : s->max_interval;
}

/* The earliest time something is due, before the min interval applies. */
static double due_at(const struct sync_schedule *s)
{
	if (s->repair)
		return s->retry_at;
	if (s->pending)
		return s->last_end; /* clamped to last_end + min by the callers */
	return s->last_full + s->max_interval;
}

enum sync_kind sched_due(const struct sync_schedule *s, double now)
{
	if (now < s->last_end + s->min_interval || now < due_at(s))
		return SYNC_NONE;
	if (s->repair)
		return SYNC_REPAIR;
	if (now >= s->last_full + s->max_interval)
		return SYNC_PERIODIC;
	return s->pending ? SYNC_CHANGE : SYNC_NONE;
}

double sched_delay(const struct sync_schedule *s, double now)
{
	double t = due_at(s);

	if (t < s->last_end + s->min_interval)
		t = s->last_end + s->min_interval;
	return t > now ? t - now : 0;
}

void sched_done(struct sync_schedule *s, enum sync_kind k, bool ok, double now)
{
	s->last_end = now;
	if (!ok) {
		s->failures++;
		s->repair = true;
		s->retry_at = now + sched_backoff(s, s->failures);
		return;
	}
	s->failures = 0;
	s->repair = false;
	s->pending = false;
	if (k == SYNC_PERIODIC || k == SYNC_REPAIR)
		s->last_full = now;
}
