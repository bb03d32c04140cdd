/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * claims.c - the duplicate table of the manifest source's view (claims.h).
 */
#include "claims.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "source/manifest_impl.h"
#include "source/objkey.h"

/* An empty table with room for n identities (at most half full). */
static void claims_reset(struct claims *c, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	if (!c->v || c->mask + 1 != cap) {
		free(c->v);
		c->v = xmalloc(cap * sizeof(*c->v));
		c->mask = cap - 1;
	}
	memset(c->v, 0, cap * sizeof(*c->v));
	c->n = 0;
}

static void claims_put(struct claims *c, struct claim e)
{
	size_t i;

	if ((c->n + 1) * 2 > c->mask + 1) { /* grow: rehash by the stored hashes */
		struct claim *old = c->v;
		size_t ocap = c->mask + 1;

		c->v = xcalloc(ocap * 2, sizeof(*c->v));
		c->mask = ocap * 2 - 1;
		c->n = 0;
		for (size_t j = 0; j < ocap; j++)
			if (old[j].h)
				claims_put(c, old[j]);
		free(old);
	}
	for (i = e.h & c->mask; c->v[i].h; i = (i + 1) & c->mask)
		;
	c->v[i] = e;
	c->n++;
}

/*
 * The entry of the identity of object idx of a kind in o, whose hash is h,
 * or NULL. The objects are looked at only when the hashes are equal.
 */
static struct claim *claims_find(struct claims *c, uint64_t h, int kind, const struct model *o,
                                 size_t idx)
{
	for (size_t i = h & c->mask; c->v[i].h; i = (i + 1) & c->mask) {
		struct claim *e = &c->v[i];
		const char *ns, *name, *ens, *ename;

		if (e->h != h || e->kind != kind)
			continue;
		obj_ident(o, kind, idx, &ns, &name, NULL);
		obj_ident(&c->files[e->file]->objs, kind, e->idx, &ens, &ename, NULL);
		if (!strcmp(ename, name) && !strcmp(ens, ns))
			return e;
	}
	return NULL;
}

/*
 * Drop the entry that object (file, kind, idx), of hash h, is the only
 * claimant of. False when there is none: the object was a duplicate, or
 * has duplicates. Never looks at the object (it may be freed).
 */
static bool claims_drop(struct claims *c, uint64_t h, int kind, uint32_t file, uint32_t idx)
{
	size_t i, j;

	for (i = h & c->mask; c->v[i].h; i = (i + 1) & c->mask) {
		const struct claim *e = &c->v[i];

		if (e->h == h && e->kind == kind && e->file == file && e->idx == idx)
			break;
	}
	if (!c->v[i].h || c->v[i].n != 1)
		return false;
	/* backward shift: move up every entry that the hole would hide */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & c->mask;
		if (!c->v[j].h)
			break;
		home = c->v[j].h & c->mask;
		if (j > i ? (home <= i || home > j) : (home <= i && home > j)) {
			c->v[i] = c->v[j];
			i = j;
		}
	}
	c->v[i].h = 0;
	c->n--;
	return true;
}

/* What claims_rebuild() and claims_update() go through: one kind's part of a file's keys. */
struct kpart {
	int kind;
	size_t off, n;
};

static void kparts(const struct okeys *k, struct kpart p[3])
{
	p[0] = (struct kpart){OBJ_SERVICE, 0, k->n_svc};
	p[1] = (struct kpart){OBJ_SLICE, k->n_svc, k->n_slc};
	p[2] = (struct kpart){OBJ_NODE, k->n_svc + k->n_slc, k->n_node};
}

/* f's keys are what the table holds for it from now on. */
static void mfile_commit_keys(struct mfile *f)
{
	if (f->tkeys.h != f->keys.h)
		free(f->tkeys.h);
	f->tkeys = f->keys;
	f->dirty = false;
}

/*
 * Claim every object of every file, in view order: the first object of an
 * identity wins; each later one is hidden, with a message naming both
 * files (in its file's dups).
 */
