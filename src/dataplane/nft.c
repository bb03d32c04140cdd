/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft.c - nftables over netlink (libnftnl + libmnl).
 *
 * The table skeleton (sets, base chains, their few rules) is built with
 * libnftnl objects; set elements, which are the bulk (one per endpoint),
 * are written straight into the batch with libmnl attributes. Every change
 * is one NFNL batch sent with a single sendmsg(): the kernel applies it all
 * or nothing. Errors come back with extended ACK text.
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

/* Layout version: bump when chains, rules or set types change. */
#define LAYOUT_VERSION 6

/* nft's datatype ids (nftables src/datatype.h), for `nft list` to print keys. */
enum {
	DT_VERDICT = 1,
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_INET_PROTOCOL = 12,
	DT_INET_SERVICE = 13,
	DT_MARK = 19,
};
#define DT_BITS 6

static uint32_t dt_concat(const int *ids, int n)
{
	uint32_t t = 0;

	for (int i = 0; i < n; i++)
		t = (t << DT_BITS) | (uint32_t)ids[i];
	return t;
}

size_t nft_addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static int nfproto(int family)
{
	return family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

/* ---- key layout ------------------------------------------------------- */

/* addr | proto (1 byte, padded to 4) | port (2 bytes network order, padded to 4) */
static size_t key3_len(int family)
{
	return nft_addr_len(family) + 8;
}

static void key3_encode(int family, uint8_t *k, const struct ipaddr *a, uint8_t proto,
                        uint16_t port)
{
	size_t al = nft_addr_len(family);
	uint16_t nport = htons(port);

	memset(k, 0, key3_len(family));
	memcpy(k, a->raw, al);
	k[al] = proto;
	memcpy(k + al + 4, &nport, 2);
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

/* proto (padded to 4) | port (network order, padded to 4) */
static void key2_encode(uint8_t *k, uint8_t proto, uint16_t port)
{
	uint16_t nport = htons(port);

	memset(k, 0, 8);
	k[0] = proto;
	memcpy(k + 4, &nport, 2);
}

/* ---- the sets ----------------------------------------------------------- */

enum key_kind { K_A, K_APT, K_APTS, K_PT, K_PTS, K_AA, K_APTR };
enum data_kind { D_NONE, D_VERDICT, D_DEST, D_RANGE_END };

static const struct set_spec {
	const char *name;
	enum key_kind key;
	enum data_kind data;
} set_specs[SET_COUNT] = {
    [SET_CLUSTER_IPS] = {"cluster_ips", K_A, D_NONE},
    [SET_NO_ENDPOINTS] = {"no_endpoints", K_APT, D_NONE},
    [SET_DROP_ENDPOINTS] = {"drop_endpoints", K_APT, D_NONE},
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
};

static const char *const lb_prefix[LB_KINDS] = {"lb", "lbc", "np", "npc", "aff"};
static const enum nft_set_id lb_map[LB_KINDS] = {SET_BACKENDS, SET_BACKENDS_CLUSTER,
                                                 SET_NP_BACKENDS, SET_NP_BACKENDS_CLUSTER};

const char *nft_lb_prefix(enum nft_lb_kind kind)
{
	return lb_prefix[kind % LB_KINDS];
}

enum nft_set_id nft_lb_map(enum nft_lb_kind kind)
{
	return lb_map[kind % LB_KINDS];
}

const char *nft_set_name(enum nft_set_id id)
{
	return set_specs[id].name;
}

static uint32_t key_len(enum key_kind k, size_t al)
{
	switch (k) {
	case K_A:
		return (uint32_t)al;
	case K_APT:
		return (uint32_t)al + 8;
	case K_APTS:
		return (uint32_t)al + 12;
	case K_PT:
		return 8;
	case K_PTS:
		return 12;
	case K_AA:
		return (uint32_t)(2 * al);
	case K_APTR:
		return (uint32_t)(2 * al + 8);
	}
	return 0;
}

static uint32_t data_len(const struct set_spec *sp, size_t al)
{
	switch (sp->data) {
	case D_NONE:
		return 0;
	case D_VERDICT:
		return 4; /* NFT_LB_DATA(kind, k); rendered as a goto */
	case D_DEST:
		return (uint32_t)al + 4;
	case D_RANGE_END:
		return key_len(sp->key, al);
	}
	return 0;
}

static void sets_init(struct nft_sets *s, int family)
{
	size_t al = nft_addr_len(family);

	s->family = family;
	for (int i = 0; i < SET_COUNT; i++)
		bytemap_init(&s->s[i], key_len(set_specs[i].key, al), data_len(&set_specs[i], al));
	bytemap_init(&s->refs_cluster_ips, (uint32_t)al, 4);
	bytemap_init(&s->refs_hairpin, (uint32_t)(2 * al), 4);
}

/* The reference counts of a shared set, or NULL for the others. */
static struct bytemap *refs_of(struct nft_sets *s, int id)
{
	return id == SET_CLUSTER_IPS ? &s->refs_cluster_ips
	       : id == SET_HAIRPIN   ? &s->refs_hairpin
	                             : NULL;
}

static uint32_t refs_get(const struct bytemap *r, const void *key)
{
	long i = bytemap_find(r, key);
	uint32_t c = 0;

	if (i >= 0)
		memcpy(&c, bytemap_data(r, (size_t)i), 4);
	return c;
}

/* Put a shared element (no data, no comment) and count one more user. */
static void shared_put(struct nft_sets *s, int id, const void *key)
{
	struct bytemap *r = refs_of(s, id);
	uint32_t c = refs_get(r, key) + 1;

	bytemap_put(&s->s[id], key, NULL, NULL);
	bytemap_put(r, key, &c, NULL);
}

void nft_sets_free(struct nft_sets *s)
{
	for (int i = 0; i < SET_COUNT; i++)
		bytemap_free(&s->s[i]);
	bytemap_free(&s->refs_cluster_ips);
	bytemap_free(&s->refs_hairpin);
}

/* Put the k backends of one entry under key prefix (slot appended at plen). */
static void put_backends(struct nft_sets *out, enum nft_set_id map, uint8_t *key, size_t plen,
                         const struct backend *b, size_t k, size_t al)
{
	uint8_t data[NFT_MAX_DATA], pair[32];

	for (uint32_t slot = 0; slot < k; slot++) {
		uint16_t nport = htons(b[slot].port);

		memcpy(key + plen, &slot, 4); /* numgen yields host byte order */
		memset(data, 0, al + 4);
		memcpy(data, b[slot].addr.raw, al);
		memcpy(data + al, &nport, 2);
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

/* The first and last address of c, written at dst and dst_end. */
static void cidr_bounds(const struct cidr *c, size_t al, uint8_t *dst, uint8_t *dst_end)
{
	memcpy(dst, c->addr.raw, al);
	memcpy(dst_end, c->addr.raw, al);
	for (unsigned int bit = c->prefix_len; bit < al * 8; bit++)
		dst_end[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
}

/* Add the elements of one entry to out. */
static void render_entry(int fam, const struct entry *e, struct nft_sets *out)
{
	size_t al = nft_addr_len(fam), k3 = key3_len(fam);
	uint8_t key[NFT_MAX_KEY], end[NFT_MAX_KEY];

	{
		bool np = e->kind == ENTRY_NODE_PORT;
		size_t plen = np ? 8 : k3;
		uint32_t k = (uint32_t)e->n_backends, v;

		if (np)
			key2_encode(key, e->proto, e->port);
		else
			key3_encode(fam, key, &e->addr, e->proto, e->port);
		if (e->kind == ENTRY_CLUSTER_IP)
			shared_put(out, SET_CLUSTER_IPS, e->addr.raw);
		if (!np)
			bytemap_put(&out->s[SET_SERVICE_PORTS], key, NULL, NULL);
		if (np)
			bytemap_put(&out->s[SET_NODEPORT_PORTS], key, NULL, e->label);
		for (size_t r = 0; r < e->n_source_ranges; r++) {
			if (e->source_ranges[r].addr.family != fam)
				continue;
			memcpy(end, key, k3);
			cidr_bounds(&e->source_ranges[r], al, key + k3, end + k3);
			bytemap_put(&out->s[SET_FIREWALL_ALLOW], key, end, NULL);
		}
		if (e->n_source_ranges)
			bytemap_put(&out->s[SET_FIREWALL], key, NULL, e->label);

		if (k && e->affinity_timeout) {
			v = NFT_LB_DATA(LB_AFFINITY, e->affinity_timeout);
			bytemap_put(&out->s[np ? SET_AFFINITY_NODEPORTS : SET_AFFINITY_SERVICES],
			            key, &v, NULL);
		}
		if (k) {
			v = NFT_LB_DATA(np ? LB_NODEPORT : LB_SERVICE, k);
			bytemap_put(&out->s[np ? SET_NODEPORTS : SET_SERVICE_IPS], key, &v,
			            e->label);
			if (e->masquerade)
				bytemap_put(&out->s[np ? SET_NODEPORT_MASQ : SET_EXTERNAL_MASQ],
				            key, NULL, NULL);
			put_backends(out, np ? SET_NP_BACKENDS : SET_BACKENDS, key, plen,
			             e->backends, k, al);
		} else if (e->n_all) {
			/* endpoints exist, none allowed here by a Local policy: drop */
			bytemap_put(&out->s[np ? SET_NODEPORT_DROP : SET_DROP_ENDPOINTS], key, NULL,
			            e->label);
		} else if (!np) {
			bytemap_put(&out->s[SET_NO_ENDPOINTS], key, NULL, e->label);
		}
		if (e->etp_local && e->n_all_backends) {
			v = NFT_LB_DATA(np ? LB_NODEPORT_CLUSTER : LB_SERVICE_CLUSTER,
			                e->n_all_backends);
			bytemap_put(&out->s[np ? SET_NODEPORTS_CLUSTER : SET_SERVICE_IPS_CLUSTER],
			            key, &v, e->label);
			put_backends(out, np ? SET_NP_BACKENDS_CLUSTER : SET_BACKENDS_CLUSTER, key,
			             plen, e->all_backends, e->n_all_backends, al);
		}
	}
}

void nft_render(const struct desired *ds, struct nft_sets *out)
{
	sets_init(out, ds->family);
	for (size_t i = 0; i < ds->n_entries; i++)
		render_entry(ds->family, &ds->entries[i], out);
}

/* ---- the dataplane object ---------------------------------------------- */

struct nft_dp {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int family;
	char layout[256];     /* the table comment that identifies our layout */
	bool table_exists;    /* a table named svcproxy exists in the kernel */
	bool layout_ok;       /* ... and has our layout: no rebuild needed */
	struct nft_sets prog; /* what is programmed */
	struct desired last;  /* what prog was rendered from, when have_last */
	bool have_last;
	bool affinity_dirty; /* @affinity may hold clients of endpoints that left */
	/* lb[kind][k] != 0: chain <prefix>_<k> exists; n_lb[kind] entries */
	uint8_t *lb[LB_KINDS];
	size_t n_lb[LB_KINDS];
	int sndbuf;
	const struct cidr *cidrs;
	size_t n_cidrs;
	const struct cidr *np_cidrs;
	size_t n_np_cidrs;
	bool masquerade_all;
};

static struct mnl_socket *nl_open(uint32_t *portid)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int one = 1;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(nl);
		errno = e;
		return NULL;
	}
	/* extended ACK: the kernel says what it did not like */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	*portid = mnl_socket_get_portid(nl);
	return nl;
}

/* Append "; <what> a,b" for this family's CIDRs to buf. Returns -1 when too long. */
static int layout_cidrs(char *buf, size_t size, const char *what, const struct cidr *c, size_t n,
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

static void lb_forget(struct nft_dp *dp)
{
	for (int i = 0; i < LB_KINDS; i++) {
		free(dp->lb[i]);
		dp->lb[i] = NULL;
		dp->n_lb[i] = 0;
	}
}

struct nft_dp *nft_dp_open(const struct nft_dp_opts *o)
{
	struct nft_dp *dp = calloc(1, sizeof(*dp));

	if (!dp)
		return NULL;
	dp->family = o->family;
	dp->cidrs = o->cluster_cidrs;
	dp->n_cidrs = o->n_cluster_cidrs;
	dp->np_cidrs = o->nodeport_cidrs;
	dp->n_np_cidrs = o->n_nodeport_cidrs;
	dp->masquerade_all = o->masquerade_all;
	dp->seq = (uint32_t)time(NULL);
	sets_init(&dp->prog, o->family);

	/* the table comment names the layout and the options baked into it */
	snprintf(dp->layout, sizeof(dp->layout), "svcproxy layout %d; masquerade-all %s",
	         LAYOUT_VERSION, o->masquerade_all ? "yes" : "no");
	if (layout_cidrs(dp->layout, sizeof(dp->layout), "cluster-cidr ", o->cluster_cidrs,
	                 o->n_cluster_cidrs, o->family) ||
	    layout_cidrs(dp->layout, sizeof(dp->layout), "nodeport-addresses ", o->nodeport_cidrs,
	                 o->n_nodeport_cidrs, o->family)) {
		nft_sets_free(&dp->prog);
		free(dp);
		errno = EINVAL;
		return NULL;
	}

	dp->nl = nl_open(&dp->portid);
	if (!dp->nl) {
		int e = errno;

		nft_sets_free(&dp->prog);
		free(dp);
		errno = e;
		return NULL;
	}
	return dp;
}

void nft_dp_close(struct nft_dp *dp)
{
	if (!dp)
		return;
	if (dp->nl)
		mnl_socket_close(dp->nl);
	nft_sets_free(&dp->prog);
	desired_free(&dp->last);
	lb_forget(dp);
	free(dp);
}

/* ---- netlink I/O -------------------------------------------------------- */

/* The text of an extended ACK, if the error message carries one. */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err), plen = mnl_nlmsg_get_payload_len(nlh);
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (off >= plen)
		return NULL;
	for (attr = (const struct nlattr *)((const uint8_t *)err + off);
	     mnl_attr_ok(attr, (int)(plen - ((const uint8_t *)attr - (const uint8_t *)err)));
	     attr = mnl_attr_next(attr))
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
			return mnl_attr_get_str(attr);
	return NULL;
}

typedef int (*dump_cb)(const struct nlmsghdr *nlh, void *data);

struct dump_ctx {
	dump_cb cb;
	void *data;
	bool interrupted;
};

static int dump_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *dc = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		dc->interrupted = true;
	return dc->cb(nlh, dc->data);
}

/*
 * Send one request and run cb on every answer until the dump is done.
 * Returns 0, -errno from the kernel, or -EINTR when the dump was
 * interrupted by a concurrent change (the caller restarts).
 */
static int nl_request(struct mnl_socket *nl, uint32_t portid, struct nlmsghdr *req, dump_cb cb,
                      void *data)
{
	static uint8_t buf[1 << 16];
	struct dump_ctx dc = {.cb = cb, .data = data};
	uint32_t seq = req->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, dump_msg_cb, &dc);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			break;
	}
	return dc.interrupted ? -EINTR : 0;
}

