/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.h - the numbers /metrics and /healthz report.
 *
 * Written by the sync loop (main thread), read by the HTTP thread; one
 * mutex guards all of it. Metric names follow kube-proxy's where one exists.
 */
#ifndef SVCPROXY_METRICS_H
#define SVCPROXY_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Health, as kube-proxy's ProxierHealthServer: healthy unless a change has
 * been queued (metrics_change_queued) and no sync has succeeded for longer
 * than health_timeout seconds since.
 */
void metrics_init(double health_timeout_sec);

/*
 * The main loop is alive: called at every turn of it (at least once a
 * second). Once called, health also requires the last call to be less
 * than health_timeout seconds old, so a loop stuck anywhere (a blocking
 * read, a hung netlink socket) turns /healthz 503 although the HTTP
 * thread still answers.
 */
void metrics_heartbeat(void);

/* A change arrived that the next sync must apply. */
void metrics_change_queued(void);
/* counts for kubeproxy_sync_proxy_rules_{service,endpoint}_changes_total */
void metrics_add_changes(unsigned services, unsigned endpoints);
/*
 * One sync finished: duration in seconds; full for the initial and
 * periodic full syncs (kube-proxy's "full resync"), else partial;
 * failed_family the AF_INET/AF_INET6 whose transaction failed (counted in
 * kubeproxy_sync_proxy_rules_nftables_sync_failures_total), 0 on success.
 */
void metrics_sync_result(double duration_sec, bool full, int failed_family);
/* As metrics_sync_result(duration, false, ok ? 0 : AF_INET). */
void metrics_sync_done(double duration_sec, int ok);
/*
 * An EndpointSlice of family changed with annotation
 * endpoints.kubernetes.io/last-change-trigger-time (unix seconds): the next
 * successful sync observes now - t in
 * kubeproxy_network_programming_duration_seconds{ip_family}.
 */
void metrics_note_trigger_time(int family, double unix_seconds);
/*
 * Service / EndpointSlice changes seen but not yet synced (sources call it
 * per object event); kubeproxy_sync_proxy_rules_*_changes_pending, reset
 * by a successful sync.
 */
void metrics_add_pending(unsigned services, unsigned endpoints);
/* Gauges of what is programmed now. */
void metrics_set_programmed(unsigned services, unsigned endpoints);

/*
 * Health, bodies in kube-proxy 1.33's format (json.Marshal of ProxyHealth):
 *   /livez   {"lastUpdated":T,"currentTime":T,"healthy":B,
 *             "status":{"IPv4":{"lastUpdated":T,"healthy":B},"IPv6":{...}}}
 *   /healthz the same with "nodeEligible":B after currentTime
 * "status" appears once a sync has succeeded. Return 1 healthy (200), 0 not
 * (503). metrics_health() is the proxy's own health (/livez, and
 * serviceProxyHealthy of healthCheckNodePort answers); metrics_healthz()
 * also needs an eligible Node and a first successful sync (readiness).
 */
int metrics_health(char *buf, size_t len);
int metrics_healthz(char *buf, size_t len);

/*
 * The Node's eligibility, as kube-proxy's NodeEligible(): false when the
 * Node has a deletionTimestamp or the ToBeDeletedByClusterAutoscaler taint.
 * /healthz then answers 503 so load balancers drain the node. The API
 * source calls it on every event of this node's Node; true until then.
 */
void metrics_set_node_eligible(bool eligible);

/* Write the Prometheus text exposition of everything to f. */
void metrics_write(FILE *f);

/*
 * More series, written by write (from the HTTP thread, at each scrape,
 * after svcproxy's own): the bpf dataplane's counters. Set before the HTTP
 * server starts. metrics_write_counter() writes one in this format.
 */
void metrics_set_extra(void (*write)(FILE *f));
void metrics_write_counter(FILE *f, const char *name, const char *help, uint64_t v);

#endif
