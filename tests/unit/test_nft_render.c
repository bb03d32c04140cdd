/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_nft_render.c - nft_render: the exact key and data bytes of the
 * elements a desired state renders to, and their diff.
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

#include "bytemap_rec.h"

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
	i = must_find(&ns->s[SET_BACKENDS], k);
	assert_memory_equal(bytemap_key(&ns->s[SET_BACKENDS], i), k, 16);
	assert_memory_equal(bytemap_data(&ns->s[SET_BACKENDS], i), d, 8);
	assert_null(bytemap_comment(&ns->s[SET_BACKENDS], i));
}

/* The key and value lengths of the IPv4 sets. */
static void assert_layouts_v4(const struct nft_sets *ns)
{
	assert_int_equal(ns->s[SET_SERVICE_IPS].klen, 12);
	assert_int_equal(ns->s[SET_SERVICE_IPS].dlen, 4);
	assert_int_equal(ns->s[SET_BACKENDS].klen, 16);
	assert_int_equal(ns->s[SET_BACKENDS].dlen, 8);
	assert_int_equal(ns->s[SET_NO_ENDPOINTS].klen, 12);
	assert_int_equal(ns->s[SET_NO_ENDPOINTS].dlen, 0);
	assert_int_equal(ns->s[SET_CLUSTER_IPS].klen, 4);
	assert_int_equal(ns->s[SET_CLUSTER_IPS].dlen, 0);
	assert_int_equal(ns->s[SET_HAIRPIN].klen, 8);
	assert_int_equal(ns->s[SET_HAIRPIN].dlen, 0);
}

/* The hairpin element (pod, pod) is there. */
static void must_find_hairpin_v4(const struct nft_sets *ns, const uint8_t pod[4])
{
	uint8_t pair[8];

	memcpy(pair, pod, 4);
	memcpy(pair + 4, pod, 4);
	must_find(&ns->s[SET_HAIRPIN], pair);
}

/* An A.P.T key decodes to addr, proto, port. */
static void assert_key_decodes_v4(const uint8_t *k, const char *addr, uint8_t proto, uint16_t port)
{
	struct ipaddr a;
	uint8_t p;
	uint16_t pt;
	char buf[IPADDR_STRLEN];

	nft_key_decode(AF_INET, k, &a, &p, &pt);
	assert_string_equal(ipaddr_str(&a, buf), addr);
	assert_int_equal(p, proto);
	assert_int_equal(pt, port);
}

