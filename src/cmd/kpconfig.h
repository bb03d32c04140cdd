/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kpconfig.h - kube-proxy's configuration file, KubeProxyConfiguration
 * (kubeproxy.config.k8s.io/v1alpha1), YAML or JSON, as `--config FILE`.
 *
 * The decoder follows kube-proxy's own loading (cmd/kube-proxy/app/
 * options.go, pkg/proxy/apis/config/v1alpha1):
 *
 *   what the file has              what happens
 *   -----------------------------  -------------------------------------------
 *   a field svcproxy uses          decoded, checked, defaulted as kube-proxy
 *   a field for other proxy modes  accepted silently (iptables.*, ipvs.*,
 *   or client tuning               winkernel.*, clientConnection.qps, ...)
 *   a field svcproxy cannot honour accepted with a warning (featureGates,
 *                                  enableProfiling: true, oomScoreAdj)
 *   an unknown field               a warning naming file, line and field path
 *                                  (kube-proxy's lenient decoding, logged)
 *   a wrong type or a bad value    an error naming file, line and field path
 *   mode other than "" / nftables  an error: svcproxy is an nftables proxy
 *   detectLocalMode other than     an error: only ClusterCIDR is implemented
 *   "" / ClusterCIDR
 *
 * The mode picks the section, as kube-proxy's conversion does: "nftables"
 * reads nftables.{syncPeriod,minSyncPeriod,masqueradeAll,masqueradeBit},
 * "" (kube-proxy's iptables default) reads the same fields of iptables.
 * null is "not set", as in Go's JSON decoding.
 */
#ifndef SVCPROXY_KPCONFIG_H
#define SVCPROXY_KPCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/duration.h"
#include "source/diag.h"

#define KPCONFIG_API_VERSION "kubeproxy.config.k8s.io/v1alpha1"
#define KPCONFIG_KIND        "KubeProxyConfiguration"

/* conntrack.*: what the file set explicitly; -1 (or false) is "not set". */
struct kp_conntrack {
	int64_t max_per_core;
	int64_t min;
	double tcp_established; /* seconds */
	double tcp_close_wait;
	double udp;
	double udp_stream;
	bool tcp_be_liberal;
};

/* The decoded file with kube-proxy's defaults filled in. Strings owned. */
struct kpconfig {
	char *kubeconfig;           /* clientConnection.kubeconfig, NULL if "" */
	char *hostname;             /* hostnameOverride, lower-cased, NULL if "" */
	char *healthz_addr;         /* IP:PORT, default 0.0.0.0:10256 ([::]:10256) */
	char *metrics_addr;         /* IP:PORT, default 127.0.0.1:10249 ([::1]:10249) */
	struct ipaddr bind_address; /* family 0 when unset or 0.0.0.0 / :: */
	bool nftables_mode;         /* mode: nftables (else "") */
	struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	/* nodePortAddresses: CIDRs ('all' expanded) and the 'primary' keyword */
	struct cidr *nodeport_cidrs;
	size_t n_nodeport_cidrs;
	bool nodeport_primary;
	bool nodeport_set; /* the list was given (not empty) */
	bool masquerade_all;
	double sync_period;     /* seconds, > 0; default 30 */
	double min_sync_period; /* seconds, >= 0; default 1 */
	int verbosity;          /* logging.verbosity, -1 if not set */
	int log_json;           /* logging.format: 1 json, 0 text, -1 not set */
	struct kp_conntrack ct;
};

/*
 * Decode buf (len bytes) read from origin. Returns 0 with *out filled (free
 * with kpconfig_free), or -EINVAL with nothing to free: the errors are in
 * errs. Warnings go to warns either way. Every message starts with
 * "origin:line:" and names the field path, e.g. "nftables.syncPeriod".
 */
int kpconfig_decode(const char *origin, const char *buf, size_t len, struct kpconfig *out,
                    struct diag *errs, struct diag *warns);

/* Read path and decode it; an unreadable file is an error in errs (-errno). */
int kpconfig_load(const char *path, struct kpconfig *out, struct diag *errs, struct diag *warns);

void kpconfig_free(struct kpconfig *c); /* accepts a zeroed config */

#endif
