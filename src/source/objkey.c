/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * objkey.c - identities of model objects, hashed (objkey.h).
 */
#include "objkey.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"

uint64_t okey_hash(int kind, const char *ns, const char *name)
{
	uint64_t h = fnv1a(FNV1A_INIT, &kind, sizeof(kind));

	h = fnv1a(h, ns, strlen(ns) + 1);
	h = fnv1a(h, name, strlen(name));
	return h ? h : 1; /* 0 marks an empty slot */
}

static const char *obj_ns(const char *ns)
{
	return ns ? ns : "";
}

/* The identity of object idx of a kind in o (the origin too, if asked). */
void obj_ident(const struct model *o, int kind, size_t idx, const char **ns, const char **name,
               char ***origin)
{
	char **org;

	switch (kind) {
	case OBJ_SERVICE:
		*ns = obj_ns(o->services[idx]->ns);
		*name = o->services[idx]->name;
		org = &o->services[idx]->origin;
		break;
	case OBJ_SLICE:
		*ns = obj_ns(o->slices[idx]->ns);
		*name = o->slices[idx]->name;
		org = &o->slices[idx]->origin;
		break;
	default:
		*ns = "";
		*name = o->nodes[idx]->name;
		org = &o->nodes[idx]->origin;
		break;
	}
	if (origin)
		*origin = org;
}

/*
 * Make k describe m: the hashes k holds are kept (m's arrays may only have
 * grown at their ends since), the rest computed.
 */
void okeys_fit(struct okeys *k, const struct model *m)
{
	size_t ns = m->n_services, nl = m->n_slices, nn = m->n_nodes;
	const char *s, *n;
	uint64_t *h;

	if (k->h && k->n_svc == ns && k->n_slc == nl && k->n_node == nn)
		return;
	h = xmalloc((ns + nl + nn + 1) * sizeof(*h));
	for (size_t i = 0; i < ns; i++) {
		if (k->h && i < k->n_svc) {
			h[i] = k->h[i];
			continue;
		}
		obj_ident(m, OBJ_SERVICE, i, &s, &n, NULL);
		h[i] = okey_hash(OBJ_SERVICE, s, n);
	}
	for (size_t i = 0; i < nl; i++) {
		if (k->h && i < k->n_slc) {
			h[ns + i] = k->h[k->n_svc + i];
			continue;
		}
		obj_ident(m, OBJ_SLICE, i, &s, &n, NULL);
		h[ns + i] = okey_hash(OBJ_SLICE, s, n);
	}
	for (size_t i = 0; i < nn; i++) {
		if (k->h && i < k->n_node) {
			h[ns + nl + i] = k->h[k->n_svc + k->n_slc + i];
			continue;
		}
		obj_ident(m, OBJ_NODE, i, &s, &n, NULL);
		h[ns + nl + i] = okey_hash(OBJ_NODE, s, n);
	}
	free(k->h);
	*k = (struct okeys){h, ns, nl, nn};
}
