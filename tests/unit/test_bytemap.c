/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_bytemap.c - bytemap (put, find, replace, growth, comments), the
 * have/want diff, and nft_render's exact key and data bytes.
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
#include "compile/compile.h"
#include "dataplane/nft.h"

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

static void rec_del(void *ctx, const struct bytemap *s, size_t i)
{
	struct calls *c = ctx;

	assert_true(c->n < 64);
	if (c->add_seen)
		c->del_after_add = true;
	c->v[c->n++] = (struct call){'d', s, i, key32(s, i)};
}

static void rec_add(void *ctx, const struct bytemap *s, size_t i)
{
	struct calls *c = ctx;

	assert_true(c->n < 64);
	c->add_seen = true;
	c->v[c->n++] = (struct call){'a', s, i, key32(s, i)};
}

/* How many calls of op for key, each checked to be on set. */
static int count(const struct calls *c, char op, uint32_t key, const struct bytemap *set)
{
	int n = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].op == op && c->v[i].key == key) {
			assert_ptr_equal(c->v[i].set, set);
			n++;
		}
	return n;
}

static size_t diff(const struct bytemap *have, const struct bytemap *want, struct calls *c)
{
	size_t r;

	memset(c, 0, sizeof(*c));
	r = bytemap_diff(have, want, rec_del, rec_add, c);
	assert_int_equal(r, c->n);
	assert_false(c->del_after_add);
	return r;
}

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

/*
 * The elemsets of struct nft_sets, by role. nft.h names them as fields;
 * a layout with one array indexed by enum nft_set_id (which comes with
 * NFT_LB_DATA) is accepted too, so only these lines know the difference.
 */
#ifdef NFT_LB_DATA
#define SERVICE_IPS(ns)  ((ns).s[SET_SERVICE_IPS])
#define BACKENDS(ns)     ((ns).s[SET_BACKENDS])
#define NO_ENDPOINTS(ns) ((ns).s[SET_NO_ENDPOINTS])
#define CLUSTER_IPS(ns)  ((ns).s[SET_CLUSTER_IPS])
#define HAIRPIN(ns)      ((ns).s[SET_HAIRPIN])
#else
#define SERVICE_IPS(ns)  ((ns).service_ips)
#define BACKENDS(ns)     ((ns).backends)
#define NO_ENDPOINTS(ns) ((ns).no_endpoints)
#define CLUSTER_IPS(ns)  ((ns).cluster_ips)
#define HAIRPIN(ns)      ((ns).hairpin)
#endif

/* ---- nft_render -------------------------------------------------------------------- */

static struct ipaddr ip(const char *s)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(s, &a), 0);
	return a;
}

/* Append an entry to ds; backends "a:p" ... NULL-terminated (IPv4 only). */
/*
 * A desired state built here owns its entries' strings and arrays (no
 * compile blocks), so the test frees them before desired_free().
 */
static void free_built(struct desired *ds)
{
	for (size_t i = 0; i < ds->n_entries; i++) {
		free(ds->entries[i].label);
		free(ds->entries[i].backends);
	}
	desired_free(ds);
}

static void add_entry(struct desired *ds, const char *addr, uint8_t proto, uint16_t port,
                      const char *label, ...)
{
	struct entry *e;
	const char *b;
	va_list ap;

	ds->entries = xrealloc(ds->entries, (ds->n_entries + 1) * sizeof(*ds->entries));
	e = &ds->entries[ds->n_entries++];
	memset(e, 0, sizeof(*e));
	e->kind = ENTRY_CLUSTER_IP;
	e->addr = ip(addr);
	e->proto = proto;
	e->port = port;
	e->label = xstrdup(label);
	va_start(ap, label);
	while ((b = va_arg(ap, const char *))) {
		char a[IPADDR_STRLEN];
		const char *colon = strrchr(b, ':');

		assert_non_null(colon);
		memcpy(a, b, (size_t)(colon - b));
		a[colon - b] = '\0';
		e->backends = xrealloc(e->backends, (e->n_backends + 1) * sizeof(*e->backends));
		e->backends[e->n_backends].addr = ip(a);
		e->backends[e->n_backends].port = (uint16_t)atoi(colon + 1);
		e->backends[e->n_backends].local = false;
		e->backends[e->n_backends].remote = false;
		e->n_backends++;
	}
	va_end(ap);
}

/* key3 for IPv4: addr | proto, 0, 0, 0 | port (network order), 0, 0 */
static void key3_v4(uint8_t k[12], const uint8_t a[4], uint8_t proto, uint16_t port)
{
	memset(k, 0, 12);
	memcpy(k, a, 4);
	k[4] = proto;
	k[8] = (uint8_t)(port >> 8);
	k[9] = (uint8_t)port;
}

