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
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

/* Layout version: bump when chains, rules or set types change. */
#define LAYOUT_VERSION 1

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

static void sets_init(struct nft_sets *s, int family)
{
	size_t al = nft_addr_len(family), k3 = key3_len(family);

	elemset_init(&s->service_ips, (uint32_t)k3, 4);
	elemset_init(&s->backends, (uint32_t)(k3 + 4), (uint32_t)(al + 4));
	elemset_init(&s->no_endpoints, (uint32_t)k3, 0);
	elemset_init(&s->cluster_ips, (uint32_t)al, 0);
	elemset_init(&s->hairpin, (uint32_t)(2 * al), 0);
}

void nft_sets_free(struct nft_sets *s)
{
	elemset_free(&s->service_ips);
	elemset_free(&s->backends);
	elemset_free(&s->no_endpoints);
	elemset_free(&s->cluster_ips);
	elemset_free(&s->hairpin);
}

void nft_render(const struct desired *ds, struct nft_sets *out)
{
	int fam = ds->family;
	size_t al = nft_addr_len(fam), k3 = key3_len(fam);
	uint8_t key[ELEM_MAX_KEY], data[ELEM_MAX_DATA];

	sets_init(out, fam);
	for (size_t i = 0; i < ds->n_entries; i++) {
		const struct entry *e = &ds->entries[i];

		key3_encode(fam, key, &e->addr, e->proto, e->port);
		if (e->kind == ENTRY_CLUSTER_IP)
			elemset_put(&out->cluster_ips, e->addr.raw, NULL, NULL);
		if (!e->n_backends) {
			elemset_put(&out->no_endpoints, key, NULL, e->label);
			continue;
		}
		uint32_t k = (uint32_t)e->n_backends;
		elemset_put(&out->service_ips, key, &k, e->label);
		for (uint32_t slot = 0; slot < k; slot++) {
			const struct backend *b = &e->backends[slot];
			uint16_t nport = htons(b->port);

			memcpy(key + k3, &slot, 4); /* numgen yields host byte order */
			memset(data, 0, al + 4);
			memcpy(data, b->addr.raw, al);
			memcpy(data + al, &nport, 2);
			elemset_put(&out->backends, key, data, NULL);

			uint8_t pair[32];
			memcpy(pair, b->addr.raw, al);
			memcpy(pair + al, b->addr.raw, al);
			elemset_put(&out->hairpin, pair, NULL, NULL);
		}
	}
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
	uint8_t *lb_chains;   /* lb_chains[k] != 0: chain lb_<k> exists */
	size_t n_lb_chains;   /* size of lb_chains[] */
	int sndbuf;
	const struct cidr *cidrs;
	size_t n_cidrs;
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

struct nft_dp *nft_dp_open(const struct nft_dp_opts *o)
{
	struct nft_dp *dp = calloc(1, sizeof(*dp));
	int n;

	if (!dp)
		return NULL;
	dp->family = o->family;
	dp->cidrs = o->cluster_cidrs;
	dp->n_cidrs = o->n_cluster_cidrs;
	dp->masquerade_all = o->masquerade_all;
	dp->seq = (uint32_t)time(NULL);
	sets_init(&dp->prog, o->family);

	n = snprintf(dp->layout, sizeof(dp->layout), "svcproxy layout %d; masquerade-all %s",
		     LAYOUT_VERSION, o->masquerade_all ? "yes" : "no");
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		char c[CIDR_STRLEN];

		if (o->cluster_cidrs[i].addr.family != o->family)
			continue;
		n += snprintf(dp->layout + n, sizeof(dp->layout) - (size_t)n, "%s%s",
			      strstr(dp->layout, "cluster-cidr") ? "," : "; cluster-cidr ",
			      cidr_str(&o->cluster_cidrs[i], c));
		if ((size_t)n >= sizeof(dp->layout)) {
			free(dp);
			errno = EINVAL;
			return NULL;
		}
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
	free(dp->lb_chains);
	free(dp);
}

const struct nft_sets *nft_dp_programmed(const struct nft_dp *dp)
{
	return &dp->prog;
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
	struct dump_ctx dc = { .cb = cb, .data = data };
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
	/* element message being filled */
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
	return nftnl_nlmsg_build_hdr((char *)t->buf + t->len, type, (uint16_t)nfproto(t->dp->family),
				     flags, t->dp->seq++);
}

static void txn_done(struct txn *t, struct nlmsghdr *nlh)
{
	t->len += NLMSG_ALIGN(nlh->nlmsg_len);
	t->n_ops++;
}

static void elems_flush(struct txn *t)
{
	if (!t->elem_nlh)
		return;
	if (t->elem_count) {
		mnl_attr_nest_end(t->elem_nlh, t->elem_list);
		txn_done(t, t->elem_nlh);
	} else {
		t->dp->seq--; /* the message was never added */
	}
	t->elem_nlh = NULL;
	t->elem_count = 0;
}

static void elems_start(struct txn *t, uint16_t type, const char *set)
{
	elems_flush(t);
	t->elem_nlh = txn_msg(t, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_TABLE, NFT_TABLE_NAME);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_SET, set);
	t->elem_list = mnl_attr_nest_start(t->elem_nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

/*
 * Append one element to the current element message. data_k >= 0 makes
 * the data a verdict "goto lb_<data_k>" (for service_ips).
 */
static void elems_put(struct txn *t, const struct elemset *s, size_t i, bool with_data,
		      bool verdict)
{
	struct nlmsghdr *nlh;
	struct nlattr *el, *nest;

	if (t->elem_nlh->nlmsg_len > ELEM_MSG_FULL) {
		uint16_t type = (uint16_t)(t->elem_nlh->nlmsg_type & 0xff);
		char set[64];

		snprintf(set, sizeof(set), "%s",
			 (const char *)mnl_attr_get_payload((const struct nlattr *)((char *)t->elem_nlh +
										  NLMSG_HDRLEN +
										  sizeof(struct nfgenmsg) +
										  MNL_ALIGN(sizeof(struct nlattr) +
											    sizeof(NFT_TABLE_NAME)))));
		elems_start(t, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | type), set);
	}
	nlh = t->elem_nlh;
	el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, s->klen, elemset_key(s, i));
	mnl_attr_nest_end(nlh, nest);
	if (with_data && verdict) {
		char chain[32];
		uint32_t k;
		struct nlattr *v;

		memcpy(&k, elemset_data(s, i), 4);
		snprintf(chain, sizeof(chain), "lb_%u", k);
		nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
		mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
		mnl_attr_nest_end(nlh, v);
		mnl_attr_nest_end(nlh, nest);
	} else if (with_data && s->dlen) {
		nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, s->dlen, elemset_data(s, i));
		mnl_attr_nest_end(nlh, nest);
	}
	if (with_data && s->comments[i]) {
		/* libnftnl udata TLV: type NFTNL_UDATA_SET_ELEM_COMMENT, length, text */
		uint8_t ud[2 + 255];
		size_t len = strlen(s->comments[i]);

		if (len > 254)
			len = 254;
		ud[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
		ud[1] = (uint8_t)(len + 1);
		memcpy(ud + 2, s->comments[i], len);
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
		log_err("nft", "sending a %zu-byte transaction failed: %s", t->len, strerror(errno));
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
			log_err("nft", "transaction rejected at message %u of %zu: %s%s%s",
				h->nlmsg_seq - t->first_seq, t->n_ops, strerror(-e->error),
				msg ? ": " : "", msg ? msg : "");
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
	free(t->buf);
	t->buf = NULL;
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

static void put_set(struct txn *t, const char *name, uint32_t key_type, uint32_t klen,
		    uint32_t data_type, uint32_t dlen, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)nfproto(t->dp->family));
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, klen);
	if (dlen || data_type == NFT_DATA_VERDICT) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, data_type);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, dlen);
	}
	nlh = txn_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE);
	nftnl_set_nlmsg_build_payload(nlh, s);
	txn_done(t, nlh);
	nftnl_set_free(s);
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
	txn_done(t, nlh);
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
	txn_done(t, nlh);
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