static void test_render_ipv4(void **unused)
{
	static const uint8_t vip1[4] = {10, 96, 0, 1}, vip2[4] = {10, 96, 0, 2};
	static const uint8_t p5[4] = {10, 244, 0, 5}, p7[4] = {10, 244, 1, 7},
	                     p9[4] = {10, 244, 2, 9};
	struct desired ds = {.family = AF_INET};
	struct nft_sets ns;
	uint8_t k[12];
	uint32_t kk;
	size_t i;

	add_entry(&ds, "10.96.0.1", L4_TCP, 80, "default/web:http", "10.244.0.5:8080",
	          "10.244.1.7:8080", "10.244.2.9:9090", (const char *)NULL);
	add_entry(&ds, "10.96.0.1", L4_UDP, 53, "default/web:dns", (const char *)NULL);
	add_entry(&ds, "10.96.0.2", L4_TCP, 443, "default/api", "10.244.0.5:8443",
	          (const char *)NULL);
	add_entry(&ds, "10.96.0.3", L4_SCTP, 3868, "default/empty", (const char *)NULL);
	nft_render(NFT_SCOPE_ALL, &ds, &ns);

	assert_layouts_v4(&ns);

	/* cluster_ip_ports: entries with backends, value k */
	assert_int_equal(ns.s[SET_CLUSTER_IP_PORTS].n, 2);
	key3_v4(k, vip1, L4_TCP, 80);
	i = must_find(&ns.s[SET_CLUSTER_IP_PORTS], k);
	assert_memory_equal(bytemap_key(&ns.s[SET_CLUSTER_IP_PORTS], i),
	                    ((const uint8_t[12]){10, 96, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0}), 12);
	kk = nft_lb_pack(LB_CLUSTER_IP, 3);
	assert_memory_equal(bytemap_data(&ns.s[SET_CLUSTER_IP_PORTS], i), &kk, 4);
	assert_string_equal(bytemap_comment(&ns.s[SET_CLUSTER_IP_PORTS], i), "default/web:http");
	key3_v4(k, vip2, L4_TCP, 443);
	i = must_find(&ns.s[SET_CLUSTER_IP_PORTS], k);
	assert_memory_equal(bytemap_key(&ns.s[SET_CLUSTER_IP_PORTS], i),
	                    ((const uint8_t[12]){10, 96, 0, 2, 6, 0, 0, 0, 0x01, 0xbb, 0, 0}), 12);
	kk = nft_lb_pack(LB_CLUSTER_IP, 1);
	assert_memory_equal(bytemap_data(&ns.s[SET_CLUSTER_IP_PORTS], i), &kk, 4);
	assert_string_equal(bytemap_comment(&ns.s[SET_CLUSTER_IP_PORTS], i), "default/api");

	/* backends: slots 0..k-1 are the backends in order */
	assert_int_equal(ns.s[SET_BACKENDS].n, 4);
	assert_backend(&ns, vip1, L4_TCP, 80, 0, p5, 8080);
	assert_backend(&ns, vip1, L4_TCP, 80, 1, p7, 8080);
	assert_backend(&ns, vip1, L4_TCP, 80, 2, p9, 9090);
	assert_backend(&ns, vip2, L4_TCP, 443, 0, p5, 8443);
	{
		uint8_t bk[16];
		uint32_t slot = 3;

		key3_v4(bk, vip1, L4_TCP, 80);
		memcpy(bk + 12, &slot, 4);
		assert_int_equal(bytemap_find(&ns.s[SET_BACKENDS], bk), -1);
	}

	/* no_endpoints: the entries without backends, with their labels */
	assert_int_equal(ns.s[SET_NO_ENDPOINTS].n, 2);
	key3_v4(k, vip1, L4_UDP, 53);
	i = must_find(&ns.s[SET_NO_ENDPOINTS], k);
	assert_memory_equal(bytemap_key(&ns.s[SET_NO_ENDPOINTS], i),
	                    ((const uint8_t[12]){10, 96, 0, 1, 17, 0, 0, 0, 0, 53, 0, 0}), 12);
	assert_string_equal(bytemap_comment(&ns.s[SET_NO_ENDPOINTS], i), "default/web:dns");
	key3_v4(k, (const uint8_t[4]){10, 96, 0, 3}, L4_SCTP, 3868);
	i = must_find(&ns.s[SET_NO_ENDPOINTS], k);
	assert_memory_equal(bytemap_key(&ns.s[SET_NO_ENDPOINTS], i),
	                    ((const uint8_t[12]){10, 96, 0, 3, 132, 0, 0, 0, 0x0f, 0x1c, 0, 0}),
	                    12);
	assert_string_equal(bytemap_comment(&ns.s[SET_NO_ENDPOINTS], i), "default/empty");
	key3_v4(k, vip1, L4_TCP, 80);
	assert_int_equal(bytemap_find(&ns.s[SET_NO_ENDPOINTS], k), -1);

	/* cluster_ips: each address once, with or without backends */
	assert_int_equal(ns.s[SET_CLUSTER_IPS].n, 3);
	must_find(&ns.s[SET_CLUSTER_IPS], vip1);
	must_find(&ns.s[SET_CLUSTER_IPS], vip2);
	must_find(&ns.s[SET_CLUSTER_IPS], (const uint8_t[4]){10, 96, 0, 3});

	/* hairpin: (pod, pod) once per backend address */
	assert_int_equal(ns.s[SET_HAIRPIN].n, 3);
	must_find_hairpin_v4(&ns, p5);
	must_find_hairpin_v4(&ns, p7);
	must_find_hairpin_v4(&ns, p9);

	/* the keys decode back */
	key3_v4(k, vip2, L4_TCP, 443);
	assert_key_decodes_v4(k, "10.96.0.2", L4_TCP, 443);

	nft_sets_free(&ns);
	free_built(&ds);
}

