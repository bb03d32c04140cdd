/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.c - `svcproxy run` and `svcproxy sync`: the pipeline driven end to
 * end, forever or once.
 *
 *   process set-up (signals, limits), instance lock    daemon/process.h
 *   source: start, wait for the initial state         source/source.h
 *   initial sync: read the kernel back, program all   daemon/runner.h
 *   run: the event loop, until SIGTERM/SIGINT         daemon/loop.h
 *
 * The source is manifest files or the Kubernetes API; nothing after
 * open_source() knows which.
 */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "daemon/loop.h"
#include "daemon/metrics.h"
#include "daemon/privs.h"
#include "daemon/process.h"
#include "daemon/runner.h"
#include "dataplane/bpf/bpf_dp.h"
#include "source/kube/kube.h"
#include "source/manifest.h"
#include "source/source.h"

/* --bpf-pin-path for write_bpf_metrics (NULL: the default), set before the HTTP thread */
static const char *metrics_bpf_pin_path;

/* /metrics with --dataplane bpf: the socket programs' counters, when their maps can be read. */
static void write_bpf_metrics(FILE *f)
{
	struct bpf_stats st;

	if (bpf_stats_read(metrics_bpf_pin_path, &st))
		return;
	metrics_write_counter(
	    f, "svcproxy_bpf_connects_translated_total",
	    "Connects (TCP, connected UDP) the socket programs sent to an endpoint", st.connects);
	metrics_write_counter(f, "svcproxy_bpf_datagrams_translated_total",
	                      "Unconnected UDP datagrams the socket programs sent to an endpoint",
	                      st.datagrams);
	metrics_write_counter(f, "svcproxy_bpf_refused_total",
	                      "Connects and sends the socket programs failed: no endpoint "
	                      "(ECONNREFUSED) or none allowed on this node (EHOSTUNREACH)",
	                      st.refused);
	metrics_write_counter(f, "svcproxy_bpf_affinity_hits_total",
	                      "Connects sent to the client's endpoint by sessionAffinity",
	                      st.affinity);
	metrics_write_counter(f, "svcproxy_bpf_addresses_restored_total",
	                      "Replies (recvmsg) and peer names (getpeername) given the Service "
	                      "address back",
	                      st.restored);
}

/* The source the options name: manifest files, else the Kubernetes API. */
static struct source *open_source(const struct options *o)
{
	if (o->n_manifests)
		return manifest_source_open(o->manifests, o->n_manifests, &o->decode);
	return kube_source_open(o->kubeconfig, o->master, o->hostname, &o->decode);
}

#define STOPPED (-1) /* a stop signal came while starting */

/* Start the source and wait for its initial state. 0, STOPPED, or an exit status. */
static int start_source(struct source *src, int sigfd, int *problems)
{
	struct diag d = {0};
	int ret = source_start(src, &d);

	*problems = (int)diag_log(&d, LOG_LVL_ERROR, source_name(src));
	if (ret)
		return ret == -ENOENT || ret == -EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
	ret = loop_wait_ready(src, sigfd);
	return ret < 0 ? EXIT_RUNTIME : ret == 1 ? STOPPED : 0;
}

/* A stop signal that came while starting: it is honoured once the initial sync is done. */
static bool stop_waiting(int sigfd)
{
	int sig;

	while ((sig = process_next_signal(sigfd)))
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("run",
			         "%s during the initial sync: stopping; the rules stay in place",
			         strsignal(sig));
			return true;
		}
	return false;
}

int cmd_run(const struct options *o, bool once)
{
	struct runner_opts ro = {
	    .hostname = o->hostname,
	    .cluster_cidrs = o->cluster_cidrs,
	    .n_cluster_cidrs = o->n_cluster_cidrs,
	    .nodeport_cidrs = o->nodeport_cidrs,
	    .n_nodeport_cidrs = o->n_nodeport_cidrs,
	    .masquerade_all = o->masquerade_all,
	    .hold_nodeports = !once,
	    .dataplane_bpf = o->dataplane_bpf,
	    .bpf_pin_path = o->bpf_pin_path,
	    .cgroup_root = o->cgroup_root,
	};
	/* bpf: map updates and reads on the fds we hold (CAP_BPF for kernels before 6.5) */
	static const int bpf_caps[] = {CAP_BPF};
	struct privs_opts po = {.extra_caps = bpf_caps,
	                        .n_extra_caps = o->dataplane_bpf ? 1 : 0,
	                        .allow_bpf = o->dataplane_bpf};
	struct loop_opts lo = {
	    .min_sync_period = o->min_sync_period,
	    .sync_period = o->sync_period,
	    .healthz_addr = o->healthz_addr,
	    .metrics_addr = o->metrics_addr,
	    .lockfd = -1,
	};
	struct source *src = NULL;
	struct runner *r = NULL;
	int ret, problems = 0;

	/* before any thread starts; a one-shot sync keeps the default dispositions */
	lo.sigfd = once ? -1 : process_setup();
	if (!once && lo.sigfd < 0) {
		log_err("run", "cannot set up signal handling: %s", strerror(-lo.sigfd));
		return EXIT_RUNTIME;
	}
	lo.lockfd = instance_lock();
	if (lo.lockfd < 0) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	metrics_init(2 * o->sync_period);
	if (o->dataplane_bpf) {
		metrics_bpf_pin_path = o->bpf_pin_path;
		metrics_set_extra(write_bpf_metrics);
	}
	src = open_source(o);
	r = runner_new(&ro, src);
	/* set up everything that needs more than privs.h keeps, then drop it */
	if (runner_open(r) || privs_restrict(&po)) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	/* a thread: only now, so that it too runs with the reduced capabilities */
	if (!once && o->config)
		config_watch_start(o->config);
	ret = start_source(src, lo.sigfd, &problems);
	if (ret) {
		ret = ret == STOPPED ? EXIT_OK : ret; /* nothing programmed */
		goto out;
	}
	/*
	 * The kernel was read at runner_open(): the initial sync is a diff
	 * against it. Its failure ends `sync`; `run` retries it as any failed
	 * sync (the table could be read, so the privileges are there).
	 */
	ret = runner_sync(r, SYNC_CHANGE, -1);
	lo.initial_failed = ret != 0;
	if (ret && once) {
		ret = EXIT_RUNTIME;
		goto out;
	}
	if (once)
		ret = problems ? EXIT_USAGE : EXIT_OK;
	else if (stop_waiting(lo.sigfd))
		ret = EXIT_OK;
	else
		ret = loop_run(r, src, &lo) ? EXIT_RUNTIME : EXIT_OK;
out:
	runner_free(r);
	source_free(src);
	if (lo.lockfd >= 0)
		close(lo.lockfd);
	if (lo.sigfd >= 0)
		close(lo.sigfd);
	return ret;
}
