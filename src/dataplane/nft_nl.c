/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_nl.c - netlink transport to nf_tables (libmnl): requests, dumps,
 * and batches sent with a single sendmsg() (see nft_nl.h).
 */
#include "nft_nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdatomic.h>
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
	/*
	 * Extended ACK: the kernel says what it did not like. Capped ACK: an
	 * error does not echo the whole request back, so the errors of a large
	 * batch fit the receive buffer (nft_txn_commit() sizes it).
	 */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
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

/*
 * mnl_nlmsg_ok() without its hole: libmnl compares (int)nlmsg_len, so a
 * length of 2 GiB or more passes and mnl_nlmsg_next() jumps that far.
 */
static bool msg_ok(const struct nlmsghdr *h, int left)
{
	return left >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) &&
	       h->nlmsg_len <= (uint32_t)left;
}

/*
 * The text of an extended ACK, if the error message carries one. The TLVs
 * follow the echoed request (none with capped ACKs), aligned as the
 * kernel puts them; a text that is not NUL-terminated is none.
 */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*err), plen = mnl_nlmsg_get_payload_len(nlh);
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (err->msg.nlmsg_len < sizeof(struct nlmsghdr) ||
		    err->msg.nlmsg_len - sizeof(struct nlmsghdr) > plen)
			return NULL;
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	off = MNL_ALIGN(off);
	if (off >= plen)
		return NULL;
	for (attr = (const struct nlattr *)((const uint8_t *)err + off);
	     mnl_attr_ok(attr, (int)(plen - ((const uint8_t *)attr - (const uint8_t *)err)));
	     attr = mnl_attr_next(attr))
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(attr);
	return NULL;
}

struct dump_ctx {
	nft_nl_cb cb;
	void *data;
	bool *interrupted;
};

static int dump_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *dc = data;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		*dc->interrupted = true;
	return dc->cb(nlh, dc->data);
}

int nft_nl_drain(struct nft_nl *nl)
{
	static uint8_t buf[1 << 16];
	int n = 0;

	if (!nl->sock)
		return 0;
	while (recv(mnl_socket_get_fd(nl->sock), buf, sizeof(buf), MSG_DONTWAIT) >= 0 ||
	       errno == ENOBUFS)
		n++;
	return n;
}

int nft_nl_answers(const struct nft_nl *nl, const void *buf, size_t len, uint32_t seq, nft_nl_cb cb,
                   void *data, bool *interrupted)
{
	struct dump_ctx dc = {.cb = cb, .data = data, .interrupted = interrupted};
	const struct nlmsghdr *h = buf;
	int left = (int)len, ret = MNL_CB_OK;

	errno = 0;
	for (; ret == MNL_CB_OK && msg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
		if (h->nlmsg_seq != seq)
			continue; /* a stale answer */
		ret = mnl_cb_run(h, h->nlmsg_len, seq, nl->portid, dump_msg_cb, &dc);
	}
	if (ret < 0 && errno <= 0)
		errno = EPROTO; /* an error message without an errno, or a callback's failure */
	return ret;
}

