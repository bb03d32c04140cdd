/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ytree.c - a document from libyaml's parse events into a compact,
 * arena-allocated tree (see ytree.h).
 *
 * Collections are built with one stack of pending children shared by all
 * open collections: a collection's children are the top of the stack when
 * it ends, and are then copied into the arena as one array. Anchors go into
 * a tree of names (the latest anchor of each name); an alias is resolved
 * when it is read, to the latest anchor of its name so far.
 */
#include "source/ytree.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "common/mem.h"

#define ARENA_CHUNK (16u << 10)
/* collections open at once: the decoder's walks recurse this deep at most */
#define DEPTH_MAX 64

struct chunk {
	struct chunk *next;
	size_t cap;
	max_align_t mem[];
};

struct anchor {
	const char *name;
	size_t len;
	struct ynode *node;
};

struct ytree {
	struct chunk *head;
	size_t used;
	struct ynode **pend; /* children of the open collections */
	size_t n_pend, cap_pend;
	size_t *open; /* per open collection: its index in pend (the node is just below) */
	size_t n_open, cap_open;
	void *anchors; /* tsearch() tree of struct anchor, the latest of each name */
	struct ynode *root;
};

struct yparser {
	yaml_parser_t p;
	const char *text; /* for the place of a reader error (a byte offset) */
	size_t len;
	struct yerror err; /* set once it failed */
	bool failed;
};

/* --- arena ---------------------------------------------------------------------- */

/* Room for size bytes aligned for a pointer (nodes, arrays and text are all there is). */
static void *arena_alloc(struct ytree *t, size_t size)
{
	size_t a = _Alignof(struct ynode);
	struct chunk *ch;
	void *p;

	size = (size + a - 1) / a * a;
	if (!t->head || size > t->head->cap - t->used) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		ch = xmalloc(sizeof(*ch) + cap);
		ch->cap = cap;
		ch->next = t->head;
		t->head = ch;
		t->used = 0;
	}
	p = (char *)t->head->mem + t->used;
	t->used += size;
	return p;
}

/* Forget every node; keep the newest chunk for the next document. */
static void arena_reset(struct ytree *t)
{
	struct chunk *ch = t->head;

	if (!ch)
		return;
	while (ch->next) {
		struct chunk *next = ch->next->next;

		free(ch->next);
		ch->next = next;
	}
	t->used = 0;
}

static const char *arena_text(struct ytree *t, const char *s, size_t len)
{
	char *p = arena_alloc(t, len + 1);

	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static struct ynode *node_new(struct ytree *t, enum ynode_type type)
{
	struct ynode *n = arena_alloc(t, sizeof(*n));

	*n = (struct ynode){.type = (uint8_t)type};
	return n;
}

/* --- the tree's life ---------------------------------------------------------------- */

struct ytree *ytree_new(void)
{
	return xcalloc(1, sizeof(struct ytree));
}

/* tdestroy()'s for the anchor tree: its items live in the arena */
static void no_free(void *p)
{
	(void)p;
}

void ytree_free(struct ytree *t)
{
	if (!t)
		return;
	arena_reset(t); /* all chunks but the newest */
	free(t->head);
	free(t->pend);
	free(t->open);
	tdestroy(t->anchors, no_free);
	free(t);
}

static void doc_reset(struct ytree *t)
{
	arena_reset(t);
	t->n_pend = t->n_open = 0;
	tdestroy(t->anchors, no_free);
	t->anchors = NULL;
	t->root = NULL;
}

/* --- anchors ------------------------------------------------------------------------ */

/*
 * A balanced tree (glibc's tsearch), not a hash table: no choice of
 * anchor names makes a lookup slower than O(log n).
 */
static int anchor_cmp(const void *pa, const void *pb)
{
	const struct anchor *a = pa, *b = pb;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->name, b->name, a->len);
}

/* The node of the latest anchor named name, or NULL. */
static struct ynode *anchor_find(struct ytree *t, const char *name, size_t len)
{
	const struct anchor key = {.name = name, .len = len};
	struct anchor **found = tfind(&key, &t->anchors, anchor_cmp);

	return found ? (*found)->node : NULL;
}