/* ---- transactions ------------------------------------------------------- */

#define MSG_RESERVE   (1 << 16)
#define ELEM_MSG_FULL 60000 /* keep each message's element list under 64 KiB */

struct txn {
	struct nft_dp *dp;
	uint8_t *buf;
	size_t len, cap;
	uint32_t first_seq;
	size_t n_ops; /* messages between batch begin and end */
	char **what;  /* what[i]: operation i, for error messages */
	size_t what_cap;
	/* element message being filled */
	uint16_t elem_type;
	const char *elem_set;
	struct nlmsghdr *elem_nlh;
	struct nlattr *elem_list;
	size_t elem_count;
	size_t changes;
};

static void txn_reserve(struct txn *t)
{
	if (t->cap - t->len < MSG_RESERVE) {
		t->cap = (t->cap ? t->cap * 2 : 1 << 20) + MSG_RESERVE;
		t->buf = xrealloc(t->buf, t->cap);
	}
}

static void txn_begin(struct txn *t, struct nft_dp *dp)
{
	memset(t, 0, sizeof(*t));
	t->dp = dp;
	txn_reserve(t);
	t->first_seq = dp->seq;
	t->len += nftnl_batch_begin((char *)t->buf, dp->seq++)->nlmsg_len;
}

/* Start a message at the end of the buffer; txn_done() adds it. */
static struct nlmsghdr *txn_msg(struct txn *t, uint16_t type, uint16_t flags)
{
	txn_reserve(t);
	return nftnl_nlmsg_build_hdr((char *)t->buf + t->len, type,
	                             (uint16_t)nfproto(t->dp->family), flags, t->dp->seq++);
}

static const char *msg_type_name(uint16_t type)
{
	switch (type & 0xff) {
	case NFT_MSG_NEWTABLE:
		return "add table";
	case NFT_MSG_DELTABLE:
		return "delete table";
	case NFT_MSG_NEWCHAIN:
		return "add chain";
	case NFT_MSG_NEWRULE:
		return "add rule to chain";
	case NFT_MSG_NEWSET:
		return "add set";
	case NFT_MSG_NEWSETELEM:
		return "add elements to";
	case NFT_MSG_DELSETELEM:
		return "delete elements from";
	}
	return "operation";
}

/* Add the message built at the end of the buffer; name says what it is about. */
static void txn_done_named(struct txn *t, struct nlmsghdr *nlh, const char *name)
{
	t->what = xgrow(t->what, &t->what_cap, t->n_ops + 1, sizeof(*t->what));
	t->what[t->n_ops] = xasprintf("%s %s", msg_type_name(nlh->nlmsg_type), name ? name : "");
	t->len += NLMSG_ALIGN(nlh->nlmsg_len);
	t->n_ops++;
}

static void txn_done(struct txn *t, struct nlmsghdr *nlh)
{
	txn_done_named(t, nlh, NULL);
}

static void elems_flush(struct txn *t)
{
	if (!t->elem_nlh)
		return;
	if (t->elem_count) {
		mnl_attr_nest_end(t->elem_nlh, t->elem_list);
		txn_done_named(t, t->elem_nlh, t->elem_set);
	} else {
		t->dp->seq--; /* the message was never added */
	}
	t->elem_nlh = NULL;
	t->elem_count = 0;
}

static void elems_start(struct txn *t, uint16_t type, const char *set)
{
	elems_flush(t);
	t->elem_type = type;
	t->elem_set = set;
	t->elem_nlh = txn_msg(t, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE_NAME);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_SET, set);
	t->elem_list = mnl_attr_nest_start(t->elem_nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

static void put_value(struct nlmsghdr *nlh, uint16_t type, const void *v, uint32_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, nest);
}

/*
 * Append element i of s to the current element message (elems_start()
 * named the set and the operation); a full message is closed and a new
 * one begun. Deletions carry only the key (and key end, for intervals).
 */
static void elems_put(struct txn *t, const struct bytemap *s, size_t i, enum data_kind dk)
{
	bool add = t->elem_type == NFT_MSG_NEWSETELEM;
	struct nlmsghdr *nlh;
	struct nlattr *el;

	if (t->elem_nlh->nlmsg_len > ELEM_MSG_FULL)
		elems_start(t, t->elem_type, t->elem_set);
	nlh = t->elem_nlh;
	el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	put_value(nlh, NFTA_SET_ELEM_KEY, bytemap_key(s, i), s->klen);
	if (dk == D_RANGE_END)
		put_value(nlh, NFTA_SET_ELEM_KEY_END, bytemap_data(s, i), s->dlen);
	if (add && dk == D_VERDICT) {
		struct nlattr *nest, *v;
		char chain[32];
		uint32_t d;

		memcpy(&d, bytemap_data(s, i), 4);
		snprintf(chain, sizeof(chain), "%s_%u", lb_prefix[(d >> 24) % LB_KINDS],
		         d & 0xffffff);
		nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
		mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
		mnl_attr_nest_end(nlh, v);
		mnl_attr_nest_end(nlh, nest);
	} else if (add && dk == D_DEST) {
		put_value(nlh, NFTA_SET_ELEM_DATA, bytemap_data(s, i), s->dlen);
	}
	if (add && bytemap_comment(s, i)) {
		/* libnftnl udata TLV: type NFTNL_UDATA_SET_ELEM_COMMENT, length, text */
		uint8_t ud[2 + 255];
		size_t len = strlen(bytemap_comment(s, i));

		if (len > 254)
			len = 254;
		ud[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
		ud[1] = (uint8_t)(len + 1);
		memcpy(ud + 2, bytemap_comment(s, i), len);
		ud[2 + len] = '\0';
		mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, len + 3, ud);
	}
	mnl_attr_nest_end(nlh, el);
	t->elem_count++;
	t->changes++;
}

