/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_decode_limits.c - hostile and broken input: every case crashed,
 * hung or was misread by the decoder once (issue 9). Each buffer is
 * refused or the object rejected, quickly, with a message that says why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source/decode.h"
#include "decode_fix.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define SVC_HEAD "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"

/* 3+ clusterIPs once wrote past the two-element array (heap overflow). */
static void test_cluster_ips_bounds(void **state)
{
	struct fix *f = *state;
	char text[4096];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text), "%sspec:\n  ports: [{port: 80}]\n  clusterIPs:\n",
	                     SVC_HEAD);
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      i % 2 ? "  - fd00::%d\n" : "  - 10.0.0.%d\n", i + 1);
	assert_int_equal(dec(f, "s.yaml", text), 1);
	assert_int_equal(f->m.n_services, 0);
	assert_msg(f, "s.yaml: Service default/web: spec.clusterIPs: at most two addresses (one "
	              "per family) are allowed");
	assert_int_equal(f->rej.n, 1);
}

/* Nested Lists of aliases: 7 levels of 10 once took 95 s and 8 GB. */
static void test_billion_laughs(void **state)
{
	struct fix *f = *state;
	char text[2048];
	size_t n;
	double t0 = now_s();

	n = (size_t)snprintf(text, sizeof(text),
	                     "apiVersion: v1\nkind: List\nitems:\n- &l0 {apiVersion: v1, kind: "
	                     "Service, metadata: {name: a}, spec: {ports: [{port: 80}]}}\n");
	for (int i = 1; i < 8; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      "- &l%d {apiVersion: v1, kind: List, items: [", i);
		for (int k = 0; k < 10; k++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s*l%d", k ? "," : "",
			                      i - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "]}\n");
	}
	assert_int_equal(dec(f, "laughs.yaml", text), -EINVAL);
	assert_int_equal(f->m.n_services, 0);
	assert_int_equal(f->rej.n, 0);
	assert_int_equal(f->d.n, 1);
	assert_non_null(strstr(f->d.msgs[0], "aliases expand to more than 65536 nodes"));
	assert_true(now_s() - t0 < 2);

	/* an alias to its own ancestor */
	assert_int_equal(dec(f, "rec.yaml", "a: &a [1, *a]\n"), -EINVAL);
	assert_msg(f, "rec.yaml:1:11: an alias may not refer to a node that contains it");
	/* alias names are anchor names: no paths (libfyaml read "*" "/" as the root) */
	assert_int_equal(dec(f, "path.yaml", "a: &a [*/,1a]\n"), -EINVAL);
	assert_msg(f, "path.yaml:1:9: did not find expected alphabetic or numeric character (while "
	              "scanning an alias at line 1)");

	/* ordinary use of aliases stays fine */
	assert_int_equal(dec(f, "ok.yaml",
	                     "apiVersion: v1\nkind: List\nitems:\n"
	                     "- {apiVersion: v1, kind: Service, metadata: {name: a},\n"
	                     "   spec: {ports: &p [{name: a, port: 80}, {name: b, port: 81}]}}\n"
	                     "- {apiVersion: v1, kind: Service, metadata: {name: b}, spec: {ports: "
	                     "*p}}\n"),
	                 0);
	assert_int_equal(f->m.n_services, 2);
}

