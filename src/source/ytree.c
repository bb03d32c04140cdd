/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ytree.c - a document from libfyaml's parse events into a compact,
 * arena-allocated tree (see ytree.h).
 *
 * Collections are built with one stack of pending children shared by all
 * open collections: a collection's children are the top of the stack when
 * it ends, and are then copied into the arena as one array. Anchors go into
 * a table (a hash of names to the latest anchor of each name); aliases are
 * resolved when the document ends, since a unique anchor may follow its
 * alias.
 */
#include "source/ytree.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "common/hash.h"
#include "common/mem.h"

#define ARENA_CHUNK (16u << 10)
/* libfyaml's document builder: FYPCF_GUARANTEED_MINIMUM_DEPTH_LIMIT contexts */
#define DEPTH_MAX 64
/* libfyaml's FYNWF_MAX_USER_MARKER: alias paths followed from inside one another */
#define PATH_DEPTH_MAX 24

struct chunk {
	struct chunk *next;
	size_t cap;
	max_align_t mem[];
};

struct anchor {
	const char *name;
	size_t len;
	struct ynode *node;
	size_t count; /* anchors of this name so far, this one included */
};

struct alias {
	struct ynode *node;
	size_t cand;       /* index + 1 of the latest anchor of its name before it; 0: none */
	struct ynode *one; /* one step: the node named, maybe another alias */
	uint8_t state;     /* resolving one step: 0 not yet, 1 in progress, 2 done */
	uint8_t final;     /* target: 0 not yet, 1 on the current chain, 2 done */
};

struct ytree {
	struct chunk *head;
	size_t used;
	struct ynode **pend; /* children of the open collections */
	size_t n_pend, cap_pend;
	size_t *open; /* per open collection: its index in pend (the node is just below) */
	size_t n_open, cap_open;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t *htab; /* index + 1 in anchors of the latest anchor of a name; 0: empty */
	size_t hmask; /* capacity - 1 */
	struct alias *aliases;
	size_t n_aliases, cap_aliases;
	struct ynode *root;
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

void ytree_free(struct ytree *t)
{
	if (!t)
		return;
	arena_reset(t); /* all chunks but the newest */
	free(t->head);
	free(t->pend);
	free(t->open);
	free(t->anchors);
	free(t->htab);
	free(t->aliases);
	free(t);
}

static void doc_reset(struct ytree *t)
{
	arena_reset(t);
	t->n_pend = t->n_open = 0;
	if (t->n_anchors)
		memset(t->htab, 0, (t->hmask + 1) * sizeof(*t->htab));
	t->n_anchors = t->n_aliases = 0;
	t->root = NULL;
}

/* --- anchors and aliases ------------------------------------------------------------ */

/* The slot of name in the hash table: its entry, or the empty slot for it. */
static size_t *anchor_slot(struct ytree *t, const char *name, size_t len)
{
	size_t j = (size_t)fnv1a(FNV1A_INIT, name, len) & t->hmask;

	for (;; j = (j + 1) & t->hmask) {
		const struct anchor *a = t->htab[j] ? &t->anchors[t->htab[j] - 1] : NULL;

		if (!a || (a->len == len && !memcmp(a->name, name, len)))
			return &t->htab[j];
	}
}

/* The latest anchor named name, or NULL. */
static const struct anchor *anchor_find(struct ytree *t, const char *name, size_t len)
{
	size_t *slot;

	if (!t->n_anchors)
		return NULL;
	slot = anchor_slot(t, name, len);
	return *slot ? &t->anchors[*slot - 1] : NULL;
}

static void anchor_add(struct ytree *t, struct fy_token *tok, struct ynode *n)
{
	size_t len = 0, *slot;
	const char *s = fy_token_get_text(tok, &len);
	struct anchor *a;

	n->flags |= YF_ANCHOR;
	if ((t->n_anchors + 1) * 2 > t->hmask) { /* keep the table at most half full */
		size_t old = t->hmask ? t->hmask + 1 : 0;

		t->hmask = old ? old * 2 - 1 : 63;
		free(t->htab);
		t->htab = xcalloc(t->hmask + 1, sizeof(*t->htab));
		for (size_t i = 0; i < t->n_anchors; i++) {
			a = &t->anchors[i];
			slot = anchor_slot(t, a->name, a->len);
			if (!*slot || t->anchors[*slot - 1].count < a->count)
				*slot = i + 1;
		}
	}
	t->anchors = xgrow(t->anchors, &t->cap_anchors, t->n_anchors + 1, sizeof(*t->anchors));
	a = &t->anchors[t->n_anchors];
	a->name = arena_text(t, s ? s : "", s ? len : 0);
	a->len = s ? len : 0;
	a->node = n;
	slot = anchor_slot(t, a->name, a->len);
	a->count = *slot ? t->anchors[*slot - 1].count + 1 : 1;
	*slot = ++t->n_anchors;
}

static struct ynode *step(struct ytree *t, struct ynode *n, int depth);
static struct ynode *by_path(struct ytree *t, struct ynode *n, const char *s, const char *e,
                             int depth);

/*
 * One step of alias n (as libfyaml's fy_node_follow_alias()): maybe another
 * alias. depth counts the paths being followed, each from inside another:
 * libfyaml follows at most PATH_DEPTH_MAX.
 */
static struct ynode *step(struct ytree *t, struct ynode *n, int depth)
{
	struct alias *al;
	const struct anchor *a;
	const char *s, *e, *p = NULL;

