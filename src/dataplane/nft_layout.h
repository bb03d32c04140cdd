/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft_layout.h - the bytes of svcproxy's nftables table: one contract.
 *
 * Everything that writes or reads the table agrees through this header:
 * the ruleset builder, the renderer, the kernel read-back, the sync engine,
 * and `svcproxy show` / `svcproxy trace`, which walk what the kernel holds.
 *
 * Sets and maps (enum nft_set_id), their keys and values. Fields of a
 * concatenation are padded to 4 bytes, as the kernel holds them in its
 * registers; addresses and ports in network byte order, the numgen slot in
 * host byte order (numgen writes it so):
 *
 *   A   address (4 or 16 bytes)        P   l4proto (1 byte, padded to 4)
 *   T   port (2 bytes, padded to 4)    S   numgen slot (u32, host order)
 *   R   source range (an address; the interval's end is the element's data)
 *   dest (a backend): A . T
 *   verdict: nft_lb_pack(kind, k) = kind << 24 | k, which is rendered as
 *            "goto <prefix>_<k>" (chain of that lb kind, k endpoints)
 *
 * The table comment names the layout version and the options baked into
 * the rules, so a table built by another version or with other options is
 * rebuilt, and trace knows the options without being told:
 *
 *   "svcproxy layout 8; masquerade-all no; cluster-cidr 10.244.0.0/16; nodeport-addresses ..."
 *
 * beside the bpf dataplane, followed by "; scope entering; paths inbound" (nft_scope).
 */
#ifndef SVCPROXY_NFT_LAYOUT_H
#define SVCPROXY_NFT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/bytemap.h"

#define NFT_TABLE_NAME "svcproxy"
/* Layout version: bump when chains, rules or set types change. */
#define NFT_LAYOUT_VERSION 8
/* the longest key and value of our sets and maps, in bytes */
#define NFT_MAX_KEY   64
#define NFT_MAX_DATA  32
#define NFT_MASQ_MARK 0x4000u

/*
 * Our sets and maps. Those before SET_COUNT hold the Service-dependent
 * content (one bytemap each in struct nft_sets); the others are fixed by
 * the options (the CIDR sets) or filled by the kernel (@affinity).
 */
enum nft_set_id {
	SET_CLUSTER_IPS,         /* A                 ClusterIPs */
	SET_NO_ENDPOINTS,        /* A.P.T             no endpoint: reject */
	SET_DROP_ENDPOINTS,      /* A.P.T             none allowed by a Local policy: drop */
	SET_CLUSTER_IP_PORTS,    /* A.P.T -> verdict  goto cip_<k> / cipa_<k>: ClusterIPs */
	SET_SERVICE_IPS,         /* A.P.T -> verdict  goto lb_<k>: external IPs, LB IPs */
	SET_SERVICE_IPS_CLUSTER, /* A.P.T -> verdict  eTP=Local, from pods or the node */
	SET_BACKENDS,            /* A.P.T.S -> A.T    what the policy allows */
	SET_BACKENDS_CLUSTER,    /* A.P.T.S -> A.T    every endpoint (eTP=Local short-circuit) */
	SET_EXTERNAL_MASQ,       /* A.P.T             external IPs of eTP=Cluster Services */
	SET_NODEPORTS,           /* P.T -> verdict    goto np_<k> */
	SET_NODEPORTS_CLUSTER,   /* P.T -> verdict    goto npc_<k> */
	SET_NP_BACKENDS,         /* P.T.S -> A.T */
	SET_NP_BACKENDS_CLUSTER, /* P.T.S -> A.T */
	SET_NODEPORT_MASQ,       /* P.T               eTP=Cluster NodePorts */
	SET_NODEPORT_PORTS,      /* P.T               every NodePort (not served: reject) */
	SET_NODEPORT_DROP,       /* P.T               no local endpoint under eTP=Local */
	SET_FIREWALL,            /* A.P.T             LoadBalancer IPs with source ranges */
	SET_FIREWALL_ALLOW,      /* A.P.T.R interval  allowed sources */
	SET_HAIRPIN,             /* A.A               endpoint reaching itself */
	SET_AFFINITY_SERVICES,   /* A.P.T -> verdict  jump aff_<timeout>: sessionAffinity */
	SET_AFFINITY_NODEPORTS,  /* P.T -> verdict    the same for NodePorts */
	SET_SERVICE_PORTS,       /* A.P.T             every ClusterIP / external address:port */
	SET_COUNT,
	SET_CLUSTER_CIDRS = SET_COUNT, /* A interval, constant: --cluster-cidr */
	SET_NODEPORT_CIDRS,            /* A interval, constant: --nodeport-addresses */
	SET_AFFINITY,                  /* A.A.P.T -> A.T, timeouts: filled by the kernel */
	SET_ALL
};

