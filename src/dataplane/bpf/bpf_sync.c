/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_sync.c - the Service content of the maps: render desired entries,
 * diff them against what the maps hold, write the difference in an order
 * no connect can observe half done.
 *
 * Slots are stable, as the nft dataplane's are: an endpoint keeps its slot
 * while it stays; a leaving one's slot goes to an arriving endpoint, else
 * to the last slot's; other arrivals are appended. One endpoint change is
 * then one write of the Service entry (its slots inline, up to SP_INLINE
 * endpoints) or one or two slot writes plus the entry's count. A Service
 * crossing SP_INLINE moves its slots between the entry and sp_slots in the
 * contract's order: slots written, entry flipped, stale slots deleted.
 *
 * A sync costs what changed: the desired states of the last sync are kept
 * (bpf_dp.last), and compile() keeps an unchanged Service's entries as the
 * very same objects, so a lockstep walk of the old and new sorted entries
 * finds the changed ones by label pointer (as the nft dataplane does) and
 * only those are rendered and diffed against their slots. With no last
 * state (first sync, after an adopt or a failure) every entry is.
 *
 * NodePorts are entries with the address zeroed; the node addresses they
 * apply to are the set sp_node_addrs, kept apart so that an address coming
 * or going is one write, whatever the number of NodePorts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "common/log.h"
#include "common/mem.h"
#include "dataplane/bpf/bpf_int.h"

static int backend_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sp_backend));
}

/* Forget the last synced states: the next sync diffs every entry. */
static void last_free(struct bpf_dp *dp)
{
	for (size_t f = 0; f < dp->n_last; f++)
		desired_free(&dp->last[f]);
	free(dp->last);
	dp->last = NULL;
	dp->n_last = 0;
}

void bpf_state_free(struct bpf_dp *dp)
{
	last_free(dp);
	for (uint32_t i = 0; i < dp->n_svc; i++)
		free(dp->svc[i].slots);
	free(dp->svc);
	free(dp->free_ids);
	dp->svc = NULL;
	dp->free_ids = NULL;
	dp->n_svc = 0;
	dp->cap_svc = 0;
	dp->n_free = dp->cap_free = 0;
	bytemap_free(&dp->index);
	bytemap_free(&dp->node_addrs);
	free(dp->filter_refs);
	dp->filter_refs = NULL;
	memset(&dp->filter, 0, sizeof(dp->filter));
	dp->filter_dirty = true; /* the next sync writes the filter of what it adopts */
}

/* ---------------------------------------------------------------- sp_filter */

static int filter_write(struct bpf_dp *dp)
{
	const uint32_t zero = 0;

	if (bpf_map_update_elem(dp->fd_filter, &zero, &dp->filter, BPF_ANY))
		return -errno;
	dp->filter_dirty = false;
	return 0;
}

/* A Service address's bit (its prefix's), or a node address's (its own). */
static uint32_t filter_bit(const __u32 *addr, __u8 family, bool node)
{
	return node ? sp_filter_addr_bit(addr, family) : sp_filter_prefix_bit(addr, family);
}

/* Count an address under its bit; whether that set the bit. */
static bool filter_count(struct bpf_dp *dp, const __u32 *addr, __u8 family, bool node)
{
	uint32_t bit = filter_bit(addr, family, node);

	if (!dp->filter_refs)
		dp->filter_refs = xcalloc(SP_FILTER_BITS, sizeof(*dp->filter_refs));
	if (dp->filter_refs[bit]++)
		return false;
	dp->filter.w[bit / 64] |= 1ull << (bit % 64);
	dp->filter_dirty = true;
	return true;
}

/* An address about to be written to a map now: its bit goes to sp_filter first, when new. */
static int filter_add(struct bpf_dp *dp, const __u32 *addr, __u8 family, bool node)
{
	return filter_count(dp, addr, family, node) ? filter_write(dp) : 0;
}