static void r_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void *xor,
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

static void put_lb_chain(struct txn *t, uint32_t k)
{
	int fam = t->dp->family;
	size_t al = nft_addr_len(fam);
	char name[32];
	struct nftnl_rule *r;
	struct nftnl_expr *e;

	snprintf(name, sizeof(name), "lb_%u", k);
	put_chain(t, name, NULL, 0, 0);
	r = r_new(t, name);
	r_load_key3(r, fam);
	e = expr(r, "numgen");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, creg(al + 8));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, k);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	r_lookup(r, "backends", NFT_REG_1, NFT_REG_1);
	e = expr(r, "nat");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nfproto(fam));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, creg(al));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	r_add(t, r);
}

static void put_skeleton(struct txn *t)
{
	struct nft_dp *dp = t->dp;
	int fam = dp->family;
	uint32_t al = (uint32_t)nft_addr_len(fam), k3 = (uint32_t)key3_len(fam);
	int dt_addr = fam == AF_INET6 ? DT_IP6ADDR : DT_IPADDR;
	int key3_ids[] = { dt_addr, DT_INET_PROTOCOL, DT_INET_SERVICE };
	int key4_ids[] = { dt_addr, DT_INET_PROTOCOL, DT_INET_SERVICE, DT_MARK };
	int dst_ids[] = { dt_addr, DT_INET_SERVICE };
	int pair_ids[] = { dt_addr, dt_addr };
	bool masq_check = dp->masquerade_all;
	struct nftnl_rule *r;

	for (size_t i = 0; i < dp->n_cidrs; i++)
		if (dp->cidrs[i].addr.family == fam)
			masq_check = true;

	put_table(t, NFT_MSG_NEWTABLE);
	put_set(t, "cluster_ips", (uint32_t)dt_addr, al, 0, 0, 1);
	put_set(t, "no_endpoints", dt_concat(key3_ids, 3), k3, 0, 0, 2);
	put_set(t, "service_ips", dt_concat(key3_ids, 3), k3, NFT_DATA_VERDICT, 0, 3);
	put_set(t, "backends", dt_concat(key4_ids, 4), k3 + 4, dt_concat(dst_ids, 2), al + 4, 4);
	put_set(t, "hairpin", dt_concat(pair_ids, 2), 2 * al, 0, 0, 5);

	/* services: mark traffic from outside the cluster, then dispatch */
	put_chain(t, "services", NULL, 0, 0);
	if (masq_check) {
		put_chain(t, "masq_check", NULL, 0, 0);
		for (size_t i = 0; !dp->masquerade_all && i < dp->n_cidrs; i++) {
			const struct cidr *c = &dp->cidrs[i];
			uint8_t mask[16] = { 0 }, zero[16] = { 0 };

			if (c->addr.family != fam)
				continue;
			for (unsigned int b = 0; b < c->prefix_len; b++)
				mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
			r = r_new(t, "masq_check");
			r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, saddr_off(fam), al, NFT_REG_1);
			r_bitwise(r, NFT_REG_1, mask, zero, al);
			r_cmp(r, NFT_REG_1, NFT_CMP_EQ, c->addr.raw, al);
			r_verdict(r, NFT_RETURN, NULL);
			r_add(t, r);
		}
		r = r_new(t, "masq_check");
		r_mark_masq(r);
		r_add(t, r);

		r = r_new(t, "services");
		r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), al, NFT_REG_1);
		r_lookup(r, "cluster_ips", NFT_REG_1, -1);
		r_verdict(r, NFT_JUMP, "masq_check");
		r_add(t, r);
	}
	r = r_new(t, "services");
	r_load_key3(r, fam);
	r_lookup(r, "service_ips", NFT_REG_1, NFT_REG_VERDICT);
	r_add(t, r);

	put_chain(t, "nat_prerouting", "nat", NF_INET_PRE_ROUTING, -100);
	r = r_new(t, "nat_prerouting");
	r_verdict(r, NFT_JUMP, "services");
	r_add(t, r);
	put_chain(t, "nat_output", "nat", NF_INET_LOCAL_OUT, -100);
	r = r_new(t, "nat_output");
	r_verdict(r, NFT_JUMP, "services");
	r_add(t, r);

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

	/* filter: reject new connections to Services without endpoints */
	put_chain(t, "endpoints_check", NULL, 0, 0);
	r = r_new(t, "endpoints_check");
	r_load_key3(r, fam);
	r_lookup(r, "no_endpoints", NFT_REG_1, -1);
	r_reject(r, fam);
	r_add(t, r);
	put_chain(t, "cluster_ips_check", NULL, 0, 0);
	r = r_new(t, "cluster_ips_check");
	r_payload(r, NFT_PAYLOAD_NETWORK_HEADER, daddr_off(fam), al, NFT_REG_1);
	r_lookup(r, "cluster_ips", NFT_REG_1, -1);
	r_reject(r, fam);
	r_add(t, r);

	put_chain(t, "filter_forward", "filter", NF_INET_FORWARD, -110);
	r = r_new(t, "filter_forward");
	r_ct_new(r);
	r_verdict(r, NFT_JUMP, "endpoints_check");
	r_add(t, r);
	r = r_new(t, "filter_forward");
	r_ct_new(r);
	r_verdict(r, NFT_JUMP, "cluster_ips_check");
	r_add(t, r);
	put_chain(t, "filter_output", "filter", NF_INET_LOCAL_OUT, -110);
	r = r_new(t, "filter_output");
	r_ct_new(r);
	r_verdict(r, NFT_JUMP, "endpoints_check");
	r_add(t, r);
	/* after DNAT: what is still addressed to a ClusterIP had no such port */
	put_chain(t, "filter_output_post_dnat", "filter", NF_INET_LOCAL_OUT, -90);
	r = r_new(t, "filter_output_post_dnat");
	r_ct_new(r);
	r_verdict(r, NFT_JUMP, "cluster_ips_check");
	r_add(t, r);
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
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)nfproto(family), NLM_F_ACK,
				    seq);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	memset(ti, 0, sizeof(*ti));
	ret = nl_request(nl, portid, nlh, table_cb, ti);
	return ret == -ENOENT ? 0 : ret;
}

