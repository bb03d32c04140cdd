/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_read.c - svcproxy's table, read back over netlink (see nft_read.h),
 * and the public reads of nft.h: nft_read_sets(), nft_show_rules().
 */
#include "nft_read.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/mem.h"

/*
 * The answer parsers read attributes with libmnl, not libnftnl: libnftnl
 * exits the process (abi_breakage()) on an attribute of an unexpected size,
 * and a read-back must survive whatever it is answered. An attribute that
 * is missing or malformed reads as absent.
 */
#define ATTR_MAX 31 /* above every NFTA_*_MAX we read */
struct attrs {
	const struct nlattr *tb[ATTR_MAX + 1]; /* by type, the last of each; NULL: absent */
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= ATTR_MAX)
		at->tb[type] = a;
	return MNL_CB_OK;
}

/* The attributes of an nf_tables message (after its nfgenmsg). */
static void msg_attrs(const struct nlmsghdr *nlh, struct attrs *at)
{
	memset(at, 0, sizeof(*at));
	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, at);
}

/* The attributes nested in a (none when a is NULL). */
static void nest_attrs(const struct nlattr *a, struct attrs *at)
{
	memset(at, 0, sizeof(*at));
	if (a)
		mnl_attr_parse_nested(a, attr_cb, at);
}

/* A NUL-terminated string attribute, or NULL. */
static const char *attr_str(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

/* The payload of a (NULL and 0 when a is NULL). */
static const void *attr_bytes(const struct nlattr *a, uint32_t *len)
{
	*len = a ? mnl_attr_get_payload_len(a) : 0;
	return a ? mnl_attr_get_payload(a) : NULL;
}

/* The value of a data register (NFTA_DATA_VALUE nested in a), or NULL. */
static const void *data_value(const struct nlattr *a, uint32_t *len)
{
	struct attrs d;

	nest_attrs(a, &d);
	return attr_bytes(d.tb[NFTA_DATA_VALUE], len);
}

/*
 * The text of a comment TLV (userdata: type, length, NUL-terminated text)
 * of this type at the head of ud, into buf; false when there is none.
 */
static bool udata_comment(const uint8_t *ud, uint32_t len, uint8_t type, char *buf, size_t size)
{
	size_t l;

	if (!ud || len <= 2 || ud[0] != type)
		return false;
	l = ud[1];
	if (l == 0 || l + 2 > len || l > size)
		return false;
	memcpy(buf, ud + 2, l);
	buf[l - 1] = '\0'; /* the text's own NUL, or its last byte when it has none */
	return true;
}

int nft_read_table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_table_info *ti = data;
	struct attrs at;
	const void *ud;
	uint32_t len;

	msg_attrs(nlh, &at);
	ti->found = true;
	/* our layout text is the first TLV */
	ud = attr_bytes(at.tb[NFTA_TABLE_USERDATA], &len);
	udata_comment(ud, len, NFTNL_UDATA_TABLE_COMMENT, ti->comment, sizeof(ti->comment));
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
	ret = nft_nl_request(nl, nlh, nft_read_table_cb, ti);
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

/* The name of the chain of an answer, when it is one of our table's; else NULL. */
static const char *our_chain(const struct nlmsghdr *nlh)
{
	const char *table;
	struct attrs at;

	msg_attrs(nlh, &at);
	table = attr_str(at.tb[NFTA_CHAIN_TABLE]);
	return table && !strcmp(table, NFT_TABLE_NAME) ? attr_str(at.tb[NFTA_CHAIN_NAME]) : NULL;
}

int nft_read_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	const char *name = our_chain(nlh);
	enum nft_lb_kind kind;
	uint32_t k;

	if (name && nft_lb_chain_parse(name, &kind, &k))
		nft_lb_chains_mark(data, kind, k);
	return MNL_CB_OK;
}

