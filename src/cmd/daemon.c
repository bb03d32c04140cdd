/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.c - run, sync, check, cleanup: the pipeline driven end to end.
 *
 *   source --(model view)--> compile --(desired)--> nft dataplane
 *
 * The source is manifest files or the Kubernetes API (source.h); nothing
 * here knows which. `run` is one thread with an epoll loop over three fds:
 * the source's (objects changed), a timerfd (time to sync), a signalfd
 * (stop). The
 * HTTP servers run in libmicrohttpd's thread and read metrics.h only.
 *
 * Sync timing follows kube-proxy's bounded-frequency runner: a change is
 * applied at once unless the last sync was less than --min-sync-period
 * ago (then it waits until that has passed, batching what arrives in
 * between); every --sync-period a full reconcile re-reads the table from
 * the kernel and repairs whatever differs.
 */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "common/mem.h"
#include "compile/compile.h"
#include "daemon/http.h"
#include "daemon/metrics.h"
#include "daemon/nodeports.h"
#include "daemon/privs.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/conntrack.h"
#include "dataplane/nft.h"
#include "source/kube/kube.h"
#include "source/manifest.h"
#include "source/source.h"

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Log every message of d at level lvl (warnings as such), then clear it. Returns how many errors.
 */
static size_t diag_flush(struct diag *d, enum log_level lvl, const char *subsys)
{
	size_t n = diag_errors(d);

	for (size_t i = 0; i < d->n; i++)
		log_msg(d->warning[i] ? LOG_LVL_WARN : lvl, subsys, "%s", d->msgs[i]);
	diag_clear(d);
	return n;
}

/* The address families svcproxy programs: one table each. */
static const int families[] = {AF_INET, AF_INET6};
#define N_FAMILIES 2

struct daemon {
	const struct options *o;
	struct source *src;
	struct nft_dp *dp[N_FAMILIES];
	struct bpf_dp *bpf;                /* --dataplane bpf; NULL for nft */
	struct compiler *comp[N_FAMILIES]; /* caches each Service's compiled entries */
	struct nodeports *np;              /* held ports and health checks; run only */
	struct desired last[N_FAMILIES];   /* what the last successful sync programmed */
	bool have_last;
	uint32_t genid; /* the kernel's ruleset generation after our last sync */
	bool genid_ok;
	double change_seen;        /* when the oldest unsynced change was seen; 0: none */
	uint64_t slice_gen_synced; /* newest EndpointSlice gen a successful sync saw */
	double start_wall;         /* trigger times before it are not ours to measure */
};

/*
 * EndpointSlices decoded since the last successful sync (a newer gen)
 * carry the time their change was triggered (annotation, model.h): this
 * sync programs them, so kubeproxy_network_programming_duration_seconds
 * observes them when it succeeds - as kube-proxy, only for changes
 * triggered after it started. Returns the newest gen seen.
 */
static uint64_t note_trigger_times(const struct daemon *dm, const struct model *m)
{
	uint64_t newest = dm->slice_gen_synced;

	for (size_t i = 0; i < m->n_slices; i++) {
		const struct endpoint_slice *e = m->slices[i];

		if (e->gen > dm->slice_gen_synced && e->trigger_time > dm->start_wall)
			metrics_note_trigger_time(e->family, e->trigger_time);
		if (e->gen > newest)
			newest = e->gen;
	}
	return newest;
}

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

/*
 * One sync: model view -> compile -> one transaction per address family.
 * Problems in the input are logged; they never stop the valid objects from
 * being programmed. Returns 0 or -errno (the failed family's table is
 * unchanged).
 */
