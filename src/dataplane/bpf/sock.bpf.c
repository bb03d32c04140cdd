/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sock.bpf.c - socket-level load balancing: cgroup sock_addr programs that
 * rewrite a Service address to an endpoint once, in the system call, so
 * the packets leave already addressed to the pod (no NAT, no conntrack
 * entry of ours).
 *
 *   connect4/6      TCP and connected UDP: pick an endpoint, rewrite
 *   sendmsg4/6      unconnected UDP: the same, per datagram
 *   recvmsg4/6      unconnected UDP: replies seem to come from the Service
 *   getpeername4/6  the application sees the Service address it asked for
 *
 * Verdicts: no Service at the address: leave it alone (return 1); most
 * such addresses are told by two bits of sp_filter, without a hash lookup. No
 * endpoint at all: fail with ECONNREFUSED at once (bpf_set_retval, then
 * return 0: the kernel takes our retval instead of EPERM). Endpoints, but
 * none allowed here by a Local policy: fail with EHOSTUNREACH (nftables
 * would drop the packets; a connect cannot be dropped).
 * Service addresses are ClusterIPs, externalIPs, LoadBalancer IPs and, for
 * NodePorts, the node's addresses (sock.h). Only sockets of processes in
 * the attached cgroup (and below) are seen: the node's own and its pods'.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sock.h"

#define SP_ECONNREFUSED 111 /* asm-generic/errno.h */
#define SP_EHOSTUNREACH 113

char LICENSE[] SEC("license") = "GPL";

/* Keys are hashed as raw bytes: a hole the compiler may leave undefined would lose entries. */
_Static_assert(sizeof(struct sp_svc_key) == 20, "sp_svc_key has padding");
_Static_assert(sizeof(struct sp_slot_key) == 8, "sp_slot_key has padding");
_Static_assert(sizeof(struct sp_node_key) == 20, "sp_node_key has padding");
_Static_assert(sizeof(struct sp_backend) == 20, "sp_backend has padding");
_Static_assert(sizeof(struct sp_aff_key) == 16, "sp_aff_key has padding");
_Static_assert(sizeof(struct sp_rev_key) == 32, "sp_rev_key has padding");
_Static_assert(sizeof(struct sp_sock_val) == 40, "sp_sock_val has padding");
_Static_assert(sizeof(struct sp_svc4_key) == 8, "sp_svc4_key has padding");
_Static_assert(sizeof(struct sp_backend4) == 8, "sp_backend4 has padding");
_Static_assert(sizeof(struct sp_svc4_val) == 16 + 8 * SP_INLINE, "sp_svc4_val has padding");
_Static_assert((SP_INLINE & (SP_INLINE - 1)) == 0, "SP_INLINE is a power of 2");
_Static_assert((SP_MAX_CONNS & (SP_MAX_CONNS - 1)) == 0, "SP_MAX_CONNS is a power of 2");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SP_MAX_SERVICES);
	__type(key, struct sp_svc4_key);
	__type(value, struct sp_svc4_val);
} sp_services4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SP_MAX_SERVICES);
	__type(key, struct sp_svc_key);
	__type(value, struct sp_svc_val);
} sp_services6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SP_MAX_NODE_ADDRS);
	__type(key, struct sp_node_key);
	__type(value, __u32);
} sp_node_addrs SEC(".maps");

