/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_schedule.c - the sync timing policy (daemon/schedule.h), as tables
 * of events at given times and what is due after each.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "daemon/schedule.h"

enum op {
	CHANGE,  /* the source reported a change */
	RESYNC,  /* SIGHUP */
	RUN_OK,  /* what is due runs and succeeds (want = the kind that must be due) */
	RUN_ERR, /* ... and fails */
	CHECK,   /* nothing happens; want / delay are what the policy says */
};

struct step {
	double t;
	enum op op;
	enum sync_kind want; /* RUN_*, CHECK: sched_due(t) */
	double delay;        /* CHECK: sched_delay(t); NAN: not checked */
};

struct scenario {
	const char *name;
	double min, max, retry;
	const struct step *steps;
	size_t n;
};

static const char *kind_name(enum sync_kind k)
{
	static const char *const names[] = {"NONE", "CHANGE", "PERIODIC", "REPAIR"};

	return names[k];
}

static void play(const struct scenario *sc)
{
	struct sync_schedule s;

	sched_init(&s, sc->min, sc->max, sc->retry, 0);
	for (size_t i = 0; i < sc->n; i++) {
		const struct step *st = &sc->steps[i];
		enum sync_kind got = sched_due(&s, st->t);

		switch (st->op) {
		case CHANGE:
			sched_change(&s, st->t);
			continue;
		case RESYNC:
			sched_resync(&s, st->t);
			continue;
		default:
			break;
		}
		if (got != st->want)
			fail_msg("%s, step %zu (t=%g): due %s, want %s", sc->name, i, st->t,
			         kind_name(got), kind_name(st->want));
		if (st->op == CHECK) {
			double d = sched_delay(&s, st->t);

			if (!isnan(st->delay) && fabs(d - st->delay) > 1e-9)
				fail_msg("%s, step %zu (t=%g): delay %g, want %g", sc->name, i,
				         st->t, d, st->delay);
			/* the delay always leads to a due sync, never past one */
			if (got == SYNC_NONE && sched_due(&s, st->t + d) == SYNC_NONE)
				fail_msg("%s, step %zu: nothing due after the delay %g", sc->name,
				         i, d);
			continue;
		}
		sched_done(&s, got, st->op == RUN_OK, st->t);
	}
}

#define SCENARIO(n, mn, mx, rt, ...)                                                               \
	{                                                                                          \
		static const struct step steps_[] = {__VA_ARGS__};                                 \
		const struct scenario sc_ = {n,  mn,     mx,                                       \
		                             rt, steps_, sizeof(steps_) / sizeof(steps_[0])};      \
		play(&sc_);                                                                        \
	}

static void test_idle_periodic(void **unused)
{
	SCENARIO("idle", 1, 30, 1, {10, CHECK, SYNC_NONE, 20}, {29.9, CHECK, SYNC_NONE, NAN},
	         {30, CHECK, SYNC_PERIODIC, 0}, {30, RUN_OK, SYNC_PERIODIC, 0},
	         {30, CHECK, SYNC_NONE, 30}, {60, RUN_OK, SYNC_PERIODIC, 0});
}

static void test_changes_coalesced(void **unused)
{
	SCENARIO(
	    "min interval", 1, 30, 1,
	    /* right after the initial sync: waits for the min interval */
	    {0.2, CHANGE, SYNC_NONE, 0}, {0.2, CHECK, SYNC_NONE, 0.8}, {1, RUN_OK, SYNC_CHANGE, 0},
	    /* after a quiet time: at once */
	    {5, CHANGE, SYNC_NONE, 0}, {5, CHECK, SYNC_CHANGE, 0}, {5, RUN_OK, SYNC_CHANGE, 0},
	    /* a burst: one sync at the end of the interval */
	    {5.1, CHANGE, SYNC_NONE, 0}, {5.5, CHANGE, SYNC_NONE, 0}, {5.9, CHECK, SYNC_NONE, 0.1},
	    {6, RUN_OK, SYNC_CHANGE, 0}, {6, CHECK, SYNC_NONE, 24});
}

static void test_changes_never_postpone_periodic(void **unused)
{
	SCENARIO("steady changes", 1, 3, 1, {1, CHANGE, SYNC_NONE, 0}, {1, RUN_OK, SYNC_CHANGE, 0},
	         {2, CHANGE, SYNC_NONE, 0}, {2, RUN_OK, SYNC_CHANGE, 0}, {3, CHANGE, SYNC_NONE, 0},
	         /* a change is pending, but the reconcile is due: it applies both */
	         {3, RUN_OK, SYNC_PERIODIC, 0}, {3.5, CHANGE, SYNC_NONE, 0},
	         {4, RUN_OK, SYNC_CHANGE, 0}, {6, CHECK, SYNC_PERIODIC, 0});
}

