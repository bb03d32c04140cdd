/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bytemap.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"

void bytemap_init(struct bytemap *s, uint32_t klen, uint32_t dlen)
{
	memset(s, 0, sizeof(*s));
	s->klen = klen;
	s->dlen = dlen;
}

void bytemap_free(struct bytemap *s)
{
	for (size_t i = 0; s->comments && i < s->n; i++)
		free(s->comments[i]);
	free(s->recs);
	free(s->comments);
	free(s->index);
	bytemap_init(s, s->klen, s->dlen);
}

void bytemap_move(struct bytemap *dst, struct bytemap *src)
{
	bytemap_free(dst);
	*dst = *src;
	bytemap_init(src, src->klen, src->dlen);
}

/*
 * Keys are register images: their length is a multiple of 4. Hash them a
 * word at a time (multiply-xorshift), FNV-1a for any odd tail.
 */
static uint32_t key_hash(const uint8_t *k, uint32_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	uint32_t i = 0;

	for (; i + 4 <= len; i += 4) {
		uint32_t w;

		memcpy(&w, k + i, 4);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	h = fnv1a(h, k + i, len - i);
	return (uint32_t)(h ^ (h >> 32));
}

static bool key_equal(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	if (len == 8) { /* the compiler's hash indexes */
		uint64_t x, y;

		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		return x == y;
	}
	return !memcmp(a, b, len);
}

/* Slot in the index holding key, or the empty slot where it would go. */
static size_t index_slot(const struct bytemap *s, const void *key)
{
	size_t mask = s->index_size - 1;
	size_t pos = key_hash(key, s->klen) & mask;

	while (s->index[pos] && !key_equal(bytemap_key(s, s->index[pos] - 1), key, s->klen))
		pos = (pos + 1) & mask;
	return pos;
}

static void index_grow(struct bytemap *s)
{
	size_t size = s->index_size ? s->index_size * 2 : 64;

	free(s->index);
	s->index = xcalloc(size, sizeof(*s->index));
	s->index_size = size;
	for (size_t i = 0; i < s->n; i++)
		s->index[index_slot(s, bytemap_key(s, i))] = (uint32_t)(i + 1);
}

long bytemap_find(const struct bytemap *s, const void *key)
{
	if (!s->index_size)
		return -1;
	uint32_t v = s->index[index_slot(s, key)];
	return v ? (long)v - 1 : -1;
}

void bytemap_put(struct bytemap *s, const void *key, const void *data, const char *comment)
{
	size_t rec = s->klen + s->dlen, slot, i;

	/* keep the index at most half full */
	if ((s->n + 1) * 2 > s->index_size)
		index_grow(s);
	slot = index_slot(s, key);
	if (s->index[slot]) {
		i = s->index[slot] - 1;
		if (s->comments) {
			free(s->comments[i]);
			s->comments[i] = NULL;
		}
	} else {
		if (s->n == s->cap) {
			size_t cap = s->cap;

			s->recs = xgrow(s->recs, &cap, s->n + 1, rec);
			if (s->comments)
				s->comments = xrealloc(s->comments, cap * sizeof(*s->comments));
			s->cap = cap;
		}
		i = s->n++;
		memcpy(s->recs + i * rec, key, s->klen);
		s->index[slot] = (uint32_t)(i + 1);
		if (s->comments)
			s->comments[i] = NULL;
	}
	if (s->dlen)
		memcpy(s->recs + i * rec + s->klen, data, s->dlen);
	if (comment) {
		/* most sets never carry a comment: the array comes with the first */
		if (!s->comments)
			s->comments = xcalloc(s->cap, sizeof(*s->comments));
		s->comments[i] = xstrdup(comment);
	}
}

bool bytemap_del(struct bytemap *s, const void *key)
{
	size_t mask = s->index_size - 1, rec = s->klen + s->dlen, hole, pos, i, last;

	if (!s->index_size)
		return false;
	hole = index_slot(s, key);
	if (!s->index[hole])
		return false;
	i = s->index[hole] - 1;
	/* backward-shift deletion keeps every probe chain unbroken */
	s->index[hole] = 0;
	for (pos = (hole + 1) & mask; s->index[pos]; pos = (pos + 1) & mask) {
		size_t home = key_hash(bytemap_key(s, s->index[pos] - 1), s->klen) & mask;

		/* move it into the hole unless its home lies cyclically in (hole, pos] */
		if ((pos > hole && (home <= hole || home > pos)) ||
		    (pos < hole && (home <= hole && home > pos))) {
			s->index[hole] = s->index[pos];
			s->index[pos] = 0;
			hole = pos;
		}
	}
	/* the last record moves into i */
	if (s->comments)
		free(s->comments[i]);
	last = s->n - 1;
	if (i != last) {
		memcpy(s->recs + i * rec, s->recs + last * rec, rec);
		if (s->comments)
			s->comments[i] = s->comments[last];
		s->index[index_slot(s, bytemap_key(s, i))] = (uint32_t)(i + 1);
	}
	s->n--;
	return true;
}

bool bytemap_same_value(const struct bytemap *a, size_t i, const struct bytemap *b, size_t j)
{
	const char *ca = bytemap_comment(a, i), *cb = bytemap_comment(b, j);

	if (a->dlen != b->dlen || memcmp(bytemap_data(a, i), bytemap_data(b, j), a->dlen))
		return false;
	if (!ca || !cb)
		return ca == cb;
	return !strcmp(ca, cb);
}

size_t bytemap_diff(const struct bytemap *have, const struct bytemap *want, bytemap_cb del,
                    bytemap_cb add, void *ctx)
{
	size_t calls = 0;

	for (size_t i = 0; i < have->n; i++) {
		long j = bytemap_find(want, bytemap_key(have, i));

		if (j < 0 || !bytemap_same_value(have, i, want, (size_t)j)) {
			del(ctx, have, i);
			calls++;
		}
	}
	for (size_t j = 0; j < want->n; j++) {
		long i = bytemap_find(have, bytemap_key(want, j));

		if (i < 0 || !bytemap_same_value(have, (size_t)i, want, j)) {
			add(ctx, want, j);
			calls++;
		}
	}
	return calls;
}