struct chains_ctx {
	uint8_t *lb;
	size_t n;
};

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chains_ctx *cc = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	unsigned int k;
	char tail;

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME) &&
	    sscanf(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "lb_%u%c", &k, &tail) == 1 &&
	    k > 0) {
		if (k >= cc->n) {
			size_t n = k + 64;

			cc->lb = xrealloc(cc->lb, n);
			memset(cc->lb + cc->n, 0, n - cc->n);
			cc->n = n;
		}
		cc->lb[k] = 1;
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

struct elems_ctx {
	struct elemset *s;
	bool verdict;
};

static int elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct elems_ctx *ec = data;
	uint8_t dbuf[ELEM_MAX_DATA] = { 0 };
	const void *key, *d, *ud;
	uint32_t klen = 0, dlen = 0, ulen = 0;
	char comment[256] = "", *cm = NULL;

	key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	if (!key || klen != ec->s->klen)
		return 0; /* not ours: the next diff replaces it */
	if (ec->verdict) {
		const char *chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
		unsigned int k = 0;
		char tail;

		if (chain && sscanf(chain, "lb_%u%c", &k, &tail) == 1)
			memcpy(dbuf, &k, 4);
	} else if (ec->s->dlen) {
		d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &dlen);
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
	elemset_put(ec->s, key, dbuf, cm);
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

static int dump_set(struct mnl_socket *nl, uint32_t portid, int family, uint32_t seq,
		    const char *name, struct elemset *out, bool verdict)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct elems_ctx ec = { .s = out, .verdict = verdict };
	struct nlmsghdr *nlh;
	int ret;

	if (!s)
		die_oom();
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, (uint16_t)nfproto(family),
				    NLM_F_DUMP | NLM_F_ACK, seq);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	ret = nl_request(nl, portid, nlh, setelem_cb, &ec);
	return ret;
}