/* An address deleted from its map: its bit is cleared (at the end of the sync) with its last. */
static void filter_drop(struct bpf_dp *dp, const __u32 *addr, __u8 family, bool node)
{
	uint32_t bit = filter_bit(addr, family, node);

	if (dp->filter_refs && dp->filter_refs[bit] && !--dp->filter_refs[bit]) {
		dp->filter.w[bit / 64] &= ~(1ull << (bit % 64));
		dp->filter_dirty = true;
	}
}

static struct bpf_svc *svc_at(struct bpf_dp *dp, uint32_t id)
{
	if (id >= dp->n_svc) {
		dp->svc = xgrow(dp->svc, &dp->cap_svc, (size_t)id + 1, sizeof(*dp->svc));
		memset(dp->svc + dp->n_svc, 0, ((size_t)id + 1 - dp->n_svc) * sizeof(*dp->svc));
		for (uint32_t i = dp->n_svc; i < id; i++) { /* holes are free ids */
			dp->free_ids = xgrow(dp->free_ids, &dp->cap_free, dp->n_free + 1,
			                     sizeof(*dp->free_ids));
			dp->free_ids[dp->n_free++] = i;
		}
		dp->n_svc = id + 1;
	}
	return &dp->svc[id];
}

static uint32_t id_alloc(struct bpf_dp *dp)
{
	while (dp->n_free) {
		uint32_t id = dp->free_ids[--dp->n_free];

		if (id < dp->n_svc && !dp->svc[id].used)
			return id;
	}
	return dp->n_svc;
}

static void svc_forget(struct bpf_dp *dp, struct bpf_svc *s)
{
	filter_drop(dp, s->key.addr, s->key.family, false);
	bytemap_del(&dp->index, &s->key);
	free(s->slots);
	memset(s, 0, sizeof(*s));
	dp->free_ids = xgrow(dp->free_ids, &dp->cap_free, dp->n_free + 1, sizeof(*dp->free_ids));
	dp->free_ids[dp->n_free++] = (uint32_t)(s - dp->svc);
}

/* The Service entry of key removed from its family's map (none there: no error). 0 or -errno. */
static int svc_unmap(struct bpf_dp *dp, const struct sp_svc_key *key)
{
	struct sp_svc4_key k4;
	const void *k = key;
	int fd = dp->fd_services6;

	if (key->family == 4) {
		sp_svc4_pack(key, NULL, &k4, NULL);
		k = &k4;
		fd = dp->fd_services4;
	}
	return bpf_map_delete_elem(fd, k) && errno != ENOENT ? -errno : 0;
}

static void slots_reserve(struct bpf_svc *s, uint32_t n)
{
	if (n > s->cap) {
		s->cap = n < 4 ? 4 : n;
		s->slots = xrealloc(s->slots, s->cap * sizeof(*s->slots));
	}
}

/* ---------------------------------------------------------------- adopt */

/*
 * Every key and value of map fd into *keys, *vals (malloc'ed, *n of them):
 * in batches of BPF_MAP_LOOKUP_BATCH (one system call per 4096 elements, the
 * maps hold ~100k slots at 10k Services), else one by one (a kernel without
 * batch lookups for hash maps, or a bucket larger than a batch). 0 or -errno.
 */
/* Room for one more batch of grow elements in *keys and *vals. */
static void read_room(uint8_t **keys, size_t *kcap, uint8_t **vals, size_t *vcap, size_t need,
                      size_t ksz, size_t vsz)
{
	*keys = xgrow(*keys, kcap, need, ksz);
	*vals = xgrow(*vals, vcap, need, vsz);
}

