/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "dataplane/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

/* One kind of stale entry: to (addr or any, port), DNATed to backend, or not DNATed. */
struct flush {
	bool nodeport;          /* any local address: match the port only */
	struct ipaddr addr;     /* original destination */
	uint16_t port;          /* original destination port */
	bool natted;            /* true: DNATed to backend; false: not DNATed */
	struct backend backend; /* when natted */
};

struct flush_list {
	struct flush *v;
	size_t n, cap;
	int family;
	struct nf_conntrack **doomed;
	size_t n_doomed, doomed_cap;
};

static void flush_add(struct flush_list *fl, const struct entry *e, bool natted,
                      const struct backend *b)
{
	struct flush *f;

	fl->v = xgrow(fl->v, &fl->cap, fl->n + 1, sizeof(*fl->v));
	f = &fl->v[fl->n++];
	memset(f, 0, sizeof(*f));
	f->nodeport = e->kind == ENTRY_NODE_PORT;
	f->addr = e->addr;
	f->port = e->port;
	f->natted = natted;
	if (b)
		f->backend = *b;
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
	uint16_t odport, rsport;
	bool natted;

	(void)type;
	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_UDP)
		return NFCT_CB_CONTINUE;
	ct_addr(ct, fl->family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, &odst);
	ct_addr(ct, fl->family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, &rsrc);
	odport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	rsport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	natted = !ipaddr_equal(&odst, &rsrc) || odport != rsport;

	for (size_t i = 0; i < fl->n; i++) {
		const struct flush *f = &fl->v[i];

		if (f->port != odport || (!f->nodeport && !ipaddr_equal(&f->addr, &odst)))
			continue;
		if (f->natted != natted)
			continue;
		if (natted && (!ipaddr_equal(&f->backend.addr, &rsrc) || f->backend.port != rsport))
			continue;
		fl->doomed =
		    xgrow(fl->doomed, &fl->doomed_cap, fl->n_doomed + 1, sizeof(*fl->doomed));
		fl->doomed[fl->n_doomed] = nfct_clone(ct);
		if (!fl->doomed[fl->n_doomed])
			die_oom();
		fl->n_doomed++;
		break;
	}
	return NFCT_CB_CONTINUE;
}

int conntrack_cleanup_udp(const struct desired *old, const struct desired *cur)
{
	struct flush_list fl = {.family = cur->family};
	struct nfct_handle *h;
	uint32_t family = (uint32_t)cur->family;
	int ret = 0, deleted = 0;

	/* endpoints that went away */
	for (size_t i = 0; i < old->n_entries; i++) {
		const struct entry *o = &old->entries[i], *c;

		if (o->proto != L4_UDP)
			continue;
		c = find_entry(cur, o);
		for (size_t b = 0; b < o->n_backends; b++)
			if (!c || !has_backend(c, &o->backends[b]))
				flush_add(&fl, o, true, &o->backends[b]);
	}
	/* entries that now have endpoints and had none (or did not exist) */
	for (size_t i = 0; i < cur->n_entries; i++) {
		const struct entry *c = &cur->entries[i], *o;

		if (c->proto != L4_UDP || !c->n_backends)
			continue;
		o = find_entry(old, c);
		if (!o || !o->n_backends)
			flush_add(&fl, c, false, NULL);
	}
	if (!fl.n)
		return 0;

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
		log_info("conntrack", "deleted %d stale UDP conntrack entr%s (%s)", deleted,
		         deleted == 1 ? "y" : "ies", cur->family == AF_INET ? "IPv4" : "IPv6");
out:
	for (size_t i = 0; i < fl.n_doomed; i++)
		nfct_destroy(fl.doomed[i]);
	free(fl.doomed);
	free(fl.v);
	return ret ? ret : deleted;
}
