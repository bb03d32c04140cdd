/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_bpf_sync.c - bpf_dp_sync against real BPF hash maps (no programs, no
 * cgroup: the maps alone): a sync touches only the entries that are not the
 * very same objects as in the last one, keeps slots stable, deletes what
 * left, and after an adopt diffs everything against what the maps hold.
 * Services of up to SP_INLINE endpoints hold their slots in their entry,
 * larger ones in sp_slots; a Service crossing the limit moves them.
 * Needs CAP_BPF (root); skipped when the maps cannot be created.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <cmocka.h>

#include "dataplane/bpf/bpf_int.h"

#define N_SVC 64
#define BIG   (SP_INLINE + 4) /* endpoints of a Service whose slots are in sp_slots */

struct fixture {
	struct bpf_dp dp;
	char labels[N_SVC][32];
	struct backend be[N_SVC][BIG];
	struct entry entries[N_SVC];
};

static struct ipaddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ipaddr x = {.family = AF_INET};

	x.raw[0] = a, x.raw[1] = b, x.raw[2] = c, x.raw[3] = d;
	return x;
}

/* Entry i: ClusterIP 10.96.0.i:80/TCP, endpoints 10.244.i.1..nb:8080. */
static void make_entry(struct fixture *fx, int i, size_t nb)
{
	struct entry *e = &fx->entries[i];

	snprintf(fx->labels[i], sizeof(fx->labels[i]), "ns/svc%d", i);
	for (size_t j = 0; j < nb; j++)
		fx->be[i][j] = (struct backend){.addr = v4(10, 244, (uint8_t)i, (uint8_t)(j + 1)),
		                                .port = 8080};
	*e = (struct entry){.kind = ENTRY_CLUSTER_IP,
	                    .addr = v4(10, 96, 0, (uint8_t)i),
	                    .proto = IPPROTO_TCP,
	                    .port = 80,
	                    .label = fx->labels[i],
	                    .backends = fx->be[i],
	                    .n_backends = nb,
	                    .n_all = nb};
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->dp.fd_services4 =
	    bpf_map_create(BPF_MAP_TYPE_HASH, "t_services4", sizeof(struct sp_svc4_key),
	                   sizeof(struct sp_svc4_val), 1024, NULL);
	fx->dp.fd_services6 =
	    bpf_map_create(BPF_MAP_TYPE_HASH, "t_services6", sizeof(struct sp_svc_key),
	                   sizeof(struct sp_svc_val), 1024, NULL);
	fx->dp.fd_slots = bpf_map_create(BPF_MAP_TYPE_HASH, "t_slots", sizeof(struct sp_slot_key),
	                                 sizeof(struct sp_backend), 4096, NULL);
	fx->dp.fd_node_addrs = bpf_map_create(
	    BPF_MAP_TYPE_HASH, "t_node", sizeof(struct sp_node_key), sizeof(uint32_t), 16, NULL);
	fx->dp.fd_filter = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_filter", sizeof(uint32_t),
	                                  sizeof(struct sp_filter), 1, NULL);
	if (fx->dp.fd_services4 < 0 || fx->dp.fd_services6 < 0 || fx->dp.fd_slots < 0 ||
	    fx->dp.fd_node_addrs < 0 || fx->dp.fd_filter < 0) {
		print_message("cannot create BPF maps (%s): skipped, needs CAP_BPF\n",
		              strerror(errno));
		*state = fx;
		return 0;
	}
	fx->dp.pin_path = strdup("(test maps)");
	bytemap_init(&fx->dp.index, sizeof(struct sp_svc_key), sizeof(uint32_t));
	bytemap_init(&fx->dp.node_addrs, sizeof(struct sp_node_key), 0);
	fx->dp.need_adopt = true;
	for (int i = 0; i < N_SVC; i++)
		make_entry(fx, i, 3);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	bpf_state_free(&fx->dp);
	free(fx->dp.pin_path);
	int fds[] = {fx->dp.fd_services4, fx->dp.fd_services6, fx->dp.fd_slots,
	             fx->dp.fd_node_addrs, fx->dp.fd_filter};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fx);
	return 0;
}

