/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lastgood.h - last good retention: what stays when a new version of one
 * origin's objects (a file's text) is partly invalid.
 *
 *   one object invalid         -> its previous version stays
 *   object gone from the text  -> gone (a valid text removed it)
 *
 * A text that does not parse at all is the caller's case: it keeps every
 * previous object by not calling this.
 */
#ifndef SVCPROXY_LASTGOOD_H
#define SVCPROXY_LASTGOOD_H

#include <stdbool.h>

#include "model/model.h"
#include "source/decode.h"

bool model_empty(const struct model *m);

/*
 * fresh is the new version's valid objects, rej what it rejected. For
 * every rejected object that fresh has no valid version of, its previous
 * version moves from old to the end of fresh (old's slot is set to NULL:
 * old is then only fit for model_free()). Returns whether fresh now holds
 * other objects, or other content, than old did. Cannot fail.
 */
bool lastgood_apply(struct model *old, struct model *fresh, const struct decode_rejects *rej);

#endif