static void anchor_add(struct ytree *t, const yaml_char_t *name, struct ynode *n)
{
	struct anchor *a = arena_alloc(t, sizeof(*a)), **slot;

	n->flags |= YF_ANCHOR;
	a->len = strlen((const char *)name);
	a->name = arena_text(t, (const char *)name, a->len);
	a->node = n;
	slot = tsearch(a, &t->anchors, anchor_cmp);
	if (!slot)
		die_oom();
	*slot = a; /* a later anchor of the same name replaces the earlier one */
}

/* --- events ------------------------------------------------------------------------- */

static void mark(struct ynode *n, const yaml_mark_t *m)
{
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
}

static struct ynode *scalar(struct ytree *t, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	struct ynode *n = node_new(t, YN_SCALAR);

	n->u.text = arena_text(t, (const char *)ev->data.scalar.value, ev->data.scalar.length);
	n->len = ev->data.scalar.length;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		n->flags |= YF_PLAIN;
	if (tag && !strcmp(tag, YAML_STR_TAG)) /* "!!str", its handle resolved */
		n->flags |= YF_STR_TAG;
	mark(n, &ev->start_mark);
	if (ev->data.scalar.anchor)
		anchor_add(t, ev->data.scalar.anchor, n);
	return n;
}

/* NULL for an alias to no anchor before it: an error, as kubectl (go-yaml) has it. */
static struct ynode *alias(struct ytree *t, const yaml_event_t *ev, struct yerror *err)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t len = strlen(name);
	struct ynode *n, *target = anchor_find(t, name, len);

	if (!target) {
		err->line = (int)ev->start_mark.line + 1;
		err->col = (int)ev->start_mark.column + 1;
		snprintf(err->msg, sizeof(err->msg), "unknown anchor '%.100s' referenced", name);
		return NULL;
	}
	n = node_new(t, YN_ALIAS);
	n->len = len;
	n->u.text = arena_text(t, name, len);
	n->target = target;
	mark(n, &ev->start_mark);
	return n;
}

/* A finished node: the document's root, or the next child of the open collection. */
static void complete(struct ytree *t, struct ynode *n)
{
	if (!t->n_open) {
		t->root = n;
		return;
	}
	t->pend = xgrow(t->pend, &t->cap_pend, t->n_pend + 1, sizeof(*t->pend));
	t->pend[t->n_pend++] = n;
}

static int start(struct ytree *t, const yaml_event_t *ev, struct yerror *err)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const yaml_char_t *anchor =
	    map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	struct ynode *n;

	if (t->n_open + 1 >= DEPTH_MAX) {
		err->line = (int)ev->start_mark.line + 1;
		err->col = (int)ev->start_mark.column + 1;
		snprintf(err->msg, sizeof(err->msg), "Max depth (%d) exceeded", DEPTH_MAX);
		return -1;
	}
	n = node_new(t, map ? YN_MAP : YN_SEQ);
	mark(n, &ev->start_mark);
	if (anchor)
		anchor_add(t, anchor, n);
	/* the node sits in pend below its children until it ends */
	t->pend = xgrow(t->pend, &t->cap_pend, t->n_pend + 1, sizeof(*t->pend));
	t->pend[t->n_pend++] = n;
	t->open = xgrow(t->open, &t->cap_open, t->n_open + 1, sizeof(*t->open));
	t->open[t->n_open++] = t->n_pend;
	return 0;
}

static void end(struct ytree *t)
{
	size_t first = t->open[--t->n_open], cnt = t->n_pend - first;
	struct ynode *n = t->pend[first - 1];

	if (n->type == YN_MAP) {
		n->len = cnt / 2;
		n->u.pairs = arena_alloc(t, n->len * sizeof(struct ypair) + 1);
		memcpy(n->u.pairs, t->pend + first, n->len * sizeof(struct ypair));
	} else {
		n->len = cnt;
		n->u.items = arena_alloc(t, cnt * sizeof(struct ynode *) + 1);
		memcpy(n->u.items, t->pend + first, cnt * sizeof(struct ynode *));
	}
	t->n_pend = first - 1;
	complete(t, n);
}

/* --- limits ------------------------------------------------------------------------ */

/*
 * ytree_check(): one pass over the nodes (aliases not followed): no
 * mapping holds a key twice, and the nodes reached through aliases stay
 * within a budget. libyaml, a parser of events, leaves duplicate keys to
 * its reader; they are found here in linear time (comparing each key with
 * every earlier one took 28 s for a mapping of 40k keys).
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
	struct yerror *err;
	size_t alias_nodes; /* reached through aliases so far */
	size_t alias_max;
};

