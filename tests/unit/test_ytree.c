/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_ytree.c - documents from libyaml's parse events into ytree's
 * compact tree: the shape, the typing bits, positions, aliases resolved as
 * YAML says (the latest anchor before), the nesting limit, syntax errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/ytree.h"

struct docs {
	struct yparser *p;
	struct ytree *t;
	struct yerror err;
};

static void open_docs(struct docs *d, const char *text)
{
	d->p = yparser_new(text, strlen(text));
	d->t = ytree_new();
}

static void close_docs(struct docs *d)
{
	yparser_free(d->p);
	ytree_free(d->t);
}

static struct ynode *next_doc(struct docs *d)
{
	struct ynode *root = NULL;

	assert_int_equal(ytree_next(d->t, d->p, &root, &d->err), 1);
	assert_non_null(root);
	return root;
}

/* The value of key in map as parsed: an alias not followed. */
static struct ynode *get(struct ynode *map, const char *key)
{
	assert_int_equal(map->type, YN_MAP);
	for (size_t i = 0; i < map->len; i++) {
		struct ynode *k = map->u.pairs[i].key;

		if (k->type == YN_SCALAR && k->len == strlen(key) &&
		    !memcmp(k->u.text, key, k->len))
			return map->u.pairs[i].value;
	}
	return NULL;
}

/* text's first document fails with msg at line:col. */
static void assert_fails(const char *text, int line, int col, const char *msg)
{
	struct ynode *root;
	struct docs d;

	open_docs(&d, text);
	assert_int_equal(ytree_next(d.t, d.p, &root, &d.err), -1);
	assert_null(root);
	assert_int_equal(d.err.line, line);
	assert_int_equal(d.err.col, col);
	assert_string_equal(d.err.msg, msg);
	close_docs(&d);
}

static void test_shape(void **state)
{
	struct docs d;
	struct ynode *root, *n;

	open_docs(&d, "a: 1\nb: \"x\\ty\"\nc: [p, 'q', !!str 3]\nd: {}\ne:\n---\n- x\n");
	root = next_doc(&d);
	assert_int_equal(root->len, 5);
	n = get(root, "a");
	assert_int_equal(n->type, YN_SCALAR);
	assert_string_equal(n->u.text, "1");
	assert_true(n->flags & YF_PLAIN);
	assert_int_equal(n->line, 1);
	assert_int_equal(n->col, 4);
	n = get(root, "b");
	assert_string_equal(n->u.text, "x\ty");
	assert_int_equal(n->len, 3);
	assert_false(n->flags & YF_PLAIN);
	n = get(root, "c");
	assert_int_equal(n->type, YN_SEQ);
	assert_int_equal(n->len, 3);
	assert_true(n->u.items[0]->flags & YF_PLAIN);
	assert_false(n->u.items[1]->flags & YF_PLAIN);
	assert_true(n->u.items[2]->flags & YF_STR_TAG);
	assert_int_equal(get(root, "d")->type, YN_MAP);
	assert_int_equal(get(root, "d")->len, 0);
	assert_int_equal(get(root, "e")->len, 0);
	assert_int_equal(root->u.pairs[4].key->line, 5);

	/* the next document replaces the first */
	root = next_doc(&d);
	assert_int_equal(root->type, YN_SEQ);
	assert_string_equal(root->u.items[0]->u.text, "x");
	assert_int_equal(ytree_next(d.t, d.p, &root, &d.err), 0);
	close_docs(&d);
}

static void test_aliases(void **state)
{
	struct docs d;
	struct ynode *root, *n;

	/* the latest anchor of the name before the alias; ynode_get() follows it */
	open_docs(&d, "b: &u {k: v}\nc: &m 1\nd: *m\ne: &m 2\nf: *m\nh: *u\n");
	root = next_doc(&d);
	assert_ptr_equal(ynode_get(root, "h"), get(root, "b"));
	n = get(root, "h");
	assert_int_equal(n->type, YN_ALIAS);
	assert_ptr_equal(n->target, get(root, "b"));
	assert_int_equal(n->line, 6);
	assert_int_equal(n->col, 4);
	assert_true(get(root, "b")->flags & YF_ANCHOR);
	assert_string_equal(ynode_deref(get(root, "d"))->u.text, "1");
	assert_string_equal(ynode_deref(get(root, "f"))->u.text, "2");
	close_docs(&d);

	/* none before it (even one after it): an error, as kubectl has it */
	assert_fails("a: 1\nb: *u\nc: &u 2\n", 2, 4, "unknown anchor 'u' referenced");

	/* an alias of its own ancestor */
	open_docs(&d, "a: &a [*a, 1a]\n");
	root = next_doc(&d);
	n = get(root, "a")->u.items[0];
	assert_ptr_equal(n->target, get(root, "a"));
	close_docs(&d);

	/* anchors are per document */
	open_docs(&d, "a: &x 1\n---\nb: *x\n");
	next_doc(&d);
	assert_int_equal(ytree_next(d.t, d.p, &root, &d.err), -1);
	close_docs(&d);
}