static void test_render_ipv6(void **unused)
{
	struct desired ds = {.family = AF_INET6};
	struct nft_sets ns;
	struct entry *e;
	uint8_t k[28], d[20];
	uint32_t kk = nft_lb_pack(LB_CLUSTER_IP, 1), slot = 0;
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
	nft_render(NFT_SCOPE_ALL, &ds, &ns);

	assert_int_equal(ns.s[SET_SERVICE_IPS].klen, 24);
	assert_int_equal(ns.s[SET_BACKENDS].klen, 28);
	assert_int_equal(ns.s[SET_BACKENDS].dlen, 20);
	assert_int_equal(ns.s[SET_CLUSTER_IPS].klen, 16);
	assert_int_equal(ns.s[SET_HAIRPIN].klen, 32);

	memset(k, 0, sizeof(k));
	memcpy(k, vip.raw, 16);
	k[16] = L4_UDP;
	k[20] = 0;
	k[21] = 53;
	i = must_find(&ns.s[SET_CLUSTER_IP_PORTS], k);
	assert_memory_equal(bytemap_data(&ns.s[SET_CLUSTER_IP_PORTS], i), &kk, 4);
	memcpy(k + 24, &slot, 4);
	i = must_find(&ns.s[SET_BACKENDS], k);
	memset(d, 0, sizeof(d));
	memcpy(d, pod.raw, 16);
	d[16] = 0x14;
	d[17] = 0xe9; /* 5353 */
	assert_memory_equal(bytemap_data(&ns.s[SET_BACKENDS], i), d, 20);
	must_find(&ns.s[SET_CLUSTER_IPS], vip.raw);
	{
		uint8_t pair[32];

		memcpy(pair, pod.raw, 16);
		memcpy(pair + 16, pod.raw, 16);
		must_find(&ns.s[SET_HAIRPIN], pair);
	}
	assert_int_equal(ns.s[SET_NO_ENDPOINTS].n, 0);
	nft_sets_free(&ns);
	free_built(&ds);
}