static void test_failure_backoff(void **unused)
{
	SCENARIO("backoff", 1, 30, 1, {5, CHANGE, SYNC_NONE, 0}, {5, RUN_ERR, SYNC_CHANGE, 0},
	         {5.5, CHECK, SYNC_NONE, 0.5}, {6, RUN_ERR, SYNC_REPAIR, 0},
	         {7, CHECK, SYNC_NONE, 1}, {8, RUN_ERR, SYNC_REPAIR, 0},
	         {11.9, CHECK, SYNC_NONE, NAN}, {12, RUN_ERR, SYNC_REPAIR, 0},
	         {20, RUN_ERR, SYNC_REPAIR, 0}, {36, RUN_ERR, SYNC_REPAIR, 0},
	         /* capped at the sync period */
	         {65.9, CHECK, SYNC_NONE, NAN}, {66, RUN_ERR, SYNC_REPAIR, 0},
	         {95.9, CHECK, SYNC_NONE, NAN}, {96, RUN_OK, SYNC_REPAIR, 0},
	         /* success ends the backoff and counts as the reconcile */
	         {96, CHECK, SYNC_NONE, 30}, {97, CHANGE, SYNC_NONE, 0},
	         {97, RUN_ERR, SYNC_CHANGE, 0}, {98, CHECK, SYNC_REPAIR, 0});
}

/* The bug of issue 9: with a change pending, a failing incremental sync was retried as an
 * incremental sync forever and the reconcile never ran. */
static void test_failed_change_is_repaired(void **unused)
{
	SCENARIO("table deleted", 0.1, 30, 1, {1, CHANGE, SYNC_NONE, 0},
	         {1, RUN_ERR, SYNC_CHANGE, 0}, {1.5, CHANGE, SYNC_NONE, 0},
	         {1.5, CHECK, SYNC_NONE, 0.5}, {2, CHECK, SYNC_REPAIR, 0},
	         {2, RUN_OK, SYNC_REPAIR, 0}, {2.05, CHECK, SYNC_NONE, 29.95});
}

static void test_periodic_failure_is_repaired(void **unused)
{
	SCENARIO("periodic fails", 1, 10, 1, {10, RUN_ERR, SYNC_PERIODIC, 0},
	         {10.5, CHANGE, SYNC_NONE, 0}, {11, RUN_OK, SYNC_REPAIR, 0},
	         {11, CHECK, SYNC_NONE, 10});
}

static void test_resync(void **unused)
{
	SCENARIO("SIGHUP", 1, 30, 1, {0.5, RESYNC, SYNC_NONE, 0}, {0.5, CHECK, SYNC_NONE, 0.5},
	         {1, RUN_OK, SYNC_REPAIR, 0}, {10, RESYNC, SYNC_NONE, 0},
	         {10, CHECK, SYNC_REPAIR, 0}, {10, RUN_OK, SYNC_REPAIR, 0},
	         {10, CHECK, SYNC_NONE, 30});
}

static void test_odd_settings(void **unused)
{
	/* min above max: max is raised to min */
	SCENARIO("min > max", 5, 2, 1, {2, CHECK, SYNC_NONE, 3}, {5, CHECK, SYNC_PERIODIC, 0});
	/* no min interval: every change at once */
	SCENARIO("min 0", 0, 30, 1, {0, CHANGE, SYNC_NONE, 0}, {0, CHECK, SYNC_CHANGE, 0},
	         {0, RUN_OK, SYNC_CHANGE, 0}, {0, CHANGE, SYNC_NONE, 0},
	         {0, CHECK, SYNC_CHANGE, 0});
	/* a retry base above the sync period is capped by it */
	SCENARIO("retry > max", 1, 4, 10, {1, CHANGE, SYNC_NONE, 0}, {1, RUN_ERR, SYNC_CHANGE, 0},
	         {4.9, CHECK, SYNC_NONE, NAN}, {5, CHECK, SYNC_REPAIR, 0});
}

static void test_backoff_table(void **unused)
{
	static const struct {
		double base, max;
		unsigned n;
		double want;
	} rows[] = {
	    {1, 30, 1, 1},  {1, 30, 2, 2},  {1, 30, 5, 16}, {1, 30, 6, 30}, {1, 30, 1000, 30},
	    {0.5, 3, 3, 2}, {0.5, 3, 4, 3}, {2, 1, 1, 2}, /* max raised to min (2) by init */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sync_schedule s;

		sched_init(&s, 2, rows[i].max, rows[i].base, 0);
		if (fabs(sched_backoff(&s, rows[i].n) - rows[i].want) > 1e-9)
			fail_msg("row %zu: backoff(%u) = %g, want %g", i, rows[i].n,
			         sched_backoff(&s, rows[i].n), rows[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_periodic),
	    cmocka_unit_test(test_changes_coalesced),
	    cmocka_unit_test(test_changes_never_postpone_periodic),
	    cmocka_unit_test(test_failure_backoff),
	    cmocka_unit_test(test_failed_change_is_repaired),
	    cmocka_unit_test(test_periodic_failure_is_repaired),
	    cmocka_unit_test(test_resync),
	    cmocka_unit_test(test_odd_settings),
	    cmocka_unit_test(test_backoff_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