static int map_read_all(int fd, size_t ksz, size_t vsz, uint8_t **keys, uint8_t **vals, size_t *n)
{
	enum { CHUNK = 4096 };
	/* the batch cursor: a bucket index for hash maps, a key for others */
	uint64_t in[8], out[8];
	size_t kcap = 0, vcap = 0;
	uint8_t k[64], next[64];
	void *prev = NULL;

	*keys = *vals = NULL;
	*n = 0;
	for (bool first = true;; first = false) {
		__u32 count = CHUNK;
		int ret;

		read_room(keys, &kcap, vals, &vcap, *n + CHUNK, ksz, vsz);
		ret = bpf_map_lookup_batch(fd, first ? NULL : in, out, *keys + *n * ksz,
		                           *vals + *n * vsz, &count, NULL);
		if (ret && errno != ENOENT)
			break; /* read it one by one instead */
		*n += count;
		if (ret)
			return 0; /* ENOENT: that was the last batch */
		memcpy(in, out, sizeof(in));
	}
	*n = 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		read_room(keys, &kcap, vals, &vcap, *n + 1, ksz, vsz);
		memcpy(k, next, ksz);
		prev = k;
		if (bpf_map_lookup_elem(fd, k, *vals + *n * vsz) == 0)
			memcpy(*keys + (*n)++ * ksz, k, ksz);
	}
	return errno == ENOENT ? 0 : -errno;
}

static void adopt_one(struct bpf_dp *dp, const struct sp_svc_key *key, const struct sp_svc_val *val)
{
	struct bpf_svc *s;
	uint32_t id = val->id;

	if (id >= SP_MAX_SERVICES || (id < dp->n_svc && dp->svc[id].used)) {
		/* unusable id: forget the entry; the sync writes it anew */
		svc_unmap(dp, key);
		return;
	}
	s = svc_at(dp, id);
	s->used = true;
	s->key = *key;
	s->count = val->count;
	s->flags = val->flags;
	s->affinity_timeout = val->affinity_timeout;
	slots_reserve(s, val->count);
	/* sp_slots' are filled by adopt_slots; family 0 marks a slot the map does not hold */
	if (s->cap)
		memset(s->slots, 0, (size_t)s->cap * sizeof(*s->slots));
	s->n = val->count;
	if (val->flags & SP_F_SLOTS) {
		s->mapped = s->n;
	} else {
		if (s->n > SP_INLINE) { /* not written by us: keep what is there */
			s->n = SP_INLINE;
			s->dirty = true;
		}
		if (s->n)
			memcpy(s->slots, val->inl, s->n * sizeof(*s->slots));
	}
	bytemap_put(&dp->index, key, &id, NULL);
	filter_count(dp, key->addr, key->family, false);
}

/*
 * Fill the adopted Services' slots from the slot map, read whole. A Service
 * keeps its slots up to the first one missing (left by a sync that died half
 * way; the sync then rewrites its entry); slots no Service entry makes
 * visible (with SP_F_SLOTS) are deleted.
 */
static int adopt_slots(struct bpf_dp *dp)
{
	const size_t ksz = sizeof(struct sp_slot_key), vsz = sizeof(struct sp_backend);
	uint8_t *keys, *vals;
	size_t n;
	int ret = map_read_all(dp->fd_slots, ksz, vsz, &keys, &vals, &n);

	for (size_t i = 0; i < n && !ret; i++) {
		struct sp_slot_key k;

		memcpy(&k, keys + i * ksz, ksz);
		if (k.svc_id < dp->n_svc && k.slot < dp->svc[k.svc_id].mapped)
			memcpy(&dp->svc[k.svc_id].slots[k.slot], vals + i * vsz, vsz);
	}
	for (uint32_t id = 0; id < dp->n_svc && !ret; id++) {
		struct bpf_svc *s = &dp->svc[id];
		uint32_t have = 0;

		if (!s->mapped)
			continue;
		while (have < s->n && s->slots[have].family)
			have++;
		if (have != s->n)
			s->dirty = true; /* its count says more than the map holds */
		s->n = s->mapped = have;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct sp_slot_key k;

		memcpy(&k, keys + i * ksz, ksz);
		if (k.svc_id < dp->n_svc && k.slot < dp->svc[k.svc_id].mapped)
			continue;
		if (bpf_map_delete_elem(dp->fd_slots, &k) && errno != ENOENT)
			ret = -errno;
	}
	free(keys);
	free(vals);
	return ret;
}

/* The node addresses sp_node_addrs holds. */
static void adopt_node_addrs(struct bpf_dp *dp)
{
	struct sp_node_key k, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(dp->fd_node_addrs, prev, &next) == 0) {
		k = next;
		prev = &k;
		bytemap_put(&dp->node_addrs, &k, NULL, NULL);
		filter_count(dp, k.addr, k.family, true);
	}
}

