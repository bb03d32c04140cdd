/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_read.h - reading svcproxy's table back from the kernel.
 *
 * Nothing here trusts svcproxy's memory: what the kernel holds is decoded
 * with the layout's encodings (nft_layout.h), so a table edited by hand
 * reads back as edited. Dumps interrupted by a concurrent change return
 * -EINTR; the callers restart the whole read.
 */
#ifndef SVCPROXY_NFT_READ_H
#define SVCPROXY_NFT_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane/nft_layout.h"
#include "dataplane/nft_nl.h"

struct nft_table_info {
	bool found;
	char comment[256]; /* the layout text, "" when there is none */
};

/*
 * Read the table of this family back from the kernel into *out (which is
 * initialised here). Returns 0, -ENOENT when there is no table, or -errno.
 */
int nft_read_sets(int family, struct nft_sets *out);

/* Print the chains and rules of our table as the kernel holds them. 0 or -errno. */
int nft_show_rules(int family, FILE *f);

/* Our table of nl's family: found or not (0), or -errno. */
int nft_read_table(struct nft_nl *nl, struct nft_table_info *ti);

/* Which lb chains <prefix>_<k> exist: have[kind][k] != 0. */
struct nft_lb_chains {
	uint8_t *have[LB_KINDS];
	size_t n[LB_KINDS];
};
void nft_lb_chains_mark(struct nft_lb_chains *c, enum nft_lb_kind kind, uint32_t k);
bool nft_lb_chains_has(const struct nft_lb_chains *c, enum nft_lb_kind kind, uint32_t k);
/* Move src into dst (dst freed first); src is left empty. */
void nft_lb_chains_move(struct nft_lb_chains *dst, struct nft_lb_chains *src);
void nft_lb_chains_free(struct nft_lb_chains *c);

/* The lb chains of our table, into *out (emptied first). 0 or -errno. */
int nft_read_lb_chains(struct nft_nl *nl, struct nft_lb_chains *out);
/* The elements of set id (any of SET_ALL) into out, decoded by its data kind. */
int nft_read_elems(struct nft_nl *nl, enum nft_set_id id, struct bytemap *out);
/* Every set of the layout, into *out (initialised here; freed on error). -ENOENT: one is missing.
 */
int nft_read_all_sets(struct nft_nl *nl, struct nft_sets *out);
/* The ruleset generation (NFT_MSG_GETGEN). 0 or -errno. */
int nft_read_genid(struct nft_nl *nl, uint32_t *id);

/*
 * The answer parsers of the reads above (nft_nl_cb): each decodes one
 * message of the kernel's answer into its data, what nft_nl_request()
 * runs them on. Public for the fuzzer, which feeds them hostile answers
 * (tests/fuzz/fuzz_nlreply.c). MNL_CB_OK, or MNL_CB_ERROR.
 */
int nft_read_table_cb(const struct nlmsghdr *nlh, void *ti);     /* struct nft_table_info */
int nft_read_chain_cb(const struct nlmsghdr *nlh, void *chains); /* struct nft_lb_chains */
int nft_read_gen_cb(const struct nlmsghdr *nlh, void *id);       /* uint32_t */
struct nft_read_elems_ctx {
	struct bytemap *s;     /* the set's map: its klen and dlen are the set's */
	enum nft_data_kind dk; /* of the set (nft_set_spec()->data) */
};
int nft_read_elems_cb(const struct nlmsghdr *nlh, void *ctx); /* struct nft_read_elems_ctx */

#endif
