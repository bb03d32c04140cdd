/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytemap.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "compile/endpoints.h"

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* Slices are grouped by (namespace, service name). */
static int cmp_slice(const void *pa, const void *pb)
{
	const struct endpoint_slice *a = *(const struct endpoint_slice *const *)pa;
	const struct endpoint_slice *b = *(const struct endpoint_slice *const *)pb;
	int c = cmp_str(a->ns, b->ns);

	if (!c)
		c = cmp_str(a->service_name, b->service_name);
	return c ? c : cmp_str(a->name, b->name);
}

int entry_cmp(const struct entry *a, const struct entry *b)
{
	int c = ipaddr_cmp(&a->addr, &b->addr);

	if (!c)
		c = (int)a->proto - (int)b->proto;
	return c ? c : (int)a->port - (int)b->port;
}

/* A copy of v[0..n). */
static struct backend *backends_copy(const struct backend *v, size_t n, size_t *nout)
{
	struct backend *c = n ? xmalloc(n * sizeof(*c)) : NULL;

	if (n)
		memcpy(c, v, n * sizeof(*c));
	*nout = n;
	return c;
}

static bool service_is_proxied(const struct service *s)
{
	return !s->ignored && !s->headless && s->type != SVC_EXTERNAL_NAME;
}

static char *port_label(const struct service *s, const struct svc_port *sp)
{
	return xasprintf("%s/%s%s%s", s->ns, s->name, sp->name && *sp->name ? ":" : "",
	                 sp->name ? sp->name : "");
}

static void entry_free(struct entry *e)
{
	free(e->label);
	free(e->backends);
	free(e->all_backends);
	free(e->source_ranges);
}

/*
 * The compiled entries of one Service, shared by reference: the desired
 * states that contain them and the compiler's cache. Immutable once built.
 */
struct entry_block {
	unsigned refs;
	bool dead; /* replaced or gone from the compiler's cache */
	char *ns, *name, *origin;
	struct entry *entries;
	size_t n, cap;
	bool has_hc;
	struct health_check hc;
};

static void block_unref(struct entry_block *b)
{
	if (!b || --b->refs)
		return;
	for (size_t i = 0; i < b->n; i++)
		entry_free(&b->entries[i]);
	free(b->entries);
	free(b->ns);
	free(b->name);
	free(b->origin);
	free(b->hc.ns);
	free(b->hc.name);
	free(b);
}

