/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runner.c - one sync of the pipeline (runner.h): model -> compile ->
 * dataplane per address family, then what follows the rules.
 */
#include "daemon/runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "compile/compile.h"
#include "daemon/metrics.h"
#include "daemon/nodelocal.h"
#include "daemon/nodeports.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/conntrack.h"
#include "dataplane/nft.h"

/* The address families svcproxy programs: one table each. */
static const int families[] = {AF_INET, AF_INET6};
#define N_FAMILIES 2

/* Periodic reconciles that may skip the read-back in a row (see runner_sync). */
#define QUIET_PERIODS_MAX 10

struct runner {
	struct runner_opts o;
	struct source *src;
	struct nft_dp *dp[N_FAMILIES];
	struct bpf_dp *bpf;      /* --dataplane bpf; NULL for nft alone */
	struct ipaddr *np_addrs; /* bpf: the node addresses NodePorts are served on */
	size_t n_np_addrs;
	struct compiler *comp[N_FAMILIES]; /* caches each Service's compiled entries */
	struct nodeports *np;              /* held ports and health checks; run only */
	struct desired last[N_FAMILIES];   /* what the last successful sync programmed */
	struct model view;                 /* emptied after each sync; its arrays reused */
	bool have_last[N_FAMILIES];
	uint32_t genid; /* the kernel's ruleset generation after our last sync */
	bool genid_ok;
	unsigned quiet_periods;    /* periodic syncs that skipped the read-back */
	unsigned syncs;            /* attempted, for "initial" */
	uint64_t slice_gen_synced; /* newest EndpointSlice gen a successful sync saw */
	bool failed_since_noted;   /* a sync failed after the last note_trigger_times() */
	double start_wall;         /* trigger times before it are not ours to measure */
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *family_name(int f)
{
	return families[f] == AF_INET ? "ip" : "ip6";
}

/* ---- the dataplane: every call into dataplane/ is here ---- */

static int dp_open(struct runner *r)
{
	for (int f = 0; f < N_FAMILIES; f++) {
		struct nft_dp_opts no = {
		    .family = families[f],
		    .cluster_cidrs = r->o.cluster_cidrs,
		    .n_cluster_cidrs = r->o.n_cluster_cidrs,
		    .nodeport_cidrs = r->o.nodeport_cidrs,
		    .n_nodeport_cidrs = r->o.n_nodeport_cidrs,
		    .masquerade_all = r->o.masquerade_all,
		    /* beside the socket programs: only what enters from elsewhere, and SCTP */
		    .scope = r->o.dataplane_bpf ? NFT_SCOPE_ENTERING : NFT_SCOPE_ALL,
		};

		r->dp[f] = nft_dp_open(&no);
		if (!r->dp[f]) {
			int err = errno;

			log_err("nft", "cannot open a netfilter netlink socket: %s%s",
			        strerror(err),
			        err == EPERM ? " (svcproxy needs CAP_NET_ADMIN)" : "");
			return -err;
		}
	}
	if (r->o.dataplane_bpf) {
		struct bpf_dp_opts bo = {.pin_path = r->o.bpf_pin_path,
		                         .cgroup_root = r->o.cgroup_root};

		r->bpf = bpf_dp_open(&bo); /* logs why not */
		if (!r->bpf)
			return -errno;
	}
	return 0;
}

/* Re-read every table from the kernel: the base of the next diff. */
static int dp_adopt(struct runner *r, int *failed_family)
{
	if (r->bpf && bpf_dp_adopt(r->bpf)) {
		*failed_family = AF_INET;
		return -EIO; /* logged */
	}
	for (int f = 0; f < N_FAMILIES; f++) {
		int ret = nft_dp_adopt(r->dp[f]);

		if (ret) {
			*failed_family = families[f];
			log_err("nft", "cannot read table %s %s: %s%s", family_name(f),
			        NFT_TABLE_NAME, strerror(-ret),
			        ret == -EPERM ? " (svcproxy needs CAP_NET_ADMIN)" : "");
			return ret;
		}
	}
	return 0;
}

/*
 * The bpf maps hold every family at once: before nft, so that once the table
 * exists the maps are written too. 0 or -errno (logged).
 */
static int dp_sync_bpf(struct runner *r, const struct desired ds[N_FAMILIES], size_t *changes)
{
	struct bpf_sync_stats bs = {0};
	int ret = r->bpf ? bpf_dp_sync(r->bpf, ds, N_FAMILIES, r->np_addrs, r->n_np_addrs, &bs) : 0;

	*changes += bs.changes;
	return ret;
}

/* Program ds into family f's table. 0 or -errno (logged; the table is unchanged). */
static int dp_sync(struct runner *r, int f, const struct desired *ds, struct nft_sync_stats *st)
{
	int ret = nft_dp_sync(r->dp[f], ds, st);

	if (ret)
		log_err("nft", "transaction on table %s %s failed: %s", family_name(f),
		        NFT_TABLE_NAME, strerror(-ret));
	return ret;
}

/* Whether anything may have changed the kernel's rules since our last sync. */
static bool dp_touched(struct runner *r)
{
	uint32_t gen;

	/* BPF maps have no generation: with them, always */
	return r->bpf || !r->genid_ok || nft_dp_genid(r->dp[0], &gen) || gen != r->genid;
}

static void dp_mark(struct runner *r)
{
	r->genid_ok = nft_dp_genid(r->dp[0], &r->genid) == 0;
}

static void dp_close(struct runner *r)
{
	bpf_dp_close(r->bpf);
	r->bpf = NULL;
	for (int f = 0; f < N_FAMILIES; f++) {
		nft_dp_close(r->dp[f]);
		r->dp[f] = NULL;
	}
}

/* ---- one sync ---- */

struct sync_tally {
	struct nft_sync_stats dp; /* summed over the families */
	double t_dp;              /* seconds in the dataplane */
	size_t services, ports, endpoints;
	unsigned svc_changes, ep_changes;
	int programmed;    /* families whose transaction succeeded */
	int failed;        /* families whose transaction failed */
	int failed_family; /* the first of them, AF_*; 0: none */
};

/* Count entries whose backends changed, and entries that came or went. */
static void count_changes(const struct desired *a, const struct desired *b, unsigned *svc,
                          unsigned *eps)
{
	size_t i = 0, j = 0;

	while (i < a->n_entries || j < b->n_entries) {
		int c = i == a->n_entries   ? 1
		        : j == b->n_entries ? -1
		                            : entry_cmp(&a->entries[i], &b->entries[j]);

		if (c < 0) {
			(*svc)++;
			i++;
		} else if (c > 0) {
			(*svc)++;
			j++;
		} else {
			const struct entry *x = &a->entries[i++], *y = &b->entries[j++];

			if (x->label == y->label) /* the same entry object */
				continue;
			if (x->n_backends != y->n_backends ||
			    memcmp(x->backends, y->backends, x->n_backends * sizeof(*x->backends)))
				(*eps)++;
		}
	}
}

/* Does any family have an entry a node process's port could collide with? */
static bool has_node_entries(const struct desired ds[N_FAMILIES])
{
	for (int f = 0; f < N_FAMILIES; f++)
		for (size_t i = 0; i < ds[f].n_entries; i++)
			if (ds[f].entries[i].kind != ENTRY_CLUSTER_IP)
				return true;
	return false;
}

/*
 * The model now (*m, a view), compiled for every family, without what
 * would take over the node's own addresses and ports (nodelocal.h).
 * 0 or -errno (the source's).
 */
static int compile_all(struct runner *r, struct model *m, struct desired ds[N_FAMILIES])
{
	struct node_local nl = {0};
	struct diag d = {0};
	int ret = source_model(r->src, m, &d);

	diag_log(&d, LOG_LVL_ERROR, source_name(r->src));
	if (!ret && node_local_read_addrs(&nl))
		log_warn("sync", "cannot read this node's addresses: %s", strerror(errno));
	else if (!ret && r->bpf) { /* the socket programs need them listed; kept when unreadable */
		free(r->np_addrs);
		r->n_np_addrs = node_local_nodeport_addrs(&nl, r->o.nodeport_cidrs,
		                                          r->o.n_nodeport_cidrs, &r->np_addrs);
	}
	for (int f = 0; !ret && f < N_FAMILIES; f++) {
		struct compile_opts co = {
		    .hostname = r->o.hostname,
		    .family = families[f],
		    .node_addrs = nl.addrs,
		    .n_node_addrs = nl.n_addrs,
		    .cluster_cidrs = r->o.cluster_cidrs,
		    .n_cluster_cidrs = r->o.n_cluster_cidrs,
		};

		compile_with(r->comp[f], m, &co, &ds[f], &d);
		/* the same conflict shows in both families: report it once */
		diag_log(&d, f == 0 ? LOG_LVL_ERROR : LOG_LVL_DEBUG, "compile");
	}
	if (!ret && has_node_entries(ds)) {
		int err = node_local_read_listeners(&nl);

		if (err)
			log_warn("sync", "cannot list this node's listening sockets: %s",
			         strerror(-err));
		for (int f = 0; !err && f < N_FAMILIES; f++)
			node_local_filter(&nl, &ds[f], &d);
		diag_log(&d, LOG_LVL_WARN, "sync");
	}
	node_local_free(&nl);
	return ret;
}

struct trigger_pass {
	const struct runner *r;
	uint64_t newest;
};

static void note_trigger_time(const struct endpoint_slice *e, void *arg)
{
	struct trigger_pass *p = arg;

	if (e->gen > p->r->slice_gen_synced && e->trigger_time > p->r->start_wall)
		metrics_note_trigger_time(e->family, e->trigger_time);
	if (e->gen > p->newest)
		p->newest = e->gen;
}

/*
 * EndpointSlices decoded since the last successful sync (a newer gen)
 * carry the time their change was triggered (annotation, model.h): this
 * sync programmed them, so kubeproxy_network_programming_duration_seconds
 * observes them - as kube-proxy, only for changes triggered after it
 * started. Call after a successful sync.
 * Only the slices the compile found changed are read.
 */
static void note_trigger_times(struct runner *r, const struct model *m)
{
	struct trigger_pass p = {.r = r, .newest = r->slice_gen_synced};

	if (r->failed_since_noted) /* the compile saw slices this sync is the first to program */
		for (size_t i = 0; i < m->n_slices; i++)
			note_trigger_time(m->slices[i], &p);
	else
		compiler_new_slices(r->comp[0], m, note_trigger_time, &p);
	r->slice_gen_synced = p.newest;
	r->failed_since_noted = false;
}

/*
 * After family f's transaction: what it holds now becomes the base of the
 * next sync, and flows made stale by the change (or, after a rebuild, by
 * the table missing) are cleaned up.
 */
static void family_done(struct runner *r, int f, struct desired *ds, bool rebuilt,
                        struct sync_tally *t)
{
	struct desired none = {.family = families[f]};
	const struct desired *old = r->have_last[f] ? &r->last[f] : &none;

