/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_nl.h - netlink transport to nf_tables: one socket, requests and
 * dumps, and batches (transactions) applied all or nothing.
 *
 * Knows netlink and nfnetlink, nothing of svcproxy's layout: what a
 * message means is the caller's (nft_ruleset.c, nft_read.c, nft_sync.c).
 *
 *   struct nft_nl nl;              struct nft_txn t;
 *   nft_nl_open(&nl, AF_INET);     nft_txn_begin(&t, &nl);
 *   nft_nl_request(&nl, ...);      nlh = nft_txn_msg(&t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
 *                                  ...build payload...; nft_txn_add(&t, nlh, "services");
 *                                  ret = nft_txn_commit(&t); nft_txn_free(&t);
 */
#ifndef SVCPROXY_NFT_NL_H
#define SVCPROXY_NFT_NL_H

#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;

struct nft_nl {
	struct mnl_socket *sock; /* NULL: not connected (a batch can still be built) */
	uint32_t portid;
	uint32_t seq; /* the next sequence number */
	int family;   /* AF_INET or AF_INET6: the nfgen family of our messages */
	int sndbuf;   /* bytes, as last forced */
	int rcvbuf;   /* bytes, as last forced */
};

/* NFPROTO_IPV4 or NFPROTO_IPV6. */
uint16_t nft_nfproto(int family);

/* Connect a NETLINK_NETFILTER socket with extended ACKs. 0 or -errno. */
int nft_nl_open(struct nft_nl *nl, int family);
/* A transport without socket: batches can be built, not sent (tests). */
void nft_nl_init_offline(struct nft_nl *nl, int family);
void nft_nl_close(struct nft_nl *nl);

/* The header of a request for this family at buf, with the next sequence number. */
struct nlmsghdr *nft_nl_req(struct nft_nl *nl, void *buf, uint16_t type, uint16_t family,
                            uint16_t flags);

/*
 * Send req and run cb on every answer until the request is done (the
 * ACK, or NLMSG_DONE of a dump). Answers of other sequence numbers are
 * skipped. Returns 0, -errno from the kernel, -EINTR when a dump was
 * interrupted by a concurrent change (the caller restarts it), or -errno
 * of the socket.
 */
typedef int (*nft_nl_cb)(const struct nlmsghdr *nlh, void *data);
int nft_nl_request(struct nft_nl *nl, struct nlmsghdr *req, nft_nl_cb cb, void *data);

/*
 * One received datagram of the answers to request seq: cb on each of its
 * messages of that sequence number (others are skipped), *interrupted set
 * when a dump message says NLM_F_DUMP_INTR. Returns MNL_CB_STOP (0) once
 * the request is done, MNL_CB_OK (1) when more is to come, or -1 with
 * errno > 0 (an error from the kernel included). What nft_nl_request() does
 * with each datagram it receives; the fuzzer feeds its own.
 */
int nft_nl_answers(const struct nft_nl *nl, const void *buf, size_t len, uint32_t seq, nft_nl_cb cb,
                   void *data, bool *interrupted);

/* ---- batches ------------------------------------------------------------ */

struct nlattr;

struct nft_txn {
	struct nft_nl *nl;
	uint8_t *buf;
	size_t len, cap;
	uint32_t first_seq; /* of batch begin */
	uint32_t last_seq;  /* of the last operation, once sealed */
	size_t n_ops;       /* messages between batch begin and end */
	char **what;        /* what[i]: operation i, for error messages */
	size_t what_cap;    /* of what */
	/* element message being filled */
	uint16_t elem_type;
	const char *elem_table, *elem_set;
	struct nlmsghdr *elem_nlh;
	struct nlattr *elem_list;
	size_t elem_count;
};

void nft_txn_begin(struct nft_txn *t, struct nft_nl *nl);
/* Start a message at the end of the batch; nft_txn_add() adds it. */
struct nlmsghdr *nft_txn_msg(struct nft_txn *t, uint16_t type, uint16_t flags);
/* Add the message built by nft_txn_msg(); name says what it is about (errors). */
void nft_txn_add(struct nft_txn *t, struct nlmsghdr *nlh, const char *name);

/*
 * Element messages: nft_txn_elems_start() opens one for (type, set);
 * nft_txn_elem() opens an element (NFTA_LIST_ELEM) in it, closing a full
 * message and opening the next; nft_txn_elem_end() closes the element;
 * nft_txn_elems_flush() closes the message (an empty one is dropped).
 */
void nft_txn_elems_start(struct nft_txn *t, uint16_t type, const char *table, const char *set);
struct nlmsghdr *nft_txn_elem(struct nft_txn *t, struct nlattr **el);
void nft_txn_elem_end(struct nft_txn *t, struct nlattr *el);
void nft_txn_elems_flush(struct nft_txn *t);
/* A nested NFTA_DATA_VALUE attribute of this type. */
void nft_put_value(struct nlmsghdr *nlh, uint16_t type, const void *v, uint32_t len);

/*
 * Close the batch (batch end; the last operation asks for an ACK) and
 * return its bytes. Commit does this itself; tests read the bytes.
 */
const uint8_t *nft_txn_seal(struct nft_txn *t, size_t *len);

/*
 * Send the batch and read the answers. Returns 0 when every operation
 * was accepted, or the first error as -errno (logged with the operation
 * it concerns); -ENOBUFS when answers were lost (the receive buffer
 * overran) and the batch's fate is unknown: read the kernel back. The
 * kernel applies a batch all or nothing. A batch with no operation is not
 * sent. Only answers whose sequence numbers are the batch's count; the
 * socket is drained before sending and after an error, so nothing is left
 * for the next exchange.
 */
int nft_txn_commit(struct nft_txn *t);

/*
 * Reading the answers to a sealed batch, one datagram at a time (what
 * nft_txn_commit() does with what it receives; tests feed canned ones).
 * Errors are logged with the operation they concern.
 */
struct nft_replies {
	uint32_t first, last, end; /* sequence numbers: batch begin, last operation, batch end */
	int err;                   /* the first error, -errno; 0 */
	bool done;                 /* the last operation was answered */
	bool lost;                 /* answers were lost (ENOBUFS) */
	size_t stale;              /* messages that were no answer to this batch */
};
void nft_txn_replies_begin(struct nft_txn *t, struct nft_replies *r);
void nft_txn_replies(const struct nft_txn *t, struct nft_replies *r, const void *buf, size_t len);

/* Read and drop whatever is queued on the socket. Returns the messages dropped. */
int nft_nl_drain(struct nft_nl *nl);

/*
 * TEST HOOK, not an interface: SVCPROXY_FAULT="commit:ENOBUFS:3" makes the
 * 3rd commit of the process fail with ENOBUFS without being sent (the
 * kernel is unchanged, as after a real failure). Several, comma-separated:
 * "commit:EEXIST:2,commit:ENOENT:5". Errnos: ENOBUFS EEXIST ENOENT EBUSY
 * EPERM EINVAL ENOMEM EINTR. Returns the errno to inject for this commit,
 * or 0; counts commits (call it once per commit).
 */
int nft_fault_commit(void);
void nft_txn_free(struct nft_txn *t);

#endif