/* Read the answers to a batch: 0 when the last message was acked, -errno otherwise. */
static int txn_commit(struct txn *t)
{
	static uint8_t rbuf[1 << 16];
	struct nft_dp *dp = t->dp;
	uint32_t last_seq;
	bool acked = false;
	int err = 0, fd;

	elems_flush(t);
	if (!t->n_ops)
		return 0;
	/* ask for an ACK of the last operation: its arrival means all were read */
	{
		struct nlmsghdr *last = NULL;
		size_t off = 0;

		while (off < t->len) {
			struct nlmsghdr *h = (struct nlmsghdr *)(t->buf + off);

			last = h;
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
		last->nlmsg_flags |= NLM_F_ACK;
		last_seq = last->nlmsg_seq;
	}
	txn_reserve(t);
	t->len += nftnl_batch_end((char *)t->buf + t->len, dp->seq++)->nlmsg_len;

	fd = mnl_socket_get_fd(dp->nl);
	if ((int)t->len + 4096 > dp->sndbuf) {
		int sz = (int)t->len + 4096;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) == 0)
			dp->sndbuf = sz;
	}
	if (mnl_socket_sendto(dp->nl, t->buf, t->len) < 0) {
		err = -errno;
		log_err("nft", "sending a %zu-byte transaction failed: %s", t->len,
		        strerror(errno));
		return err;
	}
	/* nfnetlink handled the whole batch inside sendmsg(): answers are queued */
	while (!acked) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), err ? MSG_DONTWAIT : 0);
		const struct nlmsghdr *h;
		size_t len;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return err ? err : -errno;
		}
		len = (size_t)n;
		for (h = (const struct nlmsghdr *)rbuf; mnl_nlmsg_ok(h, (int)len);
		     h = mnl_nlmsg_next(h, (int *)&len)) {
			const struct nlmsgerr *e;
			const char *msg;

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(h);
			if (e->error == 0) {
				if (h->nlmsg_seq == last_seq)
					acked = true;
				continue;
			}
			msg = extack_msg(h);
			{
				uint32_t op = h->nlmsg_seq - t->first_seq - 1;

				log_err("nft",
				        "transaction rejected at operation %u of %zu (%s): %s%s%s",
				        op + 1, t->n_ops, op < t->n_ops ? t->what[op] : "commit",
				        strerror(-e->error), msg ? ": " : "", msg ? msg : "");
			}
			if (!err)
				err = e->error;
			if (h->nlmsg_seq == last_seq)
				acked = true;
		}
	}
	return err;
}

static void txn_free(struct txn *t)
{
	for (size_t i = 0; i < t->n_ops; i++)
		free(t->what[i]);
	free(t->what);
	free(t->buf);
	t->buf = NULL;
	t->what = NULL;
}

/* ---- skeleton: table, sets, chains, rules ------------------------------- */

static void put_table(struct txn *t, uint16_t type)
{
	struct nftnl_table *tb = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!tb)
		die_oom();
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, (uint32_t)nfproto(t->dp->family));
	if (type == NFT_MSG_NEWTABLE) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(512);

		if (!ud)
			die_oom();
		nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, t->dp->layout);
		nftnl_table_set_data(tb, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
		                     nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = txn_msg(t, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, tb);
	txn_done(t, nlh);
	nftnl_table_free(tb);
}

/* Key type ids of a key kind, for `nft list` (nft's datatype ids). */
static int key_type_ids(enum key_kind k, int family, int *ids)
{
	int a = family == AF_INET6 ? DT_IP6ADDR : DT_IPADDR, n = 0;

	switch (k) {
	case K_A:
		ids[n++] = a;
		break;
	case K_APT:
	case K_APTS:
	case K_APTR:
		ids[n++] = a;
		ids[n++] = DT_INET_PROTOCOL;
		ids[n++] = DT_INET_SERVICE;
		if (k == K_APTS)
			ids[n++] = DT_MARK;
		if (k == K_APTR)
			ids[n++] = a;
		break;
	case K_PT:
	case K_PTS:
		ids[n++] = DT_INET_PROTOCOL;
		ids[n++] = DT_INET_SERVICE;
		if (k == K_PTS)
			ids[n++] = DT_MARK;
		break;
	case K_AA:
		ids[n++] = a;
		ids[n++] = a;
		break;
	}
	return n;
}

/* Create one set of ours from its spec. */
static void put_set(struct txn *t, enum nft_set_id id)
{
	const struct set_spec *sp = &set_specs[id];
	int fam = t->dp->family, ids[6], n = key_type_ids(sp->key, fam, ids);
	size_t al = nft_addr_len(fam);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, sp->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)nfproto(fam));
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)id + 1);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, dt_concat(ids, n));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len(sp->key, al));
	if (sp->data == D_VERDICT || sp->data == D_DEST) {
		int dids[] = {fam == AF_INET6 ? DT_IP6ADDR : DT_IPADDR, DT_INET_SERVICE};

		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE,
		                  sp->data == D_VERDICT ? NFT_DATA_VERDICT : dt_concat(dids, 2));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN,
		                  sp->data == D_VERDICT ? 0 : (uint32_t)al + 4);
	} else if (sp->data == D_RANGE_END) {
		/* a concatenation of ranges: the pipapo backend; field sizes as nft sends them */
		uint8_t fl[6];

		for (int i = 0; i < n; i++)
			fl[i] = ids[i] == DT_INET_PROTOCOL  ? 1
			        : ids[i] == DT_INET_SERVICE ? 2
			                                    : (uint8_t)al;
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT);
		nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fl, (uint32_t)n);
	}
	nlh = txn_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	txn_done_named(t, nlh, sp->name);
	nftnl_set_free(s);
}

/*
 * A constant interval set of this family's CIDRs (cluster CIDRs,
 * NodePort addresses): rbtree elements, start and exclusive end.
 */
static void put_cidr_set(struct txn *t, const char *name, uint32_t id, const struct cidr *c,
                         size_t n)
{
	int fam = t->dp->family, dt = fam == AF_INET6 ? DT_IP6ADDR : DT_IPADDR;
	size_t al = nft_addr_len(fam);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)nfproto(fam));
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, (uint32_t)dt);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)al);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONSTANT);
	nlh = txn_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	txn_done(t, nlh);
	nftnl_set_free(s);

	elems_start(t, NFT_MSG_NEWSETELEM, name);
	for (size_t i = 0; i < n; i++) {
		uint8_t lo[16], hi[16];
		struct nlattr *el;
		int carry = 1;

		if (c[i].addr.family != fam)
			continue;
		cidr_bounds(&c[i], al, lo, hi);
		el = mnl_attr_nest_start(t->elem_nlh, NFTA_LIST_ELEM);
		put_value(t->elem_nlh, NFTA_SET_ELEM_KEY, lo, (uint32_t)al);
		mnl_attr_nest_end(t->elem_nlh, el);
		t->elem_count++;
		/* exclusive end: hi + 1, unless the range runs to the top */
		for (size_t b = al; b-- > 0 && carry;) {
			hi[b]++;
			carry = hi[b] == 0;
		}
		if (carry)
			continue;
		el = mnl_attr_nest_start(t->elem_nlh, NFTA_LIST_ELEM);
		mnl_attr_put_u32(t->elem_nlh, NFTA_SET_ELEM_FLAGS,
		                 htonl(NFT_SET_ELEM_INTERVAL_END));
		put_value(t->elem_nlh, NFTA_SET_ELEM_KEY, hi, (uint32_t)al);
		mnl_attr_nest_end(t->elem_nlh, el);
		t->elem_count++;
	}
	elems_flush(t);
}

static void put_chain(struct txn *t, const char *name, const char *type, int hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		die_oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)nfproto(t->dp->family));
	if (type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = txn_msg(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	txn_done_named(t, nlh, name);
	nftnl_chain_free(c);
}

/* Rule building: r_new(), then r_* expressions, then r_add(). */
static struct nftnl_rule *r_new(struct txn *t, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		die_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)nfproto(t->dp->family));
	return r;
}

static void r_add(struct txn *t, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh = txn_msg(t, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);

	nftnl_rule_nlmsg_build_payload(nlh, r);
	txn_done_named(t, nlh, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	nftnl_rule_free(r);
}

static struct nftnl_expr *expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		die_oom();
	nftnl_rule_add_expr(r, e);
	return e;
}