/* Add one entry of Service s for port sp to block b; copies what it keeps. */
static void add_entry(struct entry_block *b, const struct service *s, const struct svc_port *sp,
                      enum entry_kind kind, const struct ipaddr *addr,
                      const struct port_backends *pb)
{
	bool external = kind != ENTRY_CLUSTER_IP;
	bool local_only = external ? s->etp_local : s->itp_local;
	struct entry *e;

	b->entries = xgrow(b->entries, &b->cap, b->n + 1, sizeof(*b->entries));
	e = &b->entries[b->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (addr)
		e->addr = *addr;
	e->proto = sp->proto;
	e->port = kind == ENTRY_NODE_PORT ? sp->node_port : sp->port;
	e->label = port_label(s, sp);
	/* Local policies: this node's endpoints; Cluster: what topology leaves */
	if (local_only)
		e->backends = backends_copy(pb->local, pb->n_local, &e->n_backends);
	else
		e->backends = backends_copy(pb->cluster, pb->n_cluster, &e->n_backends);
	e->n_all = pb->n_all;
	if (external && s->etp_local) {
		e->etp_local = true;
		e->all_backends = backends_copy(pb->cluster, pb->n_cluster, &e->n_all_backends);
	}
	e->masquerade = external && !s->etp_local;
	if (s->affinity_client_ip)
		e->affinity_timeout = s->affinity_timeout ? s->affinity_timeout : 10800;
	if (kind == ENTRY_EXTERNAL && s->type == SVC_LOAD_BALANCER && s->n_lb_source_ranges) {
		for (size_t i = 0; i < s->n_lb_ips; i++)
			if (addr && ipaddr_equal(&s->lb_ips[i], addr) && !e->source_ranges) {
				e->source_ranges =
				    xmalloc(s->n_lb_source_ranges * sizeof(*e->source_ranges));
				memcpy(e->source_ranges, s->lb_source_ranges,
				       s->n_lb_source_ranges * sizeof(*e->source_ranges));
				e->n_source_ranges = s->n_lb_source_ranges;
			}
	}
}

static const char *entry_field(enum entry_kind k)
{
	switch (k) {
	case ENTRY_CLUSTER_IP:
		return "spec.clusterIP";
	case ENTRY_EXTERNAL:
		return "spec.externalIPs/status.loadBalancer.ingress";
	case ENTRY_NODE_PORT:
		return "spec.ports[].nodePort";
	}
	return "?";
}

/* Compile one Service with its slices[0..n) into a new block (refs 1). */
static struct entry_block *compile_service(const struct service *s,
                                           struct endpoint_slice *const *slices, size_t n,
                                           const struct ipaddr *vip, const struct compile_opts *o,
                                           const char *zone)
{
	struct entry_block *b = xcalloc(1, sizeof(*b));
	bool node_ports = s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER;
	size_t n_local_eps = 0;

	b->refs = 1;
	b->ns = xstrdup(s->ns);
	b->name = xstrdup(s->name);
	b->origin = xstrdup(s->origin ? s->origin : "?");
	for (size_t pi = 0; pi < s->n_ports; pi++) {
		const struct svc_port *sp = &s->ports[pi];
		struct port_backends pb;

		collect_backends(slices, n, s, sp, o, zone, &pb);
		add_entry(b, s, sp, ENTRY_CLUSTER_IP, vip, &pb);
		for (size_t i = 0; i < s->n_external_ips; i++)
			if (s->external_ips[i].family == o->family)
				add_entry(b, s, sp, ENTRY_EXTERNAL, &s->external_ips[i], &pb);
		for (size_t i = 0; s->type == SVC_LOAD_BALANCER && i < s->n_lb_ips; i++)
			if (s->lb_ips[i].family == o->family)
				add_entry(b, s, sp, ENTRY_EXTERNAL, &s->lb_ips[i], &pb);
		if (node_ports && sp->node_port)
			add_entry(b, s, sp, ENTRY_NODE_PORT, NULL, &pb);
		if (pb.n_local > n_local_eps)
			n_local_eps = pb.n_local;
		port_backends_free(&pb);
	}
	if (node_ports && s->etp_local && s->health_check_node_port) {
		b->has_hc = true;
		b->hc.ns = xstrdup(s->ns);
		b->hc.name = xstrdup(s->name);
		b->hc.port = s->health_check_node_port;
		b->hc.local_endpoints = n_local_eps;
	}
	/* blocks live as long as the compiler caches them: keep no spare capacity (at 10k
	 * one-port Services, xgrow's minimum of 4 was 3 MB unused) */
	if (b->n && b->n < b->cap) {
		b->entries = xrealloc(b->entries, b->n * sizeof(*b->entries));
		b->cap = b->n;
	}
	return b;
}

/* ---- the compiler: a cache of blocks per Service -------------------------- */

struct unit {
	char *key;            /* "ns/name" */
	uint64_t gen;         /* of the Service decided from; 0: decide again */
	uint64_t *slice_gens; /* sorted */
	size_t n_slice_gens;
	struct entry_block *block; /* NULL: nothing in this family (not proxied, no address) */
	bool seen;
};

/* An entry with the rank of its block, for conflict resolution. */
struct ranked {
	const struct entry *e;
	const struct entry_block *b;
};

/* The slices of a model by the Service they belong to. */
struct slice_groups {
	struct bytemap first; /* hash of "ns/service-name" -> u32 first slice */
	uint32_t *next;       /* the next slice of the same hash, or UINT32_MAX */
	/* the slices of one Service, sorted, and their generations, sorted */
	struct endpoint_slice **mine;
	uint64_t *gens;
	size_t n_mine, cap_mine;
};

/* Changed positions a view may have and still be compiled as a change of the last view. */
#define VIEW_DIRTY_MAX 32

/*
 * The last compile's view, position by position: a view with the same
 * length whose objects differ in a few positions is a small change, and
 * only the Services of those positions' names are looked at again
 * (view_diff()). Pointers are compared, never followed: they may be gone.
 */
struct last_view {
	const void **svc, **slc;
	uint64_t *svc_hash, *slc_hash; /* the objects' name hashes */
	uint32_t *svc_unit;            /* the unit of each Service */
	size_t n_svc, n_slc, cap_svc, cap_slc;
	bool valid;
};

struct compiler {
	/* every live entry, sorted: merged with the new ones instead of a full sort */
	struct ranked *sorted;
	size_t n_sorted, cap_sorted;
	struct ranked *spare; /* the merge's other buffer: sorted and spare swap */
	size_t cap_spare;
	/*
	 * The compiler's own references to its last two outputs. Once every
	 * other holder has let go of the older one (the dataplanes keep the
	 * last synced state until the next sync replaces it), its arrays take
	 * the next output. Arrays this large (1 MB of entries at 10k Services)
	 * are mapped fresh when allocated, and the page faults of filling a
	 * fresh one cost far more than filling it (~2 ms per MB on a VM).
	 */
	struct desired kept[2];
	/* blocks replaced during a compile, released once the merge is done */
	struct entry_block **dead;
	size_t n_dead, cap_dead;
	int family;
	char *hostname, *zone;
	uint64_t addrs_hash; /* of the node addresses of the last compile */
	uint64_t cidrs_hash; /* of the cluster CIDRs the cache was compiled with */
	struct unit *units;
	size_t n_units, cap_units;
	struct bytemap index; /* 8-byte hash of "ns/name" -> u32 unit index */
	struct last_view last;
	/* the last view's slices by Service, by position: valid for a view of the same shape */
	struct slice_groups g;
	bool groups_valid;
	/* the names (hashes) of the positions that changed since the last view */
	uint64_t dirty[VIEW_DIRTY_MAX];
	size_t n_dirty;
	uint64_t dirty_bits; /* bit (hash & 63) of each: most names are told clean by it */
	uint64_t freed_seen; /* model_freed_since() count at the last compile */
	/* the last compile: a small change (view_diff()), and its slices' changed positions */
	bool small;
	size_t changed_slc[VIEW_DIRTY_MAX];
	size_t n_changed_slc;
};

static void slice_groups_free(struct slice_groups *g);

struct compiler *compiler_new(void)
{
	struct compiler *c = xcalloc(1, sizeof(*c));

	bytemap_init(&c->index, 8, 4);
	return c;
}

static void compiler_reset(struct compiler *c)
{
	for (size_t i = 0; i < c->n_units; i++) {
		free(c->units[i].key);
		free(c->units[i].slice_gens);
		block_unref(c->units[i].block);
	}
	c->n_units = 0;
	c->n_sorted = 0;
	bytemap_free(&c->index);
	c->last.valid = false;
}

/* b leaves the cache: it stays readable until compile_with() ends. */
static void block_retire(struct compiler *c, struct entry_block *b)
{
	if (!b)
		return;
	b->dead = true;
	c->dead = xgrow(c->dead, &c->cap_dead, c->n_dead + 1, sizeof(*c->dead));
	c->dead[c->n_dead++] = b;
}

void compiler_free(struct compiler *c)
{
	if (!c)
		return;
	compiler_reset(c);
	slice_groups_free(&c->g);
	free(c->last.svc);
	free(c->last.slc);
	free(c->last.svc_hash);
	free(c->last.slc_hash);
	free(c->last.svc_unit);
	free(c->units);
	free(c->sorted);
	free(c->spare);
	desired_free(&c->kept[0]);
	desired_free(&c->kept[1]);
	free(c->dead);
	free(c->hostname);
	free(c->zone);
	free(c);
}

/* The unit for ns/name: found, or a new empty one. */
/* Is key "ns/name"? */
static bool key_is(const char *key, const char *ns, const char *name)
{
	size_t l = strlen(ns);

	return !strncmp(key, ns, l) && key[l] == '/' && !strcmp(key + l + 1, name);
}

static struct unit *unit_get(struct compiler *c, const struct service *s)
{
	const char *ns = s->ns, *name = s->name;
	uint64_t h = s->hash;
	char *key;
	long i;
	uint32_t idx;

	/* on a hash collision, probe with the next hash value */
	for (;; h++) {
		i = bytemap_find(&c->index, &h);
		if (i < 0)
			break;
		memcpy(&idx, bytemap_data(&c->index, (size_t)i), 4);
		/* the same object (gen) needs no string compare */
		if (c->units[idx].gen == s->gen || key_is(c->units[idx].key, ns, name))
			return &c->units[idx];
	}
	key = xasprintf("%s/%s", ns, name);
	c->units = xgrow(c->units, &c->cap_units, c->n_units + 1, sizeof(*c->units));
	idx = (uint32_t)c->n_units++;
	memset(&c->units[idx], 0, sizeof(c->units[idx]));
	c->units[idx].key = key;
	bytemap_put(&c->index, &h, &idx, NULL);
	return &c->units[idx];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Drop units not seen in this sync and rebuild the index when any went;
 * unit_of (n_unit_of entries) holds unit indices, which follow the move.
 */
static void compiler_gc(struct compiler *c, uint32_t *unit_of, size_t n_unit_of)
{
	uint32_t *to = NULL;
	size_t w = 0;

	for (size_t i = 0; i < c->n_units; i++) {
		if (c->units[i].seen)
			continue;
		if (!to) /* the first unit to go: from here on indices move */
			to = xmalloc(c->n_units * sizeof(*to));
		free(c->units[i].key);
		free(c->units[i].slice_gens);
		block_retire(c, c->units[i].block);
	}
	if (!to)
		return;
	for (size_t i = 0; i < c->n_units; i++) {
		to[i] = (uint32_t)w;
		if (c->units[i].seen)
			c->units[w++] = c->units[i];
	}
	for (size_t i = 0; i < n_unit_of; i++)
		unit_of[i] = to[unit_of[i]];
	free(to);
	c->n_units = w;
	bytemap_free(&c->index);
	for (size_t i = 0; i < c->n_units; i++) {
		const char *slash = strchr(c->units[i].key, '/');
		char ns[256];
		size_t l = (size_t)(slash - c->units[i].key);
		uint64_t h;
		uint32_t idx = (uint32_t)i;

		if (l >= sizeof(ns))
			l = sizeof(ns) - 1;
		memcpy(ns, c->units[i].key, l);
		ns[l] = '\0';
		h = model_name_hash(ns, slash + 1);
		while (bytemap_find(&c->index, &h) >= 0)
			h++;
		bytemap_put(&c->index, &h, &idx, NULL);
	}
}

static int cmp_ranked(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	int c = entry_cmp(a->e, b->e);

	if (!c)
		c = cmp_str(a->b->ns, b->b->ns);
	return c ? c : cmp_str(a->b->name, b->b->name);
}

/* This node's zone, for topology: label topology.kubernetes.io/zone of its Node. */
static const char *node_zone(const struct model *m, const char *hostname)
{
	for (size_t i = 0; hostname && i < m->n_nodes; i++)
		if (m->nodes[i]->name && !strcmp(m->nodes[i]->name, hostname))
			return m->nodes[i]->zone;
	return NULL;
}

/* The cluster CIDRs, in order (they come from the command line). */
static uint64_t cidrs_hash(const struct compile_opts *o)
{
	uint64_t h = FNV1A_INIT;

	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		const struct cidr *x = &o->cluster_cidrs[i];

		h = fnv1a(h, &x->addr.family, sizeof(x->addr.family));
		h = fnv1a(h, x->addr.raw, x->addr.family == AF_INET ? 4 : 16);
		h = fnv1a(h, &x->prefix_len, sizeof(x->prefix_len));
	}
	return h;
}

/* What every block depends on besides its objects: a change drops the cache. */
static void compiler_set_context(struct compiler *c, const struct compile_opts *o, const char *zone)
{
	uint64_t ch = cidrs_hash(o);

	if (c->family == o->family && !cmp_str(c->hostname, o->hostname) &&
	    !cmp_str(c->zone, zone) && c->cidrs_hash == ch)
		return;
	compiler_reset(c);
	c->cidrs_hash = ch;
	c->family = o->family;
	free(c->hostname);
	free(c->zone);
	c->hostname = o->hostname ? xstrdup(o->hostname) : NULL;
	c->zone = zone ? xstrdup(zone) : NULL;
}

static void slice_groups_build(struct slice_groups *g, const struct model *m)
{
	memset(g, 0, sizeof(*g));
	bytemap_init(&g->first, 8, 4);
	g->next = xmalloc((m->n_slices ? m->n_slices : 1) * sizeof(*g->next));
	for (size_t i = m->n_slices; i-- > 0;) {
		uint64_t h = m->slices[i]->hash;
		long f = bytemap_find(&g->first, &h);
		uint32_t idx = (uint32_t)i;

		g->next[i] = UINT32_MAX;
		if (f >= 0)
			memcpy(&g->next[i], bytemap_data(&g->first, (size_t)f), 4);
		bytemap_put(&g->first, &h, &idx, NULL);
	}
}

static void slice_groups_free(struct slice_groups *g)
{
	bytemap_free(&g->first);
	free(g->next);
	free(g->mine);
	free(g->gens);
}

/* Fill g->mine and g->gens with the slices of Service s, sorted. */
static void slice_groups_select(struct slice_groups *g, const struct model *m,
                                const struct service *s)
{
	uint64_t h = s->hash;
	long f = bytemap_find(&g->first, &h);
	uint32_t idx;

	g->n_mine = 0;
	if (f < 0)
		return;
	memcpy(&idx, bytemap_data(&g->first, (size_t)f), 4);
	for (; idx != UINT32_MAX; idx = g->next[idx]) {
		struct endpoint_slice *e = m->slices[idx];

		/* the hash picked the group; the names decide */
		if (cmp_str(e->ns, s->ns) || cmp_str(e->service_name, s->name))
			continue;
		if (g->n_mine == g->cap_mine) {
			size_t cap = g->cap_mine;

			g->mine = xgrow(g->mine, &cap, g->n_mine + 1, sizeof(*g->mine));
			g->gens = xgrow(g->gens, &g->cap_mine, g->n_mine + 1, sizeof(*g->gens));
		}
		g->gens[g->n_mine] = e->gen;
		g->mine[g->n_mine++] = e;
	}
	if (g->n_mine > 1) {
		qsort(g->mine, g->n_mine, sizeof(*g->mine), cmp_slice);
		qsort(g->gens, g->n_mine, sizeof(*g->gens), cmp_u64);
	}
}

/*
 * Is u's block still right for Service s? Yes when s is the very object it
 * was compiled from and the slices in s's hash group are exactly the objects
 * it was compiled with. Generations are unique per object, so no name is
 * compared: a slice of another Service that shares the hash makes the sets
 * differ, and the caller then takes the slow path, which compares names.
 * This is what keeps a sync with one change from reading every Service's
 * and slice's strings.
 */
static bool unit_current(const struct unit *u, const struct service *s,
                         const struct slice_groups *g, const struct model *m)
{
	uint64_t h = s->hash;
	long f;
	uint32_t idx;
	size_t n = 0;

	if (!u->block || u->gen != s->gen)
		return false;
	f = bytemap_find(&g->first, &h);
	if (f < 0)
		return u->n_slice_gens == 0;
	memcpy(&idx, bytemap_data(&g->first, (size_t)f), 4);
	for (; idx != UINT32_MAX; idx = g->next[idx]) {
		uint64_t gen = m->slices[idx]->gen;

		if (++n > u->n_slice_gens ||
		    !bsearch(&gen, u->slice_gens, u->n_slice_gens, sizeof(gen), cmp_u64))
			return false;
	}
	return n == u->n_slice_gens;
}

/* Is a ClusterIP of s an address of this node? Then it is refused, reported in d. */
static bool cluster_ip_is_node(const struct service *s, const struct compile_opts *o,
                               struct diag *d)
{
	for (size_t i = 0; i < s->n_cluster_ips; i++)
		for (size_t j = 0; j < o->n_node_addrs; j++) {
			char a[IPADDR_STRLEN];

			if (!ipaddr_equal(&s->cluster_ips[i], &o->node_addrs[j]))
				continue;
			diag_add(
			    d,
			    "%s: Service %s/%s: spec.clusterIPs[%zu]: %s is an address of this "
			    "node; the Service is refused (it would capture every port of the "
			    "node)",
			    s->origin ? s->origin : "?", s->ns, s->name, i,
			    ipaddr_str(&s->cluster_ips[i], a));
			return true;
		}
	return false;
}

static const struct ipaddr *cluster_ip_of(const struct service *s, int family)
{
	for (size_t i = 0; i < s->n_cluster_ips; i++)
		if (s->cluster_ips[i].family == family)
			return &s->cluster_ips[i];
	return NULL;
}

/* Entries of the blocks compiled in this call, not yet in the sorted list. */
struct fresh {
	struct ranked *v;
	size_t n, cap;
};

/*
 * Bring unit u up to date with Service s and its slices g->mine: the
 * cached block when neither the Service nor any of its slices changed
 * (same generations), a new block otherwise, whose entries go to fresh.
 */
static void unit_refresh(struct compiler *c, struct unit *u, const struct service *s,
                         const struct slice_groups *g, const struct ipaddr *vip,
                         const struct compile_opts *o, struct fresh *fresh)
{
	size_t n = g->n_mine;

	if (u->block && u->gen == s->gen && u->n_slice_gens == n &&
	    (!n || !memcmp(u->slice_gens, g->gens, n * sizeof(*g->gens))))
		return;
	block_retire(c, u->block);
	u->block = compile_service(s, g->mine, n, vip, o, c->zone);
	for (size_t i = 0; i < u->block->n; i++) {
		fresh->v = xgrow(fresh->v, &fresh->cap, fresh->n + 1, sizeof(*fresh->v));
		fresh->v[fresh->n].e = &u->block->entries[i];
		fresh->v[fresh->n++].b = u->block;
	}
	u->gen = s->gen;
	free(u->slice_gens);
	u->slice_gens = n ? xmalloc(n * sizeof(*g->gens)) : NULL;
	if (n)
		memcpy(u->slice_gens, g->gens, n * sizeof(*g->gens));
	u->n_slice_gens = n;
}

/* The desired state holds a reference to every block it uses. */
static void desired_add_block(struct desired *out, struct entry_block *b)
{
	struct health_check *hc;

	out->blocks[out->n_blocks++] = b;
	b->refs++;
	if (!b->has_hc)
		return;
	out->health_checks = xrealloc(out->health_checks, (out->n_health_checks + 1) * sizeof(*hc));
	hc = &out->health_checks[out->n_health_checks++];
	*hc = b->hc;
	hc->ns = xstrdup(hc->ns);
	hc->name = xstrdup(hc->name);
}

/*
 * The entries of unchanged blocks are already in order in c->sorted:
 * merge the fresh entries (sorted among themselves) into them, dropping
 * the entries of retired blocks.
 */
static void merge_sorted(struct compiler *c, struct fresh *fresh)
{
	struct ranked *all =
	    xgrow(c->spare, &c->cap_spare, c->n_sorted + fresh->n + 1, sizeof(*all));
	const struct ranked *rk = fresh->v;
	size_t a = 0, b = 0, n = 0, cap = c->cap_spare;

	if (fresh->n > 1)
		qsort(fresh->v, fresh->n, sizeof(*fresh->v), cmp_ranked);
	while (a < c->n_sorted || b < fresh->n) {
		if (a < c->n_sorted && c->sorted[a].b->dead) {
			a++;
			continue;
		}
		if (b == fresh->n || (a < c->n_sorted && cmp_ranked(&c->sorted[a], &rk[b]) <= 0))
			all[n++] = c->sorted[a++];
		else
			all[n++] = rk[b++];
	}
	c->spare = c->sorted; /* the next merge's buffer */
	c->cap_spare = c->cap_sorted;
	c->sorted = all;
	c->cap_sorted = cap;
	c->n_sorted = n;
}

/* One address:port/protocol, one Service: the first by namespace/name. */
static void resolve_conflicts(const struct compiler *c, struct desired *out, struct diag *d)
{
	out->entries =
	    xrealloc(out->entries, (c->n_sorted ? c->n_sorted : 1) * sizeof(*out->entries));
	for (size_t i = 0; i < c->n_sorted; i++) {
		const struct ranked *r = &c->sorted[i];
		const struct entry *prev =
		    out->n_entries ? &out->entries[out->n_entries - 1] : NULL;
		char a[IPADDR_STRLEN];

		if (!prev || entry_cmp(prev, r->e)) {
			out->entries[out->n_entries++] = *r->e;
			continue;
		}
		diag_add(d,
		         "%s: Service %s/%s: %s: %s port %u/%s is already used by %s; "
		         "this port is not programmed",
		         r->b->origin, r->b->ns, r->b->name, entry_field(r->e->kind),
		         r->e->kind == ENTRY_NODE_PORT ? "node" : ipaddr_str(&r->e->addr, a),
		         r->e->port, l4proto_name(r->e->proto), prev->label);
	}
}

/* The node addresses, in any order (they refuse ClusterIPs: see cluster_ip_is_node()). */
static uint64_t addrs_hash(const struct compile_opts *o)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < o->n_node_addrs; i++) {
		const struct ipaddr *a = &o->node_addrs[i];

		sum += fnv1a(fnv1a(FNV1A_INIT, &a->family, sizeof(a->family)), a->raw,
		             a->family == AF_INET ? 4 : 16);
	}
	return sum;
}