/* libyaml's messages, at the problem's place; the parser stays failed. */
static void test_syntax_error(void **state)
{
	struct docs d;
	struct ynode *root;

	open_docs(&d, "a: 1\n---\nb: [1, 2\nc: 3\n");
	next_doc(&d);
	assert_int_equal(ytree_next(d.t, d.p, &root, &d.err), -1);
	assert_null(root);
	assert_int_equal(d.err.line, 4);
	assert_int_equal(d.err.col, 2);
	assert_string_equal(
	    d.err.msg,
	    "did not find expected ',' or ']' (while parsing a flow sequence at line 3)");
	assert_int_equal(ytree_next(d.t, d.p, &root, &d.err), -1);
	close_docs(&d);

	/* libyaml's reader refuses a control character: at its line and column */
	assert_fails("a: 1\nb: x\x01y\n", 2, 5, "control characters are not allowed (0x01)");

	/* JSON is YAML's flow style: read as is, even without blanks after ':' */
	open_docs(&d, "{\"a\":{\"b\":[1,\"x\\u00e9\\/\"]}}");
	root = next_doc(&d);
	assert_string_equal(get(get(root, "a"), "b")->u.items[1]->u.text, "x\xc3\xa9/");
	close_docs(&d);
}

static void test_depth(void **state)
{
	char text[256];
	struct docs d;

	/* 63 levels are fine, 64 are too many */
	memset(text, '[', 63);
	memset(text + 63, ']', 63);
	text[126] = '\0';
	open_docs(&d, text);
	next_doc(&d);
	close_docs(&d);

	memset(text, '[', 64);
	memset(text + 64, ']', 64);
	text[128] = '\0';
	assert_fails(text, 1, 64, "Max depth (64) exceeded");
}

/*
 * ytree_check() on a large mapping (sorted, not hashed): the first key in
 * document order that repeats an earlier one, whatever the sort order; and
 * many anchors (a tree, not a hash table), each alias to the latest one.
 */
static void test_check_large(void **state)
{
	size_t cap = 1 << 20, n = 0;
	char *text = malloc(cap);
	struct ynode *root;
	struct docs d;

	assert_non_null(text);
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(text + n, cap - n, "k%02d: 1\n", i);
	/* line 31 repeats k20 (z-a order would find line 32's first), line 32 repeats k01 */
	n += (size_t)snprintf(text + n, cap - n, "k20: 2\nk01: 2\n");
	open_docs(&d, text);
	root = next_doc(&d);
	assert_int_equal(ytree_check(root, n, &d.err), -1);
	assert_int_equal(d.err.line, 31);
	assert_string_equal(d.err.msg, "duplicate key \"k20\" (first at line 21)");
	close_docs(&d);

	n = 0;
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(text + n, cap - n, "a%d: &x%d %d\n", i, i % 5000, i);
	n += (size_t)snprintf(text + n, cap - n, "b: [*x0, *x4999, *x1234]\n");
	open_docs(&d, text);
	root = next_doc(&d);
	assert_int_equal(ytree_check(root, n, &d.err), 0);
	{
		struct ynode *b = get(root, "b");

		assert_string_equal(ynode_deref(b->u.items[0])->u.text, "15000");
		assert_string_equal(ynode_deref(b->u.items[1])->u.text, "19999");
		assert_string_equal(ynode_deref(b->u.items[2])->u.text, "16234");
	}
	close_docs(&d);
	free(text);
}

/* Nodes made by hand, as the API source adds kind and apiVersion. */
static void test_by_hand(void **state)
{
	struct docs d;
	struct ynode *root;

	open_docs(&d, "{\"a\": 1}");
	root = next_doc(&d);
	ytree_map_append(d.t, root, ytree_scalar(d.t, "kind", true),
	                 ytree_scalar(d.t, "Service", true));
	assert_int_equal(root->len, 2);
	assert_string_equal(get(root, "kind")->u.text, "Service");
	assert_string_equal(get(root, "a")->u.text, "1");
	close_docs(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape),        cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_syntax_error), cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_check_large),  cmocka_unit_test(test_by_hand),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
