/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lastgood.c - last good retention for one origin's objects (lastgood.h).
 */
#include "lastgood.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "source/objkey.h"

bool model_empty(const struct model *m)
{
	return !m->n_services && !m->n_slices && !m->n_nodes;
}

/*
 * A multimap from (kind, namespace, name) to object slots, open addressing
 * with linear probing. Keys point into the objects; nothing is copied.
 */
struct oentry {
	uint64_t h;
	int kind;
	const char *ns, *name;
	void **slot; /* where the object pointer lives (an array element) */
};

struct otable {
	struct oentry *v;
	size_t mask;
};

static void otable_init(struct otable *t, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	t->v = xcalloc(cap, sizeof(*t->v));
	t->mask = cap - 1;
}

static void otable_free(struct otable *t)
{
	free(t->v);
	t->v = NULL;
}

static void otable_put(struct otable *t, int kind, const char *ns, const char *name, void **slot)
{
	uint64_t h = okey_hash(kind, ns ? ns : "", name);
	size_t i = h & t->mask;

	while (t->v[i].h)
		i = (i + 1) & t->mask;
	t->v[i] = (struct oentry){h, kind, ns ? ns : "", name, slot};
}

/*
 * Iterate the entries for a key: *pos starts at SIZE_MAX; returns NULL at
 * the end.
 */
static struct oentry *otable_next(struct otable *t, int kind, const char *ns, const char *name,
                                  size_t *pos)
{
	uint64_t h = okey_hash(kind, ns ? ns : "", name);
	size_t i = *pos == SIZE_MAX ? h & t->mask : (*pos + 1) & t->mask;

	for (; t->v[i].h; i = (i + 1) & t->mask) {
		struct oentry *e = &t->v[i];

		if (e->h == h && e->kind == kind && !strcmp(e->ns, ns ? ns : "") &&
		    !strcmp(e->name, name)) {
			*pos = i;
			return e;
		}
	}
	return NULL;
}

/*
 * Index every object of m by identity. Slices converted from v1 Endpoints
 * are indexed twice: as OBJ_SLICE under their own name, and as
 * OBJ_ENDPOINTS under the Endpoints' name (for last-good retention).
 */
static void otable_index(struct otable *t, struct model *m, bool endpoints_too)
{
	otable_init(t, m->n_services + m->n_slices * 2 + m->n_nodes);
	for (size_t i = 0; i < m->n_services; i++)
		if (m->services[i])
			otable_put(t, OBJ_SERVICE, m->services[i]->ns, m->services[i]->name,
			           (void **)&m->services[i]);
	for (size_t i = 0; i < m->n_slices; i++) {
		struct endpoint_slice *e = m->slices[i];

		if (!e)
			continue;
		otable_put(t, OBJ_SLICE, e->ns, e->name, (void **)&m->slices[i]);
		if (endpoints_too && e->from_endpoints)
			otable_put(t, OBJ_ENDPOINTS, e->ns, e->service_name,
			           (void **)&m->slices[i]);
	}
	for (size_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i])
			otable_put(t, OBJ_NODE, "", m->nodes[i]->name, (void **)&m->nodes[i]);
}

/* Append obj, an object of a kind that was rejected, to m. */
static void add_kind(struct model *m, enum obj_kind kind, void *obj)
{
	switch (kind) {
	case OBJ_SERVICE:
		model_add_service(m, obj);
		break;
	case OBJ_SLICE:
	case OBJ_ENDPOINTS:
		model_add_slice(m, obj);
		break;
	case OBJ_NODE:
		model_add_node(m, obj);
		break;
	}
}

/* An object of old that fresh takes: its slot in old, its kind, and when it was found. */
struct take {
	void **slot;
	enum obj_kind kind;
	size_t seq;
};