/* What one compile carries from Service to Service. */
struct pass {
	const struct model *m;
	const struct compile_opts *o;
	bool trust; /* the node addresses are those of the last compile */
	struct fresh fresh;
	struct diag *d;
};

/* c->g for the view m: built at the first Service that needs it (none may: another family). */
static const struct slice_groups *groups(struct compiler *c, const struct model *m)
{
	if (!c->groups_valid) {
		slice_groups_free(&c->g);
		slice_groups_build(&c->g, m);
		c->groups_valid = true;
	}
	return &c->g;
}

/*
 * The block of Service s in this compile (u is its unit), or NULL when s
 * has nothing in this family. An object seen before is answered from the
 * unit without reading more of it than its generation; a refused one
 * (ClusterIP of this node) is decided again every time, so its message is
 * repeated as long as it stands.
 */
static struct entry_block *unit_update(struct compiler *c, struct unit *u, const struct service *s,
                                       struct pass *p)
{
	const struct ipaddr *vip;
	bool same = p->trust && u->gen == s->gen;

	if (same && !u->block)
		return NULL;
	if (same && unit_current(u, s, groups(c, p->m), p->m))
		return u->block;
	vip = cluster_ip_of(s, p->o->family);
	if (!service_is_proxied(s) || !vip || cluster_ip_is_node(s, p->o, p->d)) {
		block_retire(c, u->block);
		u->block = NULL;
		u->gen = vip && service_is_proxied(s) ? 0 : s->gen;
		free(u->slice_gens);
		u->slice_gens = NULL;
		u->n_slice_gens = 0;
		return NULL;
	}
	groups(c, p->m);
	slice_groups_select(&c->g, p->m, s);
	unit_refresh(c, u, s, &c->g, vip, p->o, &p->fresh);
	return u->block;
}

