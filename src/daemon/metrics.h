/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * metrics.h - the numbers /metrics and /healthz report.
 *
 * Written by the sync loop (main thread), read by the HTTP thread; one
 * mutex guards all of it. Metric names follow kube-proxy's where one exists.
 */
#ifndef SVCPROXY_METRICS_H
#define SVCPROXY_METRICS_H

#include <stdint.h>
#include <stdio.h>

/*
 * Health, as kube-proxy's ProxierHealthServer: healthy unless a change has
 * been queued (metrics_change_queued) and no sync has succeeded for longer
 * than health_timeout seconds since.
 */
void metrics_init(double health_timeout_sec);

/* A change arrived that the next sync must apply. */
void metrics_change_queued(void);
/* counts for kubeproxy_sync_proxy_rules_{service,endpoint}_changes_total */
void metrics_add_changes(unsigned services, unsigned endpoints);
/* One sync finished: duration in seconds, ok or failed. */
void metrics_sync_done(double duration_sec, int ok);
/* Gauges of what is programmed now. */
void metrics_set_programmed(unsigned services, unsigned endpoints);

/*
 * Health check: fills the kube-proxy JSON body into buf
 * ({"lastUpdated": "...", "currentTime": "...", "nodeEligible": true}),
 * returns 1 healthy, 0 unhealthy.
 */
int metrics_health(char *buf, size_t len);

/* Write the Prometheus text exposition of everything to f. */
void metrics_write(FILE *f);

#endif
