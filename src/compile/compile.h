/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compile.h - which endpoints serve which virtual address, per policy.
 *
 * compile() turns a model snapshot into the dataplane-neutral desired state:
 * a list of entries, one per virtual (address, protocol, port) a packet can
 * be sent to, each with the ordered list of backends (PodIP:targetPort)
 * that may receive it. It knows Kubernetes semantics and nothing about
 * nftables; the dataplane knows nftables and nothing about Kubernetes.
 *
 * Endpoint selection, as kube-proxy does it:
 *  - a Service port takes the endpoints of the EndpointSlices labelled
 *    with the Service's name whose port has the same name and protocol
 *    (per slice: if that slice has no port of that name and the targetPort
 *    is a name, its port named like the targetPort is used instead);
 *  - ready endpoints; when none is ready, the serving and terminating
 *    ones (ProxyTerminatingEndpoints);
 *  - duplicates (the same address:port in several slices) count once;
 *  - topology: when every ready endpoint has a zone hint (hints.forZones;
 *    with trafficDistribution PreferClose/PreferSameZone an endpoint's own
 *    zone stands for a missing hint) and one is hinted for this node's zone
 *    (its v1 Node's topology.kubernetes.io/zone label), cluster traffic
 *    goes to the endpoints hinted for that zone only.
 * Headless, ExternalName, service-proxy-name-labelled Services and
 * Services without a cluster IP are skipped. Entries: one per port for
 * the ClusterIP, each external IP and LoadBalancer ingress IP
 * (type LoadBalancer only), and the nodePort (types NodePort and
 * LoadBalancer).
 */
#ifndef SVCPROXY_COMPILE_H
#define SVCPROXY_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "model/model.h"
#include "source/diag.h"

struct compile_opts {
	const char *hostname; /* this node's name (--hostname-override) */
	int family;           /* AF_INET: only this family's addresses are compiled */
	/*
	 * This node's addresses: a Service with a ClusterIP among them is
	 * refused (reported in d, nothing compiled), since it would capture
	 * every port of the node. May be none.
	 */
	const struct ipaddr *node_addrs;
	size_t n_node_addrs;
	/*
	 * --cluster-cidr, of any family (may be none). Every pod of this node
	 * has an address in them: an endpoint with no nodeName outside them
	 * (a backend outside the cluster) is known not to be one (backend.remote).
	 */
	const struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
};

struct backend {
	struct ipaddr addr;
	uint16_t port;
	bool local; /* on this node */
	/*
	 * Not a pod of this node: nodeName names another node, or there is no
	 * nodeName and the address is outside compile_opts.cluster_cidrs (no
	 * nodeName and no cluster CIDRs: neither local nor remote).
	 */
	bool remote;
};

enum entry_kind {
	ENTRY_CLUSTER_IP = 0,
	ENTRY_EXTERNAL,  /* spec.externalIPs and status.loadBalancer.ingress[].ip */
	ENTRY_NODE_PORT, /* addr unset (family 0): every node address */
};

/*
 * One virtual address:port/protocol and where its traffic goes.
 *
 * backends are the endpoints the traffic policy allows for this entry:
 * all of them, or only this node's for internalTrafficPolicy: Local
 * (ClusterIP) and externalTrafficPolicy: Local (external, NodePort).
 * n_all counts all usable endpoints, so "no backend" can be told apart:
 *   n_all == 0                   no endpoint at all: reject
 *   n_backends == 0, n_all > 0   none local under a Local policy: drop
 * For externalTrafficPolicy: Local, all_backends are every endpoint:
 * traffic from pods and from the node itself short-circuits to them, as
 * kube-proxy does.
 */
struct entry {
	enum entry_kind kind;
	struct ipaddr addr;
	uint8_t proto;
	uint16_t port;
	char *label;              /* "ns/name:portname" (or "ns/name" for an unnamed port) */
	struct backend *backends; /* sorted by address, then port; may be empty */
	size_t n_backends;
	size_t n_all;
	struct backend *all_backends; /* only for etp_local entries; else NULL */
	size_t n_all_backends;
	bool etp_local;  /* external/NodePort entry of an externalTrafficPolicy: Local Service */
	bool masquerade; /* external/NodePort entry of an externalTrafficPolicy: Cluster Service */
	uint32_t affinity_timeout;  /* sessionAffinity: ClientIP timeout in seconds; 0: none */
	struct cidr *source_ranges; /* LoadBalancer IPs only */
	size_t n_source_ranges;
};

/* A healthCheckNodePort server to run (externalTrafficPolicy: Local Services). */
struct health_check {
	char *ns, *name;
	uint16_t port;
	size_t local_endpoints;
};

struct entry_block;

/* The order of desired.entries: address (NodePorts, with none, first), protocol, port. */
int entry_cmp(const struct entry *a, const struct entry *b);

/*
 * entries[] are shallow copies of entries owned by per-Service blocks,
 * which the desired state holds references to: an entry's pointers (label,
 * backends) stay valid as long as a desired state containing it lives, and
 * an unchanged Service keeps the very same entry objects from one compile
 * to the next (compare label pointers to know).
 *
 * A compiled state's arrays are shared by its copies (desired_copy()),
 * counted in *refs: keeping the state of the last sync costs no copy of
 * its 10k entries. So its entries may be changed (node_local_filter())
 * only before the state is copied. The compiler holds a reference of its
 * own to its last outputs (to build a later output on their arrays once
 * no one else holds them), but reads none of their entries. A state built
 * by hand has no refs: it owns its arrays, and a copy of it copies them.
 */
struct desired {
	int family;
	unsigned *refs; /* the shared arrays' holders; NULL: not shared */
	struct entry_block **blocks;
	size_t n_blocks;
	struct entry *entries; /* sorted by kind group, address, protocol, port */
	size_t n_entries;
	struct health_check *health_checks;
	size_t n_health_checks;
	size_t n_services; /* Services with an address of this family */
};

/*
 * Compile m into *out (which must be zeroed or freshly freed). Conflicts
 * (two Services claiming the same address:port/protocol) keep the first
 * by namespace/name order and are reported in d. Returns 0 (out of memory
 * aborts, as everywhere in the daemon).
 */
int compile(const struct model *m, const struct compile_opts *o, struct desired *out,
            struct diag *d);
void desired_free(struct desired *ds);
/*
 * Another holder of the same state: its arrays shared when it was
 * compiled, else copied (the entries are shallow copies either way).
 */
void desired_copy(struct desired *dst, const struct desired *src);

/*
 * The incremental compiler: it caches each Service's entries and reuses
 * them while the Service and its EndpointSlices are the same objects (by
 * generation number), so a sync costs O(changed Services) plus a sort of
 * the entries. compile() is compile_with() on a fresh compiler.
 */
struct compiler;
struct compiler *compiler_new(void);
void compiler_free(struct compiler *c);
int compile_with(struct compiler *c, const struct model *m, const struct compile_opts *o,
                 struct desired *out, struct diag *d);
/*
 * After compile_with(c, m, ...): fn for every slice of m that may be new
 * since c's last compile: the few that changed when m was a small change
 * of the last view, else all of them (tell by gen which are new).
 */
void compiler_new_slices(const struct compiler *c, const struct model *m,
                         void (*fn)(const struct endpoint_slice *e, void *arg), void *arg);

#endif