int nft_nl_request(struct nft_nl *nl, struct nlmsghdr *req, nft_nl_cb cb, void *data)
{
	static uint8_t buf[1 << 16];
	uint32_t seq = req->nlmsg_seq;
	bool interrupted = false;
	ssize_t n;
	int ret;

	nft_nl_drain(nl);
	if (mnl_socket_sendto(nl->sock, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
		if (n < 0) {
			ret = -errno;
			nft_nl_drain(nl); /* the rest of an overrun dump */
			return ret;
		}
		ret = nft_nl_answers(nl, buf, (size_t)n, seq, cb, data, &interrupted);
		if (ret < 0) {
			ret = -errno;
			nft_nl_drain(nl); /* the rest of a failed dump */
			return ret;
		}
		if (ret == MNL_CB_STOP)
			break;
	}
	return interrupted ? -EINTR : 0;
}

/* ---- fault injection (a test hook) ------------------------------------- */

static const struct {
	const char *name;
	int err;
} fault_errnos[] = {
    {"ENOBUFS", ENOBUFS}, {"EEXIST", EEXIST}, {"ENOENT", ENOENT}, {"EBUSY", EBUSY},
    {"EPERM", EPERM},     {"EINVAL", EINVAL}, {"ENOMEM", ENOMEM}, {"EINTR", EINTR},
};

/* "commit:ENOBUFS:3" -> ENOBUFS, 3. 0 when spec is none of that form. */
static int fault_parse(const char *spec, unsigned long *nth)
{
	char name[16];
	int used = 0;

	if (sscanf(spec, "commit:%15[A-Z]:%lu%n", name, nth, &used) != 2 || *nth == 0)
		return 0;
	if (spec[used] != '\0' && spec[used] != ',')
		return 0;
	for (size_t i = 0; i < sizeof(fault_errnos) / sizeof(fault_errnos[0]); i++)
		if (!strcmp(name, fault_errnos[i].name))
			return fault_errnos[i].err;
	return 0;
}

int nft_fault_commit(void)
{
	static atomic_ulong commits;
	unsigned long n = atomic_fetch_add(&commits, 1) + 1, nth;
	const char *spec = getenv("SVCPROXY_FAULT");

	for (; spec && *spec; spec = strchr(spec, ',') ? strchr(spec, ',') + 1 : "") {
		int err = fault_parse(spec, &nth);

		if (err && nth == n)
			return err;
	}
	return 0;
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

void nft_txn_replies_begin(struct nft_txn *t, struct nft_replies *r)
{
	memset(r, 0, sizeof(*r));
	r->first = t->first_seq;
	r->last = t->last_seq;
	r->end = t->last_seq + 1; /* batch end */
}

/* Log the error of operation seq of t. */
static void reply_error(const struct nft_txn *t, const struct nlmsghdr *h, int error)
{
	const char *msg = extack_msg(h);
	uint32_t op = h->nlmsg_seq - t->first_seq - 1;

	if (op < t->n_ops)
		log_err("nft", "transaction rejected at operation %u of %zu (%s): %s%s%s", op + 1,
		        t->n_ops, t->what[op], strerror(-error), msg ? ": " : "", msg ? msg : "");
	else
		log_err("nft", "transaction of %zu operations rejected: %s%s%s", t->n_ops,
		        strerror(-error), msg ? ": " : "", msg ? msg : "");
}

void nft_txn_replies(const struct nft_txn *t, struct nft_replies *r, const void *buf, size_t len)
{
	const struct nlmsghdr *h = buf;
	int left = (int)len;

	for (; msg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
		const struct nlmsgerr *e;

		/* only answers to this batch count: seq in [batch begin, batch end] */
		if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq - r->first > r->end - r->first ||
		    mnl_nlmsg_get_payload_len(h) < sizeof(*e)) {
			r->stale++;
			continue;
		}
		e = mnl_nlmsg_get_payload(h);
		if (e->error) {
			/* a negative errno; anything else is no answer the kernel gives */
			int error = e->error < 0 && e->error > -4096 ? e->error : -EPROTO;

			reply_error(t, h, error);
			if (!r->err)
				r->err = error;
		}
		if (h->nlmsg_seq == r->last)
			r->done = true;
	}
}

/*
 * Size the socket buffers for this batch: the whole batch goes out in one
 * sendmsg(), and every operation may be answered (an error, with capped
 * ACKs about REPLY_TRUESIZE bytes of receive buffer each).
 */
#define REPLY_TRUESIZE 1024
static void size_buffers(struct nft_txn *t, int fd)
{
	struct nft_nl *nl = t->nl;
	int snd = (int)t->len + 4096, rcv = (int)((t->n_ops + 2) * REPLY_TRUESIZE) + (1 << 16);

	if (snd > nl->sndbuf && !setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)))
		nl->sndbuf = snd;
	if (rcv > nl->rcvbuf && !setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)))
		nl->rcvbuf = rcv;
}

int nft_txn_commit(struct nft_txn *t)
{
	static uint8_t rbuf[1 << 16];
	struct nft_nl *nl = t->nl;
	struct nft_replies r;
	int fd, fault;
	size_t len;

	nft_txn_elems_flush(t);
	if (!t->n_ops)
		return 0;
	nft_txn_seal(t, &len);
	fault = nft_fault_commit();
	if (fault) {
		log_err("nft", "transaction of %zu operations not sent: SVCPROXY_FAULT injects %s",
		        t->n_ops, strerror(fault));
		return -fault;
	}
	fd = mnl_socket_get_fd(nl->sock);
	size_buffers(t, fd);
	nft_nl_drain(nl); /* nothing of an earlier exchange may be read as ours */
	if (mnl_socket_sendto(nl->sock, t->buf, t->len) < 0) {
		int err = -errno;

		log_err("nft", "sending a %zu-byte transaction failed: %s", t->len, strerror(-err));
		return err;
	}
	/*
	 * nfnetlink handled the whole batch inside sendmsg(): the answers are
	 * queued, the last operation's ACK (or error) last. Once it is read,
	 * or after an error, what remains is drained without waiting.
	 */
	nft_txn_replies_begin(t, &r);
	for (;;) {
		ssize_t n =
		    recv(fd, rbuf, sizeof(rbuf), r.done || r.err || r.lost ? MSG_DONTWAIT : 0);

		if (n < 0 && errno == ENOBUFS) {
			/* the receive buffer overran: answers were lost, ours perhaps */
			log_err("nft", "answers to a transaction of %zu operations were lost (%s)",
			        t->n_ops, strerror(errno));
			r.lost = true;
			continue;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (!r.err)
				r.err = -errno;
			break;
		}
		nft_txn_replies(t, &r, rbuf, (size_t)n);
	}
	if (r.stale)
		log_debug("nft", "skipped %zu answer(s) of earlier exchanges", r.stale);
	if (!r.err && !r.done)
		r.err = r.lost ? -ENOBUFS : -EPROTO; /* not acknowledged: assume it failed */
	return r.err;
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