/* What a set's key is made of (see the letters above). */
enum nft_key_kind { K_A, K_APT, K_APTS, K_PT, K_PTS, K_AA, K_APTR, K_AAPT };
/* What its elements carry beside the key. */
enum nft_data_kind { D_NONE, D_VERDICT, D_DEST, D_RANGE_END };

struct nft_set_spec {
	const char *name;
	enum nft_key_kind key;
	enum nft_data_kind data;
};

const struct nft_set_spec *nft_set_spec(enum nft_set_id id);
const char *nft_set_name(enum nft_set_id id);

size_t nft_addr_len(int family);
/* Bytes of a key of this kind, and of the data of set id, for this family. */
uint32_t nft_key_len(enum nft_key_kind k, int family);
uint32_t nft_data_len(enum nft_set_id id, int family);

/* ---- keys and values ---------------------------------------------------- */

/* A.P.T (al + 8 bytes) and P.T (8 bytes) keys. */
void nft_key_apt(int family, uint8_t *k, const struct ipaddr *a, uint8_t proto, uint16_t port);
void nft_key_pt(uint8_t *k, uint8_t proto, uint16_t port);
void nft_key_decode(int family, const uint8_t *key, struct ipaddr *addr, uint8_t *proto,
                    uint16_t *port);
/* Decode a P.T key (NodePort sets). */
void nft_np_key_decode(const uint8_t *key, uint8_t *proto, uint16_t *port);
/* A backend, A.T (al + 4 bytes). */
void nft_dest_encode(int family, uint8_t *d, const struct ipaddr *a, uint16_t port);
void nft_dest_decode(int family, const uint8_t *d, struct ipaddr *a, uint16_t *port);
/* "10.0.0.1:80" or "[fd00::1]:80" into buf (IPADDR_STRLEN + 8 bytes). */
const char *nft_dest_str(int family, const uint8_t *d, char *buf, size_t size);
/* The first and last address of c, written at dst and dst_end (al bytes each). */
void nft_cidr_bounds(const struct cidr *c, size_t al, uint8_t *dst, uint8_t *dst_end);

/* ---- lb chains: what verdict map elements jump to ----------------------- */

/* Chain families that vmap elements jump to: <prefix>_<k>. */
enum nft_lb_kind {
	LB_SERVICE = 0,
	LB_SERVICE_CLUSTER,
	LB_NODEPORT,
	LB_NODEPORT_CLUSTER,
	LB_AFFINITY,            /* aff_<seconds>: records the client's endpoint for that long */
	LB_CLUSTER_IP,          /* cip_<k>: a ClusterIP's masquerade check, then lb */
	LB_CLUSTER_IP_AFFINITY, /* cipa_<k>: the same, a known client first to its endpoint */
	LB_KINDS
};
/* The largest k (endpoints, or affinity seconds) a verdict can carry. */
#define NFT_LB_MAX_K 0xffffffu

/* The chain name prefix of a kind ("lb", ...) and the map its chains DNAT through. */
const char *nft_lb_prefix(enum nft_lb_kind kind);
enum nft_set_id nft_lb_map(enum nft_lb_kind kind);
/* True for the kinds whose chains read a P.T.S map (NodePorts). */
bool nft_lb_nodeport(enum nft_lb_kind kind);

/* Verdict element data: kind << 24 | k. */
static inline uint32_t nft_lb_pack(enum nft_lb_kind kind, uint32_t k)
{
	return (uint32_t)kind << 24 | (k & NFT_LB_MAX_K);
}

/* Decode the 4 data bytes of a verdict element. */
void nft_lb_unpack(const uint8_t *data, enum nft_lb_kind *kind, uint32_t *k);
/* "lb_3" into buf; the name of the chain a verdict jumps to. */
const char *nft_lb_chain_name(enum nft_lb_kind kind, uint32_t k, char *buf, size_t size);
/* "lbc_12" -> LB_SERVICE_CLUSTER, 12. False for other names. */
bool nft_lb_chain_parse(const char *name, enum nft_lb_kind *kind, uint32_t *k);

/* ---- the Service-dependent content ------------------------------------- */

