/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_bpf_sync.c - bpf_dp_sync against real BPF hash maps (no programs, no
 * cgroup: the maps alone): a sync touches only the entries that are not the
 * very same objects as in the last one, keeps slots stable, deletes what
 * left, and after an adopt diffs everything against what the maps hold.
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

struct fixture {
	struct bpf_dp dp;
	char labels[N_SVC][32];
	struct backend be[N_SVC][4];
	struct entry entries[N_SVC];
};

static struct ipaddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ipaddr x = {.family = AF_INET};

	x.raw[0] = a, x.raw[1] = b, x.raw[2] = c, x.raw[3] = d;
	return x;
}

/* Entry i: ClusterIP 10.96.0.i:80/TCP, endpoints 10.244.i.1..3:8080. */
static void make_entry(struct fixture *fx, int i)
{
	struct entry *e = &fx->entries[i];

	snprintf(fx->labels[i], sizeof(fx->labels[i]), "ns/svc%d", i);
	for (int j = 0; j < 3; j++)
		fx->be[i][j] = (struct backend){.addr = v4(10, 244, (uint8_t)i, (uint8_t)(j + 1)),
		                                .port = 8080};
	*e = (struct entry){.kind = ENTRY_CLUSTER_IP,
	                    .addr = v4(10, 96, 0, (uint8_t)i),
	                    .proto = IPPROTO_TCP,
	                    .port = 80,
	                    .label = fx->labels[i],
	                    .backends = fx->be[i],
	                    .n_backends = 3,
	                    .n_all = 3};
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	fx->dp.fd_services =
	    bpf_map_create(BPF_MAP_TYPE_HASH, "t_services", sizeof(struct sp_svc_key),
	                   sizeof(struct sp_svc_val), 1024, NULL);
	fx->dp.fd_slots = bpf_map_create(BPF_MAP_TYPE_HASH, "t_slots", sizeof(struct sp_slot_key),
	                                 sizeof(struct sp_backend), 4096, NULL);
	fx->dp.fd_node_addrs = bpf_map_create(
	    BPF_MAP_TYPE_HASH, "t_node", sizeof(struct sp_node_key), sizeof(uint32_t), 16, NULL);
	if (fx->dp.fd_services < 0 || fx->dp.fd_slots < 0 || fx->dp.fd_node_addrs < 0) {
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
		make_entry(fx, i);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	bpf_state_free(&fx->dp);
	free(fx->dp.pin_path);
	for (int fd = 0; fd < 3; fd++) {
		int f = fd == 0   ? fx->dp.fd_services
		        : fd == 1 ? fx->dp.fd_slots
		                  : fx->dp.fd_node_addrs;

		if (f >= 0)
			close(f);
	}
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

static struct sp_backend slot_of(struct fixture *fx, int svc, uint32_t slot)
{
	struct sp_svc_key k = {.port = htons(80), .proto = IPPROTO_TCP, .family = 4};
	struct sp_svc_val v;
	struct sp_slot_key sk = {.slot = slot};
	struct sp_backend b = {0};

	memcpy(k.addr, fx->entries[svc].addr.raw, 4);
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_services, &k, &v), 0);
	sk.svc_id = v.id;
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_slots, &sk, &b), 0);
	return b;
}

static void test_incremental(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC], some[N_SVC - 1];
	struct sp_backend b0, b2;

	if (fx->dp.fd_services < 0)
		skip();
	for (int i = 0; i < N_SVC; i++)
		all[i] = i;
	/* cold: every Service and slot written */
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC * 4);
	assert_int_equal(map_count(fx->dp.fd_services, sizeof(struct sp_svc_key)), N_SVC);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), N_SVC * 3);
	/* the same objects again: nothing to do */
	assert_int_equal(do_sync(fx, all, N_SVC), 0);

	/* Service 7 gets a new entry object, its endpoint 2 replaced: one slot write */
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

	/* Service 7's endpoints changed but the object is the same: not looked at (contract) */
	fx->be[7][0].addr = v4(10, 244, 7, 98);
	assert_int_equal(do_sync(fx, all, N_SVC), 0);

	/* Service 20 leaves: its entry and its 3 slots deleted, nothing else */
	for (int i = 0, k = 0; i < N_SVC; i++)
		if (i != 20)
			some[k++] = i;
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 4);
	assert_int_equal(map_count(fx->dp.fd_services, sizeof(struct sp_svc_key)), N_SVC - 1);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), (N_SVC - 1) * 3);

	/* after an adopt everything is diffed against the maps: Service 7's slot 0 rewritten */
	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	assert_int_equal(do_sync(fx, some, N_SVC - 1), 1);
	free(fx->entries[7].label);
	fx->entries[7].label = fx->labels[7];
	bpf_state_free(&fx->dp); /* drops the copies that still point at the strdup'ed label */
}

/* A sync that died half way: adopt keeps slots up to the first missing one, prunes the rest. */
static void test_adopt_half_written(void **state)
{
	struct fixture *fx = *state;
	int all[N_SVC];
	struct sp_svc_key k = {.port = htons(80), .proto = IPPROTO_TCP, .family = 4};
	struct sp_svc_val v;
	struct sp_slot_key sk;
	struct sp_backend junk = {.family = 4, .port = 1};

	if (fx->dp.fd_services < 0)
		skip();
	for (int i = 0; i < N_SVC; i++)
		all[i] = i;
	assert_int_equal(do_sync(fx, all, N_SVC), N_SVC * 4);
	memcpy(k.addr, fx->entries[5].addr.raw, 4);
	assert_int_equal(bpf_map_lookup_elem(fx->dp.fd_services, &k, &v), 0);
	sk = (struct sp_slot_key){.svc_id = v.id, .slot = 1};
	assert_int_equal(bpf_map_delete_elem(fx->dp.fd_slots, &sk), 0);
	sk = (struct sp_slot_key){.svc_id = 100000, .slot = 0}; /* no Service has this id */
	assert_int_equal(bpf_map_update_elem(fx->dp.fd_slots, &sk, &junk, BPF_ANY), 0);

	assert_int_equal(bpf_dp_adopt(&fx->dp), 0);
	/* the orphan and Service 5's slot 2 (behind the hole) are gone already */
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), N_SVC * 3 - 2);
	/* Service 5: slots 1 and 2 written again, its entry rewritten (count) */
	assert_int_equal(do_sync(fx, all, N_SVC), 3);
	assert_int_equal(map_count(fx->dp.fd_slots, sizeof(struct sp_slot_key)), N_SVC * 3);
	assert_int_equal(do_sync(fx, all, N_SVC), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_incremental, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_adopt_half_written, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