/* The (hashed) prefixes of Service addresses and the node's addresses: sock.h. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sp_filter);
} sp_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SP_MAX_SLOTS);
	__type(key, struct sp_slot_key);
	__type(value, struct sp_backend);
} sp_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SP_MAX_AFFINITY);
	__type(key, struct sp_aff_key);
	__type(value, struct sp_aff_val);
} sp_affinity SEC(".maps");

/*
 * Connected sockets (TCP, connected UDP) keep their Service in the slot of
 * their cookie (cookie % SP_MAX_CONNS) of a plain array: a connect takes a
 * free slot with one compare-and-swap of its owner (cookie 0: free), and
 * sp_release frees it when the socket goes, so no eviction can lose it while
 * the socket lives. Array lookups are inlined by the verifier: no hashing,
 * no bucket lock and no free list, on the connect and on every socket's
 * release. (A preallocated hash cost ~1-2% of the connection rate at 10k
 * Services in the bench topology against this array; socket storage first,
 * with its allocation and deferred free, ~5%.) A socket whose slot is taken
 * keeps its Service in socket storage instead.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SP_MAX_CONNS);
	__type(key, __u32);
	__type(value, struct sp_conn);
} sp_conn_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sp_sock_val);
} sp_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SP_MAX_REVNAT);
	__type(key, struct sp_rev_key);
	__type(value, struct sp_rev_val);
} sp_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SP_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sp_stats SEC(".maps");

enum { V_PASS, V_REFUSE, V_UNREACH, V_XLATE };

/* The sp_conn_slots slot of a socket's cookie (never NULL: the index is in range). */
static __always_inline struct sp_conn *conn_slot(__u64 cookie)
{
	__u32 i = (__u32)cookie & (SP_MAX_CONNS - 1);

	return bpf_map_lookup_elem(&sp_conn_slots, &i);
}

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&sp_stats, &what);

	if (n)
		(*n)++;
}

static __always_inline int same_backend(const struct sp_backend *a, const struct sp_backend *b)
{
	return a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] && a->addr[2] == b->addr[2] &&
	       a->addr[3] == b->addr[3] && a->port == b->port && a->family == b->family;
}

/*
 * A Service entry found, of either map: its fields, and its inline slots
 * (inl4 for an IPv4 Service, inl6 for an IPv6 one).
 */
struct svc {
	__u32 id;
	__u16 count;
	__u16 flags;
	__u32 affinity_timeout;
	struct sp_backend4 *inl4;
	struct sp_backend *inl6;
};

/* Slot i (< svc->count) of a Service into *out: in its entry, or in sp_slots (SP_F_SLOTS). */
static __always_inline int slot_get(const struct svc *svc, __u32 i, struct sp_backend *out)
{
	struct sp_slot_key sk = {.svc_id = svc->id, .slot = i};
	struct sp_backend *b;

	i &= SP_INLINE - 1; /* inline: i < count <= SP_INLINE, a no-op mask (sk has it whole) */
	if (svc->flags & SP_F_SLOTS) {
		b = bpf_map_lookup_elem(&sp_slots, &sk);
		if (!b)
			return 0;
		*out = *b;
	} else if (svc->inl4) {
		*out = (struct sp_backend){
		    .addr = {svc->inl4[i].addr}, .port = svc->inl4[i].port, .family = 4};
	} else if (svc->inl6) {
		*out = svc->inl6[i];
	} else {
		return 0;
	}
	return 1;
}

/* sessionAffinity: the endpoint this client had, if it is still in its slot and not expired. */
static __always_inline int affinity_get(struct bpf_sock_addr *ctx, const struct svc *svc, __u64 now,
                                        struct sp_backend *out)
{
	struct sp_aff_key ak = {.netns_cookie = bpf_get_netns_cookie(ctx), .svc_id = svc->id};
	struct sp_aff_val *av = bpf_map_lookup_elem(&sp_affinity, &ak);

	if (!av || now - av->last_ns > (__u64)svc->affinity_timeout * 1000000000ull ||
	    av->slot >= svc->count)
		return 0;
	if (!slot_get(svc, av->slot, out) || !same_backend(out, &av->backend))
		return 0;
	av->last_ns = now;
	return 1;
}

static __always_inline void affinity_put(struct bpf_sock_addr *ctx, const struct svc *svc,
                                         __u32 slot, __u64 now, const struct sp_backend *b)
{
	struct sp_aff_key ak = {.netns_cookie = bpf_get_netns_cookie(ctx), .svc_id = svc->id};
	struct sp_aff_val av = {.backend = *b, .slot = slot, .last_ns = now};

	bpf_map_update_elem(&sp_affinity, &ak, &av, BPF_ANY);
}

