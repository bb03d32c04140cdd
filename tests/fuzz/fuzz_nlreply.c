/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_nlreply.c - libFuzzer target for the parsing of the kernel's
 * netlink answers: a transaction's ACKs and errors (nft_txn_replies(),
 * sequence matching, NLMSG_ERROR, extended ACKs) and the read-back of
 * svcproxy's table (nft_nl_answers() running the parsers of nft_read.h
 * over table, chain, set element and generation answers).
 *
 * Input: byte 0 says what answers they are (0 a batch's, 1 table, 2 chain
 * dump, 3 set element dump, 4 generation), byte 1 the family (bit 0: IPv6)
 * and, for a batch, its operations (bits 1-4, 1 to 16) or, for elements,
 * the set (bits 1-7, modulo SET_ALL); bytes 2-5 the sequence number of the
 * request or batch begin (little endian); then datagrams, each a 2-byte
 * little-endian length and that many bytes, as recv() gives them.
 *
 * Checked beyond ASan/UBSan and leaks:
 *  - a batch's first error is a negative errno; done only when the last
 *    operation was answered;
 *  - every element read back has the set's key and value lengths, is
 *    found by its key, and its comment is a short NUL-terminated string;
 *    a verdict map's values unpack to a known lb kind;
 *  - a table comment is NUL-terminated; lb chains marked have k > 0.
 * A violation aborts.
 *
 * The seeds in corpus/nlreply/ are real answers of a 6.x kernel, captured
 * in a throwaway network namespace after `svcproxy sync` of a model with
 * every feature (ClusterIP, NodePort, affinity, source ranges, both
 * families): one file per request, named after it.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dataplane/nft_layout.h"
#include "dataplane/nft_nl.h"
#include "dataplane/nft_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum what { W_BATCH, W_TABLE, W_CHAINS, W_ELEMS, W_GEN, W_COUNT };

struct input {
	const uint8_t *p;
	size_t n;
};

/* The next datagram into buf (aligned as recv()'s would be); false at the end. */
static bool next_datagram(struct input *in, uint8_t *buf, size_t cap, size_t *len)
{
	size_t l;

	if (in->n < 2)
		return false;
	l = (size_t)in->p[0] | (size_t)in->p[1] << 8;
	in->p += 2;
	in->n -= 2;
	if (l > in->n)
		l = in->n;
	if (l > cap)
		l = cap;
	memcpy(buf, in->p, l);
	in->p += l;
	in->n -= l;
	*len = l;
	return true;
}

static void check_batch(struct nft_nl *nl, unsigned n_ops, struct input *in)
{
	static uint8_t buf[1 << 16];
	struct nft_replies r;
	struct nft_txn t;
	size_t len;
	uint32_t seen_last = 0;

	nft_txn_begin(&t, nl);
	for (unsigned i = 0; i < n_ops; i++) {
		struct nlmsghdr *nlh = nft_txn_msg(&t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);

		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, NFT_TABLE_NAME);
		nft_txn_add(&t, nlh, i & 1 ? "services" : NULL);
	}
	nft_txn_seal(&t, &len);
	nft_txn_replies_begin(&t, &r);
	while (next_datagram(in, buf, sizeof(buf), &len)) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int left = (int)len;

		for (; left >= (int)sizeof(*h) && h->nlmsg_len >= sizeof(*h) &&
		       h->nlmsg_len <= (uint32_t)left;
		     h = mnl_nlmsg_next(h, &left))
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == r.last &&
			    mnl_nlmsg_get_payload_len(h) >= sizeof(struct nlmsgerr))
				seen_last = 1;
		nft_txn_replies(&t, &r, buf, len);
		if (r.err > 0 || r.err == INT_MIN)
			abort(); /* the caller returns it as -errno */
	}
	if (r.done != (seen_last != 0))
		abort();
	if (r.first != t.first_seq || r.last != t.first_seq + n_ops || r.end != r.last + 1)
		abort();
	nft_txn_free(&t);
}

