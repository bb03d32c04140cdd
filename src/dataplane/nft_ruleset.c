/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_ruleset.c - table, sets, chains and rules of svcproxy's layout
 * (see nft_ruleset.h and the drawing in nft.h).
 *
 * Over 800 lines on purpose (about 800, half of them comments): the whole
 * fixed ruleset reads in one place, path by path. Each builder carries the nft syntax of what
 * it adds in the comment above it; `svcproxy show rules` and the golden test
 * (tests/unit/golden/) print what the kernel and libnftnl make of it.
 */
#include "nft_ruleset.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/mem.h"
#include "dataplane/nft_rule.h"

/* nft's datatype ids (nftables src/datatype.h), for `nft list` to print keys. */
enum {
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_INET_PROTOCOL = 12,
	DT_INET_SERVICE = 13,
	DT_MARK = 19,
};
#define DT_BITS 6

/* Where a rule's traffic comes from: its first match. */
enum rule_from {
	FROM_ANY,
	FROM_CLUSTER, /* ip saddr @cluster_cidrs */
	FROM_NODE,    /* fib saddr type local */
};
/* The key a rule looks up. */
enum rule_key {
	KEY_APT, /* ip daddr . meta l4proto . th dport */
	KEY_PT,  /* meta l4proto . th dport */
};
/* What a rule does on a match. */
enum rule_then {
	THEN_VMAP,   /* the element's verdict: <key> vmap @set */
	THEN_JUMP,   /* jump <target> */
	THEN_DROP,   /* drop */
	THEN_REJECT, /* reject (ICMP port unreachable) */
};

static uint32_t dt_concat(const int *ids, int n)
{
	uint32_t t = 0;

	for (int i = 0; i < n; i++)
		t = (t << DT_BITS) | (uint32_t)ids[i];
	return t;
}

/* Key type ids of a key kind, for `nft list` (nft's datatype ids). */
static int key_type_ids(enum nft_key_kind k, int family, int *ids)
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
	case K_AAPT:
		ids[n++] = a;
		ids[n++] = a;
		ids[n++] = DT_INET_PROTOCOL;
		ids[n++] = DT_INET_SERVICE;
		break;
	}
	return n;
}

/* ---- objects: table, sets, chains -------------------------------------- */

/* table ip svcproxy { comment "<layout>" }  (or delete table ip svcproxy) */
static void put_table(struct nft_txn *t, uint16_t type, const char *comment)
{
	struct nftnl_table *tb = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!tb)
		die_oom();
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, (uint32_t)nft_nfproto(t->nl->family));
	if (comment) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(512);

		if (!ud)
			die_oom();
		nftnl_udata_put_strz(ud, NFTNL_UDATA_TABLE_COMMENT, comment);
		nftnl_table_set_data(tb, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(ud),
		                     nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = nft_txn_msg(t, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0);
	nftnl_table_nlmsg_build_payload(nlh, tb);
	nft_txn_add(t, nlh, NULL);
	nftnl_table_free(tb);
}

void nft_ruleset_put_del_table(struct nft_txn *t)
{
	put_table(t, NFT_MSG_DELTABLE, NULL);
}

/* A set of ours with its name, id, family and key type; the caller adds the rest. */
static struct nftnl_set *set_new(struct nft_txn *t, enum nft_set_id id, int *ids, int *n)
{
	const struct nft_set_spec *sp = nft_set_spec(id);
	int fam = t->nl->family;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		die_oom();
	*n = key_type_ids(sp->key, fam, ids);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, sp->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)nft_nfproto(fam));
	nftnl_set_set_u32(s, NFTNL_SET_ID, (uint32_t)id + 1);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, dt_concat(ids, *n));
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, nft_key_len(sp->key, fam));
	return s;
}

static void set_add(struct nft_txn *t, struct nftnl_set *s, enum nft_set_id id)
{
	struct nlmsghdr *nlh = nft_txn_msg(t, NFT_MSG_NEWSET, NLM_F_CREATE);

	nftnl_set_nlmsg_build_payload(nlh, s);
	nft_txn_add(t, nlh, nft_set_name(id));
	nftnl_set_free(s);
}

/*
 * set <name> { type <key>; }                       a plain set
 * map <name> { type <key> : verdict|addr . port; } a map
 * set firewall_allow { type A . P . T . R; flags interval; }
 */