static void r_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
                      uint32_t dreg)
{
	struct nftnl_expr *e = expr(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void r_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void r_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
}

static void r_ct_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(r, "ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

static void r_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void * xor,
                      uint32_t len)
{
	struct nftnl_expr *e = expr(r, "bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

static void r_cmp(struct nftnl_rule *r, uint32_t reg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

/* Match (reg & bits) != 0 on a 32-bit register; bits in host byte order. */
static void r_bits_set(struct nftnl_rule *r, uint32_t reg, uint32_t bits)
{
	uint32_t zero = 0;

	r_bitwise(r, reg, &bits, &zero, 4);
	r_cmp(r, reg, NFT_CMP_NEQ, &zero, 4);
}

static void r_lookup(struct nftnl_rule *r, const char *set, uint32_t sreg, int dreg)
{
	struct nftnl_expr *e = expr(r, "lookup");

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
}

static void r_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = expr(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void r_reject(struct nftnl_rule *r, int family)
{
	struct nftnl_expr *e = expr(r, "reject");

	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
	/* ICMP port unreachable / ICMPv6 port unreachable: ECONNREFUSED at once */
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, family == AF_INET6 ? 4 : 3);
}

static void r_masq(struct nftnl_rule *r, uint32_t flags)
{
	struct nftnl_expr *e = expr(r, "masq");

	if (flags)
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, flags);
}

static uint32_t daddr_off(int family)
{
	return family == AF_INET6 ? 24 : 16;
}

static uint32_t saddr_off(int family)
{
	return family == AF_INET6 ? 8 : 12;
}

/* The register for byte offset off of a concatenation starting at NFT_REG_1. */
static uint32_t creg(size_t off)
{
	return off ? NFT_REG32_00 + (uint32_t)(off / 4) : NFT_REG_1;
}

/* Load daddr . l4proto . th dport into the registers from NFT_REG_1. */
static void r_load_key3(struct nftnl_rule *r, int family)
{
	size_t al = nft_addr_len(family);

	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(family), (uint32_t)al, NFT_REG_1);
	r_meta_load(r, NFT_META_L4PROTO, creg(al));
	r_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, creg(al + 4));
}

/* ct state new: the first packet of a connection */
static void r_ct_new(struct nftnl_rule *r)
{
	r_ct_load(r, NFT_CT_STATE, NFT_REG_1);
	r_bits_set(r, NFT_REG_1, NF_CT_STATE_BIT(IP_CT_NEW));
}

/* meta mark set mark | NFT_MASQ_MARK */
static void r_mark_masq(struct nftnl_rule *r)
{
	uint32_t mask = ~NFT_MASQ_MARK, xor = NFT_MASQ_MARK;

	r_meta_load(r, NFT_META_MARK, NFT_REG_1);
	r_bitwise(r, NFT_REG_1, &mask, &xor, 4);
	r_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

/* fib <saddr|daddr> type local: the address is one of this node's */
static void r_fib_local(struct nftnl_rule *r, uint32_t which)
{
	struct nftnl_expr *e = expr(r, "fib");
	uint32_t local = RTN_LOCAL;

	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, which);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	r_cmp(r, NFT_REG_1, NFT_CMP_EQ, &local, 4);
}

/* Load l4proto . th dport into the registers from NFT_REG_1. */
static void r_load_key2(struct nftnl_rule *r)
{
	r_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
	r_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, creg(4));
}

static void r_load_addr(struct nftnl_rule *r, int family, bool src)
{
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, src ? saddr_off(family) : daddr_off(family),
	          (uint32_t)nft_addr_len(family), NFT_REG_1);
}

/* Load ct original <daddr|proto-dst> into dreg. */
static void r_ct_orig(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr(r, "ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

/*
 * The affinity key, client . service address . l4proto . service port,
 * from NFT_REG_1. After DNAT (orig) the service side comes from conntrack.
 */
static void r_load_affinity_key(struct nftnl_rule *r, int family, bool orig)
{
	size_t al = nft_addr_len(family);

	r_load_addr(r, family, true);
	if (orig)
		r_ct_orig(r, family == AF_INET6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP, creg(al));
	else
		r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(family), (uint32_t)al, creg(al));
	r_meta_load(r, NFT_META_L4PROTO, creg(2 * al));
	if (orig)
		r_ct_orig(r, NFT_CT_PROTO_DST, creg(2 * al + 4));
	else
		r_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, creg(2 * al + 4));
}

/* aff_<T>: update @affinity { <affinity key> timeout T s : ip daddr . th dport } */
static void put_affinity_update(struct txn *t, struct nftnl_rule *r, uint32_t seconds)
{
	int fam = t->dp->family;
	size_t al = nft_addr_len(fam);
	struct nftnl_expr *e;

	r_load_affinity_key(r, fam, true);
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), (uint32_t)al, creg(2 * al + 8));
	r_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, creg(3 * al + 8));
	e = expr(r, "dynset");
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, "affinity");
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, creg(2 * al + 8));
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, (uint64_t)seconds * 1000);
	r_add(t, r);
}

/* The dynamic map the kernel fills: client . service . l4proto . port -> endpoint. */
static void put_affinity_map(struct txn *t)
{
	int fam = t->dp->family, a = fam == AF_INET6 ? DT_IP6ADDR : DT_IPADDR;
	int ids[] = {a, a, DT_INET_PROTOCOL, DT_INET_SERVICE}, dids[] = {a, DT_INET_SERVICE};
	size_t al = nft_addr_len(fam);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, "affinity");
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)nfproto(fam));
	nftnl_set_set_u32(s, NFTNL_SET_ID, SET_COUNT + 3);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, dt_concat(ids, 4));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)(2 * al + 8));
	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, dt_concat(dids, 2));
	nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, (uint32_t)al + 4);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL);
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, 65536);
	nlh = txn_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	txn_done_named(t, nlh, "affinity");
	nftnl_set_free(s);
}

/* dnat to <affinity key> map @affinity: a client seen recently goes where it went */
static void put_affinity_dnat(struct txn *t, const char *chain)
{
	int fam = t->dp->family;
	struct nftnl_rule *r = r_new(t, chain);
	struct nftnl_expr *e;

	r_load_affinity_key(r, fam, false);
	r_lookup(r, "affinity", NFT_REG_1, NFT_REG_1);
	e = expr(r, "nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nfproto(fam));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, creg(nft_addr_len(fam)));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	r_add(t, r);
}

/* fib daddr type local, and not loopback (or inside --nodeport-addresses) */
static void r_nodeport_guard(struct nftnl_rule *r, const struct nft_dp *dp)
{
	int fam = dp->family;

	r_fib_local(r, NFTA_FIB_F_DADDR);
	r_load_addr(r, fam, false);
	if (dp->n_np_cidrs) {
		r_lookup(r, "nodeport_cidrs", NFT_REG_1, -1);
	} else if (fam == AF_INET) {
		uint32_t mask = htonl(0xff000000), zero = 0, lo = htonl(0x7f000000);

		r_bitwise(r, NFT_REG_1, &mask, &zero, 4);
		r_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &lo, 4);
	} else {
		uint8_t lo6[16] = {[15] = 1};

		r_cmp(r, NFT_REG_1, NFT_CMP_NEQ, lo6, 16);
	}
}

/* chain <prefix>_<k>: dnat to <key> . numgen random mod k map @<backends map> */
static void put_lb_chain(struct txn *t, enum nft_lb_kind kind, uint32_t k)
{
	int fam = t->dp->family;
	size_t al = nft_addr_len(fam);
	bool np = kind == LB_NODEPORT || kind == LB_NODEPORT_CLUSTER;
	char name[32];
	struct nftnl_rule *r;
	struct nftnl_expr *e;

	snprintf(name, sizeof(name), "%s_%u", lb_prefix[kind], k);
	put_chain(t, name, NULL, 0, 0);
	r = r_new(t, name);
	if (kind == LB_AFFINITY) {
		put_affinity_update(t, r, k);
		return;
	}
	if (np)
		r_load_key2(r);
	else
		r_load_key3(r, fam);
	e = expr(r, "numgen");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, creg(np ? 8 : al + 8));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, k);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	r_lookup(r, set_specs[lb_map[kind]].name, NFT_REG_1, NFT_REG_1);
	e = expr(r, "nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nfproto(fam));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, creg(al));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	r_add(t, r);
}

/* <key> @set [jump|goto chain] or vmap when chain is NULL and verdict < 0 */
enum key_sel { KEY_APT, KEY_PT };

static void rule_lookup(struct txn *t, const char *chain, int pre, enum key_sel ks,
                        enum nft_set_id set, int verdict, const char *target)
{
	struct nftnl_rule *r = r_new(t, chain);
	int fam = t->dp->family;

	if (pre == 1) /* from the cluster CIDRs */
		r_load_addr(r, fam, true), r_lookup(r, "cluster_cidrs", NFT_REG_1, -1);
	else if (pre == 2) /* from this node */
		r_fib_local(r, NFTA_FIB_F_SADDR);
	if (ks == KEY_APT)
		r_load_key3(r, fam);
	else
		r_load_key2(r);
	if (set_specs[set].data == D_VERDICT && verdict < 0) {
		r_lookup(r, set_specs[set].name, NFT_REG_1, NFT_REG_VERDICT);
	} else {
		r_lookup(r, set_specs[set].name, NFT_REG_1, -1);
		if (verdict == NF_DROP)
			r_verdict(r, NF_DROP, NULL);
		else if (verdict == -2)
			r_reject(r, fam);
		else
			r_verdict(r, verdict, target);
	}
	r_add(t, r);
}

/*
 * A base chain that jumps to each of targets, for new connections only
 * when ct_new. Every packet crosses a base chain, so it holds one rule:
 * the "ct state new" test is made once, then a regular chain
 * <chain>_new jumps to the targets.
 */
static void put_base_chain_jump(struct txn *t, const char *chain, const char *type, int hook,
                                int prio, const char *const *targets, bool ct_new)
{
	char sub[64];
	struct nftnl_rule *r;
	const char *into = chain;

	put_chain(t, chain, type, hook, prio);
	if (ct_new && targets[0] && targets[1]) {
		snprintf(sub, sizeof(sub), "%s_new", chain);
		put_chain(t, sub, NULL, 0, 0);
		r = r_new(t, chain);
		r_ct_new(r);
		r_verdict(r, NFT_JUMP, sub);
		r_add(t, r);
		into = sub;
		ct_new = false;
	}
	for (; *targets; targets++) {
		r = r_new(t, into);
		if (ct_new)
			r_ct_new(r);
		r_verdict(r, NFT_JUMP, *targets);
		r_add(t, r);
	}
}

