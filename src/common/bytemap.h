/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bytemap.h - a hash map from fixed-length byte keys to fixed-length byte
 * values, each entry with an optional comment, in insertion order.
 *
 * All keys of one map have klen bytes and all values dlen (0: a set).
 * Entries are packed records, so a map is walked like an array (entry i
 * of n); an open-addressing index finds a key in O(1). Deleting moves the
 * last record into the hole.
 *
 * Users: the nftables dataplane keeps one map per kernel set or map, keys
 * and values exactly as the kernel holds them in its registers, so a set
 * read back from the kernel compares byte for byte with one built from the
 * model; bytemap_diff() says which elements to delete and which to add (a
 * changed value is both). The comment (shown by `nft list` and `svcproxy
 * show`) is part of the value. The compiler indexes 8-byte name hashes.
 *
 * Out of memory aborts (common/mem.h): no function here fails.
 */
#ifndef SVCPROXY_BYTEMAP_H
#define SVCPROXY_BYTEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bytemap {
	uint32_t klen, dlen; /* bytes; dlen 0 for a set */
	size_t n;            /* entries */
	size_t cap;          /* record slots allocated */
	uint8_t *recs;       /* n records of klen + dlen bytes */
	char **comments;     /* NULL until a comment is put; then cap entries, NULL or owned */
	uint32_t *index;     /* open addressing, record index + 1, 0 = empty */
	size_t index_size;   /* power of two */
};

void bytemap_init(struct bytemap *s, uint32_t klen, uint32_t dlen);
void bytemap_free(struct bytemap *s); /* s stays initialised and empty */
/* Move src into dst (dst is freed first); src is left empty. */
void bytemap_move(struct bytemap *dst, struct bytemap *src);

/*
 * Add or replace the entry with this key. data has dlen bytes (NULL for
 * a set); comment is copied (NULL for none).
 */
void bytemap_put(struct bytemap *s, const void *key, const void *data, const char *comment);
/*
 * Remove the entry with this key, if there is one (the last entry
 * takes its index). Returns true when one was removed.
 */
bool bytemap_del(struct bytemap *s, const void *key);
/* Index of the entry with this key, or -1. */
long bytemap_find(const struct bytemap *s, const void *key);

static inline const uint8_t *bytemap_key(const struct bytemap *s, size_t i)
{
	return s->recs + i * (s->klen + s->dlen);
}

static inline const uint8_t *bytemap_data(const struct bytemap *s, size_t i)
{
	return s->recs + i * (s->klen + s->dlen) + s->klen;
}

/* The comment of entry i, or NULL. */
static inline const char *bytemap_comment(const struct bytemap *s, size_t i)
{
	return s->comments ? s->comments[i] : NULL;
}

/* True when entry i of a and entry j of b have the same value. */
bool bytemap_same_value(const struct bytemap *a, size_t i, const struct bytemap *b, size_t j);

/*
 * Diff: calls del(ctx, have, i) for each entry of have that is absent
 * from want or has another value there, then add(ctx, want, j) for each
 * entry of want that is absent from have or differs. Returns the number
 * of calls made.
 */
typedef void (*bytemap_cb)(void *ctx, const struct bytemap *s, size_t i);
size_t bytemap_diff(const struct bytemap *have, const struct bytemap *want, bytemap_cb del,
                    bytemap_cb add, void *ctx);

#endif