static void put_set(struct nft_txn *t, enum nft_set_id id)
{
	const struct nft_set_spec *sp = nft_set_spec(id);
	int fam = t->nl->family, ids[6], n;
	size_t al = nft_addr_len(fam);
	struct nftnl_set *s = set_new(t, id, ids, &n);

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
	set_add(t, s, id);
}

/*
 * set cluster_cidrs { type ipv4_addr; flags constant, interval; elements = { ... } }
 * This family's CIDRs among c: rbtree elements, start and exclusive end.
 */
static void put_cidr_set(struct nft_txn *t, enum nft_set_id id, const struct cidr *c, size_t n)
{
	int fam = t->nl->family, ids[6], nids;
	size_t al = nft_addr_len(fam);
	struct nftnl_set *s = set_new(t, id, ids, &nids);

	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONSTANT);
	set_add(t, s, id);

	nft_txn_elems_start(t, NFT_MSG_NEWSETELEM, NFT_TABLE_NAME, nft_set_name(id));
	for (size_t i = 0; i < n; i++) {
		uint8_t lo[16], hi[16];
		struct nlmsghdr *nlh;
		struct nlattr *el;
		int carry = 1;

		if (c[i].addr.family != fam)
			continue;
		nft_cidr_bounds(&c[i], al, lo, hi);
		nlh = nft_txn_elem(t, &el);
		nft_put_value(nlh, NFTA_SET_ELEM_KEY, lo, (uint32_t)al);
		nft_txn_elem_end(t, el);
		/* exclusive end: hi + 1, unless the range runs to the top */
		for (size_t b = al; b-- > 0 && carry;) {
			hi[b]++;
			carry = hi[b] == 0;
		}
		if (carry)
			continue;
		nlh = nft_txn_elem(t, &el);
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(NFT_SET_ELEM_INTERVAL_END));
		nft_put_value(nlh, NFTA_SET_ELEM_KEY, hi, (uint32_t)al);
		nft_txn_elem_end(t, el);
	}
	nft_txn_elems_flush(t);
}

/*
 * map affinity { type A . A . P . T : A . T; flags dynamic, timeout; size 65536; }
 * client . service address . l4proto . port -> endpoint, filled by the kernel.
 */
static void put_affinity_map(struct nft_txn *t)
{
	int fam = t->nl->family, ids[6], n;
	int dids[] = {fam == AF_INET6 ? DT_IP6ADDR : DT_IPADDR, DT_INET_SERVICE};
	struct nftnl_set *s = set_new(t, SET_AFFINITY, ids, &n);

	nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, dt_concat(dids, 2));
	nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, nft_data_len(SET_AFFINITY, fam));
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_TIMEOUT | NFT_SET_EVAL);
	nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, 65536);
	set_add(t, s, SET_AFFINITY);
}

