/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_bytemap.c - libFuzzer target for the hash map behind every nft set
 * and the diff that decides which elements a transaction sends.
 *
 * The input is a sequence of operations (put, delete, with comments) on two
 * maps, mirrored on a plain reference table. After each operation the map
 * must agree with the reference (size, lookups, values, comments); at the
 * end, applying bytemap_diff(have, want)'s deletions and additions to a copy
 * of have must give exactly want, and the diff of a map with itself must be
 * empty. A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KEYS 64 /* a small key space: collisions, reuse and deletes are common */
#define KLEN 6  /* odd sizes on purpose: the map must not assume alignment */
#define DLEN 3

struct ref {
	bool present[KEYS];
	uint8_t val[KEYS][DLEN];
	bool has_comment[KEYS];
	uint8_t comment[KEYS];
};

static void key_of(unsigned k, uint8_t *key)
{
	memset(key, 0xa5, KLEN);
	key[0] = (uint8_t)k;
	key[KLEN - 1] = (uint8_t)(k * 7);
}

static void agree(const struct bytemap *m, const struct ref *r)
{
	size_t n = 0;

	for (unsigned k = 0; k < KEYS; k++) {
		uint8_t key[KLEN];
		long i;

		key_of(k, key);
		i = bytemap_find(m, key);
		if (!r->present[k]) {
			if (i >= 0)
				abort();
			continue;
		}
		n++;
		if (i < 0 || memcmp(bytemap_key(m, (size_t)i), key, KLEN) ||
		    memcmp(bytemap_data(m, (size_t)i), r->val[k], DLEN))
			abort();
		if (r->has_comment[k] != (bytemap_comment(m, (size_t)i) != NULL))
			abort();
		if (r->has_comment[k] && (uint8_t)bytemap_comment(m, (size_t)i)[0] != r->comment[k])
			abort();
	}
	if (n != m->n)
		abort();
}

static void apply(struct bytemap *m, struct ref *r, const uint8_t *op)
{
	unsigned k = op[1] % KEYS;
	uint8_t key[KLEN];

	key_of(k, key);
	if (op[0] & 1) {
		bool had = r->present[k];

		if (bytemap_del(m, key) != had)
			abort();
		r->present[k] = false;
		return;
	}
	{
		char comment[2] = {(char)(op[2] | 1), 0};
		bool with = op[0] & 2;

		bytemap_put(m, key, op + 2, with ? comment : NULL);
		r->present[k] = true;
		memcpy(r->val[k], op + 2, DLEN);
		r->has_comment[k] = with;
		r->comment[k] = (uint8_t)comment[0];
	}
}

struct patch {
	struct bytemap *m;
};

static void on_del(void *ctx, const struct bytemap *s, size_t i)
{
	struct patch *p = ctx;

	if (!bytemap_del(p->m, bytemap_key(s, i)))
		abort(); /* a deletion the target does not hold */
}

static void on_add(void *ctx, const struct bytemap *s, size_t i)
{
	struct patch *p = ctx;

	if (bytemap_find(p->m, bytemap_key(s, i)) >= 0)
		abort(); /* added twice, or its old value was not deleted first */
	bytemap_put(p->m, bytemap_key(s, i), bytemap_data(s, i), bytemap_comment(s, i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytemap a, b, copy;
	struct ref ra = {0}, rb = {0};
	struct patch p = {&copy};

	bytemap_init(&a, KLEN, DLEN);
	bytemap_init(&b, KLEN, DLEN);
	bytemap_init(&copy, KLEN, DLEN);
	for (size_t off = 0; off + 5 <= size; off += 5) {
		bool second = data[off] & 4;

		apply(second ? &b : &a, second ? &rb : &ra, data + off);
		agree(second ? &b : &a, second ? &rb : &ra);
	}
	if (bytemap_diff(&a, &a, on_del, on_add, &p) != 0)
		abort();
	for (size_t i = 0; i < a.n; i++)
		bytemap_put(&copy, bytemap_key(&a, i), bytemap_data(&a, i), bytemap_comment(&a, i));
	bytemap_diff(&a, &b, on_del, on_add, &p);
	agree(&copy, &rb);
	bytemap_free(&a);
	bytemap_free(&b);
	bytemap_free(&copy);
	return 0;
}
