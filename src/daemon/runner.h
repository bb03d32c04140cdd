/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runner.h - one sync of the pipeline, end to end:
 *
 *   source --(model view)--> compile --(desired, per family)--> dataplane
 *                                                   |
 *                         after the rules: UDP conntrack cleanup, held
 *                         nodePorts and health checks, metrics, one log line
 *
 * The runner owns the per-family compilers and dataplane handles and what
 * the last successful sync of each family programmed. It decides nothing
 * about timing (schedule.h does) and knows nothing of epoll (loop.h).
 * Every call into dataplane/ is in runner.c, in one section, so another
 * dataplane slots in there.
 */
#ifndef SVCPROXY_RUNNER_H
#define SVCPROXY_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "daemon/schedule.h"
#include "source/source.h"

struct runner_opts {
	const char *hostname; /* this node's name, for endpoints' nodeName */
	const struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs; /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
	bool masquerade_all;
	bool hold_nodeports;      /* run: hold nodePorts and serve their health checks */
	bool dataplane_bpf;       /* --dataplane bpf: socket programs, nftables alongside */
	const char *bpf_pin_path; /* NULL: the default */
	const char *cgroup_root;  /* NULL: the cgroup v2 mount */
};

struct runner;

/* Reads the model from src (not owned). Cannot fail. */
struct runner *runner_new(const struct runner_opts *o, struct source *src);
void runner_free(struct runner *r); /* accepts NULL */

/*
 * Open the dataplane and read what the kernel holds (a restart adopts its
 * table), so the initial sync can be a SYNC_CHANGE. 0 or -errno, logged
 * with the object and a hint (EPERM: the capability needed).
 */
int runner_open(struct runner *r);

/*
 * One sync of kind k (SYNC_CHANGE, SYNC_PERIODIC, SYNC_REPAIR; the first
 * one is logged as "initial"):
 *
 *   CHANGE    program the model, diffed against what the last sync programmed
 *   PERIODIC  read the kernel back when anything may have changed it (its
 *             ruleset generation moved, or every tenth period anyway), then
 *             program the model; when nothing changed and nothing is
 *             pending, just count a verified sync
 *   REPAIR    read the kernel back, then program the model
 *
 * pending_for: seconds since the oldest change not yet applied was seen
 * (< 0: none). Families are independent: one whose transaction fails keeps
 * its previous state (the kernel's transaction is all or nothing), and the
 * others still get their conntrack cleanup and held nodePorts. Returns 0
 * when every family succeeded, else the first failure's -errno (logged,
 * counted in the metrics).
 */
int runner_sync(struct runner *r, enum sync_kind k, double pending_for);

#endif
