/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_nl.c - netlink transport to nf_tables (libmnl): requests, dumps,
 * and batches sent with a single sendmsg() (see nft_nl.h).
 */
#include "nft_nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"

#define MSG_RESERVE   (1 << 16)
#define ELEM_MSG_FULL 60000 /* keep each message's element list under 64 KiB */

uint16_t nft_nfproto(int family)
{
	return family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

void nft_nl_init_offline(struct nft_nl *nl, int family)
{
	memset(nl, 0, sizeof(*nl));
	nl->family = family;
	nl->seq = (uint32_t)time(NULL);
}

int nft_nl_open(struct nft_nl *nl, int family)
{
	int one = 1, e;

	nft_nl_init_offline(nl, family);
	nl->sock = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		e = errno;
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return -e;
	}
	/* extended ACK: the kernel says what it did not like */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	return 0;
}

void nft_nl_close(struct nft_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

struct nlmsghdr *nft_nl_req(struct nft_nl *nl, void *buf, uint16_t type, uint16_t family,
                            uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(buf, type, family, flags, nl->seq++);
}

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

struct dump_ctx {
	nft_nl_cb cb;
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

int nft_nl_request(struct nft_nl *nl, struct nlmsghdr *req, nft_nl_cb cb, void *data)
{
	static uint8_t buf[1 << 16];
	struct dump_ctx dc = {.cb = cb, .data = data};
	uint32_t seq = req->nlmsg_seq;
	ssize_t n;
	int ret;

	if (mnl_socket_sendto(nl->sock, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, nl->portid, dump_msg_cb, &dc);
		if (ret < 0)
			return -errno;
		if (ret == MNL_CB_STOP)
			break;
	}
	return dc.interrupted ? -EINTR : 0;
}

/* ---- batches ------------------------------------------------------------ */

static void txn_reserve(struct nft_txn *t)
{
	if (t->cap - t->len < MSG_RESERVE) {
		t->cap = (t->cap ? t->cap * 2 : 1 << 20) + MSG_RESERVE;
		t->buf = xrealloc(t->buf, t->cap);
	}
}

void nft_txn_begin(struct nft_txn *t, struct nft_nl *nl)
{
	memset(t, 0, sizeof(*t));
	t->nl = nl;
	txn_reserve(t);
	t->first_seq = nl->seq;
	t->len += nftnl_batch_begin((char *)t->buf, nl->seq++)->nlmsg_len;
}

struct nlmsghdr *nft_txn_msg(struct nft_txn *t, uint16_t type, uint16_t flags)
{
	txn_reserve(t);
	return nftnl_nlmsg_build_hdr((char *)t->buf + t->len, type, nft_nfproto(t->nl->family),
	                             flags, t->nl->seq++);
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

void nft_txn_add(struct nft_txn *t, struct nlmsghdr *nlh, const char *name)
{
	t->what = xgrow(t->what, &t->what_cap, t->n_ops + 1, sizeof(*t->what));
	t->what[t->n_ops] = xasprintf("%s %s", msg_type_name(nlh->nlmsg_type), name ? name : "");
	t->len += NLMSG_ALIGN(nlh->nlmsg_len);
	t->n_ops++;
}

void nft_txn_elems_flush(struct nft_txn *t)
{
	if (!t->elem_nlh)
		return;
	if (t->elem_count) {
		mnl_attr_nest_end(t->elem_nlh, t->elem_list);
		nft_txn_add(t, t->elem_nlh, t->elem_set);
	} else {
		t->nl->seq--; /* the message was never added */
	}
	t->elem_nlh = NULL;
	t->elem_count = 0;
}

void nft_txn_elems_start(struct nft_txn *t, uint16_t type, const char *table, const char *set)
{
	nft_txn_elems_flush(t);
	t->elem_type = type;
	t->elem_table = table;
	t->elem_set = set;
	t->elem_nlh = nft_txn_msg(t, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(t->elem_nlh, NFTA_SET_ELEM_LIST_SET, set);
	t->elem_list = mnl_attr_nest_start(t->elem_nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
}

struct nlmsghdr *nft_txn_elem(struct nft_txn *t, struct nlattr **el)
{
	if (t->elem_nlh->nlmsg_len > ELEM_MSG_FULL)
		nft_txn_elems_start(t, t->elem_type, t->elem_table, t->elem_set);
	*el = mnl_attr_nest_start(t->elem_nlh, NFTA_LIST_ELEM);
	return t->elem_nlh;
}

void nft_txn_elem_end(struct nft_txn *t, struct nlattr *el)
{
	mnl_attr_nest_end(t->elem_nlh, el);
	t->elem_count++;
}

void nft_put_value(struct nlmsghdr *nlh, uint16_t type, const void *v, uint32_t len)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, nest);
}

const uint8_t *nft_txn_seal(struct nft_txn *t, size_t *len)
{
	struct nlmsghdr *last = NULL;
	size_t off = 0;

	nft_txn_elems_flush(t);
	/* ask for an ACK of the last operation: its arrival means all were read */
	while (off < t->len) {
		struct nlmsghdr *h = (struct nlmsghdr *)(t->buf + off);

		last = h;
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	if (t->n_ops) {
		last->nlmsg_flags |= NLM_F_ACK;
		t->last_seq = last->nlmsg_seq;
	}
	txn_reserve(t);
	t->len += nftnl_batch_end((char *)t->buf + t->len, t->nl->seq++)->nlmsg_len;
	*len = t->len;
	return t->buf;
}

int nft_txn_commit(struct nft_txn *t)
{
	static uint8_t rbuf[1 << 16];
	struct nft_nl *nl = t->nl;
	uint32_t last_seq;
	bool acked = false;
	int err = 0, fd;
	size_t len;

	nft_txn_elems_flush(t);
	if (!t->n_ops)
		return 0;
	nft_txn_seal(t, &len);
	last_seq = t->last_seq;

	fd = mnl_socket_get_fd(nl->sock);
	if ((int)t->len + 4096 > nl->sndbuf) {
		int sz = (int)t->len + 4096;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) == 0)
			nl->sndbuf = sz;
	}
	if (mnl_socket_sendto(nl->sock, t->buf, t->len) < 0) {
		err = -errno;
		log_err("nft", "sending a %zu-byte transaction failed: %s", t->len,
		        strerror(errno));
		return err;
	}
	/* nfnetlink handled the whole batch inside sendmsg(): answers are queued */
	while (!acked) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), err ? MSG_DONTWAIT : 0);
		const struct nlmsghdr *h;

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
			uint32_t op;

			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(h);
			if (e->error == 0) {
				if (h->nlmsg_seq == last_seq)
					acked = true;
				continue;
			}
			msg = extack_msg(h);
			op = h->nlmsg_seq - t->first_seq - 1;
			log_err("nft", "transaction rejected at operation %u of %zu (%s): %s%s%s",
			        op + 1, t->n_ops, op < t->n_ops ? t->what[op] : "commit",
			        strerror(-e->error), msg ? ": " : "", msg ? msg : "");
			if (!err)
				err = e->error;
			if (h->nlmsg_seq == last_seq)
				acked = true;
		}
	}
	return err;
}

void nft_txn_free(struct nft_txn *t)
{
	for (size_t i = 0; i < t->n_ops; i++)
		free(t->what[i]);
	free(t->what);
	free(t->buf);
	t->buf = NULL;
	t->what = NULL;
}