	if (!n || n->type != YN_ALIAS)
		return n;
	al = &t->aliases[n->meta];
	if (al->state == 2)
		return al->one;
	if (al->state == 1)
		return NULL; /* a path that leads through itself */
	s = n->u.text;
	e = s + n->len;
	a = anchor_find(t, s, n->len);
	if (!a && (p = memchr(s, '/', n->len)) && depth >= PATH_DEPTH_MAX)
		return NULL; /* not remembered: from less deep, it may lead somewhere */
	al->state = 1;
	if (a && a->count == 1)
		al->one = a->node;
	else if (a)
		al->one = al->cand ? t->anchors[al->cand - 1].node : a->node;
	else if (p && p > s)
		al->one = (a = anchor_find(t, s, (size_t)(p - s)))
		              ? by_path(t, a->node, p + 1, e, depth + 1)
		              : NULL;
	else if (p)
		al->one = by_path(t, t->root, s, e, depth + 1);
	al->state = 2;
	return al->one;
}

/* The node a path component (plain text only) names in mapping m, or NULL. */
static struct ynode *map_lookup(struct ynode *m, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (strchr("\\\"'{}[]&*!|>%@#`,:? \t", s[i]))
			return NULL; /* libfyaml parses these as YAML: not followed */
	for (size_t i = 0; i < m->len; i++) {
		struct ynode *k = ynode_deref(m->u.pairs[i].key);

		if (k && k->type == YN_SCALAR && k->len == len && !memcmp(k->u.text, s, len))
			return m->u.pairs[i].value;
	}
	return NULL;
}

/* Full resolution of n, for paths: aliases followed, loops lead nowhere. */
static struct ynode *follow(struct ytree *t, struct ynode *n, int depth)
{
	for (size_t i = 0; n && n->type == YN_ALIAS; i++)
		n = i > t->n_aliases ? NULL : step(t, n, depth);
	return n;
}

/*
 * A path from n (libfyaml's fy_node_by_path_internal(), YAML pointers):
 * components separated by '/', an index ("3" or "[3]") into a list or a
 * key of a mapping; one component at a time (libfyaml recurses: a long
 * path would take the stack). The path text ends with a NUL at e.
 */
static struct ynode *by_path(struct ytree *t, struct ynode *n, const char *s, const char *e,
                             int depth)
{
	bool trailing = e > s && e[-1] == '/';
	const char *c;
	char *end;
	long idx;
	char open;

	for (;;) {
		while (s < e && *s == '/')
			s++;
		if (s >= e || !n)
			return n;
		n = step(t, n, depth);
		if (!n || n->type == YN_SCALAR || n->type == YN_ALIAS)
			return NULL;
		if (n->type == YN_MAP) {
			for (c = s; c < e && *c != '/'; c++)
				;
			n = map_lookup(n, s, (size_t)(c - s));
			if (c < e && trailing)
				n = step(t, n, depth);
			s = c;
			continue;
		}
		while (s < e && isspace((unsigned char)*s))
			s++;
		open = *s;
		if (open == '[')
			s++;
		else if (!isdigit((unsigned char)open) && open != '-')
			return NULL;
		idx = strtol(s, &end, 10);
		if (idx == 0 && end == s)
			return NULL;
		s = end;
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (open == '[' && *s++ != ']')
			return NULL;
		while (s < e && isspace((unsigned char)*s))
			s++;
		if (idx < 0)
			idx += (long)n->len;
		n = idx >= 0 && (size_t)idx < n->len ? n->u.items[idx] : NULL;
		if (trailing)
			n = follow(t, n, depth);
	}
}

/* Every alias's target, aliases followed; a loop leads nowhere. Linear. */
static void resolve_aliases(struct ytree *t)
{
	size_t *chain = NULL, n_chain = 0, cap = 0;

	for (size_t i = 0; i < t->n_aliases; i++) {
		struct ynode *n = t->aliases[i].node, *end;

		n_chain = 0;
		while (n && n->type == YN_ALIAS && !t->aliases[n->meta].final) {
			t->aliases[n->meta].final = 1;
			chain = xgrow(chain, &cap, n_chain + 1, sizeof(*chain));
			chain[n_chain++] = n->meta;
			n = step(t, n, 0);
		}
		if (n && n->type == YN_ALIAS)
			end = t->aliases[n->meta].final == 2 ? n->target : NULL; /* 1: a loop */
		else
			end = n;
		for (size_t j = 0; j < n_chain; j++) {
			t->aliases[chain[j]].node->target = end;
			t->aliases[chain[j]].final = 2;
		}
	}
	for (size_t i = 0; i < t->n_aliases; i++)
		t->aliases[i].node->meta = 0;
	free(chain);
}

/* --- events ------------------------------------------------------------------------- */

static void mark(struct ynode *n, struct fy_token *tok)
{
	const struct fy_mark *m = tok ? fy_token_start_mark(tok) : NULL;

	if (m) {
		n->line = m->line + 1;
		n->col = m->column + 1;
	}
}

static bool tag_is_str(struct fy_token *tag)
{
	size_t len = 0;
	const char *s = tag ? fy_token_get_text(tag, &len) : NULL;

	if (!s)
		return false;
	return (len == 5 && !memcmp(s, "!!str", 5)) ||
	       (len == 21 && !memcmp(s, "tag:yaml.org,2002:str", 21));
}

static struct ynode *scalar(struct ytree *t, struct fy_event *ev)
{
	struct fy_token *v = ev->scalar.value;
	struct ynode *n = node_new(t, YN_SCALAR);
	const char *s = NULL;
	size_t len = 0;