static bool dirty_add(struct compiler *c, uint64_t h)
{
	if (c->n_dirty == VIEW_DIRTY_MAX)
		return false;
	c->dirty[c->n_dirty++] = h;
	c->dirty_bits |= 1ull << (h & 63);
	return true;
}

static bool is_dirty(const struct compiler *c, uint64_t h)
{
	if (!(c->dirty_bits & (1ull << (h & 63))))
		return false;
	for (size_t i = 0; i < c->n_dirty; i++)
		if (c->dirty[i] == h)
			return true;
	return false;
}

/*
 * Is view m the last view with a few objects replaced in place (same
 * position, same name)? Then c->dirty holds those names, and the slice
 * groups of the last view still hold for m: a Service at an unchanged
 * position whose name is not dirty has exactly the objects of the last
 * compile, and its unit answers without a lookup. Anything else (objects
 * added, removed, moved, renamed, or many changed) is a new view.
 */
static int ptr_bit(const void *p)
{
	return (int)(((uintptr_t)p * 0x9e3779b97f4a7c15ull) >> 58);
}

/* Was p freed since the last compile (gone[0..n), bits: their ptr_bit()s)? */
static bool was_freed(const void *p, const void *const *gone, int n, uint64_t bits)
{
	if (!(bits & (1ull << ptr_bit(p))))
		return false;
	for (int i = 0; i < n; i++)
		if (gone[i] == p)
			return true;
	return false;
}