/* The element of s with this key: its index, asserting it exists. */
static size_t must_find(const struct bytemap *s, const void *key)
{
	long i = bytemap_find(s, key);

	assert_true(i >= 0);
	return (size_t)i;
}

static void assert_backend(const struct nft_sets *ns, const uint8_t vip[4], uint8_t proto,
                           uint16_t port, uint32_t slot, const uint8_t pod[4], uint16_t pport)
{
	uint8_t k[16], d[8];
	size_t i;

	key3_v4(k, vip, proto, port);
	memcpy(k + 12, &slot, 4); /* host byte order, as numgen writes it */
	memset(d, 0, sizeof(d));
	memcpy(d, pod, 4);
	d[4] = (uint8_t)(pport >> 8);
	d[5] = (uint8_t)pport;
	i = must_find(&BACKENDS(*ns), k);
	assert_memory_equal(bytemap_key(&BACKENDS(*ns), i), k, 16);
	assert_memory_equal(bytemap_data(&BACKENDS(*ns), i), d, 8);
	assert_null(bytemap_comment(&BACKENDS(*ns), i));
}

static void test_render_ipv4(void **unused)
{
	static const uint8_t vip1[4] = {10, 96, 0, 1}, vip2[4] = {10, 96, 0, 2};
	static const uint8_t p5[4] = {10, 244, 0, 5}, p7[4] = {10, 244, 1, 7},
	                     p9[4] = {10, 244, 2, 9};
	struct desired ds = {.family = AF_INET};
	struct nft_sets ns;
	uint8_t k[12], pair[8];
	uint32_t kk;
	size_t i;

	add_entry(&ds, "10.96.0.1", L4_TCP, 80, "default/web:http", "10.244.0.5:8080",
	          "10.244.1.7:8080", "10.244.2.9:9090", (const char *)NULL);
	add_entry(&ds, "10.96.0.1", L4_UDP, 53, "default/web:dns", (const char *)NULL);
	add_entry(&ds, "10.96.0.2", L4_TCP, 443, "default/api", "10.244.0.5:8443",
	          (const char *)NULL);
	add_entry(&ds, "10.96.0.3", L4_SCTP, 3868, "default/empty", (const char *)NULL);
	nft_render(&ds, &ns);

	/* layouts */
	assert_int_equal(SERVICE_IPS(ns).klen, 12);
	assert_int_equal(SERVICE_IPS(ns).dlen, 4);
	assert_int_equal(BACKENDS(ns).klen, 16);
	assert_int_equal(BACKENDS(ns).dlen, 8);
	assert_int_equal(NO_ENDPOINTS(ns).klen, 12);
	assert_int_equal(NO_ENDPOINTS(ns).dlen, 0);
	assert_int_equal(CLUSTER_IPS(ns).klen, 4);
	assert_int_equal(CLUSTER_IPS(ns).dlen, 0);
	assert_int_equal(HAIRPIN(ns).klen, 8);
	assert_int_equal(HAIRPIN(ns).dlen, 0);

	/* service_ips: entries with backends, value k */
	assert_int_equal(SERVICE_IPS(ns).n, 2);
	key3_v4(k, vip1, L4_TCP, 80);
	i = must_find(&SERVICE_IPS(ns), k);
	assert_memory_equal(bytemap_key(&SERVICE_IPS(ns), i),
	                    ((const uint8_t[12]){10, 96, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0}), 12);
	kk = 3;
	assert_memory_equal(bytemap_data(&SERVICE_IPS(ns), i), &kk, 4);
	assert_string_equal(bytemap_comment(&SERVICE_IPS(ns), i), "default/web:http");
	key3_v4(k, vip2, L4_TCP, 443);
	i = must_find(&SERVICE_IPS(ns), k);
	assert_memory_equal(bytemap_key(&SERVICE_IPS(ns), i),
	                    ((const uint8_t[12]){10, 96, 0, 2, 6, 0, 0, 0, 0x01, 0xbb, 0, 0}), 12);
	kk = 1;
	assert_memory_equal(bytemap_data(&SERVICE_IPS(ns), i), &kk, 4);
	assert_string_equal(bytemap_comment(&SERVICE_IPS(ns), i), "default/api");

	/* backends: slots 0..k-1 are the backends in order */
	assert_int_equal(BACKENDS(ns).n, 4);
	assert_backend(&ns, vip1, L4_TCP, 80, 0, p5, 8080);
	assert_backend(&ns, vip1, L4_TCP, 80, 1, p7, 8080);
	assert_backend(&ns, vip1, L4_TCP, 80, 2, p9, 9090);
	assert_backend(&ns, vip2, L4_TCP, 443, 0, p5, 8443);
	{
		uint8_t bk[16];
		uint32_t slot = 3;

		key3_v4(bk, vip1, L4_TCP, 80);
		memcpy(bk + 12, &slot, 4);
		assert_int_equal(bytemap_find(&BACKENDS(ns), bk), -1);
	}

	/* no_endpoints: the entries without backends, with their labels */
	assert_int_equal(NO_ENDPOINTS(ns).n, 2);
	key3_v4(k, vip1, L4_UDP, 53);
	i = must_find(&NO_ENDPOINTS(ns), k);
	assert_memory_equal(bytemap_key(&NO_ENDPOINTS(ns), i),
	                    ((const uint8_t[12]){10, 96, 0, 1, 17, 0, 0, 0, 0, 53, 0, 0}), 12);
	assert_string_equal(bytemap_comment(&NO_ENDPOINTS(ns), i), "default/web:dns");
	key3_v4(k, (const uint8_t[4]){10, 96, 0, 3}, L4_SCTP, 3868);
	i = must_find(&NO_ENDPOINTS(ns), k);
	assert_memory_equal(bytemap_key(&NO_ENDPOINTS(ns), i),
	                    ((const uint8_t[12]){10, 96, 0, 3, 132, 0, 0, 0, 0x0f, 0x1c, 0, 0}),
	                    12);
	assert_string_equal(bytemap_comment(&NO_ENDPOINTS(ns), i), "default/empty");
	key3_v4(k, vip1, L4_TCP, 80);
	assert_int_equal(bytemap_find(&NO_ENDPOINTS(ns), k), -1);

	/* cluster_ips: each address once, with or without backends */
	assert_int_equal(CLUSTER_IPS(ns).n, 3);
	must_find(&CLUSTER_IPS(ns), vip1);
	must_find(&CLUSTER_IPS(ns), vip2);
	must_find(&CLUSTER_IPS(ns), (const uint8_t[4]){10, 96, 0, 3});

	/* hairpin: (pod, pod) once per backend address */
	assert_int_equal(HAIRPIN(ns).n, 3);
	memcpy(pair, p5, 4);
	memcpy(pair + 4, p5, 4);
	must_find(&HAIRPIN(ns), pair);
	memcpy(pair, p7, 4);
	memcpy(pair + 4, p7, 4);
	must_find(&HAIRPIN(ns), pair);
	memcpy(pair, p9, 4);
	memcpy(pair + 4, p9, 4);
	must_find(&HAIRPIN(ns), pair);

	/* the keys decode back */
	{
		struct ipaddr a;
		uint8_t proto;
		uint16_t port;
		char buf[IPADDR_STRLEN];

		key3_v4(k, vip2, L4_TCP, 443);
		nft_key_decode(AF_INET, k, &a, &proto, &port);
		assert_string_equal(ipaddr_str(&a, buf), "10.96.0.2");
		assert_int_equal(proto, L4_TCP);
		assert_int_equal(port, 443);
	}

	nft_sets_free(&ns);
	free_built(&ds);
}

