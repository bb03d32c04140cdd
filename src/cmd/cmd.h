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

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct options {
	const char **manifests; /* --manifests; exclusive with the API source */
	size_t n_manifests;
	const char *kubeconfig; /* --kubeconfig: the Kubernetes API source */
	const char *master;     /* --master: overrides the kubeconfig's server */
	const char *hostname;
	struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	struct cidr *nodeport_cidrs; /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
	bool masquerade_all;
	double min_sync_period; /* seconds */
	double sync_period;     /* seconds */
	const char *healthz_addr;
	const char *metrics_addr;
};

int cmd_run(const struct options *o, bool once);
int cmd_check(const struct options *o);
int cmd_show(const char *what);
int cmd_cleanup(void);
/* proto: "tcp", "udp", "sctp" or NULL (tcp) */
int cmd_trace(const char *src, const char *dst, const char *proto);

#endif
