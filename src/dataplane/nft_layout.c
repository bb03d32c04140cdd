/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_layout.c - the set table, key and value encodings, lb verdict
 * packing, and the table comment (see nft_layout.h).
 */
#include "nft_layout.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/mem.h"

static const struct nft_set_spec set_specs[SET_ALL] = {
    [SET_CLUSTER_IPS] = {"cluster_ips", K_A, D_NONE},
    [SET_NO_ENDPOINTS] = {"no_endpoints", K_APT, D_NONE},
    [SET_DROP_ENDPOINTS] = {"drop_endpoints", K_APT, D_NONE},
    [SET_CLUSTER_IP_PORTS] = {"cluster_ip_ports", K_APT, D_VERDICT},
    [SET_SERVICE_IPS] = {"service_ips", K_APT, D_VERDICT},
    [SET_SERVICE_IPS_CLUSTER] = {"service_ips_cluster", K_APT, D_VERDICT},
    [SET_BACKENDS] = {"backends", K_APTS, D_DEST},
    [SET_BACKENDS_CLUSTER] = {"backends_cluster", K_APTS, D_DEST},
    [SET_EXTERNAL_MASQ] = {"external_masq", K_APT, D_NONE},
    [SET_NODEPORTS] = {"nodeports", K_PT, D_VERDICT},
    [SET_NODEPORTS_CLUSTER] = {"nodeports_cluster", K_PT, D_VERDICT},
    [SET_NP_BACKENDS] = {"nodeport_backends", K_PTS, D_DEST},
    [SET_NP_BACKENDS_CLUSTER] = {"nodeport_backends_cluster", K_PTS, D_DEST},
    [SET_NODEPORT_MASQ] = {"nodeport_masq", K_PT, D_NONE},
    [SET_NODEPORT_PORTS] = {"nodeport_ports", K_PT, D_NONE},
    [SET_NODEPORT_DROP] = {"nodeport_drop", K_PT, D_NONE},
    [SET_FIREWALL] = {"firewall", K_APT, D_NONE},
    [SET_FIREWALL_ALLOW] = {"firewall_allow", K_APTR, D_RANGE_END},
    [SET_HAIRPIN] = {"hairpin", K_AA, D_NONE},
    [SET_AFFINITY_SERVICES] = {"affinity_services", K_APT, D_VERDICT},
    [SET_AFFINITY_NODEPORTS] = {"affinity_nodeports", K_PT, D_VERDICT},
    [SET_SERVICE_PORTS] = {"service_ports", K_APT, D_NONE},
    [SET_CLUSTER_CIDRS] = {"cluster_cidrs", K_A, D_NONE},
    [SET_NODEPORT_CIDRS] = {"nodeport_cidrs", K_A, D_NONE},
    [SET_AFFINITY] = {"affinity", K_AAPT, D_DEST},
};

static const char *const lb_prefix[LB_KINDS] = {"lb", "lbc", "np", "npc", "aff", "cip", "cipa"};
static const enum nft_set_id lb_map[LB_KINDS] = {
    SET_BACKENDS, SET_BACKENDS_CLUSTER, SET_NP_BACKENDS, SET_NP_BACKENDS_CLUSTER,
    SET_AFFINITY, SET_BACKENDS,         SET_BACKENDS};

const struct nft_set_spec *nft_set_spec(enum nft_set_id id)
{
	return &set_specs[id];
}

const char *nft_set_name(enum nft_set_id id)
{
	return set_specs[id].name;
}

size_t nft_addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

uint32_t nft_key_len(enum nft_key_kind k, int family)
{
	uint32_t al = (uint32_t)nft_addr_len(family);

	switch (k) {
	case K_A:
		return al;
	case K_APT:
		return al + 8;
	case K_APTS:
		return al + 12;
	case K_PT:
		return 8;
	case K_PTS:
		return 12;
	case K_AA:
		return 2 * al;
	case K_APTR:
	case K_AAPT:
		return 2 * al + 8;
	}
	return 0;
}

uint32_t nft_data_len(enum nft_set_id id, int family)
{
	const struct nft_set_spec *sp = &set_specs[id];

	switch (sp->data) {
	case D_NONE:
		return 0;
	case D_VERDICT:
		return 4; /* nft_lb_pack(kind, k); rendered as a goto */
	case D_DEST:
		return (uint32_t)nft_addr_len(family) + 4;
	case D_RANGE_END:
		return nft_key_len(sp->key, family);
	}
	return 0;
}

/* ---- keys and values ---------------------------------------------------- */

void nft_key_apt(int family, uint8_t *k, const struct ipaddr *a, uint8_t proto, uint16_t port)
{
	size_t al = nft_addr_len(family);
	uint16_t nport = htons(port);

	memset(k, 0, al + 8);
	memcpy(k, a->raw, al);
	k[al] = proto;
	memcpy(k + al + 4, &nport, 2);
}

