/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * show.c - svcproxy show: what the kernel holds now, read back over netlink.
 *
 * Nothing here comes from svcproxy's memory or its sources: a table someone
 * edited by hand shows as edited.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "dataplane/nft.h"
#include "model/model.h"

struct row {
	const char *label;
	const struct elemset *s;
	size_t i;
	bool no_endpoints;
};

static int cmp_row(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;

	return strcmp(a->label, b->label);
}

static void print_addr_port(const struct ipaddr *a, uint16_t port)
{
	char buf[IPADDR_STRLEN];

	if (a->family == AF_INET6)
		printf("[%s]:%u", ipaddr_str(a, buf), port);
	else
		printf("%s:%u", ipaddr_str(a, buf), port);
}

static int show_services(int family)
{
	struct nft_sets s;
	struct row *rows;
	size_t n = 0;
	int ret = nft_read_sets(family, &s);

	if (ret == -ENOENT) {
		printf("nothing programmed: no table %s %s\n", family == AF_INET6 ? "ip6" : "ip",
		       NFT_TABLE_NAME);
		return EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "svcproxy show: cannot read table %s: %s\n", NFT_TABLE_NAME,
			strerror(-ret));
		return EXIT_RUNTIME;
	}
	rows = xcalloc(s.service_ips.n + s.no_endpoints.n + 1, sizeof(*rows));
	for (size_t i = 0; i < s.service_ips.n; i++)
		rows[n++] = (struct row){ s.service_ips.comments[i] ? s.service_ips.comments[i]
								    : "?",
					  &s.service_ips, i, false };
	for (size_t i = 0; i < s.no_endpoints.n; i++)
		rows[n++] = (struct row){ s.no_endpoints.comments[i] ? s.no_endpoints.comments[i]
								     : "?",
					  &s.no_endpoints, i, true };
	qsort(rows, n, sizeof(*rows), cmp_row);

	printf("%-40s %-26s %s\n", "SERVICE", "ADDRESS", "ENDPOINTS (numgen slot order)");
	for (size_t r = 0; r < n; r++) {
		const uint8_t *key = elemset_key(rows[r].s, rows[r].i);
		struct ipaddr a;
		uint8_t proto;
		uint16_t port;
		char addr[IPADDR_STRLEN + 16];
		uint8_t bkey[ELEM_MAX_KEY];
		uint32_t k;

		nft_key_decode(family, key, &a, &proto, &port);
		snprintf(addr, sizeof(addr), family == AF_INET6 ? "[%s]:%u/%s" : "%s:%u/%s",
			 ipaddr_str(&a, (char[IPADDR_STRLEN]){ 0 }), port, l4proto_name(proto));
		printf("%-40s %-26s ", rows[r].label, addr);
		if (rows[r].no_endpoints) {
			printf("none: new connections rejected (ICMP port unreachable)\n");
			continue;
		}
		memcpy(&k, elemset_data(rows[r].s, rows[r].i), 4);
		memcpy(bkey, key, rows[r].s->klen);
		for (uint32_t slot = 0; slot < k; slot++) {
			long bi;

			memcpy(bkey + rows[r].s->klen, &slot, 4);
			bi = elemset_find(&s.backends, bkey);
			if (slot)
				printf(" ");
			if (bi < 0) {
				printf("<slot %u missing>", slot);
				continue;
			}
			{
				const uint8_t *d = elemset_data(&s.backends, (size_t)bi);
				struct ipaddr ba = { .family = family };
				uint16_t nport;

				memcpy(ba.raw, d, nft_addr_len(family));
				memcpy(&nport, d + nft_addr_len(family), 2);
				print_addr_port(&ba, ntohs(nport));
			}
		}
		printf("\n");
	}
	free(rows);
	nft_sets_free(&s);
	return EXIT_OK;
}

int cmd_show(const char *what)
{
	if (!strcmp(what, "services"))
		return show_services(AF_INET);
	if (!strcmp(what, "rules"))
		return nft_show_rules(AF_INET, stdout) ? EXIT_RUNTIME : EXIT_OK;
	fprintf(stderr, "svcproxy show: '%s' is neither services nor rules\n", what);
	return EXIT_USAGE;
}