/* chain <name> { [type <type> hook <hook> priority <prio>; policy accept;] } */
static void put_chain_hook(struct nft_txn *t, const char *name, const char *type, int hook,
                           int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		die_oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)nft_nfproto(t->nl->family));
	if (type) {
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nft_txn_msg(t, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nft_txn_add(t, nlh, name);
	nftnl_chain_free(c);
}

/* chain <name> { }  a regular chain */
static void put_chain(struct nft_txn *t, const char *name)
{
	put_chain_hook(t, name, NULL, 0, 0);
}

/* ---- rules -------------------------------------------------------------- */

/* <chain>: [jump|goto|return] <target>, nothing else */
static void put_jump(struct nft_txn *t, const char *chain, int verdict, const char *target)
{
	struct nftnl_rule *r = rule_new(t, chain);

	rule_verdict(r, verdict, target);
	rule_add(t, r);
}

/* <chain>: ct status dnat [goto|return] <target>: the connection was DNATed */
static void put_if_dnat(struct nft_txn *t, const char *chain, int verdict, const char *target)
{
	struct nftnl_rule *r = rule_new(t, chain);

	rule_ct_load(r, NFT_CT_STATUS, NFT_REG_1);
	rule_bits_set(r, NFT_REG_1, IPS_DST_NAT);
	rule_verdict(r, verdict, target);
	rule_add(t, r);
}

/*
 * <chain>: [<from>] <key> vmap @<set>
 *          [<from>] <key> @<set> jump <target> | drop | reject
 */
static void put_set_rule(struct nft_txn *t, const char *chain, enum rule_from from,
                         enum rule_key key, enum nft_set_id set, enum rule_then then,
                         const char *target)
{
	struct nftnl_rule *r = rule_new(t, chain);
	int fam = t->nl->family;

	if (from == FROM_CLUSTER) {
		rule_load_addr(r, fam, true);
		rule_lookup(r, SET_CLUSTER_CIDRS, NFT_REG_1);
	} else if (from == FROM_NODE) {
		rule_fib_local(r, NFTA_FIB_F_SADDR);
	}
	if (key == KEY_APT)
		rule_load_key3(r, fam);
	else
		rule_load_key2(r);
	if (then == THEN_VMAP) {
		rule_lookup_map(r, set, NFT_REG_1, NFT_REG_VERDICT);
	} else {
		rule_lookup(r, set, NFT_REG_1);
		if (then == THEN_DROP)
			rule_verdict(r, NF_DROP, NULL);
		else if (then == THEN_REJECT)
			rule_reject(r, fam);
		else
			rule_verdict(r, NFT_JUMP, target);
	}
	rule_add(t, r);
}

/*
 * fib daddr type local ip daddr != 127.0.0.0/8   (::1 for IPv6)
 * fib daddr type local ip daddr @nodeport_cidrs  (with --nodeport-addresses)
 * NodePorts: a local address, not loopback (CVE-2020-8558).
 */
static void rule_nodeport_guard(struct nftnl_rule *r, const struct nft_ruleset_cfg *c)
{
	int fam = c->family;

	rule_fib_local(r, NFTA_FIB_F_DADDR);
	rule_load_addr(r, fam, false);
	if (c->o.n_nodeport_cidrs) {
		rule_lookup(r, SET_NODEPORT_CIDRS, NFT_REG_1);
	} else if (fam == AF_INET) {
		uint32_t mask = htonl(0xff000000), zero = 0, lo = htonl(0x7f000000);

		rule_bitwise(r, NFT_REG_1, &mask, &zero, 4);
		rule_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &lo, 4);
	} else {
		uint8_t lo6[16] = {[15] = 1};

		rule_cmp(r, NFT_REG_1, NFT_CMP_NEQ, lo6, 16);
	}
}

/* <chain>: <nodeport guard> jump <target> */
static void put_nodeport_jump(struct nft_txn *t, const struct nft_ruleset_cfg *c, const char *chain,
                              const char *target)
{
	struct nftnl_rule *r = rule_new(t, chain);

	rule_nodeport_guard(r, c);
	rule_verdict(r, NFT_JUMP, target);
	rule_add(t, r);
}

/* <chain>: dnat to <affinity key> map @affinity: a client seen recently goes where it went */
static void put_affinity_dnat(struct nft_txn *t, const char *chain)
{
	int fam = t->nl->family;
	struct nftnl_rule *r = rule_new(t, chain);

	rule_load_affinity_key(r, fam, false);
	rule_lookup_map(r, SET_AFFINITY, NFT_REG_1, NFT_REG_1);
	rule_dnat(r, fam, NFT_REG_1, rule_creg(nft_addr_len(fam)));
	rule_add(t, r);
}

/* aff_<T>: update @affinity { <affinity key> timeout T s : ip daddr . th dport } */
static void put_affinity_update(struct nft_txn *t, struct nftnl_rule *r, uint32_t seconds)
{
	int fam = t->nl->family;
	size_t al = nft_addr_len(fam);
	struct nftnl_expr *e;

	rule_load_affinity_key(r, fam, true);
	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_daddr_off(fam), (uint32_t)al,
	             rule_creg(2 * al + 8));
	rule_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, rule_creg(3 * al + 8));
	e = rule_expr(r, "dynset");
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, nft_set_name(SET_AFFINITY));
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, rule_creg(2 * al + 8));
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, (uint64_t)seconds * 1000);
	rule_add(t, r);
}

/*
 * chain lb_<k>:  dnat to ip daddr . l4proto . th dport . numgen random mod k map @backends
 * chain np_<k>:  dnat to l4proto . th dport . numgen random mod k map @nodeport_backends
 * (lbc_/npc_ the same through the _cluster maps; aff_<T> see put_affinity_update)
 */