void nft_key_pt(uint8_t *k, uint8_t proto, uint16_t port)
{
	uint16_t nport = htons(port);

	memset(k, 0, 8);
	k[0] = proto;
	memcpy(k + 4, &nport, 2);
}

void nft_key_decode(int family, const uint8_t *key, struct ipaddr *addr, uint8_t *proto,
                    uint16_t *port)
{
	size_t al = nft_addr_len(family);
	uint16_t nport;

	memset(addr, 0, sizeof(*addr));
	addr->family = family;
	memcpy(addr->raw, key, al);
	*proto = key[al];
	memcpy(&nport, key + al + 4, 2);
	*port = ntohs(nport);
}

void nft_np_key_decode(const uint8_t *key, uint8_t *proto, uint16_t *port)
{
	uint16_t nport;

	*proto = key[0];
	memcpy(&nport, key + 4, 2);
	*port = ntohs(nport);
}

void nft_dest_encode(int family, uint8_t *d, const struct ipaddr *a, uint16_t port)
{
	size_t al = nft_addr_len(family);
	uint16_t nport = htons(port);

	memset(d, 0, al + 4);
	memcpy(d, a->raw, al);
	memcpy(d + al, &nport, 2);
}

void nft_dest_decode(int family, const uint8_t *d, struct ipaddr *a, uint16_t *port)
{
	size_t al = nft_addr_len(family);
	uint16_t nport;

	memset(a, 0, sizeof(*a));
	a->family = family;
	memcpy(a->raw, d, al);
	memcpy(&nport, d + al, 2);
	*port = ntohs(nport);
}

const char *nft_dest_str(int family, const uint8_t *d, char *buf, size_t size)
{
	char a[IPADDR_STRLEN];
	struct ipaddr ip;
	uint16_t port;

	nft_dest_decode(family, d, &ip, &port);
	snprintf(buf, size, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ipaddr_str(&ip, a), port);
	return buf;
}

void nft_cidr_bounds(const struct cidr *c, size_t al, uint8_t *dst, uint8_t *dst_end)
{
	memcpy(dst, c->addr.raw, al);
	memcpy(dst_end, c->addr.raw, al);
	for (unsigned int bit = c->prefix_len; bit < al * 8; bit++)
		dst_end[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
}

/* ---- lb chains ---------------------------------------------------------- */

const char *nft_lb_prefix(enum nft_lb_kind kind)
{
	return lb_prefix[kind % LB_KINDS];
}

enum nft_set_id nft_lb_map(enum nft_lb_kind kind)
{
	return lb_map[kind % LB_KINDS];
}

bool nft_lb_nodeport(enum nft_lb_kind kind)
{
	return kind == LB_NODEPORT || kind == LB_NODEPORT_CLUSTER;
}

void nft_lb_unpack(const uint8_t *data, enum nft_lb_kind *kind, uint32_t *k)
{
	uint32_t d;

	memcpy(&d, data, 4);
	*kind = (enum nft_lb_kind)((d >> 24) % LB_KINDS);
	*k = d & NFT_LB_MAX_K;
}

const char *nft_lb_chain_name(enum nft_lb_kind kind, uint32_t k, char *buf, size_t size)
{
	snprintf(buf, size, "%s_%u", nft_lb_prefix(kind), k);
	return buf;
}

bool nft_lb_chain_parse(const char *name, enum nft_lb_kind *kind, uint32_t *k)
{
	for (int i = 0; i < LB_KINDS; i++) {
		size_t pl = strlen(lb_prefix[i]);
		unsigned int v;
		char tail;

		if (!strncmp(name, lb_prefix[i], pl) && name[pl] == '_' &&
		    sscanf(name + pl + 1, "%u%c", &v, &tail) == 1 && v > 0 && v <= NFT_LB_MAX_K) {
			*kind = (enum nft_lb_kind)i;
			*k = v;
			return true;
		}
	}
	return false;
}

/* ---- the Service-dependent content ------------------------------------- */

void nft_sets_init(struct nft_sets *s, int family)
{
	uint32_t al = (uint32_t)nft_addr_len(family);

	s->family = family;
	s->layout[0] = '\0';
	for (int i = 0; i < SET_COUNT; i++)
		bytemap_init(&s->s[i], nft_key_len(set_specs[i].key, family),
		             nft_data_len((enum nft_set_id)i, family));
	bytemap_init(&s->refs_cluster_ips, al, 4);
	bytemap_init(&s->refs_hairpin, 2 * al, 4);
}

void nft_sets_free(struct nft_sets *s)
{
	for (int i = 0; i < SET_COUNT; i++)
		bytemap_free(&s->s[i]);
	bytemap_free(&s->refs_cluster_ips);
	bytemap_free(&s->refs_hairpin);
}

struct bytemap *nft_sets_refs(struct nft_sets *s, enum nft_set_id id)
{
	return id == SET_CLUSTER_IPS ? &s->refs_cluster_ips
	       : id == SET_HAIRPIN   ? &s->refs_hairpin
	                             : NULL;
}

void nft_slots_begin(struct nft_slots *it, const struct nft_sets *s, const struct bytemap *vmap,
                     size_t vi)
{
	nft_lb_unpack(bytemap_data(vmap, vi), &it->kind, &it->k);
	it->map = NULL;
	if (nft_lb_map(it->kind) < SET_COUNT)
		it->map = &s->s[nft_lb_map(it->kind)];
	else
		it->k = 0; /* aff_<seconds>: no slots, @affinity is the kernel's */
	it->klen = vmap->klen;
	memcpy(it->key, bytemap_key(vmap, vi), vmap->klen);
}

long nft_slot(struct nft_slots *it, uint32_t slot)
{
	if (!it->map)
		return -1;
	memcpy(it->key + it->klen, &slot, 4); /* numgen yields host byte order */
	return bytemap_find(it->map, it->key);
}

/* ---- scope and paths ---------------------------------------------------- */

/* The names of the NFT_PATH_* bits in the table comment, lowest bit first. */
static const char *const path_names[] = {"cluster", "inbound", "output"};
#define N_PATHS 3

/* ---- the table comment -------------------------------------------------- */

/* Append "; <what> a,b" for this family's CIDRs to buf. Returns -1 when too long. */
static int comment_cidrs(char *buf, size_t size, const char *what, const struct cidr *c, size_t n,
                         int family)
{
	size_t len = strlen(buf);
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		char str[CIDR_STRLEN];

		if (c[i].addr.family != family)
			continue;
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s%s",
		                        first ? "; " : ",", first ? what : "");
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s", cidr_str(&c[i], str));
		first = false;
	}
	return len < size ? 0 : -1;
}