/* Adopt the entries of one family's Service map (sp_services4: unpacked). 0 or -errno (logged). */
static int adopt_services(struct bpf_dp *dp, int family)
{
	bool v4 = family == 4;
	const size_t ksz = v4 ? sizeof(struct sp_svc4_key) : sizeof(struct sp_svc_key);
	const size_t vsz = v4 ? sizeof(struct sp_svc4_val) : sizeof(struct sp_svc_val);
	uint8_t *keys, *vals;
	size_t n;
	int ret =
	    map_read_all(v4 ? dp->fd_services4 : dp->fd_services6, ksz, vsz, &keys, &vals, &n);

	for (size_t i = 0; i < n && !ret; i++) {
		struct sp_svc4_key k4;
		struct sp_svc4_val v4v;
		struct sp_svc_key k;
		struct sp_svc_val v;

		if (v4) {
			memcpy(&k4, keys + i * ksz, ksz);
			memcpy(&v4v, vals + i * vsz, vsz);
			sp_svc4_unpack(&k4, &v4v, &k, &v);
		} else {
			memcpy(&k, keys + i * ksz, ksz);
			memcpy(&v, vals + i * vsz, vsz);
		}
		adopt_one(dp, &k, &v);
	}
	free(keys);
	free(vals);
	if (ret)
		log_err("bpf", "cannot read map %s/sp_services%d: %s", dp->pin_path, family,
		        strerror(-ret));
	return ret;
}

int bpf_dp_adopt(struct bpf_dp *dp)
{
	int ret;

	bpf_state_free(dp);
	bytemap_init(&dp->index, sizeof(struct sp_svc_key), sizeof(uint32_t));
	ret = adopt_services(dp, 4);
	if (!ret)
		ret = adopt_services(dp, 6);
	if (ret)
		return ret;
	adopt_node_addrs(dp);
	ret = adopt_slots(dp);
	if (ret) {
		log_err("bpf", "cannot read or prune map %s/sp_slots: %s", dp->pin_path,
		        strerror(-ret));
		return ret;
	}
	/* ids freed by svc_at holes may be in use by nobody: fine; used ones are skipped */
	dp->need_adopt = false;
	log_debug("bpf", "adopted %zu service entries from %s", dp->index.n, dp->pin_path);
	return 0;
}

/* ---------------------------------------------------------------- sync */

/* The map key of an entry of this family's desired state; a NodePort's has no address. */
static bool entry_key(int family, const struct entry *e, struct sp_svc_key *k)
{
	if (e->proto != IPPROTO_TCP && e->proto != IPPROTO_UDP)
		return false; /* SCTP: nftables' */
	memset(k, 0, sizeof(*k));
	if (e->kind != ENTRY_NODE_PORT)
		memcpy(k->addr, e->addr.raw, ipaddr_len(&e->addr));
	k->port = htons(e->port);
	k->proto = e->proto;
	k->family = family == AF_INET ? 4 : 6;
	return true;
}

/* The endpoints a connect from this node may get, sorted for bsearch. *n capped at 65535. */
static struct sp_backend *entry_backends(const struct entry *e, uint32_t *n)
{
	/* eTP=Local: pods and the node itself short-circuit to every endpoint */
	const struct backend *b = e->all_backends ? e->all_backends : e->backends;
	size_t nb = e->all_backends ? e->n_all_backends : e->n_backends;
	struct sp_backend *out;

	if (nb > UINT16_MAX) {
		log_warn("bpf", "%s: %zu endpoints, only the first 65535 used", e->label, nb);
		nb = UINT16_MAX;
	}
	out = xcalloc(nb ? nb : 1, sizeof(*out));
	for (size_t i = 0; i < nb; i++) {
		memcpy(out[i].addr, b[i].addr.raw, ipaddr_len(&b[i].addr));
		out[i].port = htons(b[i].port);
		out[i].family = b[i].addr.family == AF_INET ? 4 : 6;
	}
	qsort(out, nb, sizeof(*out), backend_cmp);
	*n = (uint32_t)nb;
	return out;
}

