/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dataplane/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytemap.h"
#include "common/log.h"
#include "common/mem.h"

/*
 * One kind of stale entry, as a key of the set of them: to (addr, port,
 * proto), addr all zero for a NodePort (any local address), DNATed to
 * (baddr, bport), or not DNATed (natted 0, baddr and bport zero).
 */
struct flush_key {
	uint8_t addr[16];
	uint8_t baddr[16];
	uint16_t port, bport;
	uint8_t proto, natted;
	uint8_t pad[2];
};

struct flush_list {
	struct bytemap keys; /* struct flush_key */
	int family;
	struct nf_conntrack **doomed;
	size_t n_doomed, doomed_cap;
};

static void flush_add(struct flush_list *fl, const struct entry *e, bool natted,
                      const struct backend *b)
{
	struct flush_key k;

	memset(&k, 0, sizeof(k));
	if (e->kind != ENTRY_NODE_PORT)
		memcpy(k.addr, e->addr.raw, sizeof(k.addr));
	k.port = e->port;
	k.proto = (uint8_t)e->proto;
	k.natted = natted;
	if (natted && b) {
		memcpy(k.baddr, b->addr.raw, sizeof(k.baddr));
		k.bport = b->port;
	}
	bytemap_put(&fl->keys, &k, NULL, NULL);
}

static bool has_backend(const struct entry *e, const struct backend *b)
{
	for (size_t i = 0; i < e->n_backends; i++)
		if (ipaddr_equal(&e->backends[i].addr, &b->addr) && e->backends[i].port == b->port)
			return true;
	for (size_t i = 0; e->all_backends && i < e->n_all_backends; i++)
		if (ipaddr_equal(&e->all_backends[i].addr, &b->addr) &&
		    e->all_backends[i].port == b->port)
			return true;
	return false;
}

/* The entry of d with e's key, or NULL (d's entries are sorted by key). */
static const struct entry *find_entry(const struct desired *d, const struct entry *e)
{
	size_t lo = 0, hi = d->n_entries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(&d->entries[mid], e);

		if (!c)
			return &d->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void ct_addr(const struct nf_conntrack *ct, int family, int attr4, int attr6,
                    struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = family;
	if (family == AF_INET)
		memcpy(&out->v4, nfct_get_attr(ct, attr4), 4);
	else
		memcpy(&out->v6, nfct_get_attr(ct, attr6), 16);
}

static int ct_cb(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct flush_list *fl = data;
	struct ipaddr odst, rsrc;
	struct flush_key k;

	(void)type;
	memset(&k, 0, sizeof(k));
	ct_addr(ct, fl->family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &odst);
	ct_addr(ct, fl->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &rsrc);
	k.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
	k.port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	k.bport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	k.natted = !ipaddr_equal(&odst, &rsrc) || k.port != k.bport;
	if (k.natted)
		memcpy(k.baddr, rsrc.raw, sizeof(k.baddr));
	else
		k.bport = 0;
	memcpy(k.addr, odst.raw, sizeof(k.addr));
	if (bytemap_find(&fl->keys, &k) < 0) {
		memset(k.addr, 0, sizeof(k.addr)); /* a NodePort's, to any local address */
		if (bytemap_find(&fl->keys, &k) < 0)
			return NFCT_CB_CONTINUE;
	}
	fl->doomed = xgrow(fl->doomed, &fl->doomed_cap, fl->n_doomed + 1, sizeof(*fl->doomed));
	fl->doomed[fl->n_doomed] = nfct_clone(ct);
	if (!fl->doomed[fl->n_doomed])
		die_oom();
	fl->n_doomed++;
	return NFCT_CB_CONTINUE;
}

/*
 * Whether this network namespace tracks no connection at all (its own
 * count; no conntrack module: none). A dump walks the whole hash table,
 * shared by every namespace, however few entries are ours: ~20-30 ms on a
 * host with a large table, for nothing when the count is 0.
 */
static bool ct_none(void)
{
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_count", "re");
	unsigned long n = 1;

	if (!f)
		return errno == ENOENT;
	if (fscanf(f, "%lu", &n) != 1)
		n = 1;
	fclose(f);
	return n == 0;
}

int conntrack_cleanup(const struct desired *old, const struct desired *cur, bool rebuilt)
{
	struct flush_list fl = {.family = cur->family};
	struct nfct_handle *h;
	uint32_t family = (uint32_t)cur->family;
	int ret = 0, deleted = 0;

	bytemap_init(&fl.keys, sizeof(struct flush_key), 0);
	/* UDP: endpoints that went away */
	for (size_t i = 0; i < old->n_entries; i++) {
		const struct entry *o = &old->entries[i], *c;

		if (o->proto != L4_UDP)
			continue;
		c = find_entry(cur, o);
		for (size_t b = 0; b < o->n_backends; b++)
			if (!c || !has_backend(c, &o->backends[b]))
				flush_add(&fl, o, true, &o->backends[b]);
	}
	/*
	 * Not DNATed: UDP to entries that now have endpoints and had none (or
	 * did not exist); after a rebuild (the table was missing) any protocol,
	 * to entries with endpoints: made in the gap, with no rule to DNAT them.
	 * (NodePort TCP/SCTP excepted: their port is held, open, on the node.)
	 */
	for (size_t i = 0; i < cur->n_entries; i++) {
		const struct entry *c = &cur->entries[i], *o;

		if (!c->n_backends)
			continue;
		if (rebuilt && (c->proto == L4_UDP || c->kind != ENTRY_NODE_PORT)) {
			flush_add(&fl, c, false, NULL);
			continue;
		}
		if (c->proto != L4_UDP)
			continue;
		o = find_entry(old, c);
		if (!o || !o->n_backends)
			flush_add(&fl, c, false, NULL);
	}
	if (!fl.keys.n || ct_none())
		goto out;

	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		ret = -errno;
		log_warn("conntrack", "cannot open conntrack netlink: %s", strerror(errno));
		goto out;
	}
	nfct_callback_register(h, NFCT_T_ALL, ct_cb, &fl);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0) {
		ret = -errno;
		log_warn("conntrack", "cannot dump conntrack entries: %s", strerror(errno));
	}
	nfct_callback_unregister(h);
	for (size_t i = 0; i < fl.n_doomed; i++) {
		/* ENOENT: it expired meanwhile, which is as good */
		if (nfct_query(h, NFCT_Q_DESTROY, fl.doomed[i]) == 0 || errno == ENOENT)
			deleted++;
	}
	nfct_close(h);
	if (deleted)
		log_info("conntrack", "deleted %d stale conntrack entr%s (%s)", deleted,
		         deleted == 1 ? "y" : "ies", cur->family == AF_INET ? "IPv4" : "IPv6");
out:
	for (size_t i = 0; i < fl.n_doomed; i++)
		nfct_destroy(fl.doomed[i]);
	free(fl.doomed);
	bytemap_free(&fl.keys);
	return ret ? ret : deleted;
}
