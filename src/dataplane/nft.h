/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft.h - the nftables dataplane: desired state in, one netlink transaction out.
 *
 * svcproxy owns one table per address family, "svcproxy". Its layout is
 * fixed (base chains, a handful of rules) and everything that depends on
 * Services lives in set and map elements, so a sync is a diff of elements
 * and per-packet work is O(1) whatever the number of Services:
 *
 *   nat prerouting/output --> services:
 *       ip daddr @cluster_ips  goto cluster_ip_path:
 *           source outside --cluster-cidr --> mark for masquerade
 *           affinity, then  ip daddr . l4proto . th dport  vmap @service_ips
 *       external IPs and NodePorts (fib daddr type local): masquerade marks,
 *       eTP=Local short-circuits for pods and the node, then the vmaps
 *       @service_ips / @nodeports  --> goto lb_<k> / np_<k>
 *   lb_<k> (one chain per endpoint count k, shared by all Services):
 *       dnat to ip daddr . l4proto . th dport . numgen random mod k  map @backends
 *   sessionAffinity: ClientIP: a dynamic map @affinity (client . service
 *       address . l4proto . port -> endpoint, with timeouts) consulted before
 *       dispatch, and filled after DNAT by the aff_<seconds> chains.
 *   nat postrouting: hairpin (saddr . daddr @hairpin) and marked traffic masqueraded
 *   filter prerouting after DNAT (and output for the node's own traffic):
 *       new connections still addressed to @no_endpoints are rejected (ICMP
 *       port unreachable), unknown ports of a ClusterIP too, and those a
 *       Local traffic policy leaves without endpoint are dropped. Checking
 *       before routing keeps the verdict independent of the node's routes.
 *
 * Rules referencing a map live in as few chains as possible: the kernel
 * walks a whole map each time a new chain binds it.
 */
#ifndef SVCPROXY_NFT_H
#define SVCPROXY_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"
#include "compile/compile.h"
#include "common/bytemap.h"

#define NFT_TABLE_NAME "svcproxy"
/* the longest key and value of our sets and maps, in bytes */
#define NFT_MAX_KEY   64
#define NFT_MAX_DATA  32
#define NFT_MASQ_MARK 0x4000u

struct nft_dp_opts {
	int family;                       /* AF_INET or AF_INET6 */
	const struct cidr *cluster_cidrs; /* of any family; only this family's are used */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs; /* --nodeport-addresses; none: every local address */
	size_t n_nodeport_cidrs;
	bool masquerade_all;
};

/*
 * The Service-dependent content of the table: one bytemap per kernel set.
 * Keys: A = address, P = l4proto, T = port, S = numgen slot, R = source range.
 */
enum nft_set_id {
	SET_CLUSTER_IPS,         /* A                 ClusterIPs */
	SET_NO_ENDPOINTS,        /* A.P.T             no endpoint: reject */
	SET_DROP_ENDPOINTS,      /* A.P.T             none allowed by a Local policy: drop */
	SET_SERVICE_IPS,         /* A.P.T -> verdict  goto lb_<k> / lbc_<k> */
	SET_SERVICE_IPS_CLUSTER, /* A.P.T -> verdict  eTP=Local, from pods or the node */
	SET_BACKENDS,            /* A.P.T.S -> A.T    what the policy allows */
	SET_BACKENDS_CLUSTER,    /* A.P.T.S -> A.T    every endpoint (eTP=Local short-circuit) */
	SET_EXTERNAL_MASQ,       /* A.P.T             external IPs of eTP=Cluster Services */
	SET_NODEPORTS,           /* P.T -> verdict    goto np_<k> */
	SET_NODEPORTS_CLUSTER,   /* P.T -> verdict    goto npc_<k> */
	SET_NP_BACKENDS,         /* P.T.S -> A.T */
	SET_NP_BACKENDS_CLUSTER, /* P.T.S -> A.T */
	SET_NODEPORT_MASQ,       /* P.T               eTP=Cluster NodePorts */
	SET_NODEPORT_PORTS,      /* P.T               every NodePort (not served: reject) */
	SET_NODEPORT_DROP,       /* P.T               no local endpoint under eTP=Local */
	SET_FIREWALL,            /* A.P.T             LoadBalancer IPs with source ranges */
	SET_FIREWALL_ALLOW,      /* A.P.T.R interval  allowed sources */
	SET_HAIRPIN,             /* A.A               endpoint reaching itself */
	SET_AFFINITY_SERVICES,   /* A.P.T -> verdict  jump aff_<timeout>: sessionAffinity */
	SET_AFFINITY_NODEPORTS,  /* P.T -> verdict    the same for NodePorts */
	SET_SERVICE_PORTS,       /* A.P.T             every ClusterIP / external address:port */
	SET_COUNT
};

struct nft_sets {
	int family;
	char layout[256]; /* the table comment, by nft_read_sets(): layout and options */
	struct bytemap s[SET_COUNT];
	/*
	 * cluster_ips and hairpin elements are shared (by the ports of a
	 * Service, by Services with the same endpoint): how many entries
	 * put each one there, so an incremental sync knows when one goes.
	 */
	struct bytemap refs_cluster_ips, refs_hairpin; /* key -> u32 count */
};

const char *nft_set_name(enum nft_set_id id);

/* Chain families that vmap elements jump to: <prefix>_<k>. */
enum nft_lb_kind {
	LB_SERVICE = 0,
	LB_SERVICE_CLUSTER,
	LB_NODEPORT,
	LB_NODEPORT_CLUSTER,
	LB_AFFINITY, /* aff_<seconds>: records the client's endpoint for that long */
	LB_KINDS
};
/* The chain name prefix of a kind ("lb", ...) and the map its chains DNAT through. */
const char *nft_lb_prefix(enum nft_lb_kind kind);
enum nft_set_id nft_lb_map(enum nft_lb_kind kind);
/* vmap element data: kind << 24 | k */
#define NFT_LB_DATA(kind, k) ((uint32_t)(kind) << 24 | (uint32_t)(k))

struct nft_sync_stats {
	size_t changes; /* element deletions + additions sent */
	size_t chains;  /* lb chains created */
	bool rebuilt;   /* the table was (re)created */
};

struct nft_dp;

/* Open a netlink socket for this family's table. NULL with errno. */
struct nft_dp *nft_dp_open(const struct nft_dp_opts *o);
void nft_dp_close(struct nft_dp *dp);

/*
 * Read what the kernel holds in our table, as the base for the next diff.
 * A table whose layout differs from ours (another version, other options)
 * is marked for rebuild. Returns 0 or -errno; dp is unchanged on error.
 */
int nft_dp_adopt(struct nft_dp *dp);

/*
 * Make the kernel hold exactly ds, in one atomic transaction carrying only
 * the differences from what is programmed. Returns 0 or -errno; on error
 * the kernel is unchanged (the transaction is all or nothing) and so is
 * what dp believes is programmed.
 */
int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st);

/*
 * The ruleset generation of the kernel (NFT_MSG_GETGEN): it changes with
 * every committed transaction, ours or anyone's, on any table. Equal
 * generations mean nothing was changed in between. 0 or -errno.
 */
int nft_dp_genid(struct nft_dp *dp, uint32_t *id);

/*
 * Read the table of this family back from the kernel into *out (which is
 * initialised here). Returns 0, -ENOENT when there is no table, or -errno.
 */
int nft_read_sets(int family, struct nft_sets *out);
void nft_sets_free(struct nft_sets *s);

/* Render ds into bytemaps laid out as the kernel holds them. */
void nft_render(const struct desired *ds, struct nft_sets *out);

/* Print the chains and rules of our table as the kernel holds them. 0 or -errno. */
int nft_show_rules(int family, FILE *f);

/* Delete our table of this family. 0 also when there was none. */
int nft_cleanup(int family);

/* Field layout helpers, shared with show: */
size_t nft_addr_len(int family);
void nft_key_decode(int family, const uint8_t *key, struct ipaddr *addr, uint8_t *proto,
                    uint16_t *port);
/* Decode a P.T key (NodePort sets). */
void nft_np_key_decode(const uint8_t *key, uint8_t *proto, uint16_t *port);

#endif