static int take_by_slot(const void *a, const void *b)
{
	const struct take *x = a, *y = b;
	uintptr_t p = (uintptr_t)x->slot, q = (uintptr_t)y->slot;

	if (p != q)
		return p < q ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int take_by_seq(const void *a, const void *b)
{
	const struct take *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * For every rejected object that has no valid version in fresh, append
 * its previous version (if any) from old to fresh. Returns the slots of
 * old whose objects fresh now holds too (*n of them; NULL when none).
 * An object of old is taken once, however often the text rejects its
 * identity (two invalid copies of one Service) or under however many
 * identities it is indexed (a slice made from v1 Endpoints): fresh owning
 * it twice would free it twice.
 */
static void ***take_last_good(struct model *old, struct model *fresh,
                              const struct decode_rejects *rej, size_t *n)
{
	struct otable told, tnew;
	struct take *t = NULL;
	size_t nt = 0, cap = 0, u = 0;
	void ***taken;

	*n = 0;
	if (!rej->n || model_empty(old))
		return NULL;
	otable_index(&told, old, true);
	otable_index(&tnew, fresh, true);
	for (size_t i = 0; i < rej->n; i++) {
		const struct decode_reject *r = &rej->v[i];
		size_t pos = SIZE_MAX;
		struct oentry *e;

		if (otable_next(&tnew, (int)r->kind, r->ns, r->name, &pos))
			continue;
		pos = SIZE_MAX;
		while ((e = otable_next(&told, (int)r->kind, r->ns, r->name, &pos))) {
			if (nt == cap) {
				cap = cap ? 2 * cap : 16;
				t = xrealloc(t, cap * sizeof(*t));
			}
			t[nt] = (struct take){e->slot, r->kind, nt};
			nt++;
		}
	}
	otable_free(&told);
	otable_free(&tnew);
	if (!nt)
		return NULL;
	/* each slot once (its first find), then in the order found */
	qsort(t, nt, sizeof(*t), take_by_slot);
	for (size_t i = 0; i < nt; i++)
		if (!u || t[i].slot != t[u - 1].slot)
			t[u++] = t[i];
	qsort(t, u, sizeof(*t), take_by_seq);
	taken = xcalloc(u, sizeof(*taken));
	for (size_t i = 0; i < u; i++) {
		add_kind(fresh, t[i].kind, *t[i].slot);
		taken[i] = t[i].slot;
	}
	*n = u;
	free(t);
	return taken;
}

/*
 * Whether fresh holds the same objects as old, in any order: same counts,
 * and each object of fresh equal to the one of old with its identity.
 */
static bool model_same(struct model *old, struct model *fresh)
{
	struct otable t;
	bool same = false;
	size_t pos;

	if (old->n_services != fresh->n_services || old->n_slices != fresh->n_slices ||
	    old->n_nodes != fresh->n_nodes)
		return false;
	if (model_empty(old))
		return true;
	otable_index(&t, old, false);
	for (size_t i = 0; i < fresh->n_services; i++) {
		struct service *s = fresh->services[i];
		struct oentry *e =
		    (pos = SIZE_MAX, otable_next(&t, OBJ_SERVICE, s->ns, s->name, &pos));

		if (!e || !service_equal(*e->slot, s))
			goto out;
	}
	for (size_t i = 0; i < fresh->n_slices; i++) {
		struct endpoint_slice *sl = fresh->slices[i];
		struct oentry *e =
		    (pos = SIZE_MAX, otable_next(&t, OBJ_SLICE, sl->ns, sl->name, &pos));

		if (!e || !endpoint_slice_equal(*e->slot, sl))
			goto out;
	}
	for (size_t i = 0; i < fresh->n_nodes; i++) {
		struct node *n = fresh->nodes[i];
		struct oentry *e = (pos = SIZE_MAX, otable_next(&t, OBJ_NODE, "", n->name, &pos));

		if (!e || !node_equal(*e->slot, n))
			goto out;
	}
	same = true;
out:
	otable_free(&t);
	return same;
}

bool lastgood_apply(struct model *old, struct model *fresh, const struct decode_rejects *rej)
{
	size_t n;
	void ***taken = take_last_good(old, fresh, rej, &n);
	bool changed = !model_same(old, fresh);

	for (size_t i = 0; i < n; i++)
		*taken[i] = NULL; /* now owned by fresh */
	free(taken);
	return changed;
}