static int do_sync(struct daemon *dm, const char *why)
{
	struct diag d = {0};
	struct model m = {0};
	struct desired ds[N_FAMILIES] = {0};
	struct nft_sync_stats st, sum = {0};
	size_t n_eps = 0, n_svc = 0, n_ports = 0;
	double t0 = now_mono(), t_dp = 0, dt;
	char since[64] = "", v6[48] = "";
	unsigned svc_changes = 0, ep_changes = 0;
	int ret, failed_family = 0;

	ret = source_model(dm->src, &m, &d);
	diag_flush(&d, LOG_LVL_ERROR, source_name(dm->src));
	if (ret)
		goto out;
	for (int f = 0; f < N_FAMILIES; f++) {
		struct compile_opts co = {.hostname = dm->o->hostname, .family = families[f]};

		compile_with(dm->comp[f], &m, &co, &ds[f], &d);
		/* the same conflict shows in both families: report it once */
		diag_flush(&d, f == 0 ? LOG_LVL_ERROR : LOG_LVL_DEBUG, "compile");
	}
	if (dm->bpf) { /* before nft: once the table exists, the maps are written too */
		struct bpf_sync_stats bs;
		double tk = now_mono();

		ret = bpf_dp_sync(dm->bpf, ds, N_FAMILIES, &bs);
		t_dp += now_mono() - tk;
		sum.changes += bs.changes;
	}
	for (int f = 0; f < N_FAMILIES && !ret; f++) {
		double tk = now_mono();

		ret = nft_dp_sync(dm->dp[f], &ds[f], &st);
		failed_family = ret ? families[f] : 0;
		t_dp += now_mono() - tk;
		sum.changes += st.changes;
		sum.chains += st.chains;
		sum.rebuilt |= st.rebuilt;
	}
	dt = now_mono() - t0;
	if (!ret)
		dm->slice_gen_synced = note_trigger_times(dm, &m);
	/* kube-proxy's full resyncs: the first and the periodic ones */
	metrics_sync_result(dt, strcmp(why, "change") != 0, ret ? failed_family : 0);
	if (ret) {
		log_err("sync", "%s sync failed after %.1f ms: %s", why, dt * 1e3, strerror(-ret));
		goto out;
	}
	for (int f = 0; f < N_FAMILIES; f++) {
		struct desired none = {.family = families[f]};

		/* after the rules: new packets already follow them */
		conntrack_cleanup_udp(dm->have_last ? &dm->last[f] : &none, &ds[f]);
		for (size_t i = 0; i < ds[f].n_entries; i++)
			n_eps += ds[f].entries[i].n_backends;
		n_svc += ds[f].n_services;
		n_ports += ds[f].n_entries;
		if (dm->have_last)
			count_changes(&dm->last[f], &ds[f], &svc_changes, &ep_changes);
		else
			svc_changes += (unsigned)ds[f].n_entries;
	}
	metrics_add_changes(svc_changes, ep_changes);
	metrics_set_programmed((unsigned)n_svc, (unsigned)n_eps);
	if (dm->np)
		nodeports_sync(dm->np, ds, N_FAMILIES);
	if (dm->change_seen > 0)
		snprintf(since, sizeof(since), "; %.1f ms after the change was seen",
		         (now_mono() - dm->change_seen) * 1e3);
	dm->change_seen = 0;
	if (ds[1].n_services)
		snprintf(v6, sizeof(v6), " (%zu of them IPv6)", ds[1].n_services);
	log_info(
	    "sync",
	    "%s sync: %zu services%s, %zu service ports, %zu endpoints; %zu element changes%s%s "
	    "in %.1f ms (dataplane %.1f ms)%s",
	    why, n_svc, v6, n_ports, n_eps, sum.changes, sum.rebuilt ? ", table built" : "",
	    sum.chains ? ", new lb chains" : "", dt * 1e3, t_dp * 1e3, since);
	for (int f = 0; f < N_FAMILIES; f++) {
		desired_free(&dm->last[f]);
		dm->last[f] = ds[f];
		memset(&ds[f], 0, sizeof(ds[f]));
	}
	dm->have_last = true;
	dm->genid_ok = nft_dp_genid(dm->dp[0], &dm->genid) == 0;
out:
	for (int f = 0; f < N_FAMILIES; f++)
		desired_free(&ds[f]);
	model_free_view(&m);
	return ret;
}

/* Re-read every table from the kernel: the base of the next diff. */
static int dp_adopt(struct daemon *dm)
{
	if (dm->bpf && bpf_dp_adopt(dm->bpf))
		return -EIO; /* logged */
	for (int f = 0; f < N_FAMILIES; f++) {
		int ret = nft_dp_adopt(dm->dp[f]);

		if (ret) {
			log_err("nft", "cannot read table %s %s: %s%s",
			        families[f] == AF_INET ? "ip" : "ip6", NFT_TABLE_NAME,
			        strerror(-ret),
			        ret == -EPERM ? " (svcproxy needs CAP_NET_ADMIN)" : "");
			return ret;
		}
	}
	return 0;
}

static int dp_open(struct daemon *dm)
{
	for (int f = 0; f < N_FAMILIES; f++) {
		dm->comp[f] = compiler_new();
	}
	for (int f = 0; f < N_FAMILIES; f++) {
		struct nft_dp_opts no = {
		    .family = families[f],
		    .cluster_cidrs = dm->o->cluster_cidrs,
		    .n_cluster_cidrs = dm->o->n_cluster_cidrs,
		    .nodeport_cidrs = dm->o->nodeport_cidrs,
		    .n_nodeport_cidrs = dm->o->n_nodeport_cidrs,
		    .masquerade_all = dm->o->masquerade_all,
		};

		dm->dp[f] = nft_dp_open(&no);
		if (!dm->dp[f]) {
			log_err("nft", "cannot open a netfilter netlink socket: %s%s",
			        strerror(errno),
			        errno == EPERM ? " (svcproxy needs CAP_NET_ADMIN)" : "");
			return -errno;
		}
	}
	if (dm->o->dataplane_bpf) {
		struct bpf_dp_opts bo = {.pin_path = dm->o->bpf_pin_path,
		                         .cgroup_root = dm->o->cgroup_root};

		dm->bpf = bpf_dp_open(&bo); /* logs why not */
		if (!dm->bpf)
			return -errno;
	}
	return dp_adopt(dm);
}