static bool view_diff(struct compiler *c, const struct model *m)
{
	const struct last_view *l = &c->last;
	const void *gone[MODEL_FREED_LOG];
	uint64_t now, bits = 0;
	int n_gone = model_freed_since(c->freed_seen, gone, &now);

	c->freed_seen = now;
	c->n_dirty = 0;
	c->dirty_bits = 0;
	c->n_changed_slc = 0;
	if (n_gone < 0 || !l->valid || m->n_services != l->n_svc || m->n_slices != l->n_slc)
		return false;
	for (int i = 0; i < n_gone; i++)
		bits |= 1ull << ptr_bit(gone[i]);
	/* the same address is the same object, unless it was freed meanwhile */
	for (size_t i = 0; i < l->n_svc; i++)
		if (((const void *)m->services[i] != l->svc[i] ||
		     was_freed(l->svc[i], gone, n_gone, bits)) &&
		    (m->services[i]->hash != l->svc_hash[i] || !dirty_add(c, l->svc_hash[i])))
			return false;
	for (size_t i = 0; i < l->n_slc; i++) {
		if ((const void *)m->slices[i] == l->slc[i] &&
		    !was_freed(l->slc[i], gone, n_gone, bits))
			continue;
		if (m->slices[i]->hash != l->slc_hash[i] || !dirty_add(c, l->slc_hash[i]))
			return false;
		c->changed_slc[c->n_changed_slc++] = i; /* no more than dirty names */
	}
	return true;
}

