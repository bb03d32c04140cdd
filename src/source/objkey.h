/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * objkey.h - the identity of a model object: kind, namespace, name.
 *
 * Two objects with the same identity are two versions of one object (last
 * good retention) or a duplicate (the view). Identities are compared by a
 * 64-bit hash first, then by the strings.
 */
#ifndef SVCPROXY_OBJKEY_H
#define SVCPROXY_OBJKEY_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "source/decode.h"

/* Hash of an identity (kind: enum obj_kind; ns "" when cluster-scoped); never 0. */
uint64_t okey_hash(int kind, const char *ns, const char *name);

/*
 * The identity of object idx of a kind (OBJ_SERVICE, OBJ_SLICE, OBJ_NODE)
 * in o; with origin, where the object's origin pointer lives.
 */
void obj_ident(const struct model *o, int kind, size_t idx, const char **ns, const char **name,
               char ***origin);

/*
 * The identity hashes of a model's objects: its services, then its slices,
 * then its nodes, each in array order.
 */
struct okeys {
	uint64_t *h;
	size_t n_svc, n_slc, n_node;
};

/*
 * Make k describe m: the hashes k holds are kept (m's arrays may only have
 * grown at their ends since), the rest computed. Cannot fail.
 */
void okeys_fit(struct okeys *k, const struct model *m);

#endif