static int read_sets(struct mnl_socket *nl, uint32_t portid, int family, uint32_t *seq,
		     struct nft_sets *out)
{
	int ret;

	sets_init(out, family);
	if ((ret = dump_set(nl, portid, family, (*seq)++, "service_ips", &out->service_ips, true)) ||
	    (ret = dump_set(nl, portid, family, (*seq)++, "backends", &out->backends, false)) ||
	    (ret = dump_set(nl, portid, family, (*seq)++, "no_endpoints", &out->no_endpoints,
			    false)) ||
	    (ret = dump_set(nl, portid, family, (*seq)++, "cluster_ips", &out->cluster_ips,
			    false)) ||
	    (ret = dump_set(nl, portid, family, (*seq)++, "hairpin", &out->hairpin, false)))
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
	mnl_socket_close(nl);
	return ret;
}

int nft_dp_adopt(struct nft_dp *dp)
{
	struct table_info ti;
	struct chains_ctx cc = { 0 };
	struct nft_sets got;
	int ret;

	for (int tries = 0; tries < 5; tries++) {
		ret = get_table(dp->nl, dp->portid, dp->family, dp->seq++, &ti);
		if (ret)
			return ret;
		if (!ti.found || strcmp(ti.comment, dp->layout)) {
			/* absent, or another layout: the next sync builds it anew */
			nft_sets_free(&dp->prog);
			free(dp->lb_chains);
			dp->lb_chains = NULL;
			dp->n_lb_chains = 0;
			dp->table_exists = ti.found;
			dp->layout_ok = false;
			if (ti.found)
				log_info("nft", "table %s %s has another layout (\"%s\"): it will be "
						"replaced in one transaction",
					 dp->family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME,
					 ti.comment);
			return 0;
		}
		{
			char buf[MNL_SOCKET_BUFFER_SIZE];
			struct nlmsghdr *nlh;

			free(cc.lb);
			memset(&cc, 0, sizeof(cc));
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
		free(cc.lb);
		dp->table_exists = true;
		dp->layout_ok = false;
		return 0;
	}
	if (ret) {
		free(cc.lb);
		return ret;
	}
	nft_sets_free(&dp->prog);
	dp->prog = got;
	free(dp->lb_chains);
	dp->lb_chains = cc.lb;
	dp->n_lb_chains = cc.n;
	dp->table_exists = true;
	dp->layout_ok = true;
	return 0;
}

/* ---- sync --------------------------------------------------------------- */

struct diff_ctx {
	struct txn *t;
	const char *set;
	uint16_t type;
	bool verdict;
	bool started;
};

static void diff_put(void *ctx, const struct elemset *s, size_t i)
{
	struct diff_ctx *dc = ctx;

	if (!dc->started) {
		elems_start(dc->t, dc->type, dc->set);
		dc->started = true;
	}
	elems_put(dc->t, s, i, dc->type == NFT_MSG_NEWSETELEM, dc->verdict);
}

static void diff_ignore(void *ctx, const struct elemset *s, size_t i)
{
	(void)ctx;
	(void)s;
	(void)i;
}

static bool lb_exists(const struct nft_dp *dp, uint32_t k)
{
	return k < dp->n_lb_chains && dp->lb_chains[k];
}

int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	struct nft_sets want, empty, *have;
	struct txn t;
	uint8_t *lb_new = NULL;
	size_t n_lb_new = 0;
	int ret;
	struct {
		const char *name;
		size_t off;
		bool verdict;
	} sets[] = {
		{ "service_ips", offsetof(struct nft_sets, service_ips), true },
		{ "backends", offsetof(struct nft_sets, backends), false },
		{ "no_endpoints", offsetof(struct nft_sets, no_endpoints), false },
		{ "cluster_ips", offsetof(struct nft_sets, cluster_ips), false },
		{ "hairpin", offsetof(struct nft_sets, hairpin), false },
	};

	memset(st, 0, sizeof(*st));
	nft_render(ds, &want);
	sets_init(&empty, dp->family);
	txn_begin(&t, dp);

	if (!dp->layout_ok) {
		if (dp->table_exists)
			put_table(&t, NFT_MSG_DELTABLE);
		put_skeleton(&t);
		st->rebuilt = true;
		have = &empty;
	} else {
		have = &dp->prog;
	}

	/* lb_<k> chains that the new elements jump to */
	for (size_t i = 0; i < want.service_ips.n; i++) {
		uint32_t k;

		memcpy(&k, elemset_data(&want.service_ips, i), 4);
		if (!st->rebuilt && lb_exists(dp, k))
			continue;
		if (k >= n_lb_new) {
			size_t n = k + 64;

			lb_new = xrealloc(lb_new, n);
			memset(lb_new + n_lb_new, 0, n - n_lb_new);
			n_lb_new = n;
		}
		if (lb_new[k])
			continue;
		lb_new[k] = 1;
		put_lb_chain(&t, k);
		st->chains++;
	}

	/* deletions first, so a changed element is deleted then added */
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
			struct diff_ctx dc = {
				.t = &t,
				.set = sets[i].name,
				.type = pass ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				.verdict = sets[i].verdict,
			};
			const struct elemset *h = (const void *)((const char *)have + sets[i].off);
			const struct elemset *w = (const void *)((const char *)&want + sets[i].off);

			elemset_diff(h, w, pass ? diff_ignore : diff_put, pass ? diff_put : diff_ignore,
				     &dc);
			elems_flush(&t);
		}
	}
	st->changes = t.changes;

	ret = txn_commit(&t);
	txn_free(&t);
	nft_sets_free(&empty);
	if (ret) {
		nft_sets_free(&want);
		free(lb_new);
		return ret;
	}
	/* the kernel now holds want */
	nft_sets_free(&dp->prog);
	dp->prog = want;
	if (st->rebuilt) {
		free(dp->lb_chains);
		dp->lb_chains = lb_new;
		dp->n_lb_chains = n_lb_new;
	} else if (lb_new) {
		if (n_lb_new > dp->n_lb_chains) {
			dp->lb_chains = xrealloc(dp->lb_chains, n_lb_new);
			memset(dp->lb_chains + dp->n_lb_chains, 0, n_lb_new - dp->n_lb_chains);
			dp->n_lb_chains = n_lb_new;
		}
		for (size_t k = 0; k < n_lb_new; k++)
			dp->lb_chains[k] |= lb_new[k];
		free(lb_new);
	}
	dp->table_exists = true;
	dp->layout_ok = true;
	return 0;
}

int nft_cleanup(int family)
{
	uint32_t portid;
	struct mnl_socket *nl = nl_open(&portid);
	struct table_info ti;
	struct nft_dp dp = { 0 };
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
	struct print_ctx pc = { .f = f };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct table_info ti;
	int ret;

	if (!nl)
		return -errno;
	ret = get_table(nl, portid, family, seq++, &ti);
	if (!ret && !ti.found) {
		fprintf(f, "nothing programmed: no table %s %s\n", family == AF_INET6 ? "ip6" : "ip",
			NFT_TABLE_NAME);
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
