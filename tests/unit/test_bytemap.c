/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_bytemap.c - bytemap (put, find, replace, growth, comments) and
 * the have/want diff. nft_render's bytes: test_nft_render.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/bytemap.h"
#include "common/log.h"
#include "common/mem.h"

#include "bytemap_rec.h"

/* ---- helpers --------------------------------------------------------------- */

/* 4-byte keys and data holding host-order u32s. */
static void put32(struct bytemap *s, uint32_t key, uint32_t val, const char *comment)
{
	bytemap_put(s, &key, &val, comment);
}

static long find32(const struct bytemap *s, uint32_t key)
{
	return bytemap_find(s, &key);
}

static uint32_t key32(const struct bytemap *s, size_t i)
{
	uint32_t k;

	memcpy(&k, bytemap_key(s, i), 4);
	return k;
}

static uint32_t data32(const struct bytemap *s, size_t i)
{
	uint32_t v;

	memcpy(&v, bytemap_data(s, i), 4);
	return v;
}

/* Value of key (which must be present). */
static uint32_t get32(const struct bytemap *s, uint32_t key)
{
	long i = find32(s, key);

	assert_true(i >= 0);
	return data32(s, (size_t)i);
}

/* splitmix64: a bijection, so distinct inputs give distinct keys. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---- put / find / replace ---------------------------------------------------- */

static void test_empty(void **unused)
{
	struct bytemap s;

	bytemap_init(&s, 4, 4);
	assert_int_equal(s.n, 0);
	assert_int_equal(find32(&s, 0), -1);
	assert_int_equal(find32(&s, 42), -1);
	bytemap_free(&s);
	bytemap_free(&s); /* stays initialised: freeing twice is fine */
	assert_int_equal(s.klen, 4);
	assert_int_equal(s.dlen, 4);
}

static void test_put_find(void **unused)
{
	struct bytemap s;

	bytemap_init(&s, 4, 4);
	put32(&s, 1, 100, NULL);
	put32(&s, 2, 200, "two");
	put32(&s, 0, 0, NULL); /* an all-zero key is a key like any other */
	assert_int_equal(s.n, 3);
	assert_int_equal(get32(&s, 1), 100);
	assert_int_equal(get32(&s, 2), 200);
	assert_int_equal(get32(&s, 0), 0);
	assert_int_equal(find32(&s, 3), -1);
	/* indices are insertion order */
	assert_int_equal(find32(&s, 1), 0);
	assert_int_equal(find32(&s, 2), 1);
	assert_int_equal(find32(&s, 0), 2);
	assert_int_equal(key32(&s, 1), 2);
	assert_null(bytemap_comment(&s, 0));
	assert_string_equal(bytemap_comment(&s, 1), "two");
	bytemap_free(&s);
	assert_int_equal(s.n, 0);
	assert_int_equal(find32(&s, 1), -1);
	/* usable again after free */
	put32(&s, 7, 70, NULL);
	assert_int_equal(get32(&s, 7), 70);
	bytemap_free(&s);
}

/* The same key twice keeps one element, with the new value and comment. */
static void test_replace(void **unused)
{
	struct bytemap s;

	bytemap_init(&s, 4, 4);
	put32(&s, 5, 1, "old");
	put32(&s, 6, 2, NULL);
	put32(&s, 5, 3, "new");
	assert_int_equal(s.n, 2);
	assert_int_equal(find32(&s, 5), 0);
	assert_int_equal(get32(&s, 5), 3);
	assert_string_equal(bytemap_comment(&s, 0), "new");
	put32(&s, 5, 3, NULL); /* comment removed */
	assert_int_equal(s.n, 2);
	assert_null(bytemap_comment(&s, 0));
	put32(&s, 6, 2, "added"); /* comment added */
	assert_string_equal(bytemap_comment(&s, 1), "added");
	assert_int_equal(get32(&s, 6), 2);
	bytemap_free(&s);
}

/* A plain set (dlen 0) and keys wider than a word. */
static void test_plain_set_wide_keys(void **unused)
{
	struct bytemap s;
	uint8_t a[20], b[20];

	bytemap_init(&s, sizeof(a), 0);
	memset(a, 0xab, sizeof(a));
	memcpy(b, a, sizeof(b));
	b[19] ^= 1; /* differs in the last byte only */
	bytemap_put(&s, a, NULL, NULL);
	bytemap_put(&s, b, NULL, "b");
	bytemap_put(&s, a, NULL, NULL);
	assert_int_equal(s.n, 2);
	assert_int_equal(bytemap_find(&s, a), 0);
	assert_int_equal(bytemap_find(&s, b), 1);
	assert_memory_equal(bytemap_key(&s, 1), b, sizeof(b));
	b[0] ^= 1;
	assert_int_equal(bytemap_find(&s, b), -1);
	bytemap_free(&s);
}

