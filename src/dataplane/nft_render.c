/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_render.c - compile's entries into the elements of our sets and maps
 * (see nft_render.h). Which element goes into which set is the contract
 * the rules of nft_ruleset.c read.
 */
#include "nft_render.h"

#include <netinet/in.h>
#include <string.h>

uint32_t nft_refs_get(const struct bytemap *r, const void *key)
{
	long i = bytemap_find(r, key);
	uint32_t c = 0;

	if (i >= 0)
		memcpy(&c, bytemap_data(r, (size_t)i), 4);
	return c;
}

/* Put a shared element (no data, no comment) and count one more user. */
static void shared_put(struct nft_sets *s, enum nft_set_id id, const void *key)
{
	struct bytemap *r = nft_sets_refs(s, id);
	uint32_t c = nft_refs_get(r, key) + 1;

	bytemap_put(&s->s[id], key, NULL, NULL);
	bytemap_put(r, key, &c, NULL);
}

/* Put the k backends of one entry under key prefix (slot appended at plen). */
static void put_backends(struct nft_sets *out, enum nft_set_id map, uint8_t *key, size_t plen,
                         const struct backend *b, size_t k)
{
	size_t al = nft_addr_len(out->family);
	uint8_t data[NFT_MAX_DATA], pair[32];

	for (uint32_t slot = 0; slot < k; slot++) {
		memcpy(key + plen, &slot, 4); /* numgen yields host byte order */
		nft_dest_encode(out->family, data, &b[slot].addr, b[slot].port);
		bytemap_put(&out->s[map], key, data, NULL);
		/*
		 * Hairpin: a pod reaching itself through a Service. Its connection is
		 * DNATed on its own node, so a pod of another node never needs it
		 * here: one element per local (or unplaced) endpoint, not per endpoint.
		 */
		if (b[slot].remote)
			continue;
		memcpy(pair, b[slot].addr.raw, al);
		memcpy(pair + al, b[slot].addr.raw, al);
		shared_put(out, SET_HAIRPIN, pair);
	}
}

/* loadBalancerSourceRanges: the firewall entry and its allowed ranges */
static void put_source_ranges(int fam, const struct entry *e, const uint8_t *key,
                              struct nft_sets *out)
{
	size_t al = nft_addr_len(fam), k3 = al + 8;
	uint8_t lo[NFT_MAX_KEY], hi[NFT_MAX_KEY];

	for (size_t r = 0; r < e->n_source_ranges; r++) {
		if (e->source_ranges[r].addr.family != fam)
			continue;
		memcpy(lo, key, k3);
		memcpy(hi, key, k3);
		nft_cidr_bounds(&e->source_ranges[r], al, lo + k3, hi + k3);
		bytemap_put(&out->s[SET_FIREWALL_ALLOW], lo, hi, NULL);
	}
	if (e->n_source_ranges)
		bytemap_put(&out->s[SET_FIREWALL], key, NULL, e->label);
}

/* The verdict map of an entry with endpoints, and the kind of lb chain its element goes to. */
static enum nft_set_id dispatch_of(const struct entry *e, enum nft_lb_kind *kind)
{
	if (e->kind == ENTRY_NODE_PORT) {
		*kind = LB_NODEPORT;
		return SET_NODEPORTS;
	}
	if (e->kind != ENTRY_CLUSTER_IP) {
		*kind = LB_SERVICE;
		return SET_SERVICE_IPS;
	}
	/* ClusterIPs have a map of their own: one lookup dispatches them (nft_ruleset.c) */
	*kind = e->affinity_timeout ? LB_CLUSTER_IP_AFFINITY : LB_CLUSTER_IP;
	return SET_CLUSTER_IP_PORTS;
}