static size_t map_count(int fd, size_t key_size)
{
	uint8_t k[64], next[64];
	void *prev = NULL;
	size_t n = 0;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(k, next, key_size);
		prev = k;
		n++;
	}
	return n;
}

/* Sync entries[0..n) (a fresh entries array, as compile() makes: shallow copies). */
static size_t do_sync(struct fixture *fx, const int *idx, size_t n)
{
	struct entry *v = calloc(n ? n : 1, sizeof(*v));
	struct desired ds = {.family = AF_INET, .entries = v, .n_entries = n};
	struct bpf_sync_stats st;

	for (size_t i = 0; i < n; i++)
		v[i] = fx->entries[idx[i]];
	assert_int_equal(bpf_dp_sync(&fx->dp, &ds, 1, NULL, 0, &st), 0);
	free(v); /* the dataplane keeps its own copy of the array */
	return st.changes;
}

static struct sp_svc_val entry_of(struct fixture *fx, int svc)
{
	struct sp_svc_key k = {.port = htons(80), .proto = IPPROTO_TCP, .family = 4};
	struct sp_svc4_key k4;
	struct sp_svc4_val v4;
	struct sp_svc_val v;

	memcpy(k.addr, fx->entries[svc].addr.raw, 4);
	sp_svc4_pack(&k, NULL, &k4, NULL);
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_services4, &k4, &v4), 0);
	sp_svc4_unpack(&k4, &v4, &k, &v);
	return v;
}

/* Slot i of Service svc, where the programs read it: the entry or sp_slots. */
static struct sp_backend slot_of(struct fixture *fx, int svc, uint32_t slot)
{
	struct sp_svc_val v = entry_of(fx, svc);
	struct sp_slot_key sk = {.svc_id = v.id, .slot = slot};
	struct sp_backend b = {0};

	assert_true(slot < v.count);
	if (!(v.flags & SP_F_SLOTS))
		return v.inl[slot];
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_slots, &sk, &b), 0);
	return b;
}

/* Every endpoint of entry svc is in exactly one slot. */
static void assert_slots_hold(struct fixture *fx, int svc)
{
	const struct entry *e = &fx->entries[svc];
	struct sp_svc_val v = entry_of(fx, svc);

	assert_int_equal(v.count, e->n_backends);
	assert_int_equal(!!(v.flags & SP_F_SLOTS), e->n_backends > SP_INLINE);
	for (size_t j = 0; j < e->n_backends; j++) {
		int found = 0;

		for (uint32_t i = 0; i < v.count; i++) {
			struct sp_backend b = slot_of(fx, svc, i);

			found += !memcmp(b.addr, e->backends[j].addr.raw, 4) &&
			         b.port == htons(e->backends[j].port);
		}
		assert_int_equal(found, 1);
	}
}

static void all_of(int *idx)
{
	for (int i = 0; i < N_SVC; i++)
		idx[i] = i;
}