static void arm_timer(int tfd, double delay)
{
	struct itimerspec its = {0};

	if (delay < 1e-6)
		delay = 1e-6;
	its.it_value.tv_sec = (time_t)delay;
	its.it_value.tv_nsec = (long)((delay - (double)(time_t)delay) * 1e9);
	timerfd_settime(tfd, 0, &its, NULL);
}

static int run_loop(struct daemon *dm)
{
	const struct options *o = dm->o;
	struct http_servers *http = NULL;
	struct epoll_event ev;
	int efd = -1, tfd = -1, sfd = -1, ifd, ret = 0;
	bool pending = false;
	unsigned quiet_periods = 0;
	double last_sync = now_mono(), last_full = last_sync;
	sigset_t mask;

	/* block before any thread starts, so the signals reach only the signalfd */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	http = http_start(o->healthz_addr, o->metrics_addr);
	if (!http) {
		close(sfd);
		return EXIT_RUNTIME;
	}
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	efd = epoll_create1(EPOLL_CLOEXEC);
	ifd = source_fd(dm->src);
	if (sfd < 0 || tfd < 0 || efd < 0 || ifd < 0) {
		log_err("run", "cannot set up the event loop: %s",
		        strerror(ifd < 0 ? -ifd : errno));
		ret = EXIT_RUNTIME;
		goto out;
	}
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = sfd};
	epoll_ctl(efd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = tfd;
	epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev);
	ev.data.fd = ifd;
	epoll_ctl(efd, EPOLL_CTL_ADD, ifd, &ev);
	arm_timer(tfd, o->sync_period);
	log_info("run", "watching the %s source; min-sync-period %gs, sync-period %gs",
	         source_name(dm->src), o->min_sync_period, o->sync_period);

	for (;;) {
		int n = epoll_wait(efd, &ev, 1, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("run", "epoll_wait: %s", strerror(errno));
			ret = EXIT_RUNTIME;
			break;
		}
		if (ev.data.fd == sfd) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				log_info("run", "signal %u: stopping; the rules stay in place",
				         si.ssi_signo);
			break;
		}
		if (ev.data.fd == ifd) {
			struct diag d = {0};
			int changed = source_handle(dm->src, &d);

			diag_flush(&d, LOG_LVL_ERROR, source_name(dm->src));
			if (changed > 0 && !pending) {
				pending = true;
				dm->change_seen = now_mono();
				metrics_change_queued();
				arm_timer(tfd, last_sync + o->min_sync_period - now_mono());
			}
			continue;
		}
		if (ev.data.fd == tfd) {
			uint64_t ticks;
			double now = now_mono();

			if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				log_warn("run", "timerfd: %s", strerror(errno));
			if (!pending && now - last_full >= o->sync_period) {
				uint32_t gen;

				/*
				 * Full reconcile: trust the kernel, not our memory. When no
				 * transaction at all was committed since our last sync (same
				 * generation), there is no drift to repair: skip the read-back,
				 * except every tenth period, for whatever slipped in between our
				 * commit and our reading of the generation. BPF maps have no
				 * generation: with them, always.
				 */
				if (dm->bpf || !dm->genid_ok || ++quiet_periods >= 10 ||
				    nft_dp_genid(dm->dp[0], &gen) || gen != dm->genid) {
					quiet_periods = 0;
					if (dp_adopt(dm) == 0)
						do_sync(dm, "periodic");
				} else {
					/* verified in sync: it counts as a sync for metrics and
					 * health */
					metrics_sync_done(now_mono() - now, 1);
				}
				last_full = now;
			} else if (pending) {
				if (do_sync(dm, "change") == 0)
					pending = false;
			}
			last_sync = now_mono();
			if (pending) /* failed: try again after min-sync-period */
				arm_timer(tfd, o->min_sync_period > 1 ? o->min_sync_period : 1);
			else
				arm_timer(tfd, last_full + o->sync_period - last_sync);
		}
	}
out:
	http_stop(http);
	if (efd >= 0)
		close(efd);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	return ret;
}