static void test_render_ipv6(void **unused)
{
	struct desired ds = {.family = AF_INET6};
	struct nft_sets ns;
	struct entry *e;
	uint8_t k[28], d[20];
	uint32_t kk = 1, slot = 0;
	struct ipaddr vip = ip("fd00::10"), pod = ip("fd00:244::5");
	size_t i;

	ds.entries = xcalloc(1, sizeof(*ds.entries));
	ds.n_entries = 1;
	e = &ds.entries[0];
	e->addr = vip;
	e->proto = L4_UDP;
	e->port = 53;
	e->label = xstrdup("kube-system/dns:dns");
	e->backends = xcalloc(1, sizeof(*e->backends));
	e->n_backends = 1;
	e->backends[0].addr = pod;
	e->backends[0].port = 5353;
	nft_render(&ds, &ns);

	assert_int_equal(SERVICE_IPS(ns).klen, 24);
	assert_int_equal(BACKENDS(ns).klen, 28);
	assert_int_equal(BACKENDS(ns).dlen, 20);
	assert_int_equal(CLUSTER_IPS(ns).klen, 16);
	assert_int_equal(HAIRPIN(ns).klen, 32);

	memset(k, 0, sizeof(k));
	memcpy(k, vip.raw, 16);
	k[16] = L4_UDP;
	k[20] = 0;
	k[21] = 53;
	i = must_find(&SERVICE_IPS(ns), k);
	assert_memory_equal(bytemap_data(&SERVICE_IPS(ns), i), &kk, 4);
	memcpy(k + 24, &slot, 4);
	i = must_find(&BACKENDS(ns), k);
	memset(d, 0, sizeof(d));
	memcpy(d, pod.raw, 16);
	d[16] = 0x14;
	d[17] = 0xe9; /* 5353 */
	assert_memory_equal(bytemap_data(&BACKENDS(ns), i), d, 20);
	must_find(&CLUSTER_IPS(ns), vip.raw);
	{
		uint8_t pair[32];

		memcpy(pair, pod.raw, 16);
		memcpy(pair + 16, pod.raw, 16);
		must_find(&HAIRPIN(ns), pair);
	}
	assert_int_equal(NO_ENDPOINTS(ns).n, 0);
	nft_sets_free(&ns);
	free_built(&ds);
}

