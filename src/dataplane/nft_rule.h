/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_rule.h - the vocabulary the ruleset is written in (libnftnl).
 *
 * rule_new(), then rule_* expressions, then rule_add() appends the rule
 * to its chain in the batch and frees it. Registers: a concatenation is
 * loaded from NFT_REG_1 on, rule_creg(off) naming the 32-bit register at
 * byte offset off, as nft does. Each function says what it matches or
 * does in nft syntax.
 */
#ifndef SVCPROXY_NFT_RULE_H
#define SVCPROXY_NFT_RULE_H

#include <stdio.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/nft_layout.h"
#include "dataplane/nft_nl.h"

/* A rule of our table, for chain, in t's family. */
struct nftnl_rule *rule_new(struct nft_txn *t, const char *chain);
/* Append r to its chain in the batch, and free it. */
void rule_add(struct nft_txn *t, struct nftnl_rule *r);
/* Add an expression of this type to r. */
struct nftnl_expr *rule_expr(struct nftnl_rule *r, const char *name);

/* Header field offsets of the family, and the register at concatenation offset off. */
uint32_t rule_daddr_off(int family);
uint32_t rule_saddr_off(int family);
uint32_t rule_creg(size_t off);

/* Plain loads and tests. */
void rule_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg);
void rule_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void rule_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg);
void rule_ct_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
/* ct original <key> (after DNAT: what the client addressed) */
void rule_ct_orig(struct nftnl_rule *r, uint32_t key, uint32_t dreg);
void rule_bitwise(struct nftnl_rule *r, uint32_t reg, const void *mask, const void * xor,
                  uint32_t len);
void rule_cmp(struct nftnl_rule *r, uint32_t reg, uint32_t op, const void *data, uint32_t len);
/* (reg & bits) != 0 on a 32-bit register; bits in host byte order */
void rule_bits_set(struct nftnl_rule *r, uint32_t reg, uint32_t bits);

/* <key> @set */
void rule_lookup(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg);
/* <key> != @set */
void rule_lookup_not(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg);
/* <key> map @set (into dreg; NFT_REG_VERDICT: vmap) */
void rule_lookup_map(struct nftnl_rule *r, enum nft_set_id set, uint32_t sreg, uint32_t dreg);

/* Verdicts and statements. */
void rule_verdict(struct nftnl_rule *r, int verdict, const char *chain); /* accept, jump x.. */
void rule_reject(struct nftnl_rule *r, int family); /* reject (ICMP port unreachable) */
void rule_masq(struct nftnl_rule *r, uint32_t flags);
/* dnat to <addr reg>:<port reg> */
void rule_dnat(struct nftnl_rule *r, int family, uint32_t reg_addr, uint32_t reg_port);

/* Phrases. */
void rule_load_key3(struct nftnl_rule *r, int family); /* ip daddr . meta l4proto . th dport */
void rule_load_key2(struct nftnl_rule *r);             /* meta l4proto . th dport */
void rule_load_addr(struct nftnl_rule *r, int family, bool src); /* ip saddr / ip daddr */
void rule_ct_new(struct nftnl_rule *r);                          /* ct state new */
void rule_mark_masq(struct nftnl_rule *r); /* meta mark set mark | NFT_MASQ_MARK */
/* fib <saddr|daddr> type local */
void rule_fib_local(struct nftnl_rule *r, uint32_t which);
/*
 * The affinity key, ip saddr . <service address> . meta l4proto .
 * <service port>; after DNAT (orig) the service side is ct original's.
 */
void rule_load_affinity_key(struct nftnl_rule *r, int family, bool orig);

#endif