/* Remember view m for the next view_diff() (the units are in last.svc_unit already). */
static void view_record(struct compiler *c, const struct model *m, bool small_change)
{
	struct last_view *l = &c->last;

	l->n_svc = m->n_services;
	l->n_slc = m->n_slices;
	if (l->n_svc)
		memcpy(l->svc, m->services, m->n_services * sizeof(*l->svc));
	if (l->n_slc > l->cap_slc) {
		l->cap_slc = l->n_slc;
		l->slc = xrealloc(l->slc, l->cap_slc * sizeof(*l->slc));
		l->slc_hash = xrealloc(l->slc_hash, l->cap_slc * sizeof(*l->slc_hash));
	}
	if (l->n_slc)
		memcpy(l->slc, m->slices, m->n_slices * sizeof(*l->slc));
	/* a small change kept every name in its place */
	for (size_t i = 0; !small_change && i < l->n_svc; i++)
		l->svc_hash[i] = m->services[i]->hash;
	for (size_t i = 0; !small_change && i < l->n_slc; i++)
		l->slc_hash[i] = m->slices[i]->hash;
	l->valid = true;
}

/* Room in c->last for the units of n Services. */
static void view_reserve(struct last_view *l, size_t n)
{
	if (n <= l->cap_svc)
		return;
	l->cap_svc = n;
	l->svc = xrealloc(l->svc, n * sizeof(*l->svc));
	l->svc_hash = xrealloc(l->svc_hash, n * sizeof(*l->svc_hash));
	l->svc_unit = xrealloc(l->svc_unit, n * sizeof(*l->svc_unit));
}

