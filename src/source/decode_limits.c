/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_limits.c - what the decoder refuses before decoding anything:
 * text that is too long, holds a NUL or is not UTF-8, and parsed trees
 * with a duplicate key or aliases that expand too far (issue 9: each of
 * these once crashed, hung or misled the daemon).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/utf8.h"
#include "source/decode_int.h"

/*
 * Checked on every document before any of it is decoded, in one pass over
 * its nodes (aliases not followed): no mapping holds a key twice, and the
 * nodes reached through aliases stay within a budget. libfyaml's own
 * duplicate-key check is off (FYPCF_ALLOW_DUPLICATE_KEYS): it compares
 * each key with every earlier one, 28 s for a mapping of 40k keys.
 *
 * An alias costs the size of what it points to, counted once per alias
 * (as a decoder that follows it reads it again), so "billion laughs"
 * documents (lists of aliases of lists of aliases ...) are refused here
 * in time linear in their text. Sizes of anchored nodes are memoised in
 * the node's meta field (size + 2; WALK_BUSY while inside the node,
 * which an alias to its own ancestor would find).
 */
#define WALK_BUSY 1

struct walk {
	const char *origin;
	struct diag *d;
	size_t alias_nodes; /* reached through aliases so far */
	size_t alias_max;
};

static void walk_bad(struct walk *w, struct ynode *at, const char *what)
{
	if (at && (at->type == YN_SCALAR || at->type == YN_ALIAS) && at->line)
		diag_add(w->d, "%s:%d:%d: %s", w->origin, at->line, at->col, what);
	else
		diag_add(w->d, "%s: %s", w->origin, what);
}

struct keyref {
	const char *s;
	size_t len;
	uint64_t h;
};