uint32_t bpf_slots_arrange(const struct sp_backend *cur, uint32_t n_cur,
                           const struct sp_backend *want, uint32_t nw, struct sp_backend *out)
{
	struct sp_backend *sorted = xmalloc(((size_t)n_cur + 1) * sizeof(*sorted));
	uint32_t *holes = xmalloc(((size_t)n_cur + 1) * sizeof(*holes));
	uint32_t n = n_cur, n_holes = 0, h = 0;

	if (n) { /* cur may be NULL when empty: memcpy's arguments must not be */
		memcpy(out, cur, n * sizeof(*out));
		memcpy(sorted, cur, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), backend_cmp);
	}
	for (uint32_t i = 0; i < n; i++)
		if (!bsearch(&out[i], want, nw, sizeof(*want), backend_cmp))
			holes[n_holes++] = i; /* ascending */
	/* arrivals take the slots of leavers first: a replacement is one write */
	for (uint32_t i = 0; i < nw; i++) {
		if (bsearch(&want[i], sorted, n_cur, sizeof(*sorted), backend_cmp))
			continue;
		if (h < n_holes)
			out[holes[h++]] = want[i];
		else
			out[n++] = want[i];
	}
	/* holes left: the highest first, each filled by the last slot's endpoint (or dropped) */
	while (n_holes > h) {
		uint32_t hole = holes[--n_holes];

		if (hole != n - 1)
			out[hole] = out[n - 1]; /* n - 1 is no hole: every hole above was handled */
		n--;
	}
	free(sorted);
	free(holes);
	return n;
}

static int map_write(int fd, const void *k, const void *v, size_t *changes)
{
	(*changes)++;
	return bpf_map_update_elem(fd, k, v, BPF_ANY) ? -errno : 0;
}

static int map_delete(int fd, const void *k, size_t *changes)
{
	(*changes)++;
	return bpf_map_delete_elem(fd, k) && errno != ENOENT ? -errno : 0;
}

/*
 * Writes (or, with no values, deletions) of one map held back to be made
 * together: a full sync writes ~110k elements at 10k Services, and one
 * BPF_MAP_UPDATE_BATCH call per 8192 of them saves a system call each.
 */
struct map_queue {
	int fd;
	size_t ksz, vsz; /* vsz 0: deletions */
	uint8_t *k, *v;
	size_t n, kcap, vcap;
};

/*
 * A full sync's writes in the order that keeps the maps' contract (sock.h):
 * every new slot, then every Service entry, then the slots they stopped
 * showing. No id is reused within a full sync (Services that left are
 * removed after the flush), so no key is in two queues.
 */
struct sync_batch {
	struct map_queue slots, svc4, svc6, stale;
};

static void mq_init(struct map_queue *q, int fd, size_t ksz, size_t vsz)
{
	*q = (struct map_queue){.fd = fd, .ksz = ksz, .vsz = vsz};
}

static void mq_free(struct map_queue *q)
{
	free(q->k);
	free(q->v);
}

/* Write v (or delete, for a deletion queue) under k: into q, or at once when q is NULL. */
static int put(struct map_queue *q, int fd, const void *k, const void *v, size_t *changes)
{
	if (!q)
		return v ? map_write(fd, k, v, changes) : map_delete(fd, k, changes);
	(*changes)++;
	q->k = xgrow(q->k, &q->kcap, q->n + 1, q->ksz);
	memcpy(q->k + q->n * q->ksz, k, q->ksz);
	if (q->vsz) {
		q->v = xgrow(q->v, &q->vcap, q->n + 1, q->vsz);
		memcpy(q->v + q->n * q->vsz, v, q->vsz);
	}
	q->n++;
	return 0;
}

/*
 * A Service entry written (val) or deleted (val NULL) in its family's map,
 * sp_services4's layout for IPv4: into b's queue, or at once when b is NULL.
 */