/*
 * Unit of the Service at position si of a small change (view_diff()),
 * when its position and name are untouched: the unit of the last compile,
 * found without a lookup. NULL: look it up (and decide it again).
 */
static struct unit *unit_kept(struct compiler *c, size_t si, const struct model *m)
{
	const struct last_view *l = &c->last;
	struct unit *u;

	if ((const void *)m->services[si] != l->svc[si] || is_dirty(c, l->svc_hash[si]))
		return NULL;
	u = &c->units[l->svc_unit[si]];
	return u->gen ? u : NULL; /* gen 0: decided again every time */
}

/*
 * Let go of what a state holds but its two arrays (blocks, entries): its
 * blocks' references and its health checks.
 */
static void desired_drop(struct desired *ds)
{
	for (size_t i = 0; i < ds->n_blocks; i++)
		block_unref(ds->blocks[i]);
	for (size_t i = 0; i < ds->n_health_checks; i++) {
		free(ds->health_checks[i].ns);
		free(ds->health_checks[i].name);
	}
	free(ds->health_checks);
}

/*
 * A new, empty output in *out: on the arrays of the output before last
 * when no one but c holds that any more (c->kept), else on none.
 */
static void output_new(struct compiler *c, struct desired *out)
{
	struct desired *old = &c->kept[0];

	memset(out, 0, sizeof(*out));
	if (!old->refs || *old->refs != 1) {
		desired_free(old); /* c's reference only */
		out->refs = xmalloc(sizeof(*out->refs));
		*out->refs = 1;
		return;
	}
	desired_drop(old);
	out->refs = old->refs; /* 1: out's */
	out->blocks = old->blocks;
	out->entries = old->entries;
	memset(old, 0, sizeof(*old));
}

