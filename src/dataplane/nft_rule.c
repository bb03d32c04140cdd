/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_rule.c - the vocabulary rules are written in: one libnftnl
 * expression (or a short fixed sequence) per function (see nft_rule.h).
 */
#include "nft_rule.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include "common/mem.h"
#include "dataplane/nft_layout.h"

/* Rule building: rule_new(), then r_* expressions, then rule_add(). */
struct nftnl_rule *rule_new(struct nft_txn *t, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		die_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)nft_nfproto(t->nl->family));
	return r;
}

void rule_add(struct nft_txn *t, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh = nft_txn_msg(t, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);

	nftnl_rule_nlmsg_build_payload(nlh, r);
	nft_txn_add(t, nlh, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	nftnl_rule_free(r);
}

struct nftnl_expr *rule_expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		die_oom();
	nftnl_rule_add_expr(r, e);
	return e;
}

void rule_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = rule_expr(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

void rule_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rule_expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

void rule_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rule_expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
}

void rule_ct_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rule_expr(r, "ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

void rule_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void * xor,
                  uint32_t len)
{
	struct nftnl_expr *e = rule_expr(r, "bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

void rule_cmp(struct nftnl_rule *r, uint32_t reg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rule_expr(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

/* Match (reg & bits) != 0 on a 32-bit register; bits in host byte order. */
void rule_bits_set(struct nftnl_rule *r, uint32_t reg, uint32_t bits)
{
	uint32_t zero = 0;

	rule_bitwise(r, reg, &bits, &zero, 4);
	rule_cmp(r, reg, NFT_CMP_NEQ, &zero, 4);
}

void rule_lookup(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg)
{
	struct nftnl_expr *e = rule_expr(r, "lookup");

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, nft_set_name(set));
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
}

void rule_lookup_not(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg)
{
	struct nftnl_expr *e = rule_expr(r, "lookup");

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, nft_set_name(set));
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

void rule_lookup_map(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg, uint32_t dreg)
{
	struct nftnl_expr *e = rule_expr(r, "lookup");

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, nft_set_name(set));
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, dreg);
}

void rule_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = rule_expr(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

void rule_reject(struct nftnl_rule *r, int family)
{
	struct nftnl_expr *e = rule_expr(r, "reject");

	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
	/* ICMP port unreachable / ICMPv6 port unreachable: ECONNREFUSED at once */
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, family == AF_INET6 ? 4 : 3);
}

void rule_masq(struct nftnl_rule *r, uint32_t flags)
{
	struct nftnl_expr *e = rule_expr(r, "masq");

	if (flags)
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, flags);
}

uint32_t rule_daddr_off(int family)
{
	return family == AF_INET6 ? 24 : 16;
}

uint32_t rule_saddr_off(int family)
{
	return family == AF_INET6 ? 8 : 12;
}

/* The register for byte offset off of a concatenation starting at NFT_REG_1. */
uint32_t rule_creg(size_t off)
{
	return off ? NFT_REG32_00 + (uint32_t)(off / 4) : NFT_REG_1;
}

/* Load daddr . l4proto . th dport into the registers from NFT_REG_1. */
void rule_load_key3(struct nftnl_rule *r, int family)
{
	size_t al = nft_addr_len(family);

	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_daddr_off(family), (uint32_t)al,
	             NFT_REG_1);
	rule_meta_load(r, NFT_META_L4PROTO, rule_creg(al));
	rule_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rule_creg(al + 4));
}

/* ct state new: the first packet of a connection */
void rule_ct_new(struct nftnl_rule *r)
{
	rule_ct_load(r, NFT_CT_STATE, NFT_REG_1);
	rule_bits_set(r, NFT_REG_1, NF_CT_STATE_BIT(IP_CT_NEW));
}

/* meta mark set mark | NFT_MASQ_MARK */
void rule_mark_masq(struct nftnl_rule *r)
{
	uint32_t mask = ~NFT_MASQ_MARK, xor = NFT_MASQ_MARK;

	rule_meta_load(r, NFT_META_MARK, NFT_REG_1);
	rule_bitwise(r, NFT_REG_1, &mask, &xor, 4);
	rule_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

/* fib <saddr|daddr> type local: the address is one of this node's */
void rule_fib_local(struct nftnl_rule *r, uint32_t which)
{
	struct nftnl_expr *e = rule_expr(r, "fib");
	uint32_t local = RTN_LOCAL;

	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, which);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	rule_cmp(r, NFT_REG_1, NFT_CMP_EQ, &local, 4);
}

/* Load l4proto . th dport into the registers from NFT_REG_1. */
void rule_load_key2(struct nftnl_rule *r)
{
	rule_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);
	rule_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rule_creg(4));
}

void rule_load_addr(struct nftnl_rule *r, int family, bool src)
{
	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
	             src ? rule_saddr_off(family) : rule_daddr_off(family),
	             (uint32_t)nft_addr_len(family), NFT_REG_1);
}

/* Load ct original <daddr|proto-dst> into dreg. */
void rule_ct_orig(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rule_expr(r, "ct");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

/*
 * The affinity key, client . service address . l4proto . service port,
 * from NFT_REG_1. After DNAT (orig) the service side comes from conntrack.
 */
void rule_load_affinity_key(struct nftnl_rule *r, int family, bool orig)
{
	size_t al = nft_addr_len(family);

	rule_load_addr(r, family, true);
	if (orig)
		rule_ct_orig(r, family == AF_INET6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP, rule_creg(al));
	else
		rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_daddr_off(family), (uint32_t)al,
		             rule_creg(al));
	rule_meta_load(r, NFT_META_L4PROTO, rule_creg(2 * al));
	if (orig)
		rule_ct_orig(r, NFT_CT_PROTO_DST, rule_creg(2 * al + 4));
	else
		rule_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rule_creg(2 * al + 4));
}
void rule_dnat(struct nftnl_rule *r, int family, uint32_t reg_addr, uint32_t reg_port)
{
	struct nftnl_expr *e = rule_expr(r, "nat");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)nft_nfproto(family));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_port);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
}