static void put_skeleton(struct txn *t)
{
	struct nft_dp *dp = t->dp;
	int fam = dp->family;
	uint32_t al = (uint32_t)nft_addr_len(fam);
	bool have_cidrs = false;
	struct nftnl_rule *r;

	for (size_t i = 0; i < dp->n_cidrs; i++)
		have_cidrs |= dp->cidrs[i].addr.family == fam;

	put_table(t, NFT_MSG_NEWTABLE);
	for (int i = 0; i < SET_COUNT; i++)
		put_set(t, (enum nft_set_id)i);
	put_cidr_set(t, "cluster_cidrs", SET_COUNT + 1, dp->cidrs, dp->n_cidrs);
	put_cidr_set(t, "nodeport_cidrs", SET_COUNT + 2, dp->np_cidrs, dp->n_np_cidrs);

	put_chain(t, "mark_masq", NULL, 0, 0);
	r = r_new(t, "mark_masq");
	r_mark_masq(r);
	r_add(t, r);

	put_chain(t, "services", NULL, 0, 0);
	put_chain(t, "nodeports", NULL, 0, 0);
	put_chain(t, "cluster_ip_path", NULL, 0, 0);
	put_affinity_map(t);

	/*
	 * ClusterIPs, the common case, take a short path: no fib lookup, no
	 * external-policy sets. goto: what it does not DNAT leaves the chain.
	 */
	r = r_new(t, "services");
	r_load_addr(r, fam, false);
	r_lookup(r, "cluster_ips", NFT_REG_1, -1);
	r_verdict(r, NFT_GOTO, "cluster_ip_path");
	r_add(t, r);
	/* traffic from outside the cluster CIDRs (or all, --masquerade-all) is masqueraded */
	if (have_cidrs || dp->masquerade_all) {
		put_chain(t, "masq_check", NULL, 0, 0);
		if (!dp->masquerade_all) {
			r = r_new(t, "masq_check");
			r_load_addr(r, fam, true);
			r_lookup(r, "cluster_cidrs", NFT_REG_1, -1);
			r_verdict(r, NFT_RETURN, NULL);
			r_add(t, r);
		}
		r = r_new(t, "masq_check");
		r_verdict(r, NFT_GOTO, "mark_masq");
		r_add(t, r);
		r = r_new(t, "cluster_ip_path");
		r_verdict(r, NFT_JUMP, "masq_check");
		r_add(t, r);
	}
	put_affinity_dnat(t, "cluster_ip_path");
	rule_lookup(t, "cluster_ip_path", 0, KEY_APT, SET_SERVICE_IPS, -1, NULL);

	/* external IPs and NodePorts: masquerade marks first, every dispatch ends the chain */
	rule_lookup(t, "services", 0, KEY_APT, SET_EXTERNAL_MASQ, NFT_JUMP, "mark_masq");
	rule_lookup(t, "services", 2, KEY_APT, SET_SERVICE_IPS_CLUSTER, NFT_JUMP, "mark_masq");
	put_chain(t, "nodeport_marks", NULL, 0, 0);
	r = r_new(t, "services");
	r_nodeport_guard(r, dp);
	r_verdict(r, NFT_JUMP, "nodeport_marks");
	r_add(t, r);
	rule_lookup(t, "nodeport_marks", 0, KEY_PT, SET_NODEPORT_MASQ, NFT_JUMP, "mark_masq");
	rule_lookup(t, "nodeport_marks", 2, KEY_PT, SET_NODEPORTS_CLUSTER, NFT_JUMP, "mark_masq");
	/* sessionAffinity: a client seen recently goes where it went before */
	put_affinity_dnat(t, "services");

	/* eTP=Local: pods and the node itself reach every endpoint */
	rule_lookup(t, "services", 1, KEY_APT, SET_SERVICE_IPS_CLUSTER, -1, NULL);
	rule_lookup(t, "services", 2, KEY_APT, SET_SERVICE_IPS_CLUSTER, -1, NULL);
	rule_lookup(t, "services", 0, KEY_APT, SET_SERVICE_IPS, -1, NULL);
	/* NodePorts: a local address, not loopback (CVE-2020-8558), or --nodeport-addresses */
	r = r_new(t, "services");
	r_nodeport_guard(r, dp);
	r_verdict(r, NFT_JUMP, "nodeports");
	r_add(t, r);

	rule_lookup(t, "nodeports", 1, KEY_PT, SET_NODEPORTS_CLUSTER, -1, NULL);
	rule_lookup(t, "nodeports", 2, KEY_PT, SET_NODEPORTS_CLUSTER, -1, NULL);
	rule_lookup(t, "nodeports", 0, KEY_PT, SET_NODEPORTS, -1, NULL);

	/*
	 * After DNAT: record the endpoint of a new connection to an affinity
	 * Service. A known Service address without affinity stops the search,
	 * so what remains (a DNATed local address) is a NodePort.
	 */
	put_chain(t, "affinity_record", NULL, 0, 0);
	{
		/*
		 * Verdict maps whose chains DNAT cannot be looked up from a filter
		 * chain (the kernel validates their targets for this hook): the
		 * plain set service_ports says "a Service address" instead.
		 */
		static const enum nft_set_id seq[] = {SET_AFFINITY_SERVICES, SET_SERVICE_PORTS};

		for (size_t i = 0; i < 2; i++) {
			r = r_new(t, "affinity_record");
			r_ct_orig(r, fam == AF_INET6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP, NFT_REG_1);
			r_meta_load(r, NFT_META_L4PROTO, creg(al));
			r_ct_orig(r, NFT_CT_PROTO_DST, creg(al + 4));
			if (i == 0) {
				r_lookup(r, set_specs[seq[i]].name, NFT_REG_1, NFT_REG_VERDICT);
			} else {
				r_lookup(r, set_specs[seq[i]].name, NFT_REG_1, -1);
				r_verdict(r, NFT_RETURN, NULL);
			}
			r_add(t, r);
		}
		r = r_new(t, "affinity_record");
		r_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
		r_ct_orig(r, NFT_CT_PROTO_DST, creg(4));
		r_lookup(r, "affinity_nodeports", NFT_REG_1, NFT_REG_VERDICT);
		r_add(t, r);
	}

	{
		static const char *const svc[] = {"services", NULL};

		put_base_chain_jump(t, "nat_prerouting", "nat", NF_INET_PRE_ROUTING, -100, svc,
		                    false);
		put_base_chain_jump(t, "nat_output", "nat", NF_INET_LOCAL_OUT, -100, svc, false);
	}

	/* postrouting: hairpin (a pod reaching itself) and marked traffic */
	put_chain(t, "nat_postrouting", "nat", NF_INET_POST_ROUTING, 100);
	r = r_new(t, "nat_postrouting");
	r_ct_load(r, NFT_CT_STATUS, NFT_REG_1);
	r_bits_set(r, NFT_REG_1, IPS_DST_NAT);
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), al, NFT_REG_1);
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), al, creg(al));
	r_lookup(r, "hairpin", NFT_REG_1, -1);
	r_masq(r, 0);
	r_add(t, r);
	{
		uint32_t bit = NFT_MASQ_MARK, all = 0xffffffffu;

		r = r_new(t, "nat_postrouting");
		r_meta_load(r, NFT_META_MARK, NFT_REG_1);
		r_bits_set(r, NFT_REG_1, NFT_MASQ_MARK);
		r_meta_load(r, NFT_META_MARK, NFT_REG_1);
		r_bitwise(r, NFT_REG_1, &all, &bit, 4); /* clear our bit */
		r_meta_set(r, NFT_META_MARK, NFT_REG_1);
		r_masq(r, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		r_add(t, r);
	}

	/* filter: no endpoint → reject (ICMP port unreachable); Local policy, none here → drop */
	put_chain(t, "endpoints_check", NULL, 0, 0);
	rule_lookup(t, "endpoints_check", 0, KEY_APT, SET_DROP_ENDPOINTS, NF_DROP, NULL);
	rule_lookup(t, "endpoints_check", 0, KEY_APT, SET_NO_ENDPOINTS, -2, NULL);
	/*
	 * From the node itself, before its DNAT (output -110 < -100): only the
	 * ClusterIP drops apply; eTP=Local external IPs short-circuit to every
	 * endpoint for the node, as for pods.
	 */
	put_chain(t, "endpoints_check_local", NULL, 0, 0);
	r = r_new(t, "endpoints_check_local");
	r_load_addr(r, fam, false);
	r_lookup(r, "cluster_ips", NFT_REG_1, -1);
	r_load_key3(r, fam);
	r_lookup(r, "drop_endpoints", NFT_REG_1, -1);
	r_verdict(r, NF_DROP, NULL);
	r_add(t, r);
	rule_lookup(t, "endpoints_check_local", 0, KEY_APT, SET_NO_ENDPOINTS, -2, NULL);
	/* a NodePort that was not DNATed here (no endpoint, loopback, other address) */
	put_chain(t, "nodeport_check", NULL, 0, 0);
	rule_lookup(t, "nodeport_check", 0, KEY_PT, SET_NODEPORT_DROP, NF_DROP, NULL);
	rule_lookup(t, "nodeport_check", 0, KEY_PT, SET_NODEPORT_PORTS, -2, NULL);
	put_chain(t, "cluster_ips_check", NULL, 0, 0);
	r = r_new(t, "cluster_ips_check");
	r_load_addr(r, fam, false);
	r_lookup(r, "cluster_ips", NFT_REG_1, -1);
	r_reject(r, fam);
	r_add(t, r);
	/* LoadBalancer source ranges, before DNAT */
	put_chain(t, "firewall_check", NULL, 0, 0);
	r = r_new(t, "firewall_check");
	r_load_key3(r, fam);
	r_lookup(r, "firewall", NFT_REG_1, -1);
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), al, creg(al + 8));
	{
		struct nftnl_expr *e = expr(r, "lookup");

		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "firewall_allow");
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	}
	r_verdict(r, NF_DROP, NULL);
	r_add(t, r);

	{
		static const char *const pre[] = {"firewall_check", NULL};
		static const char *const pre_post[] = {"post_dnat", NULL};
		static const char *const in[] = {"nodeport_check_new", NULL};
		static const char *const out[] = {"endpoints_check_local", NULL};
		static const char *const post[] = {"post_dnat_local", NULL};

		/*
		 * After DNAT, before routing. A DNATed connection only has its
		 * affinity recorded; what still goes to a Service address was not
		 * DNATed: no endpoint (reject or drop), or no such port.
		 */
		for (int local = 0; local < 2; local++) {
			const char *chain = local ? "post_dnat_local" : "post_dnat";

			put_chain(t, chain, NULL, 0, 0);
			r = r_new(t, chain);
			r_ct_load(r, NFT_CT_STATUS, NFT_REG_1);
			r_bits_set(r, NFT_REG_1, IPS_DST_NAT);
			r_verdict(r, NFT_GOTO, "affinity_record");
			r_add(t, r);
			/* the node's own traffic had endpoints_check_local before its DNAT */
			if (!local) {
				r = r_new(t, chain);
				r_verdict(r, NFT_JUMP, "endpoints_check");
				r_add(t, r);
			}
			r = r_new(t, chain);
			r_verdict(r, NFT_JUMP, "cluster_ips_check");
			r_add(t, r);
		}

		/* only what was not DNATed counts as addressed to a NodePort */
		put_chain(t, "nodeport_check_new", NULL, 0, 0);
		r = r_new(t, "nodeport_check_new");
		r_ct_load(r, NFT_CT_STATUS, NFT_REG_1);
		r_bits_set(r, NFT_REG_1, IPS_DST_NAT);
		r_verdict(r, NFT_RETURN, NULL);
		r_add(t, r);
		r = r_new(t, "nodeport_check_new");
		r_verdict(r, NFT_GOTO, "nodeport_check");
		r_add(t, r);

		put_base_chain_jump(t, "filter_prerouting", "filter", NF_INET_PRE_ROUTING, -110,
		                    pre, true);
		put_base_chain_jump(t, "filter_prerouting_post_dnat", "filter", NF_INET_PRE_ROUTING,
		                    -90, pre_post, true);
		put_base_chain_jump(t, "filter_input", "filter", NF_INET_LOCAL_IN, -110, in, true);
		put_base_chain_jump(t, "filter_output", "filter", NF_INET_LOCAL_OUT, -110, out,
		                    true);
		/* after DNAT: what is still addressed to a ClusterIP had no such port */
		put_base_chain_jump(t, "filter_output_post_dnat", "filter", NF_INET_LOCAL_OUT, -90,
		                    post, true);
	}
}