static bool key_eq(const struct keyref *a, const struct keyref *b)
{
	return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

/*
 * The first key of map equal to an earlier one, or NULL. Keys that are
 * not scalars cannot be written in JSON and are not compared. Pairwise for
 * small mappings, an open-addressing table of indexes for large ones.
 */
static struct ynode *dup_key(struct ynode *map)
{
	size_t n = map->len, cnt = 0, mask = 0;
	struct keyref small[8], *k = n <= 8 ? small : xmalloc(n * sizeof(*k));
	struct ynode *found = NULL;
	size_t *tab = NULL;

	if (n > 8) {
		for (mask = 16; mask < 2 * n; mask *= 2)
			;
		tab = xcalloc(mask--, sizeof(*tab)); /* slot value: index + 1 */
	}
	for (size_t p = 0; !found && p < n; p++) {
		struct ynode *kn = ynode_deref(map->u.pairs[p].key);
		struct keyref r;

		if (!kn || kn->type != YN_SCALAR)
			continue;
		r.s = kn->u.text;
		r.len = kn->len;
		if (!tab) {
			for (size_t i = 0; i < cnt && !found; i++)
				if (key_eq(&k[i], &r))
					found = map->u.pairs[p].key;
			k[cnt++] = r;
			continue;
		}
		r.h = fnv1a(FNV1A_INIT, r.s, r.len);
		for (size_t j = r.h & mask;; j = (j + 1) & mask) {
			if (!tab[j]) {
				k[cnt] = r;
				tab[j] = ++cnt;
				break;
			}
			if (k[tab[j] - 1].h == r.h && key_eq(&k[tab[j] - 1], &r)) {
				found = map->u.pairs[p].key;
				break;
			}
		}
	}
	if (k != small)
		free(k);
	free(tab);
	return found;
}

/* Node count of n with aliases expanded into *size; -EINVAL when refused (reported). */
static int walk_node(struct walk *w, struct ynode *n, size_t *size)
{
	struct ynode *x;
	size_t sub, total = 1;
	uintptr_t meta;
	bool anchored;

	*size = 1;
	if (!n)
		return 0;
	if (n->type == YN_ALIAS) {
		x = n->target;
		if (!x)
			return 0;
		meta = x->meta;
		if (meta == WALK_BUSY) {
			walk_bad(w, n, "an alias may not refer to a node that contains it");
			return -EINVAL;
		}
		if (meta)
			sub = (size_t)(meta - 2);
		else if (walk_node(w, x, &sub))
			return -EINVAL;
		w->alias_nodes += sub;
		if (w->alias_nodes > w->alias_max) {
			char msg[160];

			snprintf(msg, sizeof(msg),
			         "aliases expand to more than %zu nodes: refused (a \"billion "
			         "laughs\" document?)",
			         w->alias_max);
			walk_bad(w, n, msg);
			return -EINVAL;
		}
		*size = sub;
		return 0;
	}
	/*
	 * Every container is busy while it is walked, anchored or not: an alias
	 * can also name a node by path (libfyaml reads "*" then "/" as the root),
	 * and one that leads back into a node being walked would recurse forever.
	 */
	anchored = n->flags & YF_ANCHOR;
	if (n->type != YN_SCALAR)
		n->meta = WALK_BUSY;
	switch (n->type) {
	case YN_SCALAR:
	case YN_ALIAS:
		break;
	case YN_SEQ:
		for (size_t i = 0; i < n->len; i++) {
			if (walk_node(w, n->u.items[i], &sub))
				return -EINVAL;
			total += sub;
		}
		break;
	case YN_MAP:
		if ((x = dup_key(n))) {
			walk_bad(w, x, "duplicate key");
			return -EINVAL;
		}
		for (size_t i = 0; i < n->len; i++) {
			if (walk_node(w, n->u.pairs[i].key, &sub))
				return -EINVAL;
			total += sub;
			if (walk_node(w, n->u.pairs[i].value, &sub))
				return -EINVAL;
			total += sub;
		}
		break;
	}
	/* only anchored nodes can be reached again through an alias: they keep their size */
	if (anchored)
		n->meta = total + 2;
	else if (n->type != YN_SCALAR)
		n->meta = 0;
	*size = total;
	return 0;
}

/*
 * text_len is the size of the text the tree was parsed from: the alias
 * budget grows with it (one node per byte), from a floor that any real use
 * of aliases stays under.
 */
int decode_check_tree(const char *origin, struct ynode *root, size_t text_len, struct diag *d)
{
	struct walk w = {.origin = origin, .d = d, .alias_max = DECODE_ALIAS_NODES_MIN};
	size_t size;

	if (text_len > w.alias_max)
		w.alias_max = text_len;
	return walk_node(&w, root, &size);
}

/* --- text ------------------------------------------------------------------------ */

/* 1-based line and column (in bytes) of offset off in buf */
static void text_pos(const char *buf, size_t off, int *line, int *col)
{
	const char *nl = buf;

	*line = 1;
	for (size_t i = 0; i < off; i++) /* a line ends at "\n", "\r\n" or a lone "\r" */
		if (buf[i] == '\n' || (buf[i] == '\r' && buf[i + 1] != '\n')) {
			(*line)++;
			nl = buf + i + 1;
		}
	*col = (int)(buf + off - nl) + 1;
}

/* Refuse text that is not (all) UTF-8 text, or too long: 0 or -EINVAL (reported). */
int decode_check_text(const char *origin, const char *buf, size_t len, struct diag *d)
{
	const char *nul;
	size_t bad;
	int line, col;

	if (len > DECODE_MAX_BYTES) {
		diag_add(d, "%s: %zu bytes, more than the %u MiB a manifest may have: refused",
		         origin, len, DECODE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	/*
	 * A NUL never belongs in YAML or JSON text; a file of NULs is what a
	 * power loss can leave, and read as "no objects" it would remove every
	 * Service silently. Nothing after one is trusted either.
	 */
	nul = memchr(buf, '\0', len);
	if (nul) {
		text_pos(buf, (size_t)(nul - buf), &line, &col);
		diag_add(d,
		         "%s:%d:%d: NUL byte: refused with all that follows (a truncated or "
		         "corrupt file?)",
		         origin, line, col);
		return -EINVAL;
	}
	bad = utf8_invalid_at((const unsigned char *)buf, len);
	if (bad < len) {
		text_pos(buf, bad, &line, &col);
		diag_add(d, "%s:%d:%d: invalid UTF-8 (manifests must be UTF-8 text)", origin, line,
		         col);
		return -EINVAL;
	}
	bad = yaml_tab_trap_at(buf, len);
	if (bad < len) {
		text_pos(buf, bad, &line, &col);
		diag_add(d,
		         "%s:%d:%d: a tab before a block indicator in a file with an explicit key "
		         "('? '): refused (libfyaml 0.7.12 crashes on it)",
		         origin, line, col);
		return -EINVAL;
	}
	return 0;
}
