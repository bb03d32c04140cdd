/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_read.c - svcproxy's table, read back over netlink (see nft_read.h),
 * and the public reads of nft.h: nft_read_sets(), nft_show_rules().
 */
#include "nft_read.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/mem.h"

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_table_info *ti = data;
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

int nft_read_table(struct nft_nl *nl, struct nft_table_info *ti)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int ret;

	if (!t)
		die_oom();
	nlh = nft_nl_req(nl, buf, NFT_MSG_GETTABLE, nft_nfproto(nl->family), NLM_F_ACK);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	memset(ti, 0, sizeof(*ti));
	ret = nft_nl_request(nl, nlh, table_cb, ti);
	return ret == -ENOENT ? 0 : ret;
}

/* ---- lb chains ---------------------------------------------------------- */

void nft_lb_chains_mark(struct nft_lb_chains *c, enum nft_lb_kind kind, uint32_t k)
{
	if (k >= c->n[kind]) {
		size_t nn = k + 64;

		c->have[kind] = xrealloc(c->have[kind], nn);
		memset(c->have[kind] + c->n[kind], 0, nn - c->n[kind]);
		c->n[kind] = nn;
	}
	c->have[kind][k] = 1;
}

bool nft_lb_chains_has(const struct nft_lb_chains *c, enum nft_lb_kind kind, uint32_t k)
{
	return k < c->n[kind] && c->have[kind][k];
}

void nft_lb_chains_free(struct nft_lb_chains *c)
{
	for (int i = 0; i < LB_KINDS; i++)
		free(c->have[i]);
	memset(c, 0, sizeof(*c));
}

void nft_lb_chains_move(struct nft_lb_chains *dst, struct nft_lb_chains *src)
{
	nft_lb_chains_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_lb_chains *cc = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	enum nft_lb_kind kind;
	uint32_t k;

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME) &&
	    nft_lb_chain_parse(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), &kind, &k))
		nft_lb_chains_mark(cc, kind, k);
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

int nft_read_lb_chains(struct nft_nl *nl, struct nft_lb_chains *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nft_lb_chains_free(out);
	nlh =
	    nft_nl_req(nl, buf, NFT_MSG_GETCHAIN, nft_nfproto(nl->family), NLM_F_DUMP | NLM_F_ACK);
	return nft_nl_request(nl, nlh, chain_cb, out);
}

/* ---- elements ----------------------------------------------------------- */

struct elems_ctx {
	struct bytemap *s;
	enum nft_data_kind dk;
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

		if (chain && nft_lb_chain_parse(chain, &kind, &k)) {
			v = nft_lb_pack(kind, k);
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

int nft_read_elems(struct nft_nl *nl, enum nft_set_id id, struct bytemap *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct elems_ctx ec = {.s = out, .dk = nft_set_spec(id)->data};
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nlh = nft_nl_req(nl, buf, NFT_MSG_GETSETELEM, nft_nfproto(nl->family),
	                 NLM_F_DUMP | NLM_F_ACK);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, nft_set_name(id));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nft_nl_request(nl, nlh, setelem_cb, &ec);
}

int nft_read_all_sets(struct nft_nl *nl, struct nft_sets *out)
{
	int ret = 0;

	nft_sets_init(out, nl->family);
	for (int i = 0; i < SET_COUNT && !ret; i++)
		ret = nft_read_elems(nl, (enum nft_set_id)i, &out->s[i]);
	if (ret)
		nft_sets_free(out);
	return ret;
}

int nft_read_sets(int family, struct nft_sets *out)
{
	struct nft_table_info ti;
	struct nft_nl nl;
	int ret;

	nft_sets_init(out, family);
	ret = nft_nl_open(&nl, family);
	if (ret)
		return ret;
	ret = nft_read_table(&nl, &ti);
	if (!ret && !ti.found)
		ret = -ENOENT;
	for (int tries = 0; !ret && tries < 5; tries++) {
		ret = nft_read_all_sets(&nl, out);
		if (ret != -EINTR)
			break;
	}
	if (!ret)
		snprintf(out->layout, sizeof(out->layout), "%s", ti.comment);
	nft_nl_close(&nl);
	return ret;
}

/* ---- generation --------------------------------------------------------- */

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

int nft_read_genid(struct nft_nl *nl, uint32_t *id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nft_nl_req(nl, buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);

	*id = 0;
	return nft_nl_request(nl, nlh, gen_cb, id);
}

/* ---- show rules --------------------------------------------------------- */

struct print_ctx {
	FILE *f;
	char **names; /* chains of our table, in kernel order */
	size_t n, cap;
};

static int chain_print_cb(const struct nlmsghdr *nlh, void *data)
{
	struct print_ctx *pc = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0 &&
	    !strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), NFT_TABLE_NAME)) {
		pc->names = xgrow(pc->names, &pc->cap, pc->n + 1, sizeof(*pc->names));
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

/* The rules of chain, printed. */
static int print_chain(struct nft_nl *nl, const char *chain, struct print_ctx *pc)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;

	if (!r)
		die_oom();
	fprintf(pc->f, "  chain %s\n", chain);
	nlh = nft_nl_req(nl, buf, NFT_MSG_GETRULE, nft_nfproto(nl->family), NLM_F_DUMP | NLM_F_ACK);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	return nft_nl_request(nl, nlh, rule_print_cb, pc);
}

int nft_show_rules(int family, FILE *f)
{
	struct print_ctx pc = {.f = f};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nft_table_info ti;
	struct nlmsghdr *nlh;
	struct nft_nl nl;
	int ret = nft_nl_open(&nl, family);

	if (ret)
		return ret;
	ret = nft_read_table(&nl, &ti);
	if (!ret && !ti.found) {
		fprintf(f, "nothing programmed: no table %s %s\n",
		        family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME);
		goto out;
	}
	if (!ret) {
		fprintf(f, "table %s %s  # %s\n", family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME,
		        ti.comment);
		nlh = nft_nl_req(&nl, buf, NFT_MSG_GETCHAIN, nft_nfproto(family),
		                 NLM_F_DUMP | NLM_F_ACK);
		ret = nft_nl_request(&nl, nlh, chain_print_cb, &pc);
	}
	for (size_t i = 0; !ret && i < pc.n; i++)
		ret = print_chain(&nl, pc.names[i], &pc);
out:
	for (size_t i = 0; i < pc.n; i++)
		free(pc.names[i]);
	free(pc.names);
	nft_nl_close(&nl);
	if (ret)
		fprintf(stderr, "svcproxy show rules: %s\n", strerror(-ret));
	return ret;
}