static void check_elems(const struct bytemap *m, enum nft_set_id id, int family)
{
	const struct nft_set_spec *spec = nft_set_spec(id);

	if (m->klen != nft_key_len(spec->key, family) || m->dlen != nft_data_len(id, family))
		abort();
	for (size_t i = 0; i < m->n; i++) {
		const char *c = bytemap_comment(m, i);

		if (bytemap_find(m, bytemap_key(m, i)) != (long)i)
			abort();
		if (c && strnlen(c, 256) >= 256)
			abort();
		if (spec->data == D_VERDICT) {
			uint32_t v;

			memcpy(&v, bytemap_data(m, i), 4);
			if (v && (v >> 24 >= LB_KINDS || !(v & NFT_LB_MAX_K)))
				abort(); /* a known kind and k > 0, or all zero (not ours) */
		}
	}
}

/* Answers to one request of sequence number seq, datagram by datagram, as nft_nl_request(). */
static int run_answers(const struct nft_nl *nl, uint32_t seq, struct input *in, nft_nl_cb cb,
                       void *out)
{
	static uint8_t buf[1 << 16];
	bool interrupted = false;
	size_t len;
	int ret = MNL_CB_OK;

	while (ret == MNL_CB_OK && next_datagram(in, buf, sizeof(buf), &len)) {
		ret = nft_nl_answers(nl, buf, len, seq, cb, out, &interrupted);
		if (ret < 0 && errno <= 0)
			abort(); /* nft_nl_request() returns -errno */
	}
	return ret;
}

static void check_read(const struct nft_nl *nl, enum what w, unsigned param, uint32_t seq,
                       struct input *in)
{
	int family = nl->family;

	switch (w) {
	case W_TABLE: {
		struct nft_table_info ti;

		memset(&ti, 0, sizeof(ti));
		run_answers(nl, seq, in, nft_read_table_cb, &ti);
		if (strnlen(ti.comment, sizeof(ti.comment)) >= sizeof(ti.comment))
			abort();
		break;
	}
	case W_CHAINS: {
		struct nft_lb_chains cc = {0};

		run_answers(nl, seq, in, nft_read_chain_cb, &cc);
		for (int kind = 0; kind < LB_KINDS; kind++)
			if (nft_lb_chains_has(&cc, (enum nft_lb_kind)kind, 0))
				abort(); /* lb_0 is no chain of ours */
		nft_lb_chains_free(&cc);
		break;
	}
	case W_ELEMS: {
		enum nft_set_id id = (enum nft_set_id)((param >> 1) % SET_ALL);
		struct bytemap m;
		struct nft_read_elems_ctx ec = {.s = &m, .dk = nft_set_spec(id)->data};

		bytemap_init(&m, nft_key_len(nft_set_spec(id)->key, family),
		             nft_data_len(id, family));
		run_answers(nl, seq, in, nft_read_elems_cb, &ec);
		check_elems(&m, id, family);
		bytemap_free(&m);
		break;
	}
	case W_GEN: {
		uint32_t id = 0;

		run_answers(nl, seq, in, nft_read_gen_cb, &id);
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data + 6, size - 6};
	struct nft_nl nl;
	enum what w;
	unsigned param;
	uint32_t seq;

	if (size < 6)
		return 0;
	w = (enum what)(data[0] % W_COUNT);
	param = data[1];
	seq = (uint32_t)data[2] | (uint32_t)data[3] << 8 | (uint32_t)data[4] << 16 |
	      (uint32_t)data[5] << 24;
	nft_nl_init_offline(&nl, param & 1 ? AF_INET6 : AF_INET);
	nl.seq = seq;
	if (w == W_BATCH)
		check_batch(&nl, 1 + (param >> 1 & 15), &in);
	else
		check_read(&nl, w, param, seq, &in);
	return 0;
}