int nft_layout_comment(char *buf, size_t size, int family, const struct nft_layout_opts *o)
{
	snprintf(buf, size, "svcproxy layout %d; masquerade-all %s", NFT_LAYOUT_VERSION,
	         o->masquerade_all ? "yes" : "no");
	if (comment_cidrs(buf, size, "cluster-cidr ", o->cluster_cidrs, o->n_cluster_cidrs,
	                  family) ||
	    comment_cidrs(buf, size, "nodeport-addresses ", o->nodeport_cidrs, o->n_nodeport_cidrs,
	                  family))
		return -EINVAL;
	if (o->scope == NFT_SCOPE_ENTERING) {
		size_t len = strlen(buf);
		bool any = false;

		len += (size_t)snprintf(buf + len, size - len, "; scope entering; paths");
		for (int i = 0; i < N_PATHS && len < size; i++)
			if (o->paths & (1u << i)) {
				len += (size_t)snprintf(buf + len, size - len, "%s%s",
				                        any ? "," : " ", path_names[i]);
				any = true;
			}
		if (!any && len < size)
			len += (size_t)snprintf(buf + len, size - len, " none");
		if (len >= size)
			return -EINVAL;
	}
	return 0;
}

/* "inbound,output" (or "none") into NFT_PATH_* bits; unknown names are ignored. */
static unsigned paths_parse(const char *s)
{
	unsigned p = 0;

	for (int i = 0; i < N_PATHS; i++) {
		size_t l = strlen(path_names[i]);

		for (const char *at = s; (at = strstr(at, path_names[i])); at += l)
			if ((at == s || at[-1] == ',') && (at[l] == ',' || at[l] == '\0'))
				p |= 1u << i;
	}
	return p;
}

int nft_layout_parse(const char *comment, struct nft_layout_parsed *out)
{
	char buf[512], *save = NULL, *part;
	const char *bad;
	int n = 0;

	memset(out, 0, sizeof(*out));
	out->paths = NFT_PATHS_ALL;
	if (sscanf(comment, "svcproxy layout %d%n", &out->version, &n) != 1)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", comment + n);
	for (part = strtok_r(buf, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
		while (*part == ' ')
			part++;
		if (!strcmp(part, "masquerade-all yes"))
			out->masquerade_all = true;
		else if (!strncmp(part, "cluster-cidr ", 13))
			cidr_list_parse(part + 13, &out->cluster_cidrs, &out->n_cluster_cidrs,
			                &bad);
		else if (!strncmp(part, "nodeport-addresses ", 19))
			cidr_list_parse(part + 19, &out->nodeport_cidrs, &out->n_nodeport_cidrs,
			                &bad);
		else if (!strcmp(part, "scope entering"))
			out->scope = NFT_SCOPE_ENTERING;
		else if (!strncmp(part, "paths ", 6))
			out->paths = paths_parse(part + 6);
	}
	return 0;
}

void nft_layout_parsed_free(struct nft_layout_parsed *p)
{
	free(p->cluster_cidrs);
	free(p->nodeport_cidrs);
	memset(p, 0, sizeof(*p));
}