/* ---- reading the kernel ------------------------------------------------- */

struct table_info {
	bool found;
	char comment[256];
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_info *ti = data;
	struct nftnl_table *t = nftnl_table_alloc();
	const void *ud;
	uint32_t len = 0;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		ti->found = true;
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
		/* our layout text is the first TLV: type, length, NUL-terminated text */
		if (ud && len > 2 && ((const uint8_t *)ud)[0] == NFTNL_UDATA_TABLE_COMMENT) {
			size_t l = ((const uint8_t *)ud)[1];

			if (l + 2 <= len && l < sizeof(ti->comment)) {
				memcpy(ti->comment, (const uint8_t *)ud + 2, l);
				ti->comment[l] = '\0';
			}
		}
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

static int get_table(struct mnl_socket *nl, uint32_t portid, int family, uint32_t seq,
                     struct table_info *ti)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!t)
		die_oom();
	nlh =
	    nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)nfproto(family), NLM_F_ACK, seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	memset(ti, 0, sizeof(*ti));
	ret = nl_request(nl, portid, nlh, table_cb, ti);
	return ret == -ENOENT ? 0 : ret;
}

/* Mark chain <kind>_<k> as existing in lb[kind]. */
static void lb_mark(uint8_t **lb, size_t *n, uint32_t k)
{
	if (k >= *n) {
		size_t nn = k + 64;

		*lb = xrealloc(*lb, nn);
		memset(*lb + *n, 0, nn - *n);
		*n = nn;
	}
	(*lb)[k] = 1;
}

/* "lbc_12" -> LB_SERVICE_CLUSTER, 12. Returns false for other names. */
static bool lb_parse(const char *name, enum nft_lb_kind *kind, uint32_t *k)
{
	for (int i = 0; i < LB_KINDS; i++) {
		size_t pl = strlen(lb_prefix[i]);
		unsigned int v;
		char tail;

		if (!strncmp(name, lb_prefix[i], pl) && name[pl] == '_' &&
		    sscanf(name + pl + 1, "%u%c", &v, &tail) == 1 && v > 0 && v < (1u << 24)) {
			*kind = (enum nft_lb_kind)i;
			*k = v;
			return true;
		}
	}
	return false;
}

struct chains_ctx {
	uint8_t *lb[LB_KINDS];
	size_t n[LB_KINDS];
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chains_ctx *cc = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	enum nft_lb_kind kind;
	uint32_t k;

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME) &&
	    lb_parse(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), &kind, &k))
		lb_mark(&cc->lb[kind], &cc->n[kind], k);
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

struct elems_ctx {
	struct bytemap *s;
	enum data_kind dk;
};

static int elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct elems_ctx *ec = data;
	uint8_t dbuf[NFT_MAX_DATA] = {0};
	const void *key, *d, *ud;
	uint32_t klen = 0, dlen = 0, ulen = 0;
	char comment[256] = "", *cm = NULL;

	key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	if (!key || klen != ec->s->klen)
		return 0; /* not ours: the next diff replaces it */
	if (ec->dk == D_VERDICT) {
		const char *chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
		enum nft_lb_kind kind;
		uint32_t k, v;

		if (chain && lb_parse(chain, &kind, &k)) {
			v = NFT_LB_DATA(kind, k);
			memcpy(dbuf, &v, 4);
		}
	} else if (ec->s->dlen) {
		d = nftnl_set_elem_get(
		    e, ec->dk == D_RANGE_END ? NFTNL_SET_ELEM_KEY_END : NFTNL_SET_ELEM_DATA, &dlen);
		if (d && dlen == ec->s->dlen)
			memcpy(dbuf, d, dlen);
	}
	ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ulen);
	if (ud && ulen > 2 && ((const uint8_t *)ud)[0] == NFTNL_UDATA_SET_ELEM_COMMENT) {
		size_t l = ((const uint8_t *)ud)[1];

		if (l + 2 <= ulen && l > 0 && l < sizeof(comment)) {
			memcpy(comment, (const uint8_t *)ud + 2, l);
			comment[l - 1] = '\0';
			cm = comment;
		}
	}
	bytemap_put(ec->s, key, dbuf, cm);
	return 0;
}

static int setelem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elems_ctx *ec = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) == 0)
		nftnl_set_elem_foreach(s, elem_cb, ec);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static int dump_named(struct mnl_socket *nl, uint32_t portid, int family, uint32_t seq,
                      const char *name, enum data_kind dk, struct bytemap *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct elems_ctx ec = {.s = out, .dk = dk};
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, (uint16_t)nfproto(family),
	                            NLM_F_DUMP | NLM_F_ACK, seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nl_request(nl, portid, nlh, setelem_cb, &ec);
}

static int dump_set(struct mnl_socket *nl, uint32_t portid, int family, uint32_t seq,
                    enum nft_set_id id, struct bytemap *out)
{
	return dump_named(nl, portid, family, seq, set_specs[id].name, set_specs[id].data, out);
}

/* Every set of ours, from the kernel. -ENOENT when one is missing. */
static int read_sets(struct mnl_socket *nl, uint32_t portid, int family, uint32_t *seq,
                     struct nft_sets *out)
{
	int ret = 0;

	sets_init(out, family);
	for (int i = 0; i < SET_COUNT && !ret; i++)
		ret = dump_set(nl, portid, family, (*seq)++, (enum nft_set_id)i, &out->s[i]);
	if (ret)
		nft_sets_free(out);
	return ret;
}

int nft_read_sets(int family, struct nft_sets *out)
{
	uint32_t portid, seq = (uint32_t)time(NULL);
	struct mnl_socket *nl = nl_open(&portid);
	struct table_info ti;
	int ret;

	sets_init(out, family);
	if (!nl)
		return -errno;
	ret = get_table(nl, portid, family, seq++, &ti);
	if (!ret && !ti.found)
		ret = -ENOENT;
	for (int tries = 0; !ret && tries < 5; tries++) {
		ret = read_sets(nl, portid, family, &seq, out);
		if (ret != -EINTR)
			break;
	}
	if (!ret)
		snprintf(out->layout, sizeof(out->layout), "%s", ti.comment);
	mnl_socket_close(nl);
	return ret;
}

static void chains_free(struct chains_ctx *cc)
{
	for (int i = 0; i < LB_KINDS; i++)
		free(cc->lb[i]);
	memset(cc, 0, sizeof(*cc));
}

/*
 * Reference counts of the shared elements read back from the kernel: the
 * next sync is a full one (no last desired state), which recounts them in
 * what it renders; until then one user each.
 */
static void rebuild_refs(struct nft_dp *dp)
{
	static const int shared[] = {SET_CLUSTER_IPS, SET_HAIRPIN};

	for (size_t s = 0; s < 2; s++) {
		struct bytemap *set = &dp->prog.s[shared[s]], *r = refs_of(&dp->prog, shared[s]);
		uint32_t one = 1;

		for (size_t i = 0; i < set->n; i++)
			bytemap_put(r, bytemap_key(set, i), &one, NULL);
	}
}

