/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nodelocal.h - what this node already has that Services must not take over.
 *
 * A Service address that is also the node's own would capture traffic
 * meant for the node's processes:
 *  - a ClusterIP equal to a node address: every port of the node (sshd on
 *    2222 was rejected as "a port of a ClusterIP without endpoints");
 *    compile refuses such a Service (compile_opts.node_addrs);
 *  - a NodePort, or an externalIP:port on a node address, that a process
 *    of the node already listens on: that process's traffic. Such entries
 *    are left out of what is programmed (node_local_filter()), as
 *    kube-proxy skips a NodePort it cannot open, and reported.
 *
 * Read in the caller's network namespace: the node's.
 */
#ifndef SVCPROXY_NODELOCAL_H
#define SVCPROXY_NODELOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "compile/compile.h"
#include "source/diag.h"

struct listener {
	struct ipaddr addr; /* family set, all-zero bytes: every address */
	uint8_t proto;      /* L4_TCP (listening) or L4_UDP (bound, unconnected) */
	uint16_t port;
};

struct node_local {
	struct ipaddr *addrs; /* every address of every interface, loopback too */
	size_t n_addrs;
	struct listener *listeners; /* other processes' sockets: svcproxy's own are left out */
	size_t n_listeners;
};

/* The node's addresses (getifaddrs). 0 or -errno; nl->addrs unchanged on error. */
int node_local_read_addrs(struct node_local *nl);
/*
 * The TCP listening and UDP bound sockets of the node (sock_diag, filtered
 * in the kernel), but this process's own (held NodePorts, health servers).
 * 0 or -errno; nl->listeners unchanged on error.
 */
int node_local_read_listeners(struct node_local *nl);
void node_local_free(struct node_local *nl);

bool node_local_has_addr(const struct node_local *nl, const struct ipaddr *a);

/*
 * The node addresses NodePorts are served on: those of nl inside one of
 * cidrs[0..n) (--nodeport-addresses; none: every address), never loopback
 * (127.0.0.0/8, ::1), as kube-proxy's nftables mode and svcproxy's rules
 * (CVE-2020-8558). For the bpf dataplane, which needs them listed; the
 * rules ask the kernel (fib daddr type local). *out is malloc'd (NULL when
 * none); returns the count.
 */
size_t node_local_nodeport_addrs(const struct node_local *nl, const struct cidr *cidrs, size_t n,
                                 struct ipaddr **out);

/*
 * Remove from ds the entries that would capture a node process's port: a
 * NodePort entry whose protocol/port a process listens on (any address),
 * and an external entry on a node address whose port a process listens on
 * (on that address or on every address). One message each in d, naming
 * the Service port. The entries' memory stays with their blocks.
 */
void node_local_filter(const struct node_local *nl, struct desired *ds, struct diag *d);

#endif