static void claims_rebuild(struct claims *c)
{
	static const char *const kind_names[] = {
	    [OBJ_SERVICE] = "Service",
	    [OBJ_SLICE] = "EndpointSlice",
	    [OBJ_ENDPOINTS] = "Endpoints",
	    [OBJ_NODE] = "Node",
	};
	size_t total = 0;

	for (size_t p = 0; p < c->n_files; p++) {
		const struct okeys *k = &c->files[p]->keys;

		total += k->n_svc + k->n_slc + k->n_node;
	}
	claims_reset(c, total);
	for (size_t p = 0; p < c->n_files; p++) {
		struct mfile *f = c->files[p];
		struct kpart part[3];

		free(f->hidden);
		f->hidden = NULL;
		diag_clear(&f->dups);
		mfile_commit_keys(f);
		kparts(&f->keys, part);
		for (int q = 0; q < 3; q++) {
			for (size_t i = 0; i < part[q].n; i++) {
				int kind = part[q].kind;
				uint64_t h = f->keys.h[part[q].off + i];
				struct claim *e = claims_find(c, h, kind, &f->objs, i);
				const char *ns, *name;
				char **origin, **first;

				if (!e) {
					claims_put(c, (struct claim){h, (uint32_t)p, (uint32_t)i, 1,
					                             (uint8_t)kind});
					continue;
				}
				e->n++;
				if (!f->hidden)
					f->hidden = xcalloc(
					    f->keys.n_svc + f->keys.n_slc + f->keys.n_node, 1);
				f->hidden[part[q].off + i] = 1;
				obj_ident(&f->objs, kind, i, &ns, &name, &origin);
				obj_ident(&c->files[e->file]->objs, kind, e->idx, &ns, &name,
				          &first);
				if (*ns)
					diag_add(&f->dups,
					         "%s: %s %s/%s: duplicate, also defined in %s "
					         "(using that one)",
					         *origin, kind_names[kind], ns, name, *first);
				else
					diag_add(&f->dups,
					         "%s: %s %s: duplicate, also defined in %s (using "
					         "that one)",
					         *origin, kind_names[kind], name, *first);
			}
		}
	}
	c->ids = xrealloc(c->ids, (c->n_files + 1) * sizeof(*c->ids));
	for (size_t p = 0; p < c->n_files; p++)
		c->ids[p] = c->files[p]->id;
	c->n_ids = c->n_files;
	c->valid = true;
}

/*
 * Bring the table up to date with the changed (dirty) files alone, when
 * the files are the ones it was built for, in the same order, and no
 * identity a changed file held or holds now is defined twice (then no other
 * file's part of the view changes). False when that cannot be done: the
 * table is then left half updated, for claims_rebuild().
 */
static bool claims_update(struct claims *c)
{
	if (!c->valid || c->n_ids != c->n_files)
		return false;
	for (size_t p = 0; p < c->n_files; p++)
		if (c->ids[p] != c->files[p]->id)
			return false;
	/* first what the changed files held, so that no entry points into them */
	for (size_t p = 0; p < c->n_files; p++) {
		const struct mfile *f = c->files[p];
		struct kpart part[3];

		if (!f->dirty)
			continue;
		if (f->hidden)
			return false;
		kparts(&f->tkeys, part);
		for (int q = 0; q < 3; q++)
			for (size_t i = 0; i < part[q].n; i++)
				if (!claims_drop(c, f->tkeys.h[part[q].off + i], part[q].kind,
				                 (uint32_t)p, (uint32_t)i))
					return false;
	}
	for (size_t p = 0; p < c->n_files; p++) {
		struct mfile *f = c->files[p];
		struct kpart part[3];

		if (!f->dirty)
			continue;
		kparts(&f->keys, part);
		for (int q = 0; q < 3; q++) {
			for (size_t i = 0; i < part[q].n; i++) {
				int kind = part[q].kind;
				uint64_t h = f->keys.h[part[q].off + i];

				if (claims_find(c, h, kind, &f->objs, i))
					return false;
				claims_put(c, (struct claim){h, (uint32_t)p, (uint32_t)i, 1,
				                             (uint8_t)kind});
			}
		}
		mfile_commit_keys(f);
	}
	return true;
}

/*
 * The view is every file's objects in order, less the duplicates, which
 * the table knows. It is kept across calls: a call after a small change
 * costs that change (claims_update()) plus a pass over pointers, instead
 * of hashing and looking up every identity again.
 */
void claims_view(struct claims *c, struct mfile *const *files, size_t n, struct model *m,
                 struct diag *d)
{
	model_view_clear(m);
	c->files = xrealloc(c->files, (n + 1) * sizeof(*c->files));
	memcpy(c->files, files, n * sizeof(*files));
	c->n_files = n;
	if (!claims_update(c))
		claims_rebuild(c);

	for (size_t p = 0; p < c->n_files; p++) {
		const struct mfile *f = c->files[p];
		const struct model *o = &f->objs;
		const uint8_t *hide = f->hidden;
		size_t off = 0;

		diag_copy(d, &f->dups);
		/* the file's model gave them their gen: copied as pointers */
		model_view_services(m, o->services, o->n_services, hide ? hide + off : NULL);
		off += o->n_services;
		model_view_slices(m, o->slices, o->n_slices, hide ? hide + off : NULL);
		off += o->n_slices;
		for (size_t k = 0; k < o->n_nodes; k++)
			if (!hide || !hide[off + k])
				model_add_node(m, o->nodes[k]);
	}
}

void claims_free(struct claims *c)
{
	free(c->v);
	free(c->files);
	free(c->ids);
	memset(c, 0, sizeof(*c));
}