/* The comment is copied: the caller's buffer may change afterwards. */
static void test_comment_copied(void **unused)
{
	struct bytemap s;
	char buf[32];

	bytemap_init(&s, 4, 4);
	strcpy(buf, "default/web:http");
	put32(&s, 1, 1, buf);
	strcpy(buf, "changed");
	assert_string_equal(bytemap_comment(&s, 0), "default/web:http");
	assert_ptr_not_equal(bytemap_comment(&s, 0), buf);
	put32(&s, 2, 2, "");
	assert_string_equal(bytemap_comment(&s, 1), "");
	bytemap_free(&s);
}

/* 100k keys, pseudo-random and 12 bytes wide: every one findable after growth. */
static void test_growth(void **unused)
{
	enum { N = 100000 };
	struct bytemap s;
	uint8_t k[12];
	uint64_t v;

	bytemap_init(&s, sizeof(k), sizeof(v));
	for (uint64_t i = 0; i < N; i++) {
		uint64_t r = mix64(i);

		memcpy(k, &r, 8);
		memset(k + 8, (int)(i & 0xff), 4);
		v = i * 3;
		bytemap_put(&s, k, &v, i % 1000 ? NULL : "every thousandth");
	}
	assert_int_equal(s.n, N);
	assert_true(s.index_size >= 2 * s.n);
	for (uint64_t i = 0; i < N; i++) {
		uint64_t r = mix64(i);
		long at;

		memcpy(k, &r, 8);
		memset(k + 8, (int)(i & 0xff), 4);
		at = bytemap_find(&s, k);
		assert_int_equal(at, (long)i);
		memcpy(&v, bytemap_data(&s, (size_t)at), 8);
		assert_int_equal(v, i * 3);
		if (i % 1000 == 0)
			assert_string_equal(bytemap_comment(&s, at), "every thousandth");
		else
			assert_null(bytemap_comment(&s, at));
		/* a key differing in the padding bytes only is another key */
		k[11] ^= 0x80;
		assert_int_equal(bytemap_find(&s, k), -1);
	}
	/* replacing every element keeps the count */
	for (uint64_t i = 0; i < N; i += 7) {
		uint64_t r = mix64(i);

		memcpy(k, &r, 8);
		memset(k + 8, (int)(i & 0xff), 4);
		v = ~i;
		bytemap_put(&s, k, &v, "replaced");
	}
	assert_int_equal(s.n, N);
	for (uint64_t i = 0; i < N; i += 7) {
		uint64_t r = mix64(i);
		long at;

		memcpy(k, &r, 8);
		memset(k + 8, (int)(i & 0xff), 4);
		at = bytemap_find(&s, k);
		assert_int_equal(at, (long)i);
		memcpy(&v, bytemap_data(&s, (size_t)at), 8);
		assert_int_equal(v, ~i);
		assert_string_equal(bytemap_comment(&s, at), "replaced");
	}
	bytemap_free(&s);
}

/* Sequential keys (which share all but the low bytes) hash apart too. */
static void test_sequential_keys(void **unused)
{
	struct bytemap s;

	bytemap_init(&s, 4, 4);
	for (uint32_t i = 0; i < 20000; i++)
		put32(&s, i, i ^ 0x5a5a5a5au, NULL);
	assert_int_equal(s.n, 20000);
	for (uint32_t i = 0; i < 20000; i++)
		assert_int_equal(get32(&s, i), i ^ 0x5a5a5a5au);
	assert_int_equal(find32(&s, 20000), -1);
	bytemap_free(&s);
}

static void test_move(void **unused)
{
	struct bytemap a, b;

	bytemap_init(&a, 4, 4);
	bytemap_init(&b, 4, 4);
	put32(&a, 1, 10, "a1");
	put32(&b, 2, 20, "b2"); /* freed by the move */
	bytemap_move(&b, &a);
	assert_int_equal(a.n, 0);
	assert_int_equal(find32(&a, 1), -1);
	assert_int_equal(b.n, 1);
	assert_int_equal(get32(&b, 1), 10);
	assert_int_equal(find32(&b, 2), -1);
	assert_string_equal(b.comments[0], "a1");
	put32(&a, 3, 30, NULL); /* the source is usable */
	assert_int_equal(get32(&a, 3), 30);
	bytemap_free(&a);
	bytemap_free(&b);
}

static void test_same_value(void **unused)
{
	struct bytemap a, b;

	bytemap_init(&a, 4, 4);
	bytemap_init(&b, 4, 4);
	put32(&a, 1, 10, NULL);
	put32(&b, 1, 10, NULL);
	put32(&a, 2, 10, "x");
	put32(&b, 2, 10, "x");
	put32(&a, 3, 10, "x");
	put32(&b, 3, 10, NULL);
	put32(&a, 4, 10, "x");
	put32(&b, 4, 11, "x");
	put32(&a, 5, 10, "x");
	put32(&b, 5, 10, "y");
	assert_true(bytemap_same_value(&a, 0, &b, 0));
	assert_true(bytemap_same_value(&a, 1, &b, 1));
	assert_false(bytemap_same_value(&a, 2, &b, 2));
	assert_false(bytemap_same_value(&b, 2, &a, 2));
	assert_false(bytemap_same_value(&a, 3, &b, 3));
	assert_false(bytemap_same_value(&a, 4, &b, 4));
	bytemap_free(&a);
	bytemap_free(&b);
}

