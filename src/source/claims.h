/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * claims.h - the manifest source's duplicate table: which file's object
 * stands for each kind/namespace/name in the view.
 *
 * The first object of an identity (files in view order, then array order)
 * wins; each later one is left out, with a message naming both files. The
 * table is kept from one view to the next, so that a view after a small
 * change costs the changed files plus copying pointers.
 */
#ifndef SVCPROXY_CLAIMS_H
#define SVCPROXY_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "source/diag.h"

struct mfile;

/*
 * One entry per kind/ns/name, naming the first object (in view order)
 * that defines it. Open addressing, linear probing, backward-shift
 * deletion. Entries hold no pointers: an object is found as
 * files[file]'s objs (kind, idx), so what a changed file held can be
 * dropped after its objects are freed.
 */
struct claim {
	uint64_t h;    /* okey_hash(); 0 marks an empty slot */
	uint32_t file; /* the first object: its file's index in files[] ... */
	uint32_t idx;  /* ... and its index in that file's array of its kind */
	uint32_t n;    /* objects with this identity (> 1: duplicates) */
	uint8_t kind;  /* enum obj_kind */
};

struct claims {
	struct claim *v;
	size_t mask, n;       /* n: slots used */
	struct mfile **files; /* every file, in view order (refreshed per view) */
	uint64_t *ids;        /* the files' ids when the table was last right */
	size_t n_files, n_ids;
	bool valid; /* v, ids and every file's tkeys/hidden/dups agree */
};

/*
 * The view of files[0..n) (in that order): every file's objects less the
 * duplicates, whose messages go to d. m is an empty view or an earlier
 * one, whose arrays are reused (the caller's); the objects are the
 * files'. Uses and updates the files' keys, tkeys, hidden, dups and
 * dirty. Cannot fail.
 */
void claims_view(struct claims *c, struct mfile *const *files, size_t n, struct model *m,
                 struct diag *d);
void claims_free(struct claims *c);

#endif