/* Whether key's address may be a Service's or a node's: its sp_filter bits (L1-hot reads). */
static __always_inline int filter_has(const struct sp_svc_key *key)
{
	__u32 zero = 0;
	struct sp_filter *f = bpf_map_lookup_elem(&sp_filter, &zero);

	return !f || sp_filter_lets(f, key->addr, key->family);
}

/* The entry of key in its family's map into *svc; 0 when there is none. */
static __always_inline int svc_get(const struct sp_svc_key *key, struct svc *svc)
{
	if (key->family == 4) {
		struct sp_svc4_key k4 = {
		    .addr = key->addr[0], .port = key->port, .proto = key->proto};
		struct sp_svc4_val *v = bpf_map_lookup_elem(&sp_services4, &k4);

		if (!v)
			return 0;
		*svc = (struct svc){.id = v->id,
		                    .count = v->count,
		                    .flags = v->flags,
		                    .affinity_timeout = v->affinity_timeout,
		                    .inl4 = v->inl};
	} else {
		struct sp_svc_val *v = bpf_map_lookup_elem(&sp_services6, key);

		if (!v)
			return 0;
		*svc = (struct svc){.id = v->id,
		                    .count = v->count,
		                    .flags = v->flags,
		                    .affinity_timeout = v->affinity_timeout,
		                    .inl6 = v->inl};
	}
	return 1;
}

/*
 * The Service entry of key: its own, or when key's address is one of the
 * node's (sp_node_addrs), the NodePort entry of its port (address zeroed).
 */
static __always_inline int svc_lookup(const struct sp_svc_key *key, struct svc *svc)
{
	struct sp_node_key nk = {.family = key->family};
	struct sp_svc_key any = {.port = key->port, .proto = key->proto, .family = key->family};

	if (!filter_has(key))
		return 0;
	if (svc_get(key, svc))
		return 1;
	nk.addr[0] = key->addr[0];
	nk.addr[1] = key->addr[1];
	nk.addr[2] = key->addr[2];
	nk.addr[3] = key->addr[3];
	if (!bpf_map_lookup_elem(&sp_node_addrs, &nk))
		return 0;
	return svc_get(&any, svc);
}

/* Where a new connection or datagram to key goes: V_PASS, V_REFUSE, V_UNREACH or V_XLATE (*out). */
static __always_inline int pick(struct bpf_sock_addr *ctx, const struct sp_svc_key *key,
                                struct sp_backend *out)
{
	struct svc svc;
	__u64 now = 0;
	__u32 slot;

	if (!svc_lookup(key, &svc))
		return V_PASS;
	if (svc.flags & SP_F_REJECT)
		return V_REFUSE;
	if (!svc.count)
		return V_UNREACH;
	if (svc.flags & SP_F_AFFINITY) {
		now = bpf_ktime_get_ns();
		if (affinity_get(ctx, &svc, now, out)) {
			count(SP_STAT_AFFINITY);
			return V_XLATE;
		}
	}
	slot = bpf_get_prandom_u32() % svc.count;
	if (!slot_get(&svc, slot, out))
		return V_PASS; /* cannot happen with the loader's update order */
	if (svc.flags & SP_F_AFFINITY)
		affinity_put(ctx, &svc, slot, now, out);
	return V_XLATE;
}

static __always_inline void svc_addr(struct sp_rev_val *rv, const struct sp_svc_key *key)
{
	rv->addr[0] = key->addr[0];
	rv->addr[1] = key->addr[1];
	rv->addr[2] = key->addr[2];
	rv->addr[3] = key->addr[3];
	rv->port = key->port;
	rv->family = key->family;
	rv->pad = 0;
}

/*
 * Remember which Service address the endpoint b stands for: a connect in
 * the socket's own storage (its one peer), a datagram per peer in the LRU.
 */