static int walk_bad(struct walk *w, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int walk_bad(struct walk *w, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;

	w->err->line = at ? at->line : 0;
	w->err->col = at ? at->col : 0;
	va_start(ap, fmt);
	vsnprintf(w->err->msg, sizeof(w->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

struct keyref {
	const char *s;
	size_t len;
	size_t pair; /* its index in the mapping */
};

static bool key_eq(const struct keyref *a, const struct keyref *b)
{
	return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

/* By text, then by place: equal keys sort together, the earliest first. */
static int keyref_cmp(const void *pa, const void *pb)
{
	const struct keyref *a = pa, *b = pb;
	int d;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	d = memcmp(a->s, b->s, a->len);
	if (d)
		return d;
	return (a->pair > b->pair) - (a->pair < b->pair);
}

/*
 * The first key of map equal to an earlier one, or NULL; *first: the
 * earlier one. Keys that are not scalars cannot be written in JSON and are
 * not compared. Pairwise for small mappings; sorted for large ones, so no
 * choice of keys (a hash table's colliding ones) makes it slow.
 */
static struct ynode *dup_key(struct ynode *map, struct ynode **first)
{
	struct keyref small[8], *k = map->len <= 8 ? small : xmalloc(map->len * sizeof(*k));
	size_t n = 0, dup = SIZE_MAX, orig = 0;

	for (size_t p = 0; p < map->len; p++) {
		struct ynode *kn = ynode_deref(map->u.pairs[p].key);

		if (kn && kn->type == YN_SCALAR)
			k[n++] = (struct keyref){.s = kn->u.text, .len = kn->len, .pair = p};
	}
	if (k == small) {
		for (size_t j = 1; j < n && dup == SIZE_MAX; j++)
			for (size_t i = 0; i < j && dup == SIZE_MAX; i++)
				if (key_eq(&k[i], &k[j])) {
					dup = k[j].pair;
					orig = k[i].pair;
				}
	} else {
		qsort(k, n, sizeof(*k), keyref_cmp);
		/* in each run of equal keys, the second is the first duplicate */
		for (size_t i = 1; i < n; i++)
			if (key_eq(&k[i - 1], &k[i]) && (i < 2 || !key_eq(&k[i - 2], &k[i])) &&
			    k[i].pair < dup) {
				dup = k[i].pair;
				orig = k[i - 1].pair;
			}
		free(k);
	}
	if (dup == SIZE_MAX)
		return NULL;
	*first = map->u.pairs[orig].key;
	return map->u.pairs[dup].key;
}

/* Node count of n with aliases expanded into *size; -1 when refused (in w->err). */
static int walk_node(struct walk *w, struct ynode *n, size_t *size)
{
	struct ynode *x, *first = NULL;
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
		if (meta == WALK_BUSY)
			return walk_bad(w, n, "an alias may not refer to a node that contains it");
		if (meta)
			sub = (size_t)(meta - 2);
		else if (walk_node(w, x, &sub))
			return -1;
		w->alias_nodes += sub;
		if (w->alias_nodes > w->alias_max)
			return walk_bad(
			    w, n,
			    "aliases expand to more than %zu nodes: refused (a \"billion "
			    "laughs\" document?)",
			    w->alias_max);
		*size = sub;
		return 0;
	}
	/*
	 * Every container is busy while it is walked: an alias that leads back
	 * into a node being walked (its own ancestor) would recurse forever.
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
				return -1;
			total += sub;
		}
		break;
	case YN_MAP:
		if ((x = dup_key(n, &first))) {
			struct ynode *k = ynode_deref(x);

			return walk_bad(w, x, "duplicate key \"%.*s\" (first at line %d)",
			                (int)(k->len < 100 ? k->len : 100), k->u.text, first->line);
		}
		for (size_t i = 0; i < n->len; i++) {
			if (walk_node(w, n->u.pairs[i].key, &sub))
				return -1;
			total += sub;
			if (walk_node(w, n->u.pairs[i].value, &sub))
				return -1;
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

int ytree_check(struct ynode *root, size_t text_len, struct yerror *err)
{
	struct walk w = {.err = err,
	                 .alias_max =
	                     text_len > YTREE_ALIAS_NODES_MIN ? text_len : YTREE_ALIAS_NODES_MIN};
	size_t size;

	return walk_node(&w, root, &size);
}

/* --- the parser ------------------------------------------------------------------------ */

struct yparser *yparser_new(const char *text, size_t len)
{
	struct yparser *p = xcalloc(1, sizeof(*p));

	if (!yaml_parser_initialize(&p->p))
		die_oom(); /* its only failure */
	yaml_parser_set_input_string(&p->p, (const unsigned char *)text, len);
	p->text = text;
	p->len = len;
	return p;
}

void yparser_free(struct yparser *p)
{
	if (!p)
		return;
	yaml_parser_delete(&p->p);
	free(p);
}

/* libyaml's error at the problem's mark: "PROBLEM (while parsing X at line N)". */
static void parse_error(struct yparser *p)
{
	const yaml_parser_t *y = &p->p;
	const char *what = y->problem ? y->problem : "syntax error";

	if (y->error == YAML_MEMORY_ERROR)
		die_oom();
	p->failed = true;
	if (y->error == YAML_READER_ERROR) { /* a control character, bad UTF-8: a byte offset */
		size_t off = y->problem_offset < p->len ? y->problem_offset : p->len;
		const char *nl = NULL;

		p->err.line = 1;
		for (const char *c = p->text; (c = memchr(c, '\n', (size_t)(p->text + off - c)));
		     nl = c++)
			p->err.line++;
		p->err.col = (int)(off - (nl ? (size_t)(nl + 1 - p->text) : 0)) + 1;
		snprintf(p->err.msg, sizeof(p->err.msg), "%s (0x%02x)", what,
		         (unsigned)y->problem_value);
		return;
	}
	p->err.line = (int)y->problem_mark.line + 1;
	p->err.col = (int)y->problem_mark.column + 1;
	if (y->context)
		snprintf(p->err.msg, sizeof(p->err.msg), "%s (%s at line %zu)", what, y->context,
		         y->context_mark.line + 1);
	else
		snprintf(p->err.msg, sizeof(p->err.msg), "%s", what);
}

int ytree_next(struct ytree *t, struct yparser *p, struct ynode **root, struct yerror *err)
{
	struct ynode *n;
	yaml_event_t ev;
	int ret = 0;

	*root = NULL;
	for (;;) {
		if (p->failed) {
			*err = p->err;
			return -1;
		}
		if (!yaml_parser_parse(&p->p, &ev)) {
			parse_error(p);
			continue;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			doc_reset(t);
			break;
		case YAML_DOCUMENT_END_EVENT:
			ret = t->root ? 1 : 0;
			break;
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_SCALAR_EVENT:
			complete(t, scalar(t, &ev));
			break;
		case YAML_ALIAS_EVENT:
			if ((n = alias(t, &ev, &p->err)))
				complete(t, n);
			else
				p->failed = true;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (start(t, &ev, &p->err) < 0)
				p->failed = true;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (t->n_open)
				end(t);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (ret > 0) {
			*root = t->root;
			return 1;
		}
	}
}

/* --- reading ------------------------------------------------------------------------- */

/*
 * Keys are compared in place: the pairs are an array, and each key's text
 * and length are at hand.
 */
struct ynode *ynode_get(struct ynode *map, const char *key)
{
	size_t len = strlen(key);

	map = ynode_deref(map);
	if (!map || map->type != YN_MAP)
		return NULL;
	for (size_t i = 0; i < map->len; i++) {
		const struct ynode *k = ynode_deref(map->u.pairs[i].key);

		if (k && k->type == YN_SCALAR && k->len == len && !memcmp(k->u.text, key, len))
			return ynode_deref(map->u.pairs[i].value);
	}
	return NULL;
}

/* --- built by hand -------------------------------------------------------------------- */

struct ynode *ytree_scalar(struct ytree *t, const char *text, bool plain)
{
	struct ynode *n = node_new(t, YN_SCALAR);

	n->len = strlen(text);
	n->u.text = arena_text(t, text, n->len);
	n->flags = plain ? YF_PLAIN : 0;
	n->line = n->col = 1;
	return n;
}

void ytree_map_append(struct ytree *t, struct ynode *map, struct ynode *key, struct ynode *val)
{
	struct ypair *pairs = arena_alloc(t, (map->len + 1) * sizeof(*pairs));

	memcpy(pairs, map->u.pairs, map->len * sizeof(*pairs));
	pairs[map->len++] = (struct ypair){key, val};
	map->u.pairs = pairs;
}