static void test_render_empty(void **unused)
{
	struct desired ds = {.family = AF_INET};
	struct nft_sets ns;

	nft_render(&ds, &ns);
	assert_int_equal(SERVICE_IPS(ns).n + BACKENDS(ns).n + NO_ENDPOINTS(ns).n +
	                     CLUSTER_IPS(ns).n + HAIRPIN(ns).n,
	                 0);
	nft_sets_free(&ns);
}

/*
 * Render, change one Service, render again: the diff of each set is what
 * a sync would send. A Service going from 2 to 3 backends changes its
 * service_ips value (del + add) and adds one backends slot.
 */
static void test_render_diff(void **unused)
{
	struct desired a = {.family = AF_INET}, b = {.family = AF_INET};
	struct nft_sets na, nb;
	struct calls c;

	add_entry(&a, "10.96.0.1", L4_TCP, 80, "default/web", "10.244.0.1:80", "10.244.0.2:80",
	          (const char *)NULL);
	add_entry(&a, "10.96.0.2", L4_TCP, 80, "default/idle", (const char *)NULL);
	add_entry(&b, "10.96.0.1", L4_TCP, 80, "default/web", "10.244.0.1:80", "10.244.0.2:80",
	          "10.244.0.3:80", (const char *)NULL);
	add_entry(&b, "10.96.0.2", L4_TCP, 80, "default/idle", (const char *)NULL);
	nft_render(&a, &na);
	nft_render(&b, &nb);

	assert_int_equal(diff(&SERVICE_IPS(na), &SERVICE_IPS(nb), &c), 2);
	assert_int_equal(c.v[0].op, 'd');
	assert_int_equal(c.v[1].op, 'a');
	assert_int_equal(diff(&BACKENDS(na), &BACKENDS(nb), &c), 1);
	assert_int_equal(c.v[0].op, 'a');
	assert_int_equal(diff(&NO_ENDPOINTS(na), &NO_ENDPOINTS(nb), &c), 0);
	assert_int_equal(diff(&CLUSTER_IPS(na), &CLUSTER_IPS(nb), &c), 0);
	assert_int_equal(diff(&HAIRPIN(na), &HAIRPIN(nb), &c), 1);
	/* and back */
	assert_int_equal(diff(&SERVICE_IPS(nb), &SERVICE_IPS(na), &c), 2);
	assert_int_equal(diff(&BACKENDS(nb), &BACKENDS(na), &c), 1);
	assert_int_equal(c.v[0].op, 'd');
	/* the same desired state renders identically */
	nft_sets_free(&nb);
	nft_render(&a, &nb);
	assert_int_equal(diff(&SERVICE_IPS(na), &SERVICE_IPS(nb), &c), 0);
	assert_int_equal(diff(&BACKENDS(na), &BACKENDS(nb), &c), 0);
	assert_int_equal(diff(&NO_ENDPOINTS(na), &NO_ENDPOINTS(nb), &c), 0);
	assert_int_equal(diff(&CLUSTER_IPS(na), &CLUSTER_IPS(nb), &c), 0);
	assert_int_equal(diff(&HAIRPIN(na), &HAIRPIN(nb), &c), 0);

	nft_sets_free(&na);
	nft_sets_free(&nb);
	free_built(&a);
	free_built(&b);
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
	    cmocka_unit_test(test_diff_plain_set),  cmocka_unit_test(test_render_ipv4),
	    cmocka_unit_test(test_render_ipv6),     cmocka_unit_test(test_render_empty),
	    cmocka_unit_test(test_render_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
