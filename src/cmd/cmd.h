/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd.h - the commands of the svcproxy binary and their shared options.
 *
 * Exit status everywhere: 0 success, 1 runtime failure, 2 bad usage or
 * invalid input (SPEC §4).
 */
#ifndef SVCPROXY_CMD_H
#define SVCPROXY_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/addr.h"
#include "source/decode.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct options {
	const char **manifests; /* --manifests; exclusive with the API source */
	size_t n_manifests;
	const char *kubeconfig; /* --kubeconfig: the Kubernetes API source */
	const char *master;     /* --master: overrides the kubeconfig's server */
	/* no source given, KUBERNETES_SERVICE_HOST set: the API with the Pod's
	 * service-account credentials (kube-proxy's in-cluster default) */
	bool in_cluster;
	const char *hostname;
	struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	struct cidr *nodeport_cidrs; /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
	bool nodeport_primary;      /* 'primary' in --nodeport-addresses */
	struct ipaddr bind_address; /* --bind-address: the primary IP; family 0 if unset */
	bool masquerade_all;
	double min_sync_period; /* seconds */
	double sync_period;     /* seconds */
	const char *healthz_addr;
	const char *metrics_addr;
	const char *config; /* --config: kube-proxy's KubeProxyConfiguration file */
	/* --service-node-port-range, --external-ip-cidrs (in external_ip_cidrs, owned) */
	struct decode_opts decode;
	struct cidr *external_ip_cidrs;
	bool dataplane_bpf;       /* --dataplane bpf: socket programs, nftables alongside */
	const char *cgroup_root;  /* --cgroup-root; NULL: the cgroup v2 mount */
	const char *bpf_pin_path; /* --bpf-pin-path; NULL: /sys/fs/bpf/svcproxy */
};

struct kpconfig;
struct kp_conntrack;

/*
 * options.c: settings that need the node. 'primary' in --nodeport-addresses
 * becomes this node's primary IPs (added to o->nodeport_cidrs): the
 * --bind-address for its family, else the source address the kernel picks
 * for the default route. Never fails; what it could not find is logged.
 */
void nodeport_resolve_primary(struct options *o);
/* conntrack.* of --config that the file set: written to the sysctls, as
 * kube-proxy does; a failure is a warning. */
void conntrack_apply_config(const struct kp_conntrack *ct);
/*
 * svcproxy run --config FILE: when FILE's content changes, log it and
 * send SIGTERM to the calling (main) thread, as kube-proxy exits on a
 * changed config file; the DaemonSet restarts the Pod, which reads the new
 * file. Call from the thread that handles SIGTERM.
 */
void config_watch_start(const char *path);
/* svcproxy check --config: print what svcproxy takes from the file. */
int config_print(const struct options *o, const struct kpconfig *kc);

int cmd_run(const struct options *o, bool once);
int cmd_check(const struct options *o);
int cmd_show(const char *what, const struct options *o);
int cmd_cleanup(const struct options *o);
/* kpcleanup.c: remove kube-proxy's nftables tables and iptables chains */
int cmd_cleanup_kube_proxy(void);
/* proto: "tcp", "udp", "sctp" or NULL (tcp) */
int cmd_trace(const char *src, const char *dst, const char *proto, const char *bpf_pin_path);

#endif