/* ---- diff ---------------------------------------------------------------------- */
static void test_diff_identical(void **unused)
{
	struct bytemap have, want;
	struct calls c;

	bytemap_init(&have, 4, 4);
	bytemap_init(&want, 4, 4);
	assert_int_equal(diff(&have, &want, &c), 0); /* empty vs empty */
	for (uint32_t i = 0; i < 10; i++)
		put32(&have, i, i * 10, i % 2 ? "odd" : NULL);
	/* the same content inserted in another order */
	for (uint32_t i = 10; i-- > 0;)
		put32(&want, i, i * 10, i % 2 ? "odd" : NULL);
	assert_int_equal(diff(&have, &want, &c), 0);
	assert_int_equal(diff(&want, &have, &c), 0);
	assert_int_equal(diff(&have, &have, &c), 0);
	bytemap_free(&have);
	bytemap_free(&want);
}

static void test_diff_changes(void **unused)
{
	struct bytemap have, want;
	struct calls c;

	bytemap_init(&have, 4, 4);
	bytemap_init(&want, 4, 4);
	put32(&have, 1, 10, "same");
	put32(&want, 1, 10, "same");
	put32(&have, 2, 20, NULL); /* removed */
	put32(&want, 3, 30, NULL); /* added */
	put32(&have, 4, 40, "c");  /* value changed */
	put32(&want, 4, 41, "c");
	put32(&have, 5, 50, "old"); /* comment changed */
	put32(&want, 5, 50, "new");
	put32(&have, 6, 60, NULL); /* comment added */
	put32(&want, 6, 60, "now");
	put32(&have, 7, 70, "gone"); /* comment removed */
	put32(&want, 7, 70, NULL);

	assert_int_equal(diff(&have, &want, &c), 10);
	assert_int_equal(count(&c, 'd', 1, &have) + count(&c, 'a', 1, &want), 0);
	assert_int_equal(count(&c, 'd', 2, &have), 1);
	assert_int_equal(count(&c, 'a', 2, &want), 0);
	assert_int_equal(count(&c, 'd', 3, &have), 0);
	assert_int_equal(count(&c, 'a', 3, &want), 1);
	for (uint32_t k = 4; k <= 7; k++) {
		assert_int_equal(count(&c, 'd', k, &have), 1);
		assert_int_equal(count(&c, 'a', k, &want), 1);
	}
	/* the index passed is the element's index in the set passed */
	for (size_t i = 0; i < c.n; i++)
		assert_int_equal(key32(c.v[i].set, c.v[i].i), c.v[i].key);
	/* the add for 4 carries the new value */
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].op == 'a' && c.v[i].key == 4)
			assert_int_equal(data32(&want, c.v[i].i), 41);
	bytemap_free(&have);
	bytemap_free(&want);
}

static void test_diff_against_empty(void **unused)
{
	struct bytemap full, empty;
	struct calls c;

	bytemap_init(&full, 4, 4);
	bytemap_init(&empty, 4, 4);
	for (uint32_t i = 0; i < 5; i++)
		put32(&full, i + 100, i, NULL);
	/* nothing programmed: add everything */
	assert_int_equal(diff(&empty, &full, &c), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(count(&c, 'a', i + 100, &full), 1);
	/* nothing wanted: delete everything */
	assert_int_equal(diff(&full, &empty, &c), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(count(&c, 'd', i + 100, &full), 1);
	bytemap_free(&full);
	bytemap_free(&empty);
}

/* Plain sets: only membership and comments matter. */
static void test_diff_plain_set(void **unused)
{
	struct bytemap have, want;
	struct calls c;
	uint32_t k;

	bytemap_init(&have, 4, 0);
	bytemap_init(&want, 4, 0);
	k = 1;
	bytemap_put(&have, &k, NULL, NULL);
	bytemap_put(&want, &k, NULL, NULL);
	k = 2;
	bytemap_put(&have, &k, NULL, NULL);
	k = 3;
	bytemap_put(&want, &k, NULL, NULL);
	assert_int_equal(diff(&have, &want, &c), 2);
	assert_int_equal(count(&c, 'd', 2, &have), 1);
	assert_int_equal(count(&c, 'a', 3, &want), 1);
	bytemap_free(&have);
	bytemap_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),           cmocka_unit_test(test_put_find),
	    cmocka_unit_test(test_replace),         cmocka_unit_test(test_plain_set_wide_keys),
	    cmocka_unit_test(test_comment_copied),  cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_sequential_keys), cmocka_unit_test(test_move),
	    cmocka_unit_test(test_same_value),      cmocka_unit_test(test_diff_identical),
	    cmocka_unit_test(test_diff_changes),    cmocka_unit_test(test_diff_against_empty),
	    cmocka_unit_test(test_diff_plain_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