/* A mapping of 40k keys once took 28 s (libfyaml's pairwise duplicate-key check). */
static void test_many_keys(void **state)
{
	struct fix *f = *state;
	size_t cap = 64 + 40000 * 16, n;
	char *text = test_malloc(cap);
	double t0 = now_s();

	n = (size_t)snprintf(text, cap, "%sspec:\n  ports: [{port: 80}]\n", SVC_HEAD);
	for (int i = 0; i < 40000; i++)
		n += (size_t)snprintf(text + n, cap - n, "k%d: 1\n", i);
	assert_int_equal(decn(f, "keys.yaml", NULL, text, n), 0);
	assert_int_equal(f->m.n_services, 1);
	assert_true(now_s() - t0 < 5);

	/* duplicates are still refused, in a large mapping as in a small one */
	n += (size_t)snprintf(text + n, cap - n, "k39999: 2\n");
	assert_int_equal(decn(f, "keys.yaml", NULL, text, n), -EINVAL);
	assert_msg(f, "keys.yaml:40007:1: duplicate key \"k39999\" (first at line 40006)");
	assert_int_equal(f->m.n_services, 1);
	test_free(text);
	assert_int_equal(dec(f, "dup.yaml", "a: {x: 1, y: 2, x: 3}\n"), -EINVAL);
	assert_msg(f, "dup.yaml:1:17: duplicate key \"x\" (first at line 1)");
}

/* Duplicate ports were found pairwise: 60k ports took seconds. */
static void test_many_ports(void **state)
{
	struct fix *f = *state;
	size_t cap = 128 + 60001 * 40, n;
	char *text = test_malloc(cap);
	double t0 = now_s();

	n = (size_t)snprintf(text, cap, "%sspec:\n  ports:\n", SVC_HEAD);
	for (int i = 1; i <= 60000; i++)
		n += (size_t)snprintf(text + n, cap - n, "  - {name: p%d, port: %d}\n", i, i);
	n += (size_t)snprintf(text + n, cap - n, "  - {name: p1, port: 60000}\n");
	assert_int_equal(decn(f, "ports.yaml", NULL, text, n), 1);
	assert_true(now_s() - t0 < 10); /* pairwise: 1.8e9 comparisons */
	assert_msg(f,
	           "ports.yaml: Service default/web: spec.ports[60000]: duplicate port 60000/tcp "
	           "(also spec.ports[59999])");
	test_free(text);
}

/* NUL bytes (a power loss can leave a file of them) are not "no objects". */
static void test_nul(void **state)
{
	struct fix *f = *state;
	static const char zeros[4096];
	static const char tail[] = SVC_HEAD "spec: {ports: [{port: 80}]}\n\0garbage";

	assert_int_equal(decn(f, "zero.yaml", NULL, zeros, sizeof(zeros)), -EINVAL);
	assert_msg(f, "zero.yaml:1:1: NUL byte: refused with all that follows (a truncated or "
	              "corrupt file?)");
	assert_int_equal(decn(f, "tail.yaml", NULL, tail, sizeof(tail) - 1), -EINVAL);
	assert_msg(f, "tail.yaml:6:1: NUL byte: refused with all that follows (a truncated or "
	              "corrupt file?)");
	assert_int_equal(f->m.n_services, 0);
}

static void test_size_and_count(void **state)
{
	struct fix *f = *state;
	size_t big = (size_t)DECODE_MAX_BYTES + 1, n = 0;
	char *text = malloc(big);
	const char doc[] = "--- {apiVersion: v1, kind: X}\n";

	assert_non_null(text);
	memset(text, ' ', big);
	assert_int_equal(decn(f, "big.yaml", NULL, text, big), -EINVAL);
	assert_msg(f, "big.yaml: 67108865 bytes, more than the 64 MiB a manifest may have: "
	              "refused");

	for (int i = 0; i <= DECODE_MAX_OBJECTS; i++) {
		memcpy(text + n, doc, sizeof(doc) - 1);
		n += sizeof(doc) - 1;
	}
	assert_int_equal(decn(f, "many.yaml", NULL, text, n), -EINVAL);
	assert_msg(f, "many.yaml: more than 100000 objects: refused (split the file)");
	free(text);

	/* nesting: ytree's limit (64) */
	memset(text = malloc(200), '[', 100);
	memset(text + 100, ']', 100);
	assert_int_equal(decn(f, "deep.yaml", NULL, text, 200), -EINVAL);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cluster_ips_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_billion_laughs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_and_count, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