static int svc_put(struct bpf_dp *dp, struct sync_batch *b, const struct sp_svc_key *key,
                   const struct sp_svc_val *val, size_t *changes)
{
	struct sp_svc4_key k4;
	struct sp_svc4_val v4;

	if (!val) {
		(*changes)++;
		return svc_unmap(dp, key);
	}
	if (key->family != 4)
		return put(b ? &b->svc6 : NULL, dp->fd_services6, key, val, changes);
	sp_svc4_pack(key, val, &k4, &v4);
	return put(b ? &b->svc4 : NULL, dp->fd_services4, &k4, &v4, changes);
}

/* Make q's writes in batches; what a batch refuses (an old kernel) one by one. 0 or -errno. */
static int mq_flush(struct map_queue *q)
{
	size_t done = 0, unused = 0;

	while (q->vsz && done < q->n) {
		__u32 count = q->n - done < 8192 ? (__u32)(q->n - done) : 8192;

		if (bpf_map_update_batch(q->fd, q->k + done * q->ksz, q->v + done * q->vsz, &count,
		                         NULL)) {
			done += count; /* those it did make, then the rest one by one */
			break;
		}
		done += count;
	}
	for (; done < q->n; done++) {
		const void *k = q->k + done * q->ksz;
		int ret = q->vsz ? map_write(q->fd, k, q->v + done * q->vsz, &unused)
		                 : map_delete(q->fd, k, &unused);

		if (ret)
			return ret;
	}
	return 0;
}

/* One Service entry: sp_slots' slots, then the entry, then stale sp_slots' slots. */
static int sync_entry(struct bpf_dp *dp, const struct sp_svc_key *key, const struct entry *e,
                      struct sync_batch *b, size_t *changes)
{
	long at = bytemap_find(&dp->index, key);
	uint32_t id =
	    at >= 0 ? *(const uint32_t *)bytemap_data(&dp->index, (size_t)at) : id_alloc(dp);
	struct bpf_svc *s = svc_at(dp, id);
	struct sp_svc_val val = {.id = id};
	struct sp_backend *want, *next;
	uint32_t nw, n, old_n = s->n, mapped;
	bool fresh = !s->used, moved;
	int ret = 0;

	if (fresh) {
		/* its bit before the entry: now, or for a batch once before its flush */
		if (b)
			filter_count(dp, key->addr, key->family, false);
		else if ((ret = filter_add(dp, key->addr, key->family, false)) != 0)
			return ret;
		s->used = true;
		s->key = *key;
		bytemap_put(&dp->index, key, &id, NULL);
	}
	s->seen = dp->epoch;
	want = entry_backends(e, &nw);
	next = xcalloc((size_t)old_n + nw + 1, sizeof(*next));
	n = bpf_slots_arrange(s->slots, s->n, want, nw, next);
	mapped = n > SP_INLINE ? n : 0;
	moved = n != old_n;
	for (uint32_t i = 0; i < n && !ret; i++) {
		struct sp_slot_key sk = {.svc_id = id, .slot = i};
		bool differs = i >= old_n || memcmp(&next[i], &s->slots[i], sizeof(next[i]));

		moved |= differs;
		if (mapped && (differs || i >= s->mapped))
			ret = put(b ? &b->slots : NULL, dp->fd_slots, &sk, &next[i], changes);
	}
	val.count = (uint16_t)n;
	val.flags =
	    (uint16_t)((e->n_all == 0 ? SP_F_REJECT : 0) |
	               (e->affinity_timeout ? SP_F_AFFINITY : 0) | (mapped ? SP_F_SLOTS : 0));
	val.affinity_timeout = e->affinity_timeout;
	if (!mapped && n)
		memcpy(val.inl, next, n * sizeof(*next));
	if (!ret && (fresh || s->dirty || val.count != s->count || val.flags != s->flags ||
	             val.affinity_timeout != s->affinity_timeout || (!mapped && moved)))
		ret = svc_put(dp, b, key, &val, changes);
	for (uint32_t i = mapped; i < s->mapped && !ret; i++) {
		struct sp_slot_key sk = {.svc_id = id, .slot = i};

		ret = put(b ? &b->stale : NULL, dp->fd_slots, &sk, NULL, changes);
	}
	free(want);
	if (ret) {
		free(next);
		return ret;
	}
	free(s->slots);
	s->slots = next;
	s->n = s->cap = n;
	s->mapped = mapped;
	s->count = val.count;
	s->flags = val.flags;
	s->affinity_timeout = val.affinity_timeout;
	s->dirty = false;
	return 0;
}