void nft_ruleset_put_lb_chain(struct nft_txn *t, enum nft_lb_kind kind, uint32_t k)
{
	int fam = t->nl->family;
	size_t al = nft_addr_len(fam);
	bool np = nft_lb_nodeport(kind);
	char name[32];
	struct nftnl_rule *r;
	struct nftnl_expr *e;

	nft_lb_chain_name(kind, k, name, sizeof(name));
	put_chain(t, name);
	if (kind == LB_CLUSTER_IP || kind == LB_CLUSTER_IP_AFFINITY)
		put_jump(t, name, NFT_JUMP, "masq_check");
	if (kind == LB_CLUSTER_IP_AFFINITY)
		put_affinity_dnat(t, name);
	r = rule_new(t, name);
	if (kind == LB_AFFINITY) {
		put_affinity_update(t, r, k);
		return;
	}
	if (np)
		rule_load_key2(r);
	else
		rule_load_key3(r, fam);
	e = rule_expr(r, "numgen");
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, rule_creg(np ? 8 : al + 8));
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, k);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
	rule_lookup_map(r, nft_lb_map(kind), NFT_REG_1, NFT_REG_1);
	rule_dnat(r, fam, NFT_REG_1, rule_creg(al));
	rule_add(t, r);
}

/*
 * chain <chain> { type <type> hook <hook> priority <prio>; }
 *     [ct state new] jump <target>          for each target, or with several:
 *     ct state new jump <chain>_new   and   <chain>_new: jump <target> ...
 * Every packet crosses a base chain, so it holds one rule: the "ct state
 * new" test is made once.
 */
static void put_base_chain_jump(struct nft_txn *t, const char *chain, const char *type, int hook,
                                int prio, const char *const *targets, bool ct_new)
{
	char sub[64];
	struct nftnl_rule *r;
	const char *into = chain;

	put_chain_hook(t, chain, type, hook, prio);
	if (ct_new && targets[0] && targets[1]) {
		snprintf(sub, sizeof(sub), "%s_new", chain);
		put_chain(t, sub);
		r = rule_new(t, chain);
		rule_ct_new(r);
		rule_verdict(r, NFT_JUMP, sub);
		rule_add(t, r);
		into = sub;
		ct_new = false;
	}
	for (; *targets; targets++) {
		r = rule_new(t, into);
		if (ct_new)
			rule_ct_new(r);
		rule_verdict(r, NFT_JUMP, *targets);
		rule_add(t, r);
	}
}

/* ---- the paths ---------------------------------------------------------- */

/*
 * set <name> ... for every set of the layout, then
 * set cluster_cidrs { flags constant, interval; elements = { --cluster-cidr } }
 * set nodeport_cidrs { flags constant, interval; elements = { --nodeport-addresses } }
 */
static void put_sets(struct nft_txn *t, const struct nft_ruleset_cfg *c)
{
	for (int i = 0; i < SET_COUNT; i++)
		put_set(t, (enum nft_set_id)i);
	put_cidr_set(t, SET_CLUSTER_CIDRS, c->o.cluster_cidrs, c->o.n_cluster_cidrs);
	put_cidr_set(t, SET_NODEPORT_CIDRS, c->o.nodeport_cidrs, c->o.n_nodeport_cidrs);
}

/* chain mark_masq { meta mark set mark | 0x4000 } */
static void put_mark_masq(struct nft_txn *t)
{
	struct nftnl_rule *r;

	put_chain(t, "mark_masq");
	r = rule_new(t, "mark_masq");
	rule_mark_masq(r);
	rule_add(t, r);
}

/*
 * services:   ip daddr . l4proto . th dport vmap @cluster_ip_ports   (goto cip_<k> / cipa_<k>)
 * masq_check: ip saddr @cluster_cidrs return      (with cluster CIDRs, not --masquerade-all)
 *             goto mark_masq                      (with cluster CIDRs or --masquerade-all)
 * ClusterIPs, the common case, are dispatched first, by one lookup: no fib
 * lookup, no external-policy sets (a separate @cluster_ips test would be a
 * second cache miss per new connection in a large table). Their lb chains
 * jump to masq_check (empty when nothing is masqueraded). What the map does
 * not hold (a port with no endpoint, none of the ClusterIP) goes on down
 * the chain, DNATed by nothing, to the filter checks.
 */
