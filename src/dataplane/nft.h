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
 *       ip daddr . l4proto . th dport  vmap @cluster_ip_ports  --> goto cip_<k>:
 *           jump masq_check (source outside --cluster-cidr --> mark for masquerade)
 *           [cipa_<k>: affinity first], then the DNAT, as lb_<k>
 *       external IPs and NodePorts (fib daddr type local): masquerade marks,
 *       eTP=Local short-circuits for pods and the node, affinity, then the
 *       vmaps @service_ips / @nodeports  --> goto lb_<k> / np_<k>
 *   lb_<k> (one chain per endpoint count k, shared by all Services):
 *       dnat to ip daddr . l4proto . th dport . numgen random mod k  map @backends
 *   sessionAffinity: ClientIP: a dynamic map @affinity (client . service
 *       address . l4proto . port -> endpoint, with timeouts) consulted before
 *       the DNAT, and filled after it by the aff_<seconds> chains.
 *   nat postrouting: hairpin (saddr . daddr @hairpin) and marked traffic masqueraded
 *   filter prerouting after DNAT (and output for the node's own traffic):
 *       new connections still addressed to @no_endpoints are rejected (ICMP
 *       port unreachable), unknown ports of a ClusterIP too, and those a
 *       Local traffic policy leaves without endpoint are dropped. Checking
 *       before routing keeps the verdict independent of the node's routes.
 *
 * Beside the bpf dataplane (scope NFT_SCOPE_ENTERING, nft_layout.h) the
 * table holds only what the socket programs cannot see - packets entering
 * from elsewhere to NodePorts, externalIPs and LoadBalancer IPs, and SCTP -
 * and only the hooks that needs: none at all without such entries.
 *
 * Rules referencing a map live in as few chains as possible: the kernel
 * walks a whole map each time a new chain binds it.
 *
 * The files, one concern each:
 *   nft_layout.c   the bytes: set table, key/value encodings, lb verdicts, table comment
 *   nft_nl.c       netlink transport: socket, requests, dumps, batches
 *   nft_rule.c     the expression vocabulary of rules (libnftnl)
 *   nft_ruleset.c  the fixed table: sets, chains, rules, lb chains
 *   nft_render.c   desired state into set elements
 *   nft_read.c     the table read back from the kernel
 *   nft.c          the dataplane object and the sync engine (this header)
 */
#ifndef SVCPROXY_NFT_H
#define SVCPROXY_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"
#include "compile/compile.h"
#include "dataplane/nft_layout.h"
#include "dataplane/nft_read.h"
#include "dataplane/nft_render.h"

struct nft_dp_opts {
	int family;                       /* AF_INET or AF_INET6 */
	const struct cidr *cluster_cidrs; /* of any family; only this family's are used */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs; /* --nodeport-addresses; none: every local address */
	size_t n_nodeport_cidrs;
	bool masquerade_all;
	enum nft_scope scope; /* NFT_SCOPE_ALL (0), or ENTERING beside the bpf dataplane */
};

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
 * what dp believes is programmed. Except -ENOBUFS: the kernel's answers
 * were lost and the transaction may have been applied; after any error,
 * nft_dp_adopt() and a full sync make the two agree again.
 */
int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st);

/*
 * The ruleset generation of the kernel (NFT_MSG_GETGEN): it changes with
 * every committed transaction, ours or anyone's, on any table. Equal
 * generations mean nothing was changed in between. 0 or -errno.
 */
int nft_dp_genid(struct nft_dp *dp, uint32_t *id);

/* Delete our table of this family. 0 also when there was none. */
int nft_cleanup(int family);

/*
 * The whole table for ds, as one batch that is not sent: the ruleset,
 * the lb chains and every element, as a first sync would send it. For
 * tests that review the table without a kernel (tests/unit/golden/).
 * *buf is malloc'd.
 */
void nft_build_batch(const struct nft_dp_opts *o, const struct desired *ds, uint8_t **buf,
                     size_t *len);

#endif