void nft_render_entry(int fam, const struct entry *e, struct nft_sets *out)
{
	bool np = e->kind == ENTRY_NODE_PORT;
	size_t plen = np ? 8 : nft_addr_len(fam) + 8;
	uint32_t k = (uint32_t)e->n_backends, v;
	uint8_t key[NFT_MAX_KEY];

	if (np)
		nft_key_pt(key, e->proto, e->port);
	else
		nft_key_apt(fam, key, &e->addr, e->proto, e->port);
	if (e->kind == ENTRY_CLUSTER_IP)
		shared_put(out, SET_CLUSTER_IPS, e->addr.raw);
	if (!np)
		bytemap_put(&out->s[SET_SERVICE_PORTS], key, NULL, NULL);
	if (np)
		bytemap_put(&out->s[SET_NODEPORT_PORTS], key, NULL, e->label);
	put_source_ranges(fam, e, key, out);

	if (k && e->affinity_timeout) {
		v = nft_lb_pack(LB_AFFINITY, e->affinity_timeout);
		bytemap_put(&out->s[np ? SET_AFFINITY_NODEPORTS : SET_AFFINITY_SERVICES], key, &v,
		            NULL);
	}
	if (k) {
		enum nft_lb_kind kind;
		enum nft_set_id vmap = dispatch_of(e, &kind);

		v = nft_lb_pack(kind, k);
		bytemap_put(&out->s[vmap], key, &v, e->label);
		if (e->masquerade)
			bytemap_put(&out->s[np ? SET_NODEPORT_MASQ : SET_EXTERNAL_MASQ], key, NULL,
			            NULL);
		put_backends(out, np ? SET_NP_BACKENDS : SET_BACKENDS, key, plen, e->backends, k);
	} else if (e->n_all) {
		/* endpoints exist, none allowed here by a Local policy: drop */
		bytemap_put(&out->s[np ? SET_NODEPORT_DROP : SET_DROP_ENDPOINTS], key, NULL,
		            e->label);
	} else if (!np) {
		bytemap_put(&out->s[SET_NO_ENDPOINTS], key, NULL, e->label);
	}
	if (e->etp_local && e->n_all_backends) {
		v = nft_lb_pack(np ? LB_NODEPORT_CLUSTER : LB_SERVICE_CLUSTER,
		                (uint32_t)e->n_all_backends);
		bytemap_put(&out->s[np ? SET_NODEPORTS_CLUSTER : SET_SERVICE_IPS_CLUSTER], key, &v,
		            e->label);
		put_backends(out, np ? SET_NP_BACKENDS_CLUSTER : SET_BACKENDS_CLUSTER, key, plen,
		             e->all_backends, e->n_all_backends);
	}
}

void nft_render(enum nft_scope scope, const struct desired *ds, struct nft_sets *out)
{
	nft_sets_init(out, ds->family);
	for (size_t i = 0; i < ds->n_entries; i++)
		if (nft_scope_serves(scope, &ds->entries[i]))
			nft_render_entry(ds->family, &ds->entries[i], out);
}

bool nft_scope_serves(enum nft_scope scope, const struct entry *e)
{
	/* the bpf dataplane's socket programs handle TCP and UDP (sock.bpf.c) */
	return scope == NFT_SCOPE_ALL || e->kind != ENTRY_CLUSTER_IP ||
	       (e->proto != IPPROTO_TCP && e->proto != IPPROTO_UDP);
}

unsigned nft_scope_paths(enum nft_scope scope, const struct desired *ds)
{
	unsigned p = 0;

	if (scope == NFT_SCOPE_ALL)
		return NFT_PATHS_ALL;
	for (size_t i = 0; i < ds->n_entries && p != NFT_PATHS_ALL; i++) {
		const struct entry *e = &ds->entries[i];
		bool sctp = e->proto != IPPROTO_TCP && e->proto != IPPROTO_UDP;

		if (!nft_scope_serves(scope, e))
			continue;
		p |= NFT_PATH_INBOUND;
		if (e->kind == ENTRY_CLUSTER_IP)
			p |= NFT_PATH_CLUSTER;
		if (sctp) /* the node's own SCTP connections: no socket program sees them */
			p |= NFT_PATH_OUTPUT;
	}
	return p;
}