static void put_cluster_ip_path(struct nft_txn *t, const struct nft_ruleset_cfg *c)
{
	struct nftnl_rule *r;
	bool have_cidrs = false;

	for (size_t i = 0; i < c->o.n_cluster_cidrs; i++)
		have_cidrs |= c->o.cluster_cidrs[i].addr.family == c->family;
	put_set_rule(t, "services", FROM_ANY, KEY_APT, SET_CLUSTER_IP_PORTS, THEN_VMAP, NULL);
	/* traffic from outside the cluster CIDRs (or all, --masquerade-all) is masqueraded */
	if (have_cidrs && !c->o.masquerade_all) {
		r = rule_new(t, "masq_check");
		rule_load_addr(r, c->family, true);
		rule_lookup(r, SET_CLUSTER_CIDRS, NFT_REG_1);
		rule_verdict(r, NFT_RETURN, NULL);
		rule_add(t, r);
	}
	if (have_cidrs || c->o.masquerade_all)
		put_jump(t, "masq_check", NFT_GOTO, "mark_masq");
}

/*
 * External IPs and NodePorts: masquerade marks first, then affinity.
 * services:       <key3> @external_masq jump mark_masq
 *                 fib saddr type local <key3> vmap @service_ips_cluster
 *                 <nodeport guard> jump nodeport_marks
 * nodeport_marks: <key2> @nodeport_masq jump mark_masq
 *                 fib saddr type local <key2> vmap @nodeports_cluster
 * services:       <affinity dnat>
 * The two "fib saddr type local" rules dispatch the node's own eTP=Local
 * traffic at once (the layout has always sent them so: the call that
 * wrote them passed NFT_JUMP, a negative verdict, which meant "vmap").
 * The node's own connections leave with a local source address anyway.
 */
static void put_external_marks(struct nft_txn *t, const struct nft_ruleset_cfg *c, bool tracked)
{
	put_set_rule(t, "services", FROM_ANY, KEY_APT, SET_EXTERNAL_MASQ, THEN_JUMP, "mark_masq");
	put_set_rule(t, "services", FROM_NODE, KEY_APT, SET_SERVICE_IPS_CLUSTER, THEN_VMAP, NULL);
	put_chain(t, "nodeport_marks");
	put_nodeport_jump(t, c, "services", "nodeport_marks");
	put_set_rule(t, "nodeport_marks", FROM_ANY, KEY_PT, SET_NODEPORT_MASQ, THEN_JUMP,
	             "mark_masq");
	put_set_rule(t, "nodeport_marks", FROM_NODE, KEY_PT, SET_NODEPORTS_CLUSTER, THEN_VMAP,
	             NULL);
	/* sessionAffinity: a client seen recently goes where it went before */
	if (tracked)
		put_affinity_dnat(t, "services");
}

/*
 * Dispatch; every vmap element ends the chain (goto).
 * services:  ip saddr @cluster_cidrs <key3> vmap @service_ips_cluster  (eTP=Local: pods
 *            fib saddr type local <key3> vmap @service_ips_cluster     and the node reach
 *            <key3> vmap @service_ips                                  every endpoint)
 *            <nodeport guard> jump nodeports
 * nodeports: the same three with <key2> and @nodeports_cluster / @nodeports
 */
static void put_dispatch(struct nft_txn *t, const struct nft_ruleset_cfg *c)
{
	put_set_rule(t, "services", FROM_CLUSTER, KEY_APT, SET_SERVICE_IPS_CLUSTER, THEN_VMAP,
	             NULL);
	put_set_rule(t, "services", FROM_NODE, KEY_APT, SET_SERVICE_IPS_CLUSTER, THEN_VMAP, NULL);
	put_set_rule(t, "services", FROM_ANY, KEY_APT, SET_SERVICE_IPS, THEN_VMAP, NULL);
	put_nodeport_jump(t, c, "services", "nodeports");

	put_set_rule(t, "nodeports", FROM_CLUSTER, KEY_PT, SET_NODEPORTS_CLUSTER, THEN_VMAP, NULL);
	put_set_rule(t, "nodeports", FROM_NODE, KEY_PT, SET_NODEPORTS_CLUSTER, THEN_VMAP, NULL);
	put_set_rule(t, "nodeports", FROM_ANY, KEY_PT, SET_NODEPORTS, THEN_VMAP, NULL);
}

