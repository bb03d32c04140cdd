/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * trace.h - the walk behind `svcproxy trace`, for tests: what the kernel
 * does with a new connection, from svcproxy's sets read back (or
 * rendered), hop by hop. Each hop that a chain of the ruleset makes names
 * that chain (on_chain), in the order the packet meets them.
 */
#ifndef SVCPROXY_TRACE_H
#define SVCPROXY_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/addr.h"
#include "dataplane/nft_layout.h"

struct trace {
	struct nft_sets s; /* the table's sets; s.layout its comment */
	struct ipaddr src, dst;
	uint8_t proto;
	uint16_t port;
	bool from_node, to_node;                        /* src / dst is an address of this node */
	FILE *out;                                      /* where the hops are printed */
	void (*on_chain)(void *ctx, const char *chain); /* NULL, or told each chain */
	void *ctx;
	/* set by trace_walk() */
	size_t al;
	int hop;
	struct nft_layout_parsed opts; /* the options, from the table comment */
};

/* Walk t (sets, addresses, out filled in) and print the hops. Returns 0. */
int trace_walk(struct trace *t);

#endif