/* Small Services: everything is in the entries, one write per changed Service. */
static void test_incremental(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC], some[N_SVC - 1];
	struct sp_backend b0, b2;

	if (fx->dp.fd_services4 < 0)
		skip();
	all_of(all);
	/* cold: every Service entry written, no slot map element */
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC);
	assert_int_equal(map_count(fx->dp.fd_services4, sizeof(struct sp_svc4_key)), N_SVC);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), 0);
	assert_slots_hold(fx, 7);
	/* the same objects again: nothing to do */
	assert_int_equal(do_sync(fx, all, N_SVC), 0);

	/* Service 7 gets a new entry object, its endpoint 2 replaced: one entry write */
	b0 = slot_of(fx, 7, 0);
	b2 = slot_of(fx, 7, 2);
	fx->be[7][1].addr = v4(10, 244, 7, 99);
	fx->entries[7].backends = fx->be[7];
	fx->entries[7].label = strdup(fx->labels[7]); /* a new object: a new label pointer */
	assert_int_equal(do_sync(fx, all, N_SVC), 1);
	{
		struct sp_backend n0 = slot_of(fx, 7, 0), n2 = slot_of(fx, 7, 2);

		assert_memory_equal(&n0, &b0, sizeof(b0)); /* the others keep their slots */
		assert_memory_equal(&n2, &b2, sizeof(b2));
	}
	assert_slots_hold(fx, 7);

	/* Service 7's endpoints changed but the object is the same: not looked at (contract) */
	fx->be[7][0].addr = v4(10, 244, 7, 98);
	assert_int_equal(do_sync(fx, all, N_SVC), 0);

	/* Service 20 leaves: its entry deleted, nothing else */
	for (int i = 0, k = 0; i < N_SVC; i++)
		if (i != 20)
			some[k++] = i;
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 1);
	assert_int_equal(map_count(fx->dp.fd_services4, sizeof(struct sp_svc4_key)), N_SVC - 1);

	/* after an adopt everything is diffed against the maps: Service 7's entry rewritten */
	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 1);
	assert_slots_hold(fx, 7);
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 0);
	free(fx->entries[7].label);
	fx->entries[7].label = fx->labels[7];
	bpf_state_free(&fx->dp); /* drops the copies that still point at the strdup'ed label */
}

/* Whether sp_filter, as the programs read it, lets a connect to a (family 4) be looked up. */
static bool filter_lets(struct fixture *fx, struct ipaddr a)
{
	struct sp_filter *f = malloc(sizeof(*f));
	uint32_t zero = 0;
	__u32 addr[4] = {0};
	bool lets;

	memcpy(addr, a.raw, 4);
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_filter, &zero, f), 0);
	lets = sp_filter_lets(f, addr, 4);
	free(f);
	return lets;
}

/*
 * sp_filter follows the maps: a Service's /24 is let through while an entry
 * is there, a node address (NodePorts) only itself, never its neighbours.
 */
static void test_filter(void **state)
{
	struct fixture *fx = *state;
	struct ipaddr node = v4(10, 244, 9, 1);
	struct bpf_sync_stats st;
	int all[N_SVC], some[N_SVC - 1];

	if (fx->dp.fd_services4 < 0)
		skip();
	all_of(all);
	fx->entries[N_SVC - 1].addr = v4(10, 100, 5, 5); /* alone in its /24, still last */
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC);
	assert_true(filter_lets(fx, v4(10, 96, 0, 200))); /* the /24 of the others */
	assert_true(filter_lets(fx, v4(10, 100, 5, 5)));
	assert_false(filter_lets(fx, v4(10, 244, 9, 2))); /* a pod */
	/* it leaves: its /24 with it, the others' stays */
	for (int i = 0; i < N_SVC - 1; i++)
		some[i] = i;
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 1);
	assert_false(filter_lets(fx, v4(10, 100, 5, 5)));
	assert_true(filter_lets(fx, v4(10, 96, 0, 200)));
	/* a node address: itself, not the pods beside it; gone with it */
	{
		struct entry *v = calloc(N_SVC - 1, sizeof(*v));
		struct desired ds = {.family = AF_INET, .entries = v, .n_entries = N_SVC - 1};

		for (int i = 0; i < N_SVC - 1; i++)
			v[i] = fx->entries[some[i]];
		assert_int_equal(bpf_dp_sync(&fx->dp, &ds, 1, &node, 1, &st), 0);
		assert_true(filter_lets(fx, node));
		assert_false(filter_lets(fx, v4(10, 244, 9, 2)));
		assert_int_equal(bpf_dp_sync(&fx->dp, &ds, 1, NULL, 0, &st), 0);
		assert_false(filter_lets(fx, node));
		free(v);
	}
	/* an adopt rebuilds the filter from the maps' content */
	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 0);
	assert_true(filter_lets(fx, v4(10, 96, 0, 200)));
	assert_false(filter_lets(fx, v4(10, 100, 5, 5)));
	bpf_state_free(&fx->dp);
}