static __always_inline void revnat_put(struct bpf_sock_addr *ctx, const struct sp_backend *b,
                                       const struct sp_svc_key *key, int connect)
{
	struct sp_rev_key rk = {.backend = *b, .cookie = bpf_get_socket_cookie(ctx)};
	struct sp_sock_val cv = {.backend = *b};
	struct sp_rev_val rv;
	struct sp_sock_val *sv;

	if (connect) {
		struct sp_conn *c = conn_slot(rk.cookie);

		svc_addr(&cv.svc, key);
		/* the socket's own slot already (a second connect), or a free one it takes */
		if (c && (c->cookie == rk.cookie ||
		          __sync_val_compare_and_swap(&c->cookie, 0, rk.cookie) == 0)) {
			c->v = cv;
			return;
		}
		sv = bpf_sk_storage_get(&sp_sock, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (sv) {
			*sv = cv;
			return;
		}
		/* slot taken and no memory for the storage: the LRU, as for a datagram */
	}
	svc_addr(&rv, key);
	bpf_map_update_elem(&sp_revnat, &rk, &rv, BPF_ANY);
}

/* The Service address that the endpoint b of this socket stands for, or NULL. */
static __always_inline struct sp_rev_val *revnat_get(struct bpf_sock_addr *ctx,
                                                     struct sp_rev_key *rk)
{
	struct sp_sock_val *sv;
	struct sp_conn *c;

	rk->cookie = bpf_get_socket_cookie(ctx);
	c = conn_slot(rk->cookie);
	if (c && c->cookie == rk->cookie && same_backend(&c->v.backend, &rk->backend))
		return &c->v.svc;
	sv = bpf_sk_storage_get(&sp_sock, ctx->sk, 0, 0);
	if (sv && same_backend(&sv->backend, &rk->backend))
		return &sv->svc;
	return bpf_map_lookup_elem(&sp_revnat, rk);
}

static __always_inline int l4_ok(struct bpf_sock_addr *ctx)
{
	return ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_UDP;
}

/* Fail the system call with -err (bpf_set_retval: not the EPERM of a plain 0). */
static __always_inline int refuse(int err)
{
	count(SP_STAT_REFUSED);
	bpf_set_retval(-err);
	return 0;
}

static __always_inline int fwd4(struct bpf_sock_addr *ctx, __u32 stat, int connect)
{
	struct sp_svc_key key = {.port = (__u16)ctx->user_port, .family = 4};
	struct sp_backend b;

	if (!l4_ok(ctx))
		return 1;
	key.proto = (__u8)ctx->protocol;
	key.addr[0] = ctx->user_ip4;
	switch (pick(ctx, &key, &b)) {
	case V_REFUSE:
		return refuse(SP_ECONNREFUSED);
	case V_UNREACH:
		return refuse(SP_EHOSTUNREACH);
	case V_XLATE:
		ctx->user_ip4 = b.addr[0];
		ctx->user_port = b.port;
		revnat_put(ctx, &b, &key, connect);
		count(stat);
		break;
	}
	return 1;
}

/* ::ffff:a.b.c.d, an IPv4 peer of a dual-stack socket */
static __always_inline int v4mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

static __always_inline int fwd6(struct bpf_sock_addr *ctx, __u32 stat, int connect)
{
	struct sp_svc_key key = {.port = (__u16)ctx->user_port, .family = 6};
	struct sp_backend b;
	__u32 a[4];

	if (!l4_ok(ctx))
		return 1;
	key.proto = (__u8)ctx->protocol;
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	if (v4mapped(a)) {
		key.family = 4;
		key.addr[0] = a[3];
	} else {
		key.addr[0] = a[0];
		key.addr[1] = a[1];
		key.addr[2] = a[2];
		key.addr[3] = a[3];
	}
	switch (pick(ctx, &key, &b)) {
	case V_REFUSE:
		return refuse(SP_ECONNREFUSED);
	case V_UNREACH:
		return refuse(SP_EHOSTUNREACH);
	case V_XLATE:
		if (b.family == 4) {
			ctx->user_ip6[0] = 0;
			ctx->user_ip6[1] = 0;
			ctx->user_ip6[2] = bpf_htonl(0xffff);
			ctx->user_ip6[3] = b.addr[0];
		} else {
			ctx->user_ip6[0] = b.addr[0];
			ctx->user_ip6[1] = b.addr[1];
			ctx->user_ip6[2] = b.addr[2];
			ctx->user_ip6[3] = b.addr[3];
		}
		ctx->user_port = b.port;
		revnat_put(ctx, &b, &key, connect);
		count(stat);
		break;
	}
	return 1;
}

/* recvmsg / getpeername: put the Service address back where the endpoint's is. */
static __always_inline int rev4(struct bpf_sock_addr *ctx)
{
	struct sp_rev_key rk = {};
	struct sp_rev_val *rv;

	rk.backend.addr[0] = ctx->user_ip4;
	rk.backend.port = (__u16)ctx->user_port;
	rk.backend.family = 4;
	rv = revnat_get(ctx, &rk);
	if (rv) {
		ctx->user_ip4 = rv->addr[0];
		ctx->user_port = rv->port;
		count(SP_STAT_REVNAT);
	}
	return 1;
}

static __always_inline int rev6(struct bpf_sock_addr *ctx)
{
	struct sp_rev_key rk = {};
	struct sp_rev_val *rv;
	__u32 a[4];

	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
	rk.backend.port = (__u16)ctx->user_port;
	if (v4mapped(a)) {
		rk.backend.family = 4;
		rk.backend.addr[0] = a[3];
	} else {
		rk.backend.family = 6;
		rk.backend.addr[0] = a[0];
		rk.backend.addr[1] = a[1];
		rk.backend.addr[2] = a[2];
		rk.backend.addr[3] = a[3];
	}
	rv = revnat_get(ctx, &rk);
	if (!rv)
		return 1;
	if (rv->family == 4) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = rv->addr[0];
	} else {
		ctx->user_ip6[0] = rv->addr[0];
		ctx->user_ip6[1] = rv->addr[1];
		ctx->user_ip6[2] = rv->addr[2];
		ctx->user_ip6[3] = rv->addr[3];
	}
	ctx->user_port = rv->port;
	count(SP_STAT_REVNAT);
	return 1;
}