	if (v)
		s = fy_token_get_text(v, &len);
	n->u.text = arena_text(t, s ? s : "", s ? len : 0);
	n->len = s ? len : 0;
	if (!v || fy_token_scalar_style(v) == FYSS_PLAIN)
		n->flags |= YF_PLAIN;
	if (tag_is_str(ev->scalar.tag))
		n->flags |= YF_STR_TAG;
	mark(n, v);
	if (ev->scalar.anchor)
		anchor_add(t, ev->scalar.anchor, n);
	return n;
}

static struct ynode *alias(struct ytree *t, struct fy_event *ev)
{
	struct ynode *n = node_new(t, YN_ALIAS);
	const struct anchor *a;
	const char *s;
	size_t len = 0;

	s = fy_token_get_text(ev->alias.anchor, &len);
	n->u.text = arena_text(t, s ? s : "", s ? len : 0);
	n->len = s ? len : 0;
	mark(n, ev->alias.anchor);
	a = anchor_find(t, n->u.text, n->len);
	t->aliases = xgrow(t->aliases, &t->cap_aliases, t->n_aliases + 1, sizeof(*t->aliases));
	t->aliases[t->n_aliases] =
	    (struct alias){.node = n, .cand = a ? (size_t)(a - t->anchors) + 1 : 0};
	n->meta = t->n_aliases++; /* until resolve_aliases() */
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

static int start(struct ytree *t, struct fy_event *ev, struct yerror *err)
{
	bool map = ev->type == FYET_MAPPING_START;
	struct fy_token *anchor = map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
	struct ynode *n;

	if (t->n_open + 1 >= DEPTH_MAX) {
		const struct fy_mark *m = fy_event_start_mark(ev);

		err->line = m ? m->line + 1 : 0;
		err->col = m ? m->column + 1 : 0;
		snprintf(err->msg, sizeof(err->msg), "Max depth (%d) exceeded", DEPTH_MAX);
		return -1;
	}
	n = node_new(t, map ? YN_MAP : YN_SEQ);
	mark(n, map ? ev->mapping_start.mapping_start : ev->sequence_start.sequence_start);
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

int ytree_next(struct ytree *t, struct fy_parser *p, struct ynode **root, struct yerror *err)
{
	struct fy_event *ev;
	int ret = 0;

	*root = NULL;
	while ((ev = fy_parser_parse(p))) {
		switch (ev->type) {
		case FYET_DOCUMENT_START:
			doc_reset(t);
			break;
		case FYET_DOCUMENT_END:
			ret = t->root ? 1 : 0;
			break;
		case FYET_STREAM_END:
			fy_parser_event_free(p, ev);
			return 0;
		case FYET_SCALAR:
			complete(t, scalar(t, ev));
			break;
		case FYET_ALIAS:
			complete(t, alias(t, ev));
			break;
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			ret = start(t, ev, err);
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (t->n_open)
				end(t);
			break;
		default:
			break;
		}
		fy_parser_event_free(p, ev);
		if (ret < 0)
			return ret;
		if (ret > 0) {
			resolve_aliases(t);
			*root = t->root;
			return 1;
		}
	}
	return 0;
}

/* --- built by hand -------------------------------------------------------------------- */

struct ynode *ytree_scalar(struct ytree *t, const char *text, bool plain)
{
	struct ynode *n = node_new(t, YN_SCALAR);

	n->len = strlen(text);
	n->u.text = arena_text(t, text, n->len);
	n->flags = plain ? YF_PLAIN : 0;
	n->line = n->col = 1; /* where libfyaml's fy_node_create_scalar() puts one */
	return n;
}

void ytree_map_append(struct ytree *t, struct ynode *map, struct ynode *key, struct ynode *val)
{
	struct ypair *pairs = arena_alloc(t, (map->len + 1) * sizeof(*pairs));

	memcpy(pairs, map->u.pairs, map->len * sizeof(*pairs));
	pairs[map->len++] = (struct ypair){key, val};
	map->u.pairs = pairs;
}