/*
 * After DNAT: record the endpoint of a new connection to an affinity
 * Service. A port that is no NodePort's ends the search (the common case:
 * a lookup in the small nodeport_ports set, where service_ports holds every
 * Service address:port and is a cache miss per new connection at scale);
 * then a known Service address without affinity does, so what remains (a
 * DNATed local address) is a NodePort.
 * affinity_record: ct original daddr . l4proto . ct original proto-dst vmap @affinity_services
 *                  l4proto . ct original proto-dst != @nodeport_ports return
 *                  ct original daddr . l4proto . ct original proto-dst @service_ports return
 *                  l4proto . ct original proto-dst vmap @affinity_nodeports
 * Verdict maps whose chains DNAT cannot be looked up from a filter chain
 * (the kernel validates their targets for this hook): the plain set
 * service_ports says "a Service address" instead.
 */
/* affinity_record: a rule loading <ct original daddr .> l4proto . ct original proto-dst */
static struct nftnl_rule *affinity_record_rule(struct nft_txn *t, bool with_addr)
{
	int fam = t->nl->family;
	uint32_t off = with_addr ? (uint32_t)nft_addr_len(fam) : 0;
	struct nftnl_rule *r = rule_new(t, "affinity_record");

	if (with_addr)
		rule_ct_orig(r, fam == AF_INET6 ? NFT_CT_DST_IP6 : NFT_CT_DST_IP, NFT_REG_1);
	rule_meta_load(r, NFT_META_L4PROTO, rule_creg(off));
	rule_ct_orig(r, NFT_CT_PROTO_DST, rule_creg(off + 4));
	return r;
}

static void put_affinity_record(struct nft_txn *t)
{
	struct nftnl_rule *r;

	put_chain(t, "affinity_record");
	r = affinity_record_rule(t, true);
	rule_lookup_map(r, SET_AFFINITY_SERVICES, NFT_REG_1, NFT_REG_VERDICT);
	rule_add(t, r);
	r = affinity_record_rule(t, false);
	rule_lookup_not(r, SET_NODEPORT_PORTS, NFT_REG_1);
	rule_verdict(r, NFT_RETURN, NULL);
	rule_add(t, r);
	r = affinity_record_rule(t, true);
	rule_lookup(r, SET_SERVICE_PORTS, NFT_REG_1);
	rule_verdict(r, NFT_RETURN, NULL);
	rule_add(t, r);
	r = affinity_record_rule(t, false);
	rule_lookup_map(r, SET_AFFINITY_NODEPORTS, NFT_REG_1, NFT_REG_VERDICT);
	rule_add(t, r);
}

/*
 * chain nat_prerouting { type nat hook prerouting priority -100; jump services }  (inbound)
 * chain nat_output { type nat hook output priority -100; jump services }          (output)
 * chain nat_postrouting { type nat hook postrouting priority 100;                 (either)
 *     ct status dnat ip saddr . ip daddr @hairpin masquerade
 *     meta mark & 0x4000 != 0 meta mark set mark & ~0x4000 masquerade fully-random }
 */
static void put_nat_hooks(struct nft_txn *t, unsigned paths)
{
	static const char *const svc[] = {"services", NULL};
	int fam = t->nl->family;
	uint32_t al = (uint32_t)nft_addr_len(fam);
	uint32_t bit = NFT_MASQ_MARK, all = 0xffffffffu;
	struct nftnl_rule *r;

	if (paths & NFT_PATH_INBOUND)
		put_base_chain_jump(t, "nat_prerouting", "nat", NF_INET_PRE_ROUTING, -100, svc,
		                    false);
	if (paths & NFT_PATH_OUTPUT)
		put_base_chain_jump(t, "nat_output", "nat", NF_INET_LOCAL_OUT, -100, svc, false);
	if (!(paths & (NFT_PATH_INBOUND | NFT_PATH_OUTPUT)))
		return;

	/* postrouting: hairpin (a pod reaching itself) and marked traffic */
	put_chain_hook(t, "nat_postrouting", "nat", NF_INET_POST_ROUTING, 100);
	r = rule_new(t, "nat_postrouting");
	rule_ct_load(r, NFT_CT_STATUS, NFT_REG_1);
	rule_bits_set(r, NFT_REG_1, IPS_DST_NAT);
	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_saddr_off(fam), al, NFT_REG_1);
	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_daddr_off(fam), al, rule_creg(al));
	rule_lookup(r, SET_HAIRPIN, NFT_REG_1);
	rule_masq(r, 0);
	rule_add(t, r);

	r = rule_new(t, "nat_postrouting");
	rule_meta_load(r, NFT_META_MARK, NFT_REG_1);
	rule_bits_set(r, NFT_REG_1, NFT_MASQ_MARK);
	rule_meta_load(r, NFT_META_MARK, NFT_REG_1);
	rule_bitwise(r, NFT_REG_1, &all, &bit, 4); /* clear our bit */
	rule_meta_set(r, NFT_META_MARK, NFT_REG_1);
	rule_masq(r, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
	rule_add(t, r);
}

