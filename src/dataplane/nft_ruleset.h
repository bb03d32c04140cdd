/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_ruleset.h - the fixed part of svcproxy's table: sets, chains, rules.
 *
 * Everything that depends on Services lives in set elements (nft_render.h);
 * what is built here depends only on the family and the options, plus one
 * lb chain per (kind, endpoint count) that verdict elements jump to. The
 * paths a packet takes through these chains are drawn in nft.h.
 */
#ifndef SVCPROXY_NFT_RULESET_H
#define SVCPROXY_NFT_RULESET_H

#include <stdint.h>

#include "dataplane/nft_layout.h"
#include "dataplane/nft_nl.h"

struct nft_ruleset_cfg {
	int family;               /* AF_INET or AF_INET6 */
	const char *comment;      /* the table comment, by nft_layout_comment() */
	struct nft_layout_opts o; /* what the comment says */
};

/* Add the table, its sets, chains and rules to t (no lb chain). */
void nft_ruleset_put(struct nft_txn *t, const struct nft_ruleset_cfg *c);
/* Delete the table (and everything in it). */
void nft_ruleset_put_del_table(struct nft_txn *t);
/*
 * Add chain <prefix>_<k> of this kind: the DNAT to one of k endpoints
 * (numgen random mod k), for a ClusterIP after a jump to masq_check (and
 * for cipa_<k> the DNAT of a client seen within its affinity timeout), or
 * for LB_AFFINITY the recording of a client's endpoint for k seconds.
 */
void nft_ruleset_put_lb_chain(struct nft_txn *t, enum nft_lb_kind kind, uint32_t k);

#endif