/* Large Services: slots in sp_slots, one slot write per replaced endpoint. */
static void test_large(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC];

	if (fx->dp.fd_services4 < 0)
		skip();
	all_of(all);
	for (int i = 0; i < N_SVC; i++)
		make_entry(fx, i, BIG);
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC * (1 + BIG));
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), N_SVC * BIG);
	assert_slots_hold(fx, 9);

	/* endpoint 5 of Service 9 replaced: one slot write, the entry is the same */
	fx->be[9][5].addr = v4(10, 244, 9, 200);
	fx->entries[9].label = strdup(fx->labels[9]);
	assert_int_equal(do_sync(fx, all, N_SVC), 1);
	assert_slots_hold(fx, 9);
	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	assert_int_equal(do_sync(fx, all, N_SVC), 0); /* adopted: the maps are what we want */
	free(fx->entries[9].label);
	fx->entries[9].label = fx->labels[9];
	bpf_state_free(&fx->dp);
}

/* Service 3 shrinks to SP_INLINE endpoints and grows back: its slots move, in order. */
static void test_resize(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC];
	char l1[32], l2[32];

	if (fx->dp.fd_services4 < 0)
		skip();
	all_of(all);
	make_entry(fx, 3, BIG);
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC + BIG);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), BIG);

	/* inline: the entry written, then the BIG stale slots deleted */
	fx->entries[3].n_backends = fx->entries[3].n_all = SP_INLINE;
	snprintf(l1, sizeof(l1), "%s", fx->labels[3]);
	fx->entries[3].label = l1;
	assert_int_equal(do_sync(fx, all, N_SVC), 1 + BIG);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), 0);
	assert_slots_hold(fx, 3);

	/* back to sp_slots: BIG slots written, then the entry */
	fx->entries[3].n_backends = fx->entries[3].n_all = BIG;
	snprintf(l2, sizeof(l2), "%s", fx->labels[3]);
	fx->entries[3].label = l2;
	assert_int_equal(do_sync(fx, all, N_SVC), BIG + 1);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), BIG);
	assert_slots_hold(fx, 3);
	bpf_state_free(&fx->dp);
	fx->entries[3].label = fx->labels[3];
}

/* A sync that died half way: adopt keeps slots up to the first missing one, prunes the rest. */
static void test_adopt_half_written(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC];
	struct sp_svc_val v;
	struct sp_slot_key sk;
	struct sp_backend junk = {.family = 4, .port = 1};

	if (fx->dp.fd_services4 < 0)
		skip();
	all_of(all);
	make_entry(fx, 5, BIG);
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC + BIG);
	v = entry_of(fx, 5);
	sk = (struct sp_slot_key){.svc_id = v.id, .slot = 1};
	assert_int_equal(bpf_map_delete_elem(fx->dp.fd_slots, &sk), 0);
	sk = (struct sp_slot_key){.svc_id = 100000, .slot = 0}; /* no Service has this id */
	assert_int_equal(bpf_map_update_elem(fx->dp.fd_slots, &sk, &junk, BPF_ANY), 0);
	v = entry_of(fx, 6); /* a small Service's id: it has no sp_slots element */
	sk = (struct sp_slot_key){.svc_id = v.id, .slot = 0};
	assert_int_equal(bpf_map_update_elem(fx->dp.fd_slots, &sk, &junk, BPF_ANY), 0);

	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	/* both strays and Service 5's slots behind the hole are gone already: slot 0 stays */
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), 1);
	/* Service 5: slots 1.. written again, its entry rewritten (count) */
	assert_int_equal(do_sync(fx, all, N_SVC), BIG);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), BIG);
	assert_slots_hold(fx, 5);
	assert_int_equal(do_sync(fx, all, N_SVC), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resize, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adopt_half_written, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