SEC("cgroup/connect4")
int sp_connect4(struct bpf_sock_addr *ctx)
{
	return fwd4(ctx, SP_STAT_CONNECT, 1);
}

SEC("cgroup/connect6")
int sp_connect6(struct bpf_sock_addr *ctx)
{
	return fwd6(ctx, SP_STAT_CONNECT, 1);
}

SEC("cgroup/sendmsg4")
int sp_sendmsg4(struct bpf_sock_addr *ctx)
{
	return fwd4(ctx, SP_STAT_SENDMSG, 0);
}

SEC("cgroup/sendmsg6")
int sp_sendmsg6(struct bpf_sock_addr *ctx)
{
	return fwd6(ctx, SP_STAT_SENDMSG, 0);
}

SEC("cgroup/recvmsg4")
int sp_recvmsg4(struct bpf_sock_addr *ctx)
{
	return rev4(ctx);
}

SEC("cgroup/recvmsg6")
int sp_recvmsg6(struct bpf_sock_addr *ctx)
{
	return rev6(ctx);
}

SEC("cgroup/getpeername4")
int sp_getpeername4(struct bpf_sock_addr *ctx)
{
	return rev4(ctx);
}

SEC("cgroup/getpeername6")
int sp_getpeername6(struct bpf_sock_addr *ctx)
{
	return rev6(ctx);
}

/* A socket going away frees its sp_conn_slots slot, if it holds one (most hold none). */
SEC("cgroup/sock_release")
int sp_release(struct bpf_sock *sk)
{
	struct sp_conn *c;
	__u64 cookie;

	if (sk->protocol != IPPROTO_TCP && sk->protocol != IPPROTO_UDP)
		return 1;
	cookie = bpf_get_socket_cookie(sk);
	c = conn_slot(cookie);
	if (c && c->cookie == cookie)
		c->cookie = 0;
	return 1;
}