/* Remove Service s from the maps: the entry first, then its sp_slots' slots. */
static int svc_delete(struct bpf_dp *dp, struct bpf_svc *s, size_t *changes)
{
	uint32_t id = (uint32_t)(s - dp->svc);
	int ret = svc_put(dp, NULL, &s->key, NULL, changes);

	for (uint32_t i = 0; i < s->mapped && !ret; i++) {
		struct sp_slot_key sk = {.svc_id = id, .slot = i};

		ret = map_delete(dp->fd_slots, &sk, changes);
	}
	if (!ret)
		svc_forget(dp, s);
	return ret;
}

/* Services no entry of this sync wanted (full sync). */
static int sync_gone(struct bpf_dp *dp, size_t *changes)
{
	int ret = 0;

	for (uint32_t id = 0; id < dp->n_svc && !ret; id++) {
		struct bpf_svc *s = &dp->svc[id];

		if (s->used && s->seen != dp->epoch)
			ret = svc_delete(dp, s, changes);
	}
	return ret;
}

/* The Service of an entry that left the desired state (incremental sync). */
static int entry_gone(struct bpf_dp *dp, int family, const struct entry *e, size_t *changes)
{
	struct sp_svc_key key;
	long at;

	if (!entry_key(family, e, &key))
		return 0;
	at = bytemap_find(&dp->index, &key);
	if (at < 0)
		return 0;
	return svc_delete(dp, &dp->svc[*(const uint32_t *)bytemap_data(&dp->index, (size_t)at)],
	                  changes);
}

/* Every entry of ds[0..n) (its writes batched), then the Services none wanted. */
static int sync_full(struct bpf_dp *dp, const struct desired *ds, size_t n, size_t *changes)
{
	struct sync_batch b;
	struct sp_svc_key key;
	int ret = 0;

	mq_init(&b.slots, dp->fd_slots, sizeof(struct sp_slot_key), sizeof(struct sp_backend));
	mq_init(&b.svc4, dp->fd_services4, sizeof(struct sp_svc4_key), sizeof(struct sp_svc4_val));
	mq_init(&b.svc6, dp->fd_services6, sizeof(struct sp_svc_key), sizeof(struct sp_svc_val));
	mq_init(&b.stale, dp->fd_slots, sizeof(struct sp_slot_key), 0);
	dp->epoch++;
	for (size_t f = 0; f < n && !ret; f++)
		for (size_t i = 0; i < ds[f].n_entries && !ret; i++)
			if (entry_key(ds[f].family, &ds[f].entries[i], &key))
				ret = sync_entry(dp, &key, &ds[f].entries[i], &b, changes);
	if (!ret && dp->filter_dirty)
		ret = filter_write(dp); /* the new entries' bits, before the entries */
	if (!ret)
		ret = mq_flush(&b.slots);
	if (!ret)
		ret = mq_flush(&b.svc4);
	if (!ret)
		ret = mq_flush(&b.svc6);
	if (!ret)
		ret = mq_flush(&b.stale);
	mq_free(&b.slots);
	mq_free(&b.svc4);
	mq_free(&b.svc6);
	mq_free(&b.stale);
	return ret ? ret : sync_gone(dp, changes);
}

/*
 * Only the entries of ds that are not the very same objects as in old (both
 * sorted by entry_cmp, one family): changed and new ones are synced, those
 * that left are deleted. An entry whose key stays but whose object changed
 * is synced in place (same id, stable slots).
 */