static void test_render_empty(void **unused)
{
	struct desired ds = {.family = AF_INET};
	struct nft_sets ns;

	nft_render(NFT_SCOPE_ALL, &ds, &ns);
	assert_int_equal(ns.s[SET_CLUSTER_IP_PORTS].n + ns.s[SET_SERVICE_IPS].n +
	                     ns.s[SET_BACKENDS].n + ns.s[SET_NO_ENDPOINTS].n +
	                     ns.s[SET_CLUSTER_IPS].n + ns.s[SET_HAIRPIN].n,
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
	nft_render(NFT_SCOPE_ALL, &a, &na);
	nft_render(NFT_SCOPE_ALL, &b, &nb);

	assert_int_equal(diff(&na.s[SET_CLUSTER_IP_PORTS], &nb.s[SET_CLUSTER_IP_PORTS], &c), 2);
	assert_int_equal(c.v[0].op, 'd');
	assert_int_equal(c.v[1].op, 'a');
	assert_int_equal(diff(&na.s[SET_BACKENDS], &nb.s[SET_BACKENDS], &c), 1);
	assert_int_equal(c.v[0].op, 'a');
	assert_int_equal(diff(&na.s[SET_NO_ENDPOINTS], &nb.s[SET_NO_ENDPOINTS], &c), 0);
	assert_int_equal(diff(&na.s[SET_CLUSTER_IPS], &nb.s[SET_CLUSTER_IPS], &c), 0);
	assert_int_equal(diff(&na.s[SET_HAIRPIN], &nb.s[SET_HAIRPIN], &c), 1);
	/* and back */
	assert_int_equal(diff(&nb.s[SET_CLUSTER_IP_PORTS], &na.s[SET_CLUSTER_IP_PORTS], &c), 2);
	assert_int_equal(diff(&nb.s[SET_BACKENDS], &na.s[SET_BACKENDS], &c), 1);
	assert_int_equal(c.v[0].op, 'd');
	/* the same desired state renders identically */
	nft_sets_free(&nb);
	nft_render(NFT_SCOPE_ALL, &a, &nb);
	assert_int_equal(diff(&na.s[SET_CLUSTER_IP_PORTS], &nb.s[SET_CLUSTER_IP_PORTS], &c), 0);
	assert_int_equal(diff(&na.s[SET_BACKENDS], &nb.s[SET_BACKENDS], &c), 0);
	assert_int_equal(diff(&na.s[SET_NO_ENDPOINTS], &nb.s[SET_NO_ENDPOINTS], &c), 0);
	assert_int_equal(diff(&na.s[SET_CLUSTER_IPS], &nb.s[SET_CLUSTER_IPS], &c), 0);
	assert_int_equal(diff(&na.s[SET_HAIRPIN], &nb.s[SET_HAIRPIN], &c), 0);

	nft_sets_free(&na);
	nft_sets_free(&nb);
	free_built(&a);
	free_built(&b);
}

/*
 * Beside the bpf dataplane (NFT_SCOPE_ENTERING) the table holds no TCP/UDP
 * ClusterIP and needs no hook for them; SCTP stays, with every path; an
 * external entry needs the inbound path only. The paths survive the table
 * comment, which is how a restart adopts the table as it is.
 */
static void test_scope_entering(void **unused)
{
	struct desired ds = {.family = AF_INET};
	struct nft_layout_opts o = {.scope = NFT_SCOPE_ENTERING};
	struct nft_layout_parsed lp;
	struct nft_sets ns;
	char comment[256];

	add_entry(&ds, "10.96.0.1", L4_TCP, 80, "default/web", "10.244.0.1:80", (const char *)NULL);
	assert_int_equal(nft_scope_paths(NFT_SCOPE_ENTERING, &ds), 0);
	assert_int_equal(nft_scope_paths(NFT_SCOPE_ALL, &ds), NFT_PATHS_ALL);
	nft_render(NFT_SCOPE_ENTERING, &ds, &ns);
	assert_int_equal(
	    ns.s[SET_CLUSTER_IP_PORTS].n + ns.s[SET_SERVICE_IPS].n + ns.s[SET_CLUSTER_IPS].n, 0);
	nft_sets_free(&ns);

	add_entry(&ds, "10.96.0.2", L4_TCP, 80, "default/ext", "10.244.0.1:80", (const char *)NULL);
	ds.entries[1].kind = ENTRY_EXTERNAL;
	assert_int_equal(nft_scope_paths(NFT_SCOPE_ENTERING, &ds), NFT_PATH_INBOUND);
	nft_render(NFT_SCOPE_ENTERING, &ds, &ns);
	assert_int_equal(ns.s[SET_SERVICE_IPS].n, 1);
	assert_int_equal(ns.s[SET_CLUSTER_IPS].n, 0);
	nft_sets_free(&ns);

	add_entry(&ds, "10.96.0.3", L4_SCTP, 80, "default/sctp", "10.244.0.1:80",
	          (const char *)NULL);
	o.paths = nft_scope_paths(NFT_SCOPE_ENTERING, &ds);
	assert_int_equal(o.paths, NFT_PATHS_ALL);
	nft_render(NFT_SCOPE_ENTERING, &ds, &ns);
	assert_int_equal(ns.s[SET_SERVICE_IPS].n, 1);
	assert_int_equal(ns.s[SET_CLUSTER_IP_PORTS].n, 1); /* the SCTP ClusterIP */
	assert_int_equal(ns.s[SET_CLUSTER_IPS].n, 1);
	nft_sets_free(&ns);

	for (unsigned p = 0; p <= NFT_PATHS_ALL; p++) {
		o.paths = p;
		assert_int_equal(nft_layout_comment(comment, sizeof(comment), AF_INET, &o), 0);
		assert_int_equal(nft_layout_parse(comment, &lp), 0);
		assert_int_equal(lp.scope, NFT_SCOPE_ENTERING);
		assert_int_equal(lp.paths, p);
		nft_layout_parsed_free(&lp);
	}
	o.scope = NFT_SCOPE_ALL;
	assert_int_equal(nft_layout_comment(comment, sizeof(comment), AF_INET, &o), 0);
	assert_null(strstr(comment, "scope"));
	assert_int_equal(nft_layout_parse(comment, &lp), 0);
	assert_int_equal(lp.paths, NFT_PATHS_ALL);
	nft_layout_parsed_free(&lp);
	free_built(&ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_ipv4),    cmocka_unit_test(test_render_ipv6),
	    cmocka_unit_test(test_render_empty),   cmocka_unit_test(test_render_diff),
	    cmocka_unit_test(test_scope_entering),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
