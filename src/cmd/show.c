/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * show.c - svcproxy show: what the kernel holds now, read back over netlink.
 *
 * Nothing here comes from svcproxy's memory or its sources: a table someone
 * edited by hand shows as edited.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "common/mem.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/nft.h"
#include "model/model.h"

struct row {
	const char *label;
	enum nft_set_id set;
	size_t i;
	const uint8_t *key; /* klen bytes */
	uint32_t klen;
};

/* By Service, set, then address: the same table always prints the same. */
static int cmp_row(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	int c = strcmp(a->label, b->label);

	if (!c)
		c = (int)a->set - (int)b->set;
	return c ? c : memcmp(a->key, b->key, a->klen < b->klen ? a->klen : b->klen);
}

/* The endpoints of a vmap element, slot by slot, from the map its chain reads. */
static void print_slots(const struct nft_sets *s, const struct bytemap *vmap, size_t i)
{
	char dest[IPADDR_STRLEN + 16];
	struct nft_slots it;

	nft_slots_begin(&it, s, vmap, i);
	for (uint32_t slot = 0; slot < it.k; slot++) {
		long bi = nft_slot(&it, slot);

		printf(slot ? " " : "");
		if (bi < 0)
			printf("<slot %u missing>", slot);
		else
			printf("%s", nft_dest_str(s->family, bytemap_data(it.map, (size_t)bi), dest,
			                          sizeof(dest)));
	}
}

/*
 * Beside the bpf dataplane the table is not every Service: say so (stderr:
 * stdout is data) and have the caller print the socket programs' maps too.
 */
static void note_scope(int family, const char *layout, bool *bpf)
{
	struct nft_layout_parsed lp;

	if (nft_layout_parse(layout, &lp))
		return;
	if (lp.scope == NFT_SCOPE_ENTERING) {
		fprintf(stderr,
		        "svcproxy show: table %s %s serves only traffic entering from other hosts "
		        "(--dataplane bpf); the socket programs' maps follow it\n",
		        family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME);
		*bpf = true;
	}
	nft_layout_parsed_free(&lp);
}

/* The Services of family's table; *bpf set when it is the one kept beside the bpf dataplane. */
static int show_services(int family, bool *bpf)
{
	static const enum nft_set_id shown[] = {
	    SET_CLUSTER_IP_PORTS, SET_SERVICE_IPS,       SET_SERVICE_IPS_CLUSTER,
	    SET_NODEPORTS,        SET_NODEPORTS_CLUSTER, SET_NO_ENDPOINTS,
	    SET_DROP_ENDPOINTS,   SET_NODEPORT_DROP,     SET_NODEPORT_PORTS,
	};
	struct nft_sets s;
	struct row *rows;
	size_t n = 0, cap = 1;
	int ret = nft_read_sets(family, &s);

	if (ret == -ENOENT)
		return EXIT_OK;
	if (ret) {
		fprintf(stderr, "svcproxy show: cannot read table %s: %s\n", NFT_TABLE_NAME,
		        strerror(-ret));
		return EXIT_RUNTIME;
	}
	note_scope(family, s.layout, bpf);
	for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++)
		cap += s.s[shown[j]].n;
	rows = xcalloc(cap, sizeof(*rows));
	for (size_t j = 0; j < sizeof(shown) / sizeof(shown[0]); j++) {
		const struct bytemap *e = &s.s[shown[j]];

		for (size_t i = 0; i < e->n; i++) {
			/* a NodePort with a verdict or a drop is shown by those */
			if (shown[j] == SET_NODEPORT_PORTS &&
			    (bytemap_find(&s.s[SET_NODEPORTS], bytemap_key(e, i)) >= 0 ||
			     bytemap_find(&s.s[SET_NODEPORT_DROP], bytemap_key(e, i)) >= 0))
				continue;
			rows[n++] =
			    (struct row){bytemap_comment(e, i) ? bytemap_comment(e, i) : "?",
			                 shown[j], i, bytemap_key(e, i), e->klen};
		}
	}
	qsort(rows, n, sizeof(*rows), cmp_row);

	for (size_t r = 0; r < n; r++) {
		const struct bytemap *e = &s.s[rows[r].set];
		const uint8_t *key = bytemap_key(e, rows[r].i);
		bool np = nft_set_spec(rows[r].set)->key == K_PT;
		char addr[IPADDR_STRLEN + 40], a[IPADDR_STRLEN];
		struct ipaddr ip;
		uint8_t proto;
		uint16_t port;

		if (np) {
			nft_np_key_decode(key, &proto, &port);
			snprintf(addr, sizeof(addr), "*:%u/%s (nodePort)", port,
			         l4proto_name(proto));
		} else {
			nft_key_decode(family, key, &ip, &proto, &port);
			snprintf(addr, sizeof(addr), family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s",
			         ipaddr_str(&ip, a), port, l4proto_name(proto));
		}
		printf("%-34s %-30s ", rows[r].label, addr);
		switch (rows[r].set) {
		case SET_CLUSTER_IP_PORTS:
		case SET_SERVICE_IPS:
		case SET_NODEPORTS:
			print_slots(&s, e, rows[r].i);
			break;
		case SET_SERVICE_IPS_CLUSTER:
		case SET_NODEPORTS_CLUSTER:
			printf("from pods and this node: ");
			print_slots(&s, e, rows[r].i);
			break;
		case SET_DROP_ENDPOINTS:
		case SET_NODEPORT_DROP:
			printf("none on this node (Local traffic policy): dropped");
			break;
		default:
			printf("none: new connections rejected (ICMP port unreachable)");
			break;
		}
		printf("\n");
	}
	free(rows);
	nft_sets_free(&s);
	return EXIT_OK;
}

int cmd_show(const char *what, const struct options *o)
{
	int status = EXIT_OK;

	if (!strcmp(what, "bpf")) {
		int ret = bpf_show(o->bpf_pin_path, stdout);

		if (ret)
			fprintf(stderr, "svcproxy show bpf: no maps pinned under %s: %s\n",
			        o->bpf_pin_path ? o->bpf_pin_path : BPF_DEFAULT_PIN_PATH,
			        strerror(-ret));
		return ret ? EXIT_RUNTIME : EXIT_OK;
	}

	if (!strcmp(what, "services")) {
		bool bpf = false;

		printf("%-34s %-30s %s\n", "SERVICE", "ADDRESS", "ENDPOINTS (numgen slot order)");
		if (show_services(AF_INET, &bpf) || show_services(AF_INET6, &bpf))
			status = EXIT_RUNTIME;
		if (bpf) {
			putchar('\n');
			if (bpf_show(o->bpf_pin_path, stdout))
				fprintf(stderr, "svcproxy show: no bpf maps pinned under %s\n",
				        o->bpf_pin_path ? o->bpf_pin_path : BPF_DEFAULT_PIN_PATH);
		}
		return status;
	}
	if (!strcmp(what, "rules")) {
		if (nft_show_rules(AF_INET, stdout) || nft_show_rules(AF_INET6, stdout))
			status = EXIT_RUNTIME;
		return status;
	}
	fprintf(stderr, "svcproxy show: '%s' is not services, rules or bpf\n", what);
	return EXIT_USAGE;
}