int nft_read_lb_chains(struct nft_nl *nl, struct nft_lb_chains *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nft_lb_chains_free(out);
	nlh =
	    nft_nl_req(nl, buf, NFT_MSG_GETCHAIN, nft_nfproto(nl->family), NLM_F_DUMP | NLM_F_ACK);
	return nft_nl_request(nl, nlh, nft_read_chain_cb, out);
}

/* ---- elements ----------------------------------------------------------- */

/* One element (the attributes nested in an NFTA_LIST_ELEM) into the map. */
static void read_elem(struct nft_read_elems_ctx *ec, const struct nlattr *el)
{
	uint8_t dbuf[NFT_MAX_DATA] = {0};
	const void *key, *d, *ud;
	uint32_t klen, dlen, ulen;
	char comment[256];
	struct attrs at;

	nest_attrs(el, &at);
	key = data_value(at.tb[NFTA_SET_ELEM_KEY], &klen);
	if (!key || klen != ec->s->klen)
		return; /* not ours: the next diff replaces it */
	if (ec->dk == D_VERDICT) {
		struct attrs data, verdict;
		const char *chain;
		enum nft_lb_kind kind;
		uint32_t k, v;

		nest_attrs(at.tb[NFTA_SET_ELEM_DATA], &data);
		nest_attrs(data.tb[NFTA_DATA_VERDICT], &verdict);
		chain = attr_str(verdict.tb[NFTA_VERDICT_CHAIN]);
		if (chain && nft_lb_chain_parse(chain, &kind, &k)) {
			v = nft_lb_pack(kind, k);
			memcpy(dbuf, &v, 4);
		}
	} else if (ec->s->dlen) {
		d = data_value(
		    at.tb[ec->dk == D_RANGE_END ? NFTA_SET_ELEM_KEY_END : NFTA_SET_ELEM_DATA],
		    &dlen);
		if (d && dlen == ec->s->dlen)
			memcpy(dbuf, d, dlen);
	}
	ud = attr_bytes(at.tb[NFTA_SET_ELEM_USERDATA], &ulen);
	bytemap_put(ec->s, key, dbuf,
	            udata_comment(ud, ulen, NFTNL_UDATA_SET_ELEM_COMMENT, comment, sizeof(comment))
	                ? comment
	                : NULL);
}

int nft_read_elems_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *el;
	struct attrs at;

	msg_attrs(nlh, &at);
	if (at.tb[NFTA_SET_ELEM_LIST_ELEMENTS])
		mnl_attr_for_each_nested(
		    el, at.tb[NFTA_SET_ELEM_LIST_ELEMENTS]) if (mnl_attr_get_type(el) ==
		                                                NFTA_LIST_ELEM) read_elem(data, el);
	return MNL_CB_OK;
}

int nft_read_elems(struct nft_nl *nl, enum nft_set_id id, struct bytemap *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_set *s = nftnl_set_alloc();
	struct nft_read_elems_ctx ec = {.s = out, .dk = nft_set_spec(id)->data};
	struct nlmsghdr *nlh;

	if (!s)
		die_oom();
	nlh = nft_nl_req(nl, buf, NFT_MSG_GETSETELEM, nft_nfproto(nl->family),
	                 NLM_F_DUMP | NLM_F_ACK);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, nft_set_name(id));
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nft_nl_request(nl, nlh, nft_read_elems_cb, &ec);
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

int nft_read_gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct attrs at;

	msg_attrs(nlh, &at);
	if (at.tb[NFTA_GEN_ID] && mnl_attr_validate(at.tb[NFTA_GEN_ID], MNL_TYPE_U32) == 0)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(at.tb[NFTA_GEN_ID]));
	return MNL_CB_OK;
}

int nft_read_genid(struct nft_nl *nl, uint32_t *id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nft_nl_req(nl, buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK);

	*id = 0;
	return nft_nl_request(nl, nlh, nft_read_gen_cb, id);
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
	const char *name = our_chain(nlh);

	if (name) {
		pc->names = xgrow(pc->names, &pc->cap, pc->n + 1, sizeof(*pc->names));
		pc->names[pc->n++] = xstrdup(name);
	}
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
