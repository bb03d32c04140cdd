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
 *       ip daddr @cluster_ips, source outside --cluster-cidr --> mark for masquerade
 *       ip daddr . l4proto . th dport  vmap @service_ips  --> goto lb_<k>
 *   lb_<k> (one chain per endpoint count k, shared by all Services):
 *       dnat to ip daddr . l4proto . th dport . numgen random mod k  map @backends
 *   nat postrouting: hairpin (saddr . daddr @hairpin) and marked traffic masqueraded
 *   filter forward/output: new connections to @no_endpoints are rejected
 *       (ICMP port unreachable); unknown ports of a ClusterIP too.
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
#include "dataplane/elemset.h"

#define NFT_TABLE_NAME "svcproxy"
#define NFT_MASQ_MARK  0x4000u

struct nft_dp_opts {
	int family; /* AF_INET or AF_INET6 */
	const struct cidr *cluster_cidrs; /* of any family; only this family's are used */
	size_t n_cluster_cidrs;
	bool masquerade_all;
};

/* The Service-dependent content of the table: one elemset per kernel set. */
struct nft_sets {
	struct elemset service_ips;  /* addr . proto . port  ->  u32 k (verdict goto lb_<k>) */
	struct elemset backends;     /* addr . proto . port . slot  ->  addr . port */
	struct elemset no_endpoints; /* addr . proto . port */
	struct elemset cluster_ips;  /* addr */
	struct elemset hairpin;      /* addr . addr */
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
 * what dp believes is programmed.
 */
int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st);

/* What dp believes is programmed (after adopt or a successful sync). */
const struct nft_sets *nft_dp_programmed(const struct nft_dp *dp);

/*
 * Read the table of this family back from the kernel into *out (which is
 * initialised here). Returns 0, -ENOENT when there is no table, or -errno.
 */
int nft_read_sets(int family, struct nft_sets *out);
void nft_sets_free(struct nft_sets *s);

/* Render ds into elemsets laid out as the kernel holds them. */
void nft_render(const struct desired *ds, struct nft_sets *out);

/* Print the chains and rules of our table as the kernel holds them. 0 or -errno. */
int nft_show_rules(int family, FILE *f);

/* Delete our table of this family. 0 also when there was none. */
int nft_cleanup(int family);

/* Field layout helpers, shared with show: */
size_t nft_addr_len(int family);
void nft_key_decode(int family, const uint8_t *key, struct ipaddr *addr, uint8_t *proto,
		    uint16_t *port);

#endif
