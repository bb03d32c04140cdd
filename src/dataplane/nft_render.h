/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_render.h - desired state (compile's entries) into set elements, laid
 * out as the kernel holds them (nft_layout.h).
 */
#ifndef SVCPROXY_NFT_RENDER_H
#define SVCPROXY_NFT_RENDER_H

#include <stdint.h>

#include "compile/compile.h"
#include "dataplane/nft_layout.h"

/* Render the entries of ds a table of this scope holds into *out (initialised here). */
void nft_render(enum nft_scope scope, const struct desired *ds, struct nft_sets *out);
/* Does a table of this scope hold entry e? (ALL: every one; ENTERING: nft_layout.h) */
bool nft_scope_serves(enum nft_scope scope, const struct entry *e);
/* The NFT_PATH_* a table of this scope needs for ds (NFT_PATHS_ALL for NFT_SCOPE_ALL). */
unsigned nft_scope_paths(enum nft_scope scope, const struct desired *ds);
/* Add the elements of one entry to out (shared elements counted in its refs). */
void nft_render_entry(int family, const struct entry *e, struct nft_sets *out);
/* The reference count of key in a refs map (nft_sets_refs()), 0 when absent. */
uint32_t nft_refs_get(const struct bytemap *r, const void *key);

#endif
