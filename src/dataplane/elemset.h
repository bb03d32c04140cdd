/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * elemset.h - the elements of one nftables set or map, as raw bytes.
 *
 * Keys and data are stored exactly as the kernel holds them in its
 * registers (concatenations padded to 4 bytes per field), so rendering is
 * a copy and a set read back from the kernel compares byte for byte with
 * one built from the model. An element may carry a comment (shown by
 * `nft list` and `svcproxy show`), which is part of its value.
 *
 * The dataplane keeps one elemset per kernel set for what is programmed
 * and builds one per set for what is desired; elemset_diff() says which
 * elements to delete and which to add (a changed value is both).
 */
#ifndef SVCPROXY_ELEMSET_H
#define SVCPROXY_ELEMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELEM_MAX_KEY  64
#define ELEM_MAX_DATA 32

struct elemset {
	uint32_t klen, dlen; /* bytes; dlen 0 for a plain set */
	size_t n;            /* elements */
	size_t cap;          /* record slots allocated */
	uint8_t *recs;       /* n records of klen + dlen bytes */
	char **comments;     /* NULL until a comment is put; then cap entries, NULL or owned */
	uint32_t *index;     /* open addressing, record index + 1, 0 = empty */
	size_t index_size;   /* power of two */
};

void elemset_init(struct elemset *s, uint32_t klen, uint32_t dlen);
void elemset_free(struct elemset *s); /* s stays initialised and empty */
/* Move src into dst (dst is freed first); src is left empty. */
void elemset_move(struct elemset *dst, struct elemset *src);

/*
 * Add or replace the element with this key. data has dlen bytes (NULL for
 * a set); comment is copied (NULL for none). Aborts on out of memory.
 */
void elemset_put(struct elemset *s, const void *key, const void *data, const char *comment);
/*
 * Remove the element with this key, if there is one (the last element
 * takes its index). Returns true when one was removed.
 */
bool elemset_del(struct elemset *s, const void *key);
/* Index of the element with this key, or -1. */
long elemset_find(const struct elemset *s, const void *key);

static inline const uint8_t *elemset_key(const struct elemset *s, size_t i)
{
	return s->recs + i * (s->klen + s->dlen);
}

static inline const uint8_t *elemset_data(const struct elemset *s, size_t i)
{
	return s->recs + i * (s->klen + s->dlen) + s->klen;
}

/* The comment of element i, or NULL. */
static inline const char *elemset_comment(const struct elemset *s, size_t i)
{
	return s->comments ? s->comments[i] : NULL;
}

/* True when element i of a and element j of b have the same value. */
bool elemset_same_value(const struct elemset *a, size_t i, const struct elemset *b, size_t j);

/*
 * Diff: calls del(ctx, have, i) for each element of have that is absent
 * from want or has another value there, then add(ctx, want, j) for each
 * element of want that is absent from have or differs. Returns the number
 * of calls made.
 */
typedef void (*elemset_cb)(void *ctx, const struct elemset *s, size_t i);
size_t elemset_diff(const struct elemset *have, const struct elemset *want, elemset_cb del,
                    elemset_cb add, void *ctx);

#endif
