/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_nft_nl.c - the netlink transport without a kernel: answers matched
 * to their batch by sequence number (canned NLMSG_ERROR messages), and the
 * SVCPROXY_FAULT test hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dataplane/nft_nl.h"

/* A sealed batch of three operations; nl must outlive it. */
static void three_ops(struct nft_nl *nl, struct nft_txn *t)
{
	size_t len;

	nft_nl_init_offline(nl, AF_INET);
	nl->seq = 100;
	nft_txn_begin(t, nl);
	for (int i = 0; i < 3; i++) {
		struct nlmsghdr *nlh = nft_txn_msg(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);

		nft_txn_add(t, nlh, i == 1 ? "second" : "other");
	}
	nft_txn_seal(t, &len);
	assert_int_equal(len, t->len);
}

/* Append an NLMSG_ERROR answering seq with error (0: an ACK) to buf at *off. */
static void put_answer(uint8_t *buf, size_t *off, uint32_t seq, int error, const char *extack)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf + *off);
	struct nlmsgerr *e;

	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_seq = seq;
	h->nlmsg_flags = NLM_F_CAPPED;
	e = mnl_nlmsg_put_extra_header(h, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = sizeof(struct nlmsghdr);
	e->msg.nlmsg_seq = seq;
	if (extack) {
		h->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_strz(h, NLMSGERR_ATTR_MSG, extack);
	}
	*off += NLMSG_ALIGN(h->nlmsg_len);
}

static void test_seq_numbers(void **unused)
{
	struct nft_nl nl;
	struct nft_txn t;
	struct nft_replies r;

	three_ops(&nl, &t);
	nft_txn_replies_begin(&t, &r);
	/* batch begin 100, operations 101..103, batch end 104 */
	assert_int_equal(r.first, 100);
	assert_int_equal(r.last, 103);
	assert_int_equal(r.end, 104);
	assert_int_equal(t.n_ops, 3);
	nft_txn_free(&t);
}

/* Answers of earlier exchanges are not taken for this batch's. */
static void test_stale_answers_skipped(void **unused)
{
	uint8_t buf[4096];
	size_t off = 0;
	struct nft_nl nl;
	struct nft_txn t;
	struct nft_replies r;

	three_ops(&nl, &t);
	nft_txn_replies_begin(&t, &r);
	put_answer(buf, &off, 42, -ENOENT, "stale error");
	put_answer(buf, &off, 99, 0, NULL);        /* just before the batch */
	put_answer(buf, &off, 105, -EEXIST, NULL); /* just after it */
	nft_txn_replies(&t, &r, buf, off);
	assert_int_equal(r.stale, 3);
	assert_int_equal(r.err, 0);
	assert_false(r.done);

	off = 0;
	put_answer(buf, &off, 103, 0, NULL); /* the last operation's ACK */
	nft_txn_replies(&t, &r, buf, off);
	assert_int_equal(r.err, 0);
	assert_true(r.done);
	nft_txn_free(&t);
}

/* The first error counts; the last operation's answer ends the batch. */
static void test_error_then_ack(void **unused)
{
	uint8_t buf[4096];
	size_t off = 0;
	struct nft_nl nl;
	struct nft_txn t;
	struct nft_replies r;

	three_ops(&nl, &t);
	nft_txn_replies_begin(&t, &r);
	put_answer(buf, &off, 102, -EEXIST, "chain exists");
	put_answer(buf, &off, 103, -ENOENT, NULL);
	nft_txn_replies(&t, &r, buf, off);
	assert_int_equal(r.err, -EEXIST);
	assert_true(r.done);
	assert_int_equal(r.stale, 0);
	nft_txn_free(&t);
}

/* An error on batch begin (e.g. EPERM) is the batch's too. */
static void test_error_on_batch_begin(void **unused)
{
	uint8_t buf[4096];
	size_t off = 0;
	struct nft_nl nl;
	struct nft_txn t;
	struct nft_replies r;

	three_ops(&nl, &t);
	nft_txn_replies_begin(&t, &r);
	put_answer(buf, &off, 100, -EPERM, NULL);
	nft_txn_replies(&t, &r, buf, off);
	assert_int_equal(r.err, -EPERM);
	assert_false(r.done);
	nft_txn_free(&t);
}

/* Other message types and truncated errors are no answers. */
static void test_not_an_answer(void **unused)
{
	uint8_t buf[4096];
	size_t off = 0;
	struct nft_nl nl;
	struct nft_txn t;
	struct nft_replies r;
	struct nlmsghdr *h;

	three_ops(&nl, &t);
	nft_txn_replies_begin(&t, &r);
	h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = NLMSG_DONE;
	h->nlmsg_seq = 103;
	off = NLMSG_ALIGN(h->nlmsg_len);
	h = mnl_nlmsg_put_header(buf + off);
	h->nlmsg_type = NLMSG_ERROR; /* no struct nlmsgerr */
	h->nlmsg_seq = 103;
	off += NLMSG_ALIGN(h->nlmsg_len);
	nft_txn_replies(&t, &r, buf, off);
	assert_int_equal(r.stale, 2);
	assert_false(r.done);
	nft_txn_free(&t);
}

/* SVCPROXY_FAULT: the Nth commit fails with that errno, without being sent. */
static void test_fault_hook(void **unused)
{
	struct nft_nl nl;
	struct nft_txn t;

	/* commits counted from here: this test runs first of those that commit */
	setenv("SVCPROXY_FAULT", "commit:EEXIST:2,commit:ENOBUFS:3,commit:EBOGUS:4", 1);
	assert_int_equal(nft_fault_commit(), 0);
	assert_int_equal(nft_fault_commit(), EEXIST);
	/* the 3rd: a real commit on a transport without socket is never sent */
	nft_nl_init_offline(&nl, AF_INET);
	nft_txn_begin(&t, &nl);
	nft_txn_add(&t, nft_txn_msg(&t, NFT_MSG_NEWTABLE, NLM_F_CREATE), NULL);
	assert_int_equal(nft_txn_commit(&t), -ENOBUFS);
	nft_txn_free(&t);
	assert_int_equal(nft_fault_commit(), 0); /* EBOGUS is no errno it knows */
	assert_int_equal(nft_fault_commit(), 0);
	setenv("SVCPROXY_FAULT", "commit:ENOENT", 1); /* malformed: ignored */
	assert_int_equal(nft_fault_commit(), 0);
	unsetenv("SVCPROXY_FAULT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fault_hook),
	    cmocka_unit_test(test_seq_numbers),
	    cmocka_unit_test(test_stale_answers_skipped),
	    cmocka_unit_test(test_error_then_ack),
	    cmocka_unit_test(test_error_on_batch_begin),
	    cmocka_unit_test(test_not_an_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
