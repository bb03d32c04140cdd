/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ytree.h - one YAML (or JSON) document as a compact tree, built from
 * libyaml's parse events.
 *
 * The decoder reads every document once, key by key, and throws it away:
 * a library's document (a node per item, each malloc'd) would cost more
 * than the parse. A ytree holds the same document in one arena that is
 * reset, not freed, between documents:
 *
 *   scalar   text (copied, NUL-terminated), plain or not, !!str or not
 *   alias    its name, and the node it names (target)
 *   mapping  an array of key/value pairs, in document order
 *   sequence an array of items
 *
 * plus each node's 1-based start line and column for messages. An alias
 * names the latest anchor of its name before it (YAML 1.1 and 1.2); none
 * is a syntax error, as in go-yaml (kubectl's parser). Nesting is limited
 * to 64 collections.
 *
 * libyaml is what kubectl's YAML parser (go-yaml) was ported from: the
 * manifests it accepts are the ones kubectl accepts. JSON is read as YAML
 * (flow style), as kubectl and the API server's YAML decoder read it.
 *
 * Nothing outside ytree.c touches libyaml. Out of memory is fatal
 * (x*alloc).
 */
#ifndef SVCPROXY_YTREE_H
#define SVCPROXY_YTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct yparser;

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
	int line, col; /* 1-based start (a block mapping's: its first key's); 0: unknown */
	size_t len;    /* scalar, alias: text length; mapping: pairs; sequence: items */
	union {
		const char *text;     /* scalar, alias (NUL-terminated; may hold NULs) */
		struct ypair *pairs;  /* mapping */
		struct ynode **items; /* sequence */
	} u;
	struct ynode *target; /* alias: the node it names (not an alias) */
	uintptr_t meta;       /* 0 when the tree is built; scratch for one pass */
};

struct ypair {
	struct ynode *key, *value;
};

/* A syntax error (libyaml's, or the nesting limit): 1-based; 0 when unknown. */
struct yerror {
	int line, col;
	char msg[160];
};

struct ytree;

struct ytree *ytree_new(void);
void ytree_free(struct ytree *t); /* NULL is fine */

/*
 * A stream of documents in text[0..len) (UTF-8, or UTF-16 with a BOM), read
 * in place: text must outlive the parser.
 */
struct yparser *yparser_new(const char *text, size_t len);
void yparser_free(struct yparser *p); /* NULL is fine */

/*
 * Read the next document of p's stream into t, replacing the one before
 * (its nodes are gone; the arena keeps one chunk). Returns 1 with *root
 * set (never NULL), 0 at the end of the stream, -1 on a syntax error,
 * described in *err; after -1, p returns -1 again.
 */
int ytree_next(struct ytree *t, struct yparser *p, struct ynode **root, struct yerror *err);

/* Nodes reached through aliases in a document, at least (more for longer texts). */
#define YTREE_ALIAS_NODES_MIN (1u << 16)

/*
 * What YAML allows but no reader here wants, anywhere under root: a key
 * twice in one mapping (which one would count?), an alias inside the node
 * it names, aliases that expand to more than max(YTREE_ALIAS_NODES_MIN,
 * text_len) nodes (a "billion laughs" document; text_len: the size of the
 * text parsed, one node per byte). 0, or -1 with *err set. Linear in the
 * tree; uses the nodes' meta.
 */
int ytree_check(struct ynode *root, size_t text_len, struct yerror *err);

/* Follow an alias: its target; any other node as is. */
static inline struct ynode *ynode_deref(struct ynode *n)
{
	return n && n->type == YN_ALIAS ? n->target : n;
}

/* The value of key in mapping map (aliases followed), or NULL (no such key, no mapping). */
struct ynode *ynode_get(struct ynode *map, const char *key);

/* For a container built outside a parse (the API source's kind and apiVersion). */
struct ynode *ytree_scalar(struct ytree *t, const char *text, bool plain);
void ytree_map_append(struct ytree *t, struct ynode *map, struct ynode *key, struct ynode *val);

#endif