	/* after the rules: new packets already follow them */
	conntrack_cleanup(old, ds, rebuilt);
	count_changes(old, ds, &t->svc_changes, &t->ep_changes);
	desired_free(&r->last[f]);
	r->last[f] = *ds;
	r->have_last[f] = true;
	memset(ds, 0, sizeof(*ds));
}

/*
 * Program every family; a failed one keeps what it had. Then the node-side
 * state follows what each family holds now: the new state where the
 * transaction succeeded, the previous one where it failed.
 */
static int program(struct runner *r, struct desired ds[N_FAMILIES], struct sync_tally *t)
{
	struct desired held[N_FAMILIES];
	double t_bpf = now_mono();
	/* the bpf maps failing fails every family: nft is not touched */
	int first_err = dp_sync_bpf(r, ds, &t->dp.changes);
	bool bpf_failed = first_err != 0;

	t->t_dp += now_mono() - t_bpf;
	if (bpf_failed) {
		t->failed = N_FAMILIES;
		t->failed_family = AF_INET;
	}
	for (int f = 0; !bpf_failed && f < N_FAMILIES; f++) {
		struct nft_sync_stats st = {0};
		double t0 = now_mono();
		int ret = dp_sync(r, f, &ds[f], &st);

		t->t_dp += now_mono() - t0;
		t->dp.changes += st.changes;
		t->dp.chains += st.chains;
		t->dp.rebuilt |= st.rebuilt;
		if (ret) {
			t->failed++;
			if (!first_err) {
				first_err = ret;
				t->failed_family = families[f];
			}
			continue;
		}
		family_done(r, f, &ds[f], st.rebuilt, t);
		t->programmed++;
	}
	for (int f = 0; f < N_FAMILIES; f++) {
		held[f] = r->have_last[f] ? r->last[f] : (struct desired){.family = families[f]};
		for (size_t i = 0; i < held[f].n_entries; i++)
			t->endpoints += held[f].entries[i].n_backends;
		t->services += held[f].n_services;
		t->ports += held[f].n_entries;
	}
	if (r->np)
		nodeports_sync(r->np, held, N_FAMILIES);
	return first_err;
}

static void log_sync(const struct runner *r, const char *why, const struct sync_tally *t, double dt,
                     double pending_for)
{
	char since[64] = "", v6[48] = "";

	/* seen -> committed: the wait for this sync (pending_for) and the sync itself (dt) */
	if (pending_for >= 0)
		snprintf(since, sizeof(since), "; %.1f ms after the change was seen",
		         (pending_for + dt) * 1e3);
	if (r->have_last[1] && r->last[1].n_services)
		snprintf(v6, sizeof(v6), " (%zu of them IPv6)", r->last[1].n_services);
	log_info(
	    "sync",
	    "%s sync: %zu services%s, %zu service ports, %zu endpoints; %zu element changes%s%s "
	    "in %.1f ms (dataplane %.1f ms)%s",
	    why, t->services, v6, t->ports, t->endpoints, t->dp.changes,
	    t->dp.rebuilt ? ", table built" : "", t->dp.chains ? ", new lb chains" : "", dt * 1e3,
	    t->t_dp * 1e3, since);
}

/*
 * compile, program, account; full: one of kube-proxy's full resyncs (the
 * first and the periodic ones), for the metrics. 0 or -errno.
 */
static int sync_model(struct runner *r, const char *why, bool full, double pending_for, double t0)
{
	struct desired ds[N_FAMILIES] = {0};
	struct sync_tally t = {0};
	struct model *m = &r->view;
	double dt;
	int ret = compile_all(r, m, ds);

	if (!ret)
		ret = program(r, ds, &t);
	for (int f = 0; f < N_FAMILIES; f++)
		desired_free(&ds[f]);
	if (!ret)
		note_trigger_times(r, m);
	else
		r->failed_since_noted = true;
	model_view_clear(m); /* its pointers are the source's: valid until its next event */
	dt = now_mono() - t0;
	metrics_sync_result(dt, full, ret ? (t.failed_family ? t.failed_family : AF_INET) : 0);
	if (t.programmed) {
		metrics_add_changes(t.svc_changes, t.ep_changes);
		metrics_set_programmed((unsigned)t.services, (unsigned)t.endpoints);
	}
	if (ret) {
		log_err("sync", "%s sync failed after %.1f ms: %s", why, dt * 1e3, strerror(-ret));
		return ret;
	}
	log_sync(r, why, &t, dt, pending_for);
	dp_mark(r);
	return 0;
}

int runner_sync(struct runner *r, enum sync_kind k, double pending_for)
{
	static const char *const names[] = {
	    [SYNC_CHANGE] = "change", [SYNC_PERIODIC] = "periodic", [SYNC_REPAIR] = "repair"};
	const char *why = r->syncs++ ? names[k] : "initial";
	bool full = r->syncs == 1 || k != SYNC_CHANGE;
	double t0 = now_mono();
	int ret, failed_family = 0;

	if (k == SYNC_PERIODIC) {
		/*
		 * Trust the kernel, not our memory. When no transaction at all
		 * was committed since our last sync (same generation), there is
		 * no drift to repair: skip the read-back, except every tenth
		 * period, for whatever slipped in between our commit and our
		 * reading of the generation.
		 */
		if (!dp_touched(r) && ++r->quiet_periods < QUIET_PERIODS_MAX) {
			if (pending_for < 0) {
				/* verified in sync: it counts as a sync for metrics and health */
				metrics_sync_result(now_mono() - t0, true, 0);
				return 0;
			}
			/* nothing to repair: the pending changes, diffed against memory */
			return sync_model(r, why, full, pending_for, t0);
		}
		r->quiet_periods = 0;
	}
	if (k != SYNC_CHANGE) {
		ret = dp_adopt(r, &failed_family);
		if (ret) {
			metrics_sync_result(now_mono() - t0, full, failed_family);
			return ret;
		}
	}
	return sync_model(r, why, full, pending_for, t0);
}

struct runner *runner_new(const struct runner_opts *o, struct source *src)
{
	struct runner *r = xcalloc(1, sizeof(*r));
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	r->o = *o;
	r->src = src;
	r->start_wall = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	for (int f = 0; f < N_FAMILIES; f++)
		r->comp[f] = compiler_new();
	if (o->hold_nodeports)
		r->np = nodeports_new();
	return r;
}

int runner_open(struct runner *r)
{
	int failed_family, ret = dp_open(r);

	return ret ? ret : dp_adopt(r, &failed_family);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	nodeports_free(r->np);
	for (int f = 0; f < N_FAMILIES; f++) {
		desired_free(&r->last[f]);
		compiler_free(r->comp[f]);
	}
	model_free_view(&r->view);
	dp_close(r);
	free(r->np_addrs);
	free(r);
}
