/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bytemap_rec.h - unit-test helper: record the calls of bytemap_diff()
 * and check that every deletion comes before the first addition.
 * Include after <cmocka.h> and "common/bytemap.h".
 */
#ifndef SVCPROXY_TEST_BYTEMAP_REC_H
#define SVCPROXY_TEST_BYTEMAP_REC_H

/* The first 4 key bytes of element i: enough to tell the test keys apart. */
static inline uint32_t rec_key32(const struct bytemap *s, size_t i)
{
	uint32_t k;

	memcpy(&k, bytemap_key(s, i), 4);
	return k;
}

struct call {
	char op; /* 'd' or 'a' */
	const struct bytemap *set;
	size_t i;
	uint32_t key;
};

struct calls {
	struct call v[64];
	size_t n;
	bool add_seen; /* for "all deletions come first" */
	bool del_after_add;
};

static inline void rec_del(void *ctx, const struct bytemap *s, size_t i)
{
	struct calls *c = ctx;

	assert_true(c->n < 64);
	if (c->add_seen)
		c->del_after_add = true;
	c->v[c->n++] = (struct call){'d', s, i, rec_key32(s, i)};
}

static inline void rec_add(void *ctx, const struct bytemap *s, size_t i)
{
	struct calls *c = ctx;

	assert_true(c->n < 64);
	c->add_seen = true;
	c->v[c->n++] = (struct call){'a', s, i, rec_key32(s, i)};
}

/* How many calls of op for key, each checked to be on set. */
static inline int count(const struct calls *c, char op, uint32_t key, const struct bytemap *set)
{
	int n = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].op == op && c->v[i].key == key) {
			assert_ptr_equal(c->v[i].set, set);
			n++;
		}
	return n;
}

static inline size_t diff(const struct bytemap *have, const struct bytemap *want, struct calls *c)
{
	size_t r;

	memset(c, 0, sizeof(*c));
	r = bytemap_diff(have, want, rec_del, rec_add, c);
	assert_int_equal(r, c->n);
	assert_false(c->del_after_add);
	return r;
}

#endif