/*
 * group the slices by Service -> per Service: reuse or recompile its block
 * -> merge the new entries into the sorted list -> resolve conflicts.
 * A view that is the last one with a few objects replaced (view_diff())
 * costs those objects plus a pass over the units, not a lookup per Service.
 */
int compile_with(struct compiler *c, const struct model *m, const struct compile_opts *o,
                 struct desired *out, struct diag *d)
{
	uint64_t ah = addrs_hash(o);
	struct pass p = {.m = m, .o = o, .trust = ah == c->addrs_hash, .d = d};
	bool small;

	c->addrs_hash = ah;
	compiler_set_context(c, o, node_zone(m, o->hostname));
	small = p.trust && view_diff(c, m);
	c->small = small;
	if (!small) /* the groups are by position */
		c->groups_valid = false;
	view_reserve(&c->last, m->n_services);
	output_new(c, out);
	out->family = o->family;
	for (size_t i = 0; i < c->n_units; i++)
		c->units[i].seen = false;
	out->blocks =
	    xrealloc(out->blocks, (m->n_services ? m->n_services : 1) * sizeof(*out->blocks));
	for (size_t si = 0; si < m->n_services; si++) {
		const struct service *s = m->services[si];
		struct unit *u = small ? unit_kept(c, si, m) : NULL;
		struct entry_block *b;

		if (u) {
			b = u->block;
		} else {
			u = unit_get(c, s);
			c->last.svc_unit[si] = (uint32_t)(u - c->units);
			b = unit_update(c, u, s, &p);
		}
		u->seen = true;
		if (!b)
			continue;
		out->n_services++;
		desired_add_block(out, b);
	}
	compiler_gc(c, c->last.svc_unit, m->n_services);
	if (p.fresh.n || c->n_dead)
		merge_sorted(c, &p.fresh);
	resolve_conflicts(c, out, d);
	/* the sorted list no longer reads the replaced blocks */
	for (size_t i = 0; i < c->n_dead; i++)
		block_unref(c->dead[i]);
	c->n_dead = 0;
	free(p.fresh.v);
	view_record(c, m, small);
	c->kept[0] = c->kept[1];
	desired_copy(&c->kept[1], out);
	return 0;
}

void compiler_new_slices(const struct compiler *c, const struct model *m,
                         void (*fn)(const struct endpoint_slice *e, void *arg), void *arg)
{
	if (!c->small) {
		for (size_t i = 0; i < m->n_slices; i++)
			fn(m->slices[i], arg);
		return;
	}
	for (size_t i = 0; i < c->n_changed_slc; i++)
		fn(m->slices[c->changed_slc[i]], arg);
}

int compile(const struct model *m, const struct compile_opts *o, struct desired *out,
            struct diag *d)
{
	struct compiler *c = compiler_new();
	int ret = compile_with(c, m, o, out, d);

	compiler_free(c); /* out keeps its own references to the blocks */
	return ret;
}

void desired_free(struct desired *ds)
{
	if (!ds)
		return;
	if (ds->refs && --*ds->refs) { /* other holders still read the arrays */
		memset(ds, 0, sizeof(*ds));
		return;
	}
	free(ds->refs);
	desired_drop(ds);
	free(ds->blocks);
	free(ds->entries);
	memset(ds, 0, sizeof(*ds));
}

void desired_copy(struct desired *dst, const struct desired *src)
{
	*dst = *src;
	if (src->refs) {
		++*src->refs;
		return;
	}
	/* a zeroed desired state (no family compiled) has NULL arrays: no memcpy from NULL */
	dst->entries = xmalloc((src->n_entries ? src->n_entries : 1) * sizeof(*dst->entries));
	if (src->n_entries)
		memcpy(dst->entries, src->entries, src->n_entries * sizeof(*dst->entries));
	dst->blocks = xmalloc((src->n_blocks ? src->n_blocks : 1) * sizeof(*dst->blocks));
	if (src->n_blocks)
		memcpy(dst->blocks, src->blocks, src->n_blocks * sizeof(*dst->blocks));
	for (size_t i = 0; i < src->n_blocks; i++)
		dst->blocks[i]->refs++;
	dst->health_checks = xmalloc((src->n_health_checks ? src->n_health_checks : 1) *
	                             sizeof(*dst->health_checks));
	for (size_t i = 0; i < src->n_health_checks; i++) {
		dst->health_checks[i] = src->health_checks[i];
		dst->health_checks[i].ns = xstrdup(src->health_checks[i].ns);
		dst->health_checks[i].name = xstrdup(src->health_checks[i].name);
	}
}