int nft_dp_adopt(struct nft_dp *dp)
{
	/* whatever we remembered, the kernel's word counts now: the next sync is full */
	desired_free(&dp->last);
	dp->have_last = false;
	struct table_info ti;
	struct chains_ctx cc = {0};
	struct nft_sets got;
	int ret;

	for (int tries = 0; tries < 5; tries++) {
		ret = get_table(dp->nl, dp->portid, dp->family, dp->seq++, &ti);
		if (ret)
			return ret;
		if (!ti.found || strcmp(ti.comment, dp->layout)) {
			/* absent, or another layout: the next sync builds it anew */
			nft_sets_free(&dp->prog);
			lb_forget(dp);
			dp->table_exists = ti.found;
			dp->layout_ok = false;
			if (ti.found)
				log_info("nft",
				         "table %s %s has another layout (\"%s\"): it will be "
				         "replaced in one transaction",
				         dp->family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME,
				         ti.comment);
			return 0;
		}
		{
			char buf[MNL_SOCKET_BUFFER_SIZE];
			struct nlmsghdr *nlh;

			chains_free(&cc);
			nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN,
			                            (uint16_t)nfproto(dp->family),
			                            NLM_F_DUMP | NLM_F_ACK, dp->seq++);
			ret = nl_request(dp->nl, dp->portid, nlh, chain_cb, &cc);
		}
		if (!ret)
			ret = read_sets(dp->nl, dp->portid, dp->family, &dp->seq, &got);
		if (ret == -EINTR)
			continue;
		break;
	}
	if (ret == -ENOENT) {
		/* a set of ours is missing: rebuild */
		chains_free(&cc);
		dp->table_exists = true;
		dp->layout_ok = false;
		return 0;
	}
	if (ret) {
		chains_free(&cc);
		return ret;
	}
	nft_sets_free(&dp->prog);
	dp->prog = got;
	rebuild_refs(dp);
	lb_forget(dp);
	for (int i = 0; i < LB_KINDS; i++) {
		dp->lb[i] = cc.lb[i];
		dp->n_lb[i] = cc.n[i];
	}
	dp->table_exists = true;
	dp->layout_ok = true;
	return 0;
}

/* ---- sync --------------------------------------------------------------- */

struct diff_ctx {
	struct txn *t;
	enum nft_set_id id;
	uint16_t type;
	bool started;
	size_t calls;
};

static void diff_put(void *ctx, const struct bytemap *s, size_t i)
{
	struct diff_ctx *dc = ctx;

	if (!dc->started) {
		elems_start(dc->t, dc->type, set_specs[dc->id].name);
		dc->started = true;
	}
	elems_put(dc->t, s, i, set_specs[dc->id].data);
	dc->calls++;
}

static void diff_ignore(void *ctx, const struct bytemap *s, size_t i)
{
	(void)ctx;
	(void)s;
	(void)i;
}

/*
 * Keep every endpoint in the numgen slot it had where it can: an endpoint
 * added or removed then changes one or two map elements, not every slot
 * after it. want's slots (sorted order from nft_render) are reassigned in
 * place; which endpoints a Service has does not change.
 */
static void stabilize_slots(const struct nft_sets *have, struct nft_sets *want,
                            enum nft_set_id vmap, enum nft_set_id map)
{
	const struct bytemap *hv = &have->s[vmap], *hm = &have->s[map];
	struct bytemap *wv = &want->s[vmap], *wm = &want->s[map];
	uint32_t klen = wv->klen, dlen = wm->dlen;
	uint8_t key[NFT_MAX_KEY], *cur = NULL, *res = NULL;
	bool *used = NULL, *filled = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < wv->n; i++) {
		long hi = bytemap_find(hv, bytemap_key(wv, i));
		uint32_t k_new, k_old, d;

		if (hi < 0)
			continue;
		memcpy(&d, bytemap_data(wv, i), 4);
		k_new = d & 0xffffff;
		memcpy(&d, bytemap_data(hv, (size_t)hi), 4);
		k_old = d & 0xffffff;
		if (k_new > cap) {
			cap = k_new;
			cur = xrealloc(cur, cap * dlen);
			res = xrealloc(res, cap * dlen);
			used = xrealloc(used, cap * sizeof(*used));
			filled = xrealloc(filled, cap * sizeof(*filled));
		}
		memcpy(key, bytemap_key(wv, i), klen);
		for (uint32_t slot = 0; slot < k_new; slot++) {
			long wi;

			memcpy(key + klen, &slot, 4);
			wi = bytemap_find(wm, key);
			if (wi < 0)
				goto next; /* not rendered by nft_render: leave it */
			memcpy(cur + slot * dlen, bytemap_data(wm, (size_t)wi), dlen);
			used[slot] = filled[slot] = false;
		}
		/* endpoints still present stay in their old slot when it still exists */
		for (uint32_t slot = 0; slot < k_old && slot < k_new; slot++) {
			long oi;

			memcpy(key + klen, &slot, 4);
			oi = bytemap_find(hm, key);
			if (oi < 0)
				continue;
			for (uint32_t j = 0; j < k_new; j++)
				if (!used[j] &&
				    !memcmp(cur + j * dlen, bytemap_data(hm, (size_t)oi), dlen)) {
					memcpy(res + slot * dlen, cur + j * dlen, dlen);
					used[j] = filled[slot] = true;
					break;
				}
		}
		/* the others fill the free slots in order */
		for (uint32_t slot = 0, j = 0; slot < k_new; slot++) {
			if (filled[slot])
				continue;
			while (used[j])
				j++;
			memcpy(res + slot * dlen, cur + j * dlen, dlen);
			used[j] = true;
		}
		for (uint32_t slot = 0; slot < k_new; slot++) {
			memcpy(key + klen, &slot, 4);
			bytemap_put(wm, key, res + slot * dlen, NULL);
		}
	next:;
	}
	free(cur);
	free(res);
	free(used);
	free(filled);
}

static bool lb_exists(const struct nft_dp *dp, enum nft_lb_kind kind, uint32_t k)
{
	return k < dp->n_lb[kind] && dp->lb[kind][k];
}

/*
 * One transaction taking the elements in have to those in want (the
 * skeleton first when the layout must be (re)built), with the lb chains
 * new verdicts need. Returns 0 or -errno; the kernel is unchanged on error.
 * On success the chains created are recorded in dp.
 */
static int sync_core(struct nft_dp *dp, const struct nft_sets *have, const struct nft_sets *want,
                     struct nft_sync_stats *st)
{
	struct chains_ctx created = {0};
	bool affinity_stale = false;
	struct txn t;
	int ret;

	txn_begin(&t, dp);
	if (st->rebuilt) {
		if (dp->table_exists)
			put_table(&t, NFT_MSG_DELTABLE);
		put_skeleton(&t);
	}

	/* the chains that new vmap elements jump to */
	for (int id = 0; id < SET_COUNT; id++) {
		const struct bytemap *w = &want->s[id];

		if (set_specs[id].data != D_VERDICT)
			continue;
		for (size_t i = 0; i < w->n; i++) {
			uint32_t d, k;
			enum nft_lb_kind kind;

			memcpy(&d, bytemap_data(w, i), 4);
			kind = (enum nft_lb_kind)(d >> 24);
			k = d & 0xffffff;
			if ((!st->rebuilt && lb_exists(dp, kind, k)) ||
			    (k < created.n[kind] && created.lb[kind][k]))
				continue;
			lb_mark(&created.lb[kind], &created.n[kind], k);
			put_lb_chain(&t, kind, k);
			st->chains++;
		}
	}

	/* deletions first, so a changed element is deleted then added */
	for (int pass = 0; pass < 2; pass++) {
		for (int id = 0; id < SET_COUNT; id++) {
			struct diff_ctx dc = {
			    .t = &t,
			    .id = (enum nft_set_id)id,
			    .type = pass ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
			};

			bytemap_diff(&have->s[id], &want->s[id], pass ? diff_ignore : diff_put,
			             pass ? diff_put : diff_ignore, &dc);
			elems_flush(&t);
			if (!pass && dc.calls &&
			    (set_specs[id].data == D_DEST || id == SET_AFFINITY_SERVICES ||
			     id == SET_AFFINITY_NODEPORTS))
				affinity_stale = true;
		}
	}
	st->changes = t.changes;

	ret = txn_commit(&t);
	txn_free(&t);
	if (!ret) {
		/* an endpoint left or moved, or affinity changed: check the recorded clients */
		dp->affinity_dirty |= affinity_stale && !st->rebuilt;
		if (st->rebuilt)
			lb_forget(dp);
		for (int kind = 0; kind < LB_KINDS; kind++)
			for (uint32_t k = 0; k < created.n[kind]; k++)
				if (created.lb[kind][k])
					lb_mark(&dp->lb[kind], &dp->n_lb[kind], k);
		dp->table_exists = true;
		dp->layout_ok = true;
	}
	chains_free(&created);
	return ret;
}

static void stabilize_all(const struct nft_sets *have, struct nft_sets *want)
{
	stabilize_slots(have, want, SET_SERVICE_IPS, SET_BACKENDS);
	stabilize_slots(have, want, SET_SERVICE_IPS_CLUSTER, SET_BACKENDS_CLUSTER);
	stabilize_slots(have, want, SET_NODEPORTS, SET_NP_BACKENDS);
	stabilize_slots(have, want, SET_NODEPORTS_CLUSTER, SET_NP_BACKENDS_CLUSTER);
}

/* Render everything and diff against what is programmed (or nothing). */
static int sync_full(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	struct nft_sets want, empty;
	int ret;

	nft_render(ds, &want);
	sets_init(&empty, dp->family);
	st->rebuilt = !dp->layout_ok;
	if (!st->rebuilt)
		stabilize_all(&dp->prog, &want);
	ret = sync_core(dp, st->rebuilt ? &empty : &dp->prog, &want, st);
	nft_sets_free(&empty);
	if (ret) {
		nft_sets_free(&want);
		return ret;
	}
	nft_sets_free(&dp->prog);
	dp->prog = want;
	return 0;
}

/* Copy element i of src into dst (same layout). */
static void elem_copy(struct bytemap *dst, const struct bytemap *src, size_t i)
{
	bytemap_put(dst, bytemap_key(src, i), bytemap_data(src, i), bytemap_comment(src, i));
}

/*
 * Only the entries that differ from the last sync: their old elements
 * (minus) and new ones (plus) give the keys this sync touches; the diff
 * runs on those keys alone, against what is programmed. Shared elements
 * (cluster_ips, hairpin) come and go with their reference counts.
 */