/*
 * The filter checks that the chains of put_filter_hooks() jump to.
 * endpoints_check:       <key3> @drop_endpoints drop
 *                        <key3> @no_endpoints reject
 * endpoints_check_local: ip daddr @cluster_ips <key3> @drop_endpoints drop
 *                        <key3> @no_endpoints reject
 * nodeport_check:        <key2> @nodeport_drop drop
 *                        <key2> @nodeport_ports reject
 * cluster_ips_check:     ip daddr @cluster_ips reject
 * firewall_check:        <key3> @firewall <key3> . ip saddr != @firewall_allow drop
 */
static void put_endpoint_checks(struct nft_txn *t)
{
	int fam = t->nl->family;
	uint32_t al = (uint32_t)nft_addr_len(fam);
	struct nftnl_rule *r;

	/* no endpoint: reject (ICMP port unreachable); Local policy, none here: drop */
	put_chain(t, "endpoints_check");
	put_set_rule(t, "endpoints_check", FROM_ANY, KEY_APT, SET_DROP_ENDPOINTS, THEN_DROP, NULL);
	put_set_rule(t, "endpoints_check", FROM_ANY, KEY_APT, SET_NO_ENDPOINTS, THEN_REJECT, NULL);
	/*
	 * From the node itself, before its DNAT (output -110 < -100): only the
	 * ClusterIP drops apply; eTP=Local external IPs short-circuit to every
	 * endpoint for the node, as for pods.
	 */
	put_chain(t, "endpoints_check_local");
	r = rule_new(t, "endpoints_check_local");
	rule_load_addr(r, fam, false);
	rule_lookup(r, SET_CLUSTER_IPS, NFT_REG_1);
	rule_load_key3(r, fam);
	rule_lookup(r, SET_DROP_ENDPOINTS, NFT_REG_1);
	rule_verdict(r, NF_DROP, NULL);
	rule_add(t, r);
	put_set_rule(t, "endpoints_check_local", FROM_ANY, KEY_APT, SET_NO_ENDPOINTS, THEN_REJECT,
	             NULL);
	/* a NodePort that was not DNATed here (no endpoint, loopback, other address) */
	put_chain(t, "nodeport_check");
	put_set_rule(t, "nodeport_check", FROM_ANY, KEY_PT, SET_NODEPORT_DROP, THEN_DROP, NULL);
	put_set_rule(t, "nodeport_check", FROM_ANY, KEY_PT, SET_NODEPORT_PORTS, THEN_REJECT, NULL);
	put_chain(t, "cluster_ips_check");
	r = rule_new(t, "cluster_ips_check");
	rule_load_addr(r, fam, false);
	rule_lookup(r, SET_CLUSTER_IPS, NFT_REG_1);
	rule_reject(r, fam);
	rule_add(t, r);
	/* LoadBalancer source ranges, before DNAT */
	put_chain(t, "firewall_check");
	r = rule_new(t, "firewall_check");
	rule_load_key3(r, fam);
	rule_lookup(r, SET_FIREWALL, NFT_REG_1);
	rule_payload(r, NFT_PAYLOAD_NETWORK_HEADER, rule_saddr_off(fam), al, rule_creg(al + 8));
	rule_lookup_not(r, SET_FIREWALL_ALLOW, NFT_REG_1);
	rule_verdict(r, NF_DROP, NULL);
	rule_add(t, r);
}