static int sync_changed(struct bpf_dp *dp, const struct desired *old, const struct desired *ds,
                        size_t *changes)
{
	struct sp_svc_key key;
	size_t i = 0, j = 0;
	int ret = 0;

	while ((i < old->n_entries || j < ds->n_entries) && !ret) {
		const struct entry *o = i < old->n_entries ? &old->entries[i] : NULL;
		const struct entry *e = j < ds->n_entries ? &ds->entries[j] : NULL;
		int c = !o ? 1 : !e ? -1 : entry_cmp(o, e);

		if (c == 0 && o->label == e->label) {
			i++, j++; /* the very same entry object: unchanged */
			continue;
		}
		if (c < 0) {
			ret = entry_gone(dp, old->family, o, changes);
			i++;
			continue;
		}
		if (c == 0)
			i++;
		if (entry_key(ds->family, e, &key))
			ret = sync_entry(dp, &key, e, NULL, changes);
		else if (c == 0) /* cannot happen (same key, same protocol); be safe */
			ret = entry_gone(dp, old->family, o, changes);
		j++;
	}
	return ret;
}

/* Make sp_node_addrs hold exactly addrs[0..n). */
static int sync_node_addrs(struct bpf_dp *dp, const struct ipaddr *addrs, size_t n, size_t *changes)
{
	struct bytemap want;
	int ret = 0;

	bytemap_init(&want, sizeof(struct sp_node_key), 0);
	for (size_t i = 0; i < n; i++) {
		struct sp_node_key k = {.family = addrs[i].family == AF_INET ? 4 : 6};

		memcpy(k.addr, addrs[i].raw, ipaddr_len(&addrs[i]));
		bytemap_put(&want, &k, NULL, NULL);
	}
	for (size_t i = 0; i < want.n && !ret; i++) {
		const uint32_t one = 1;
		struct sp_node_key k;

		memcpy(&k, bytemap_key(&want, i), sizeof(k));
		if (bytemap_find(&dp->node_addrs, &k) >= 0)
			continue;
		ret = filter_add(dp, k.addr, k.family, true);
		if (!ret)
			ret = map_write(dp->fd_node_addrs, &k, &one, changes);
	}
	for (size_t i = 0; i < dp->node_addrs.n && !ret; i++) {
		struct sp_node_key k;

		memcpy(&k, bytemap_key(&dp->node_addrs, i), sizeof(k));
		if (bytemap_find(&want, &k) >= 0)
			continue;
		ret = map_delete(dp->fd_node_addrs, &k, changes);
		if (!ret)
			filter_drop(dp, k.addr, k.family, true);
	}
	if (!ret)
		bytemap_move(&dp->node_addrs, &want);
	bytemap_free(&want);
	return ret;
}

/* Whether dp->last can be the base of an incremental sync to ds[0..n). */
static bool last_matches(const struct bpf_dp *dp, const struct desired *ds, size_t n)
{
	if (dp->n_last != n || !n)
		return false;
	for (size_t f = 0; f < n; f++)
		if (dp->last[f].family != ds[f].family)
			return false;
	return true;
}

int bpf_dp_sync(struct bpf_dp *dp, const struct desired *ds, size_t n,
                const struct ipaddr *np_addrs, size_t n_np_addrs, struct bpf_sync_stats *st)
{
	int ret = 0;

	memset(st, 0, sizeof(*st));
	if (dp->need_adopt) {
		ret = bpf_dp_adopt(dp);
		if (ret)
			return ret;
	}
	ret = sync_node_addrs(dp, np_addrs, n_np_addrs, &st->changes);
	if (!ret && last_matches(dp, ds, n))
		for (size_t f = 0; f < n && !ret; f++)
			ret = sync_changed(dp, &dp->last[f], &ds[f], &st->changes);
	else if (!ret)
		ret = sync_full(dp, ds, n, &st->changes);
	if (!ret && dp->filter_dirty)
		ret = filter_write(dp); /* the bits of what left: after it left */
	last_free(dp);
	if (ret) {
		log_err("bpf", "cannot write the maps under %s: %s", dp->pin_path, strerror(-ret));
		dp->need_adopt = true;
		return ret;
	}
	dp->last = xcalloc(n ? n : 1, sizeof(*dp->last));
	for (size_t f = 0; f < n; f++)
		desired_copy(&dp->last[f], &ds[f]);
	dp->n_last = n;
	return bpf_dp_attach_pending(dp);
}