static int sync_incremental(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	const struct desired *old = &dp->last;
	struct nft_sets minus, plus, have, want;
	size_t i = 0, j = 0;
	int ret;

	sets_init(&minus, dp->family);
	sets_init(&plus, dp->family);
	while (i < old->n_entries || j < ds->n_entries) {
		int c = i == old->n_entries  ? 1
		        : j == ds->n_entries ? -1
		                             : entry_cmp(&old->entries[i], &ds->entries[j]);

		if (c == 0 && old->entries[i].label == ds->entries[j].label) {
			i++, j++; /* the very same entry object: unchanged */
			continue;
		}
		if (c <= 0)
			render_entry(dp->family, &old->entries[i++], &minus);
		if (c >= 0)
			render_entry(dp->family, &ds->entries[j++], &plus);
	}
	stabilize_all(&dp->prog, &plus);

	sets_init(&have, dp->family);
	sets_init(&want, dp->family);
	for (int id = 0; id < SET_COUNT; id++) {
		struct bytemap *pr = &dp->prog.s[id];
		struct bytemap *refs = refs_of(&dp->prog, id);

		for (int side = 0; side < 2; side++) {
			const struct bytemap *touched = side ? &plus.s[id] : &minus.s[id];

			for (size_t k = 0; k < touched->n; k++) {
				const uint8_t *key = bytemap_key(touched, k);
				long pi = bytemap_find(pr, key);

				if (pi >= 0)
					elem_copy(&have.s[id], pr, (size_t)pi);
				if (!refs) {
					if (side)
						elem_copy(&want.s[id], touched, k);
					continue;
				}
				/* a shared element stays while one entry still uses it */
				{
					uint32_t n = refs_get(refs, key) -
					             refs_get(refs_of(&minus, id), key) +
					             refs_get(refs_of(&plus, id), key);

					bytemap_put(refs_of(&want, id), key, &n, NULL);
					if (n)
						bytemap_put(&want.s[id], key, NULL, NULL);
				}
			}
		}
	}

	st->rebuilt = false;
	ret = sync_core(dp, &have, &want, st);
	if (!ret) {
		/* the kernel now holds want on the touched keys */
		for (int id = 0; id < SET_COUNT; id++) {
			for (size_t k = 0; k < have.s[id].n; k++)
				if (bytemap_find(&want.s[id], bytemap_key(&have.s[id], k)) < 0)
					bytemap_del(&dp->prog.s[id], bytemap_key(&have.s[id], k));
			for (size_t k = 0; k < want.s[id].n; k++)
				elem_copy(&dp->prog.s[id], &want.s[id], k);
			if (refs_of(&want, id)) {
				struct bytemap *wr = refs_of(&want, id),
				               *pr = refs_of(&dp->prog, id);

				for (size_t k = 0; k < wr->n; k++) {
					uint32_t n;

					memcpy(&n, bytemap_data(wr, k), 4);
					if (n)
						elem_copy(pr, wr, k);
					else
						bytemap_del(pr, bytemap_key(wr, k));
				}
			}
		}
	}
	nft_sets_free(&minus);
	nft_sets_free(&plus);
	nft_sets_free(&have);
	nft_sets_free(&want);
	return ret;
}

/* Is the endpoint d (addr . port) in one of the k slots of key's lb map? */
static bool slot_has(const struct nft_sets *p, enum nft_set_id vmap, const uint8_t *key,
                     size_t klen, const uint8_t *d)
{
	long vi = bytemap_find(&p->s[vmap], key);
	uint8_t bkey[NFT_MAX_KEY];
	const struct bytemap *m;
	uint32_t v;

	if (vi < 0)
		return false;
	memcpy(&v, bytemap_data(&p->s[vmap], (size_t)vi), 4);
	m = &p->s[nft_lb_map((enum nft_lb_kind)(v >> 24))];
	memcpy(bkey, key, klen);
	for (uint32_t slot = 0; slot < (v & 0xffffff); slot++) {
		long bi;

		memcpy(bkey + klen, &slot, 4);
		bi = bytemap_find(m, bkey);
		if (bi >= 0 && !memcmp(bytemap_data(m, (size_t)bi), d, m->dlen))
			return true;
	}
	return false;
}

/*
 * Forget the clients recorded in @affinity whose endpoint is no longer one
 * of their Service's, or whose Service has no affinity any more; the others
 * keep theirs (kube-proxy keeps affinity per endpoint). A transaction of its
 * own after the sync: for a moment a client may still go to an endpoint
 * that left, as with a connection already open. An element that expires
 * in between makes the deletion fail; it was going anyway.
 */
static void affinity_prune(struct nft_dp *dp)
{
	size_t al = nft_addr_len(dp->family);
	struct bytemap rec, doomed;
	struct txn t;
	int ret;

	bytemap_init(&rec, (uint32_t)(2 * al + 8), (uint32_t)al + 4);
	bytemap_init(&doomed, (uint32_t)(2 * al + 8), 0);
	ret = dump_named(dp->nl, dp->portid, dp->family, dp->seq++, "affinity", D_DEST, &rec);
	for (size_t i = 0; !ret && i < rec.n; i++) {
		const uint8_t *key = bytemap_key(&rec, i), *d = bytemap_data(&rec, i);
		const uint8_t *k3 = key + al, *k2 = key + 2 * al; /* service . proto . port */
		bool ok;

		if (bytemap_find(&dp->prog.s[SET_AFFINITY_SERVICES], k3) >= 0)
			ok = slot_has(&dp->prog, SET_SERVICE_IPS, k3, al + 8, d) ||
			     slot_has(&dp->prog, SET_SERVICE_IPS_CLUSTER, k3, al + 8, d);
		else if (bytemap_find(&dp->prog.s[SET_AFFINITY_NODEPORTS], k2) >= 0)
			ok = slot_has(&dp->prog, SET_NODEPORTS, k2, 8, d) ||
			     slot_has(&dp->prog, SET_NODEPORTS_CLUSTER, k2, 8, d);
		else
			ok = false;
		if (!ok)
			bytemap_put(&doomed, key, NULL, NULL);
	}
	if (!ret && doomed.n) {
		txn_begin(&t, dp);
		elems_start(&t, NFT_MSG_DELSETELEM, "affinity");
		for (size_t i = 0; i < doomed.n; i++)
			elems_put(&t, &doomed, i, D_NONE);
		ret = txn_commit(&t);
		txn_free(&t);
		if (!ret)
			log_debug("nft", "affinity: forgot %zu client(s) of endpoints that left",
			          doomed.n);
	}
	if (ret)
		log_debug("nft", "affinity: pruning failed (%s); the entries expire by themselves",
		          strerror(-ret));
	dp->affinity_dirty = false;
	bytemap_free(&rec);
	bytemap_free(&doomed);
}

int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	if (dp->layout_ok && dp->have_last && dp->last.family == ds->family)
		ret = sync_incremental(dp, ds, st);
	else
		ret = sync_full(dp, ds, st);
	if (ret)
		return ret;
	desired_free(&dp->last);
	desired_copy(&dp->last, ds);
	dp->have_last = true;
	if (dp->affinity_dirty)
		affinity_prune(dp);
	return 0;
}

int nft_cleanup(int family)
{
	uint32_t portid;
	struct mnl_socket *nl = nl_open(&portid);
	struct table_info ti;
	struct nft_dp dp = {0};
	struct txn t;
	int ret;

	if (!nl)
		return -errno;
	dp.nl = nl;
	dp.portid = portid;
	dp.family = family;
	dp.seq = (uint32_t)time(NULL);
	ret = get_table(nl, portid, family, dp.seq++, &ti);
	if (!ret && ti.found) {
		txn_begin(&t, &dp);
		put_table(&t, NFT_MSG_DELTABLE);
		ret = txn_commit(&t);
		txn_free(&t);
	}
	mnl_socket_close(nl);
	return ret;
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int nft_dp_genid(struct nft_dp *dp, uint32_t *id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh =
	    nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, dp->seq++);

	*id = 0;
	return nl_request(dp->nl, dp->portid, nlh, gen_cb, id);
}

/* ---- show rules --------------------------------------------------------- */

struct print_ctx {
	FILE *f;
	char **names; /* chains of our table, in kernel order */
	size_t n;
};

static int chain_print_cb(const struct nlmsghdr *nlh, void *data)
{
	struct print_ctx *pc = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME)) {
		pc->names = xrealloc(pc->names, (pc->n + 1) * sizeof(*pc->names));
		pc->names[pc->n++] = xstrdup(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int rule_print_cb(const struct nlmsghdr *nlh, void *data)
{
	struct print_ctx *pc = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	char buf[4096];

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) == 0) {
		nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(pc->f, "    %s\n", buf);
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

int nft_show_rules(int family, FILE *f)
{
	uint32_t portid, seq = (uint32_t)time(NULL);
	struct mnl_socket *nl = nl_open(&portid);
	struct print_ctx pc = {.f = f};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct table_info ti;
	int ret;

	if (!nl)
		return -errno;
	ret = get_table(nl, portid, family, seq++, &ti);
	if (!ret && !ti.found) {
		fprintf(f, "nothing programmed: no table %s %s\n",
		        family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME);
		goto out;
	}
	if (!ret) {
		fprintf(f, "table %s %s  # %s\n", family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME,
		        ti.comment);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)nfproto(family),
		                            NLM_F_DUMP | NLM_F_ACK, seq++);
		ret = nl_request(nl, portid, nlh, chain_print_cb, &pc);
	}
	for (size_t i = 0; !ret && i < pc.n; i++) {
		struct nftnl_rule *r = nftnl_rule_alloc();

		if (!r)
			die_oom();
		fprintf(f, "  chain %s\n", pc.names[i]);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)nfproto(family),
		                            NLM_F_DUMP | NLM_F_ACK, seq++);
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
		nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, pc.names[i]);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		ret = nl_request(nl, portid, nlh, rule_print_cb, &pc);
	}
out:
	for (size_t i = 0; i < pc.n; i++)
		free(pc.names[i]);
	free(pc.names);
	mnl_socket_close(nl);
	if (ret)
		fprintf(stderr, "svcproxy show rules: %s\n", strerror(-ret));
	return ret;
}
