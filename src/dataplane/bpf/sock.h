/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sock.h - the maps shared by the socket-level programs (sock.bpf.c) and
 * the loader (bpf_dp.c): one definition of every key and value.
 *
 * Addresses are 16 bytes for both families (IPv4 in addr[0]), ports in
 * network byte order, family 4 or 6. Every struct is padded explicitly:
 * the kernel hashes keys as raw bytes, so no byte may be left undefined.
 *
 *   sp_services4 svc4_key -> svc4_val    one per IPv4 Service address:port/proto,
 *                                       with its slots when they fit (SP_INLINE)
 *   sp_services6 svc_key -> svc_val      the same for IPv6
 *   sp_slots     slot_key -> backend     slots 0..count-1 of a Service with more
 *   sp_node_addrs node_key -> __u32 (1)  the node addresses NodePorts are served on
 *   sp_filter    0 -> filter             hashed bits of the prefixes of sp_services4/6'
 *                                       addresses and of sp_node_addrs' addresses
 *   sp_affinity  aff_key -> aff_val      sessionAffinity ClientIP (LRU)
 *   sp_conn_slots cookie % N -> conn     a connected socket's endpoint and Service,
 *                                       in the slot of its cookie (array), freed
 *                                       when the socket is released
 *   sp_sock      socket -> sock_val      the same in socket storage, when that slot
 *                                       is taken (lives and dies with the socket)
 *   sp_revnat    rev_key -> rev_val      backend -> Service, per unconnected UDP
 *                                       socket and peer (LRU)
 *   sp_stats     per-CPU counters, SP_STAT_*
 *
 * A NodePort is a Service entry whose address is all zeros ("every node
 * address", as Cilium's wildcard entries): a connect to an address of
 * sp_node_addrs that matches no entry of its own is looked up again with
 * the address zeroed. The loader fills sp_node_addrs with the node's
 * addresses that --nodeport-addresses allows, never loopback (kube-proxy's
 * nftables mode serves no localhost NodePort).
 *
 * sp_filter spares the connects the programs leave alone (pod to pod, to
 * the outside: most of those they see) the Service map lookup, which at
 * 10k Services misses the caches: an address whose two bits are clear
 * (sp_filter_prefix_bit, sp_filter_addr_bit) is no Service's and no
 * node's. The loader sets a bit before the first entry under it is
 * written and clears it after the last is deleted, so the filter never
 * hides an entry; at start it sets every bit until the first sync has
 * written the filter of the maps' content.
 *
 * A Service of at most SP_INLINE endpoints holds its slots in its own
 * entry (inl): a connect then costs one hash lookup, not two (the second,
 * in a table of a million buckets, was a cache and TLB miss on every
 * connect). A larger one has SP_F_SLOTS and its slots in sp_slots.
 *
 * IPv4 Services have a map of their own with a dense layout, because at
 * 10k Services the lookup's cache misses are most of what a translated
 * connect costs: an 8-byte key fits the element's first cache line with
 * the hash map's own header, and the 8-byte endpoints put up to 6 of them
 * in the next line, with count and flags (sp_svc4_val). The loader keeps
 * one picture of both families (sp_svc_key, sp_svc_val) and converts at
 * the map (sp_svc4_pack, sp_svc4_unpack).
 *
 * Update order (the loader's contract): slots are written before the
 * Service entry that makes them visible (count, SP_F_SLOTS) and deleted
 * after it stops doing so, so a program never reads a slot that is not
 * there. An entry with inline slots is replaced whole by one update (the
 * hash map links a new element; readers see the old or the new one).
 */
#ifndef SVCPROXY_BPF_SOCK_H
#define SVCPROXY_BPF_SOCK_H

#include <linux/types.h>

#define SP_MAX_SERVICES   262144
#define SP_MAX_SLOTS      1048576
#define SP_INLINE         16 /* slots held in the Service entry; a power of 2 */
#define SP_MAX_AFFINITY   65536
#define SP_MAX_REVNAT     131072
#define SP_MAX_CONNS      65536 /* sp_conn_slots; a power of 2 */
#define SP_MAX_NODE_ADDRS 4096
#define SP_FILTER_BITS    131072 /* 65536 for IPv4, then 65536 for IPv6 */

/* svc_val.flags */
#define SP_F_REJECT   0x1 /* no endpoint at all: connect/sendmsg fail with ECONNREFUSED */
#define SP_F_AFFINITY 0x2 /* sessionAffinity: ClientIP, affinity_timeout seconds */
#define SP_F_SLOTS    0x4 /* slots in sp_slots, not inl: more than SP_INLINE */
/*
 * count 0 without SP_F_REJECT: endpoints exist, none allowed here by a Local
 * policy (internalTrafficPolicy: Local). nftables drops such packets; a
 * socket program cannot drop a connect, so it fails with EHOSTUNREACH.
 */

struct sp_svc_key {
	__u32 addr[4];
	__u16 port;
	__u8 proto; /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 family;
};

struct sp_backend {
	__u32 addr[4];
	__u16 port;
	__u8 family;
	__u8 pad;
};

struct sp_svc_val {
	__u32 id; /* names the Service's slots and affinity entries */
	__u16 count;
	__u16 flags;
	__u32 affinity_timeout;           /* seconds */
	struct sp_backend inl[SP_INLINE]; /* slots 0..count-1 without SP_F_SLOTS; rest zero */
};

/* sp_services4: an IPv4 Service (family 4 implied), its inline slots 8 bytes each. */
struct sp_svc4_key {
	__u32 addr;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct sp_backend4 {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

struct sp_svc4_val {
	__u32 id;
	__u16 count;
	__u16 flags;
	__u32 affinity_timeout;
	__u32 pad;                         /* inl 8-byte aligned: no slot straddles two lines */
	struct sp_backend4 inl[SP_INLINE]; /* as sp_svc_val's */
};

struct sp_node_key {
	__u32 addr[4];
	__u8 family;
	__u8 pad[3];
};

struct sp_slot_key {
	__u32 svc_id;
	__u32 slot;
};

/* The client is its network namespace: the connect hook runs before a source address exists. */
struct sp_aff_key {
	__u64 netns_cookie;
	__u32 svc_id;
	__u32 pad;
};

struct sp_aff_val {
	struct sp_backend backend; /* valid while slot still holds it */
	__u32 slot;
	__u64 last_ns; /* bpf_ktime_get_ns() of the last use */
};

struct sp_rev_key {
	__u64 cookie; /* the socket's */
	struct sp_backend backend;
	__u32 pad; /* to the 8-byte alignment, so no key byte is left undefined */
};

struct sp_rev_val {
	__u32 addr[4];
	__u16 port;
	__u8 family;
	__u8 pad;
};

/*
 * A socket connect() sent to an endpoint: getpeername() and recvmsg() put
 * the Service address back while the peer is that endpoint.
 */
struct sp_sock_val {
	struct sp_backend backend;
	struct sp_rev_val svc;
};

/* A slot of sp_conn_slots: the socket that owns it (its cookie; 0: free) and its sock_val. */
struct sp_conn {
	__u64 cookie;
	struct sp_sock_val v;
};

/* sp_filter's one value: the bits of the addresses that may be looked up (sp_filter_*_bit). */
struct sp_filter {
	__u64 w[SP_FILTER_BITS / 64];
};

#ifndef __bpf__
/* An IPv4 Service (k->family 4) in sp_services4's layout. */
static inline void sp_svc4_pack(const struct sp_svc_key *k, const struct sp_svc_val *v,
                                struct sp_svc4_key *k4, struct sp_svc4_val *v4)
{
	*k4 = (struct sp_svc4_key){.addr = k->addr[0], .port = k->port, .proto = k->proto};
	if (!v)
		return;
	*v4 = (struct sp_svc4_val){.id = v->id,
	                           .count = v->count,
	                           .flags = v->flags,
	                           .affinity_timeout = v->affinity_timeout};
	for (unsigned i = 0; i < SP_INLINE; i++)
		v4->inl[i] =
		    (struct sp_backend4){.addr = v->inl[i].addr[0], .port = v->inl[i].port};
}

/* The other way; an empty slot (inl[i] all zero) stays all zero. */
static inline void sp_svc4_unpack(const struct sp_svc4_key *k4, const struct sp_svc4_val *v4,
                                  struct sp_svc_key *k, struct sp_svc_val *v)
{
	*k = (struct sp_svc_key){
	    .addr = {k4->addr}, .port = k4->port, .proto = k4->proto, .family = 4};
	if (!v4)
		return;
	*v = (struct sp_svc_val){.id = v4->id,
	                         .count = v4->count,
	                         .flags = v4->flags,
	                         .affinity_timeout = v4->affinity_timeout};
	for (unsigned i = 0; i < SP_INLINE; i++)
		if (v4->inl[i].addr || v4->inl[i].port)
			v->inl[i] = (struct sp_backend){
			    .addr = {v4->inl[i].addr}, .port = v4->inl[i].port, .family = 4};
}
#endif

static inline __u32 sp_be32(const __u8 *b)
{
	return (__u32)b[0] << 24 | (__u32)b[1] << 16 | (__u32)b[2] << 8 | b[3];
}

/*
 * The bits of sp_filter for an address (family 4: addr[0]; 6: addr[0..3];
 * network order), hashed to 16 bits, IPv6's in the upper half: its
 * prefix's, set for a Service address (an IPv4 /24, an IPv6 /64:
 * ClusterIPs are dense in the service range, so 50k Services still set few
 * bits), and its own, set for a node address (NodePorts; the node's
 * address shares its /24 with the node's pods, which its prefix's bit
 * would let through).
 */
static inline __u32 sp_filter_prefix_bit(const __u32 *addr, __u8 family)
{
	const __u8 *b = (const __u8 *)addr;

	if (family == 4)
		return ((sp_be32(b) >> 8) * 0x9e3779b1u) >> 16;
	return 65536 + (((sp_be32(b) ^ sp_be32(b + 4) * 0x9e3779b1u) * 0x85ebca6bu) >> 16);
}

static inline __u32 sp_filter_addr_bit(const __u32 *addr, __u8 family)
{
	const __u8 *b = (const __u8 *)addr;
	__u32 h;

	if (family == 4)
		return (sp_be32(b) * 0x85ebca6bu) >> 16;
	h = sp_be32(b) ^ sp_be32(b + 4) * 0x9e3779b1u;
	h = (h ^ sp_be32(b + 8)) * 0x85ebca6bu;
	return 65536 + (((h ^ sp_be32(b + 12)) * 0xc2b2ae35u) >> 16);
}

/* Whether bit is set in f (the word index masked: the verifier wants it in range). */
static inline int sp_filter_test(const struct sp_filter *f, __u32 bit)
{
	return (f->w[(bit / 64) & (SP_FILTER_BITS / 64 - 1)] >> (bit % 64)) & 1;
}

/* Whether f lets a connect to addr be looked up: either of its two bits is set. */
static inline int sp_filter_lets(const struct sp_filter *f, const __u32 *addr, __u8 family)
{
	return sp_filter_test(f, sp_filter_prefix_bit(addr, family)) ||
	       sp_filter_test(f, sp_filter_addr_bit(addr, family));
}

enum sp_stat {
	SP_STAT_CONNECT = 0, /* connects translated */
	SP_STAT_SENDMSG,     /* datagrams translated */
	SP_STAT_REFUSED,     /* refused: no endpoint, or none allowed here */
	SP_STAT_AFFINITY,    /* sessionAffinity hits */
	SP_STAT_REVNAT,      /* recvmsg/getpeername addresses restored */
	SP_STAT_COUNT
};

#endif