/*
 * post_dnat:          ct status dnat goto affinity_record
 *                     jump endpoints_check
 *                     jump cluster_ips_check
 * post_dnat_local:    the same without endpoints_check (the node's own
 *                     traffic had endpoints_check_local before its DNAT)
 * nodeport_check_new: ct status dnat return
 *                     goto nodeport_check
 * After DNAT, before routing. A DNATed connection only has its affinity
 * recorded; what still goes to a Service address was not DNATed: no
 * endpoint (reject or drop), or no such port. Only what was not DNATed
 * counts as addressed to a NodePort.
 */
static void put_post_dnat_checks(struct nft_txn *t)
{
	for (int local = 0; local < 2; local++) {
		const char *chain = local ? "post_dnat_local" : "post_dnat";

		put_chain(t, chain);
		put_if_dnat(t, chain, NFT_GOTO, "affinity_record");
		if (!local)
			put_jump(t, chain, NFT_JUMP, "endpoints_check");
		put_jump(t, chain, NFT_JUMP, "cluster_ips_check");
	}

	put_chain(t, "nodeport_check_new");
	put_if_dnat(t, "nodeport_check_new", NFT_RETURN, NULL);
	put_jump(t, "nodeport_check_new", NFT_GOTO, "nodeport_check");
}

/*
 * The filter base chains, new connections only (ct state new):
 * filter_prerouting            prerouting -110  jump firewall_check         (inbound)
 * filter_prerouting_post_dnat  prerouting  -90  jump post_dnat              (inbound)
 * filter_input                 input      -110  jump nodeport_check_new     (inbound)
 * filter_output                output     -110  jump endpoints_check_local  (output)
 * filter_output_post_dnat      output      -90  jump post_dnat_local        (output)
 * Checking before routing keeps the verdict independent of the node's routes.
 */
static void put_filter_hooks(struct nft_txn *t, unsigned paths)
{
	static const char *const pre[] = {"firewall_check", NULL};
	static const char *const pre_post[] = {"post_dnat", NULL};
	static const char *const in[] = {"nodeport_check_new", NULL};
	static const char *const out[] = {"endpoints_check_local", NULL};
	static const char *const post[] = {"post_dnat_local", NULL};

	if (paths & NFT_PATH_INBOUND) {
		put_base_chain_jump(t, "filter_prerouting", "filter", NF_INET_PRE_ROUTING, -110,
		                    pre, true);
		put_base_chain_jump(t, "filter_prerouting_post_dnat", "filter", NF_INET_PRE_ROUTING,
		                    -90, pre_post, true);
		put_base_chain_jump(t, "filter_input", "filter", NF_INET_LOCAL_IN, -110, in, true);
	}
	if (!(paths & NFT_PATH_OUTPUT))
		return;
	put_base_chain_jump(t, "filter_output", "filter", NF_INET_LOCAL_OUT, -110, out, true);
	/* after DNAT: what is still addressed to a ClusterIP had no such port */
	put_base_chain_jump(t, "filter_output_post_dnat", "filter", NF_INET_LOCAL_OUT, -90, post,
	                    true);
}

/*
 * The paths (nft_layout.h) decide the hooks and the ClusterIP dispatch;
 * the sets are always there, so the read-back and the element diff never
 * depend on them. With no path at all (beside bpf, TCP/UDP ClusterIPs
 * only) no rule holds a ct or nat expression either: making one switches
 * connection tracking on for the whole namespace (nf_ct_netns_get()), and
 * every packet the node forwards would pay for it with no rule to use it.
 */
void nft_ruleset_put(struct nft_txn *t, const struct nft_ruleset_cfg *c)
{
	unsigned paths = c->o.paths;
	bool tracked = paths != 0;

	put_table(t, NFT_MSG_NEWTABLE, c->comment);
	put_sets(t, c);
	put_mark_masq(t);
	put_chain(t, "services");
	put_chain(t, "nodeports");
	if (paths & NFT_PATH_CLUSTER)
		put_chain(t, "masq_check");
	put_affinity_map(t);
	if (paths & NFT_PATH_CLUSTER)
		put_cluster_ip_path(t, c);
	put_external_marks(t, c, tracked);
	put_dispatch(t, c);
	if (tracked)
		put_affinity_record(t);
	put_nat_hooks(t, paths);
	put_endpoint_checks(t);
	if (tracked)
		put_post_dnat_checks(t);
	put_filter_hooks(t, paths);
}
