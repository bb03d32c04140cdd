/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_bpf_slots.c - the bpf dataplane's slot layout: endpoints keep their
 * slot while they stay, so one endpoint change is at most two slot writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/bpf/bpf_int.h"

static struct sp_backend be(uint8_t last)
{
	struct sp_backend b = {.port = 0x901f, .family = 4};

	b.addr[0] = 10u | 244u << 8 | 1u << 16 | (uint32_t)last << 24;
	return b;
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sp_backend));
}

/* Arrange cur towards the endpoints named by want[]; returns the count, layout in out. */
static uint32_t arrange(const struct sp_backend *cur, uint32_t n_cur, const uint8_t *want,
                        uint32_t nw, struct sp_backend *out)
{
	struct sp_backend w[16];

	for (uint32_t i = 0; i < nw; i++)
		w[i] = be(want[i]);
	qsort(w, nw, sizeof(w[0]), cmp);
	return bpf_slots_arrange(cur, n_cur, w, nw, out);
}

/* How many slots a sync writes or deletes between two layouts. */
static unsigned writes(const struct sp_backend *a, uint32_t na, const struct sp_backend *b,
                       uint32_t nb)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < (na > nb ? na : nb); i++)
		n += i >= na || i >= nb || memcmp(&a[i], &b[i], sizeof(a[i]));
	return n;
}

static void test_unchanged(void **state)
{
	struct sp_backend cur[3] = {be(13), be(11), be(12)}, out[6];
	uint32_t n = arrange(cur, 3, (const uint8_t[]){11, 12, 13}, 3, out);

	assert_int_equal(n, 3);
	assert_int_equal(writes(cur, 3, out, n), 0); /* not re-sorted */
}

static void test_remove_middle(void **state)
{
	struct sp_backend cur[4] = {be(11), be(12), be(13), be(14)}, out[8];
	uint32_t n = arrange(cur, 4, (const uint8_t[]){11, 13, 14}, 3, out);

	assert_int_equal(n, 3);
	assert_memory_equal(&out[0], &cur[0], sizeof(out[0]));
	assert_memory_equal(&out[1], &cur[3], sizeof(out[0])); /* the last moved in */
	assert_memory_equal(&out[2], &cur[2], sizeof(out[0]));
	assert_true(writes(cur, 4, out, n) <= 2);
}

static void test_add(void **state)
{
	struct sp_backend cur[2] = {be(12), be(11)}, out[5];
	uint32_t n = arrange(cur, 2, (const uint8_t[]){11, 12, 15}, 3, out);

	assert_int_equal(n, 3);
	assert_memory_equal(out, cur, 2 * sizeof(out[0]));
	assert_int_equal(writes(cur, 2, out, n), 1);
}

static void test_replace_and_empty(void **state)
{
	struct sp_backend cur[3] = {be(11), be(12), be(13)}, out[6];
	uint32_t n = arrange(cur, 3, (const uint8_t[]){11, 16, 13}, 3, out);

	assert_int_equal(n, 3);
	assert_int_equal(writes(cur, 3, out, n), 1); /* 12's slot now holds 16 */
	assert_int_equal(arrange(cur, 3, NULL, 0, out), 0);
	assert_int_equal(arrange(NULL, 0, (const uint8_t[]){12, 11}, 2, out), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unchanged),
	    cmocka_unit_test(test_remove_middle),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_replace_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