/*
 * Nothing is programmed from a partial initial state: wait until the source
 * has seen everything that existed when it started (kube-proxy waits for
 * its informers the same way). 0, or -errno when the source fails.
 */
static int wait_ready(struct source *src)
{
	struct pollfd pfd = {.fd = source_fd(src), .events = POLLIN};
	double since = now_mono(), said = since;

	if (pfd.fd < 0 && !source_ready(src)) {
		log_err("run", "cannot watch the %s source: %s", source_name(src),
		        strerror(-pfd.fd));
		return pfd.fd;
	}
	while (!source_ready(src)) {
		struct diag d = {0};

		if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
			return -errno;
		source_handle(src, &d);
		diag_flush(&d, LOG_LVL_ERROR, source_name(src));
		if (now_mono() - said >= 10) {
			said = now_mono();
			log_info("run", "waiting for the %s source's initial state (%.0f s)",
			         source_name(src), said - since);
		}
	}
	return 0;
}

int cmd_run(const struct options *o, bool once)
{
	/* bpf: map updates and reads on the fds we hold (CAP_BPF for kernels before 6.5) */
	static const int bpf_caps[] = {CAP_BPF};
	struct privs_opts po = {.extra_caps = bpf_caps,
	                        .n_extra_caps = o->dataplane_bpf ? 1 : 0,
	                        .allow_bpf = o->dataplane_bpf};
	struct daemon dm = {.o = o};
	struct diag d = {0};
	int ret, problems;

	metrics_init(2 * o->sync_period);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		dm.start_wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	dm.src = o->n_manifests
	             ? manifest_source_open(o->manifests, o->n_manifests, &o->decode)
	             : kube_source_open(o->kubeconfig, o->master, o->hostname, &o->decode);
	/* set up everything that needs more than privs.h keeps, then drop it */
	if (dp_open(&dm) || privs_restrict(&po)) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	ret = source_start(dm.src, &d);
	problems = (int)diag_flush(&d, LOG_LVL_ERROR, source_name(dm.src));
	if (ret) {
		ret = ret == -ENOENT || ret == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		goto out;
	}
	if (wait_ready(dm.src)) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if (!once)
		dm.np = nodeports_new();
	if (do_sync(&dm, "initial")) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if (once)
		ret = problems ? EXIT_USAGE : EXIT_OK;
	else
		ret = run_loop(&dm);
out:
	nodeports_free(dm.np);
	bpf_dp_close(dm.bpf);
	for (int f = 0; f < N_FAMILIES; f++) {
		desired_free(&dm.last[f]);
		nft_dp_close(dm.dp[f]);
		compiler_free(dm.comp[f]);
	}
	source_free(dm.src);
	return ret;
}

int cmd_check(const struct options *o)
{
	struct manifest_source *src = manifest_source_new(o->manifests, o->n_manifests);

	manifest_source_set_decode_opts(src, &o->decode);
	struct diag d = {0};
	struct model m = {0};
	struct desired ds = {0};
	int problems;
	size_t n = 0, warnings;

	problems = manifest_source_load(src, &d);
	if (problems >= 0 && manifest_source_model(src, &m, &d) == 0) {
		/* compile too: it reports address:port conflicts between Services */
		for (int f = 0; f < N_FAMILIES; f++) {
			struct compile_opts co = {.hostname = "", .family = families[f]};

			compile(&m, &co, &ds, &d);
			desired_free(&ds);
		}
		printf("%zu services, %zu endpoint slices, %zu nodes\n", m.n_services, m.n_slices,
		       m.n_nodes);
	}
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msgs[i]);
	n = diag_errors(&d); /* warnings do not fail the check */
	warnings = d.n_warnings;
	diag_clear(&d);
	desired_free(&ds);
	model_free_view(&m);
	manifest_source_free(src);
	if (n)
		fprintf(stderr, "%zu problem%s found\n", n, n == 1 ? "" : "s");
	else if (warnings)
		fprintf(stderr, "%zu warning%s, no problem\n", warnings, warnings == 1 ? "" : "s");
	return n || problems ? EXIT_USAGE : EXIT_OK;
}

int cmd_cleanup(const struct options *o)
{
	int status = bpf_cleanup(o->bpf_pin_path) ? EXIT_RUNTIME : EXIT_OK;

	for (int f = 0; f < N_FAMILIES; f++) {
		int ret = nft_cleanup(families[f]);

		if (ret) {
			fprintf(stderr, "svcproxy cleanup: cannot remove table %s %s: %s\n",
			        families[f] == AF_INET ? "ip" : "ip6", NFT_TABLE_NAME,
			        strerror(-ret));
			status = EXIT_RUNTIME;
		}
	}
	return status;
}
