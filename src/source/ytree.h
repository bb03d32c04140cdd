/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ytree.h - one YAML (or JSON) document as a compact tree, built from
 * libfyaml's parse events.
 *
 * The decoder reads every document once, key by key, and throws it away:
 * libfyaml's own document (a node, a pair and a token per item, each
 * malloc'd, its text formatted again on every read) cost more than the
 * parse itself. A ytree holds the same document in one arena that is
 * reset, not freed, between documents:
 *
 *   scalar   text (copied, NUL-terminated), plain or not, !!str or not
 *   alias    its name, and the node it names (target)
 *   mapping  an array of key/value pairs, in document order
 *   sequence an array of items
 *
 * plus each node's 1-based start line and column for messages. Aliases
 * resolve as libfyaml 0.7.12's fy_node_resolve_alias() does (a unique
 * anchor, even a later one; of several, the last one before the alias; a
 * name with '/' as a path), except that paths through other path aliases
 * or with quoted, escaped or flow components lead nowhere. Nesting is
 * limited as libfyaml's document builder limits it, with its message.
 *
 * Nothing outside ytree.c touches libfyaml's nodes. Out of memory is
 * fatal (x*alloc).
 */
#ifndef SVCPROXY_YTREE_H
#define SVCPROXY_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fy_parser;

enum ynode_type {
	YN_SCALAR,
	YN_ALIAS,
	YN_MAP,
	YN_SEQ,
};

#define YF_PLAIN   0x01 /* scalar: plain style (not quoted, not a block scalar) */
#define YF_STR_TAG 0x02 /* scalar: tagged !!str */
#define YF_ANCHOR  0x04 /* carries an anchor */

struct ypair;

struct ynode {
	uint8_t type;  /* enum ynode_type */
	uint8_t flags; /* YF_* */
	uint8_t user;  /* 0 when the tree is built; free for the reader (a cache) */
	int line, col; /* 1-based start of the scalar's or alias's text; 0: unknown */
	size_t len;    /* scalar, alias: text length; mapping: pairs; sequence: items */
	union {
		const char *text;     /* scalar, alias (NUL-terminated; may hold NULs) */
		struct ypair *pairs;  /* mapping */
		struct ynode **items; /* sequence */
	} u;
	struct ynode *target; /* alias: the node named, aliases followed; NULL: none */
	uintptr_t meta;       /* 0 when the tree is built; scratch for one pass */
};

struct ypair {
	struct ynode *key, *value;
};

/* A syntax error found by ytree itself (libfyaml's are in its diag): 1-based. */
struct yerror {
	int line, col;
	char msg[64];
};

struct ytree;

struct ytree *ytree_new(void);
void ytree_free(struct ytree *t); /* NULL is fine */

/*
 * Read the next document of p's stream into t, replacing the one before
 * (its nodes are gone; the arena keeps one chunk). Returns 1 with *root
 * set (never NULL), 0 at the end of the stream or when libfyaml stopped
 * (the caller asks libfyaml whether it saw an error), -1 on an error of
 * ytree's own, described in *err.
 */
int ytree_next(struct ytree *t, struct fy_parser *p, struct ynode **root, struct yerror *err);

/* Follow an alias: its target (NULL when dangling); any other node as is. */
static inline struct ynode *ynode_deref(struct ynode *n)
{
	return n && n->type == YN_ALIAS ? n->target : n;
}

/* For a container built outside a parse (the API source's kind and apiVersion). */
struct ynode *ytree_scalar(struct ytree *t, const char *text, bool plain);
void ytree_map_append(struct ytree *t, struct ynode *map, struct ynode *key, struct ynode *val);

#endif