struct nft_sets {
	int family;
	char layout[256]; /* the table comment, by nft_read_sets(): layout and options */
	struct bytemap s[SET_COUNT];
	/*
	 * cluster_ips and hairpin elements are shared (by the ports of a
	 * Service, by Services with the same endpoint): how many entries
	 * put each one there, so an incremental sync knows when one goes.
	 */
	struct bytemap refs_cluster_ips, refs_hairpin; /* key -> u32 count */
};

void nft_sets_init(struct nft_sets *s, int family);
void nft_sets_free(struct nft_sets *s);
/* The reference counts of a shared set (cluster_ips, hairpin), or NULL for the others. */
struct bytemap *nft_sets_refs(struct nft_sets *s, enum nft_set_id id);

/*
 * The slots of one verdict element: its k backends, read from the map its
 * chain DNATs through. nft_slots_begin() prepares the walk over element vi
 * of vmap (a set of s); nft_slot() returns the backend element of a slot
 * in it->map, or -1 when the kernel lacks it.
 *
 *     for (nft_slots_begin(&it, s, vmap, vi), slot = 0; slot < it.k; slot++)
 *             if ((bi = nft_slot(&it, slot)) >= 0) ... bytemap_data(it.map, bi) ...
 */
struct nft_slots {
	enum nft_lb_kind kind;
	uint32_t k;                /* slots */
	const struct bytemap *map; /* the backends map */
	uint32_t klen;             /* of the vmap key; the slot follows it */
	uint8_t key[NFT_MAX_KEY];
};
void nft_slots_begin(struct nft_slots *it, const struct nft_sets *s, const struct bytemap *vmap,
                     size_t vi);
long nft_slot(struct nft_slots *it, uint32_t slot);

/* ---- scope and paths ---------------------------------------------------- */

/*
 * What the table serves. NFT_SCOPE_ALL: every Service address, whoever
 * sends to it (the nft dataplane). NFT_SCOPE_ENTERING: beside the bpf
 * dataplane, whose socket programs translate every TCP and UDP connect
 * made on the node (its processes and its pods) to any Service address:
 * the table keeps only what they cannot see, packets entering the node
 * from elsewhere to NodePorts, externalIPs and LoadBalancer IPs, and SCTP,
 * which they do not handle. TCP and UDP ClusterIPs are not in it: nothing
 * DNATs them any more (ClusterIPs are not served to other hosts, as with
 * Cilium's kube-proxy replacement by default).
 */
enum nft_scope { NFT_SCOPE_ALL = 0, NFT_SCOPE_ENTERING };

/*
 * The paths of the table: which base chains (hooks) and dispatch rules it
 * has. With NFT_SCOPE_ALL every path, always; with NFT_SCOPE_ENTERING those
 * its entries need (nft_scope_paths()), so that with only TCP/UDP
 * ClusterIPs the table registers no hook at all, and a NodePort adds the
 * inbound path alone. A change of paths is a change of layout: the table
 * is rebuilt in one transaction (only when Services come or go across
 * these lines, never for an endpoint change).
 */
enum {
	NFT_PATH_CLUSTER = 0x1, /* services: <key3> vmap @cluster_ip_ports, masq_check */
	NFT_PATH_INBOUND = 0x2, /* nat prerouting/postrouting, filter prerouting/input */
	NFT_PATH_OUTPUT = 0x4,  /* nat output, filter output: the node's own connections */
	NFT_PATHS_ALL = 0x7,
};
/* Which entries a table of a scope holds, and the paths they need: nft_render.h. */

/* ---- the table comment -------------------------------------------------- */

struct nft_layout_opts {
	enum nft_scope scope;
	unsigned paths; /* NFT_PATH_*: what the comment says the table has */
	bool masquerade_all;
	const struct cidr *cluster_cidrs; /* of any family; only this family's count */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs; /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
};

/*
 * Write the comment of a table of this family built with these options
 * into buf. Returns 0, or -EINVAL when it does not fit.
 */
int nft_layout_comment(char *buf, size_t size, int family, const struct nft_layout_opts *o);

/*
 * Read the options back from a table comment. The CIDR arrays are
 * malloc'd (free with nft_layout_parsed_free()). Returns 0, or -EINVAL
 * when comment is not one of our layout's (another version included).
 */
struct nft_layout_parsed {
	int version;
	enum nft_scope scope;
	unsigned paths; /* NFT_PATHS_ALL when the comment names none (scope all) */
	bool masquerade_all;
	struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	struct cidr *nodeport_cidrs;
	size_t n_nodeport_cidrs;
};
int nft_layout_parse(const char *comment, struct nft_layout_parsed *out);
void nft_layout_parsed_free(struct nft_layout_parsed *p);

#endif
