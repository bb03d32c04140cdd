/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dataplane/elemset.h"

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

static int cmp_backend(const void *pa, const void *pb)
{
	const struct backend *a = pa, *b = pb;
	int c = ipaddr_cmp(&a->addr, &b->addr);

	return c ? c : (int)a->port - (int)b->port;
}

int entry_cmp(const struct entry *a, const struct entry *b)
{
	int c = ipaddr_cmp(&a->addr, &b->addr);

	if (!c)
		c = (int)a->proto - (int)b->proto;
	return c ? c : (int)a->port - (int)b->port;
}

/* An entry before conflict resolution, with the rank of its Service. */
/* The port of slice e that carries Service port sp, or NULL. */
static const struct eps_port *slice_port_for(const struct endpoint_slice *e,
                                             const struct svc_port *sp)
{
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i].proto == sp->proto && !cmp_str(e->ports[i].name, sp->name))
			return &e->ports[i];
	if (!sp->target_port_name)
		return NULL;
	for (size_t i = 0; i < e->n_ports; i++)
		if (e->ports[i].proto == sp->proto &&
		    !cmp_str(e->ports[i].name, sp->target_port_name))
			return &e->ports[i];
	return NULL;
}

struct cand {
	struct backend b;
	const struct endpoint *ep;
};

static int cmp_cand(const void *pa, const void *pb)
{
	return cmp_backend(&((const struct cand *)pa)->b, &((const struct cand *)pb)->b);
}

/* Is endpoint ep hinted for zone? Without hints, PreferClose hints it for its own zone. */
static bool hinted_for(const struct endpoint *ep, const char *zone, bool prefer_close)
{
	if (!ep->n_hint_zones)
		return prefer_close && ep->zone && !strcmp(ep->zone, zone);
	for (size_t i = 0; i < ep->n_hint_zones; i++)
		if (!strcmp(ep->hint_zones[i], zone))
			return true;
	return false;
}

static bool has_hints(const struct endpoint *ep, bool prefer_close)
{
	return ep->n_hint_zones || (prefer_close && ep->zone);
}

/*
 * Topology (kube-proxy's canUseTopology): only with ready endpoints, when
 * every one of them has a zone hint and one at least is hinted for this
 * node's zone.
 */
static bool topology_usable(const struct cand *c, size_t n, const char *zone, bool prefer_close)
{
	bool for_zone = false;

	if (!zone)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].ep->ready)
			return false; /* the serving+terminating fallback: no topology */
		if (!has_hints(c[i].ep, prefer_close))
			return false;
		for_zone |= hinted_for(c[i].ep, zone, prefer_close);
	}
	return for_zone;
}

/*
 * Collect the backends of Service port sp from the slices [first, end), as
 * kube-proxy's CategorizeEndpoints does, each list sorted, duplicates
 * merged, malloc'd:
 *  - *all: ready endpoints, or when none is ready the serving+terminating
 *    ones: "does this Service have an endpoint at all" (reject or not);
 *  - *cluster: what cluster traffic uses: the ready ones topology leaves,
 *    or the serving+terminating ones when none is ready;
 *  - *local: this node's ready endpoints, or when it has none ready its
 *    serving+terminating ones (the fallback is per traffic policy).
 */
static void collect_backends(struct endpoint_slice **slices, size_t first, size_t end,
                             const struct service *svc, const struct svc_port *sp,
                             const struct compile_opts *o, const char *zone, struct backend **all,
                             size_t *n_all, struct backend **cluster, size_t *n_cluster,
                             struct backend **local, size_t *n_local)
{
	bool prefer_close =
	    svc->traffic_distribution && (!strcmp(svc->traffic_distribution, "PreferClose") ||
	                                  !strcmp(svc->traffic_distribution, "PreferSameZone"));
	struct cand *v = NULL, *ready, *term;
	size_t n = 0, cap = 0, n_ready = 0, n_term = 0, n_lr = 0;
	bool topo;

	for (size_t s = first; s < end; s++) {
		const struct endpoint_slice *e = slices[s];
		const struct eps_port *pp;

		if (e->family != o->family)
			continue;
		pp = slice_port_for(e, sp);
		if (!pp || pp->port == 0)
			continue;
		for (size_t i = 0; i < e->n_endpoints; i++) {
			const struct endpoint *ep = &e->endpoints[i];

			if (!(ep->ready || (ep->serving && ep->terminating)) ||
			    ep->addr.family != o->family)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n].b.addr = ep->addr;
			v[n].b.port = pp->port;
			v[n].b.local =
			    o->hostname && ep->node_name && !strcmp(o->hostname, ep->node_name);
			v[n].b.remote =
			    o->hostname && ep->node_name && strcmp(o->hostname, ep->node_name);
			v[n].ep = ep;
			n++;
		}
	}
	if (n > 1) {
		size_t w = 1;

		qsort(v, n, sizeof(*v), cmp_cand);
		for (size_t r = 1; r < n; r++) {
			if (cmp_backend(&v[r].b, &v[w - 1].b)) {
				v[w++] = v[r];
				continue;
			}
			/* the same address:port twice: ready wins, local sticks */
			v[w - 1].b.local |= v[r].b.local;
			v[w - 1].b.remote &= v[r].b.remote;
			if (v[r].ep->ready && !v[w - 1].ep->ready)
				v[w - 1].ep = v[r].ep;
		}
		n = w;
	}
	/* split: ready first, serving+terminating after, order kept */
	ready = xmalloc((n ? n : 1) * sizeof(*ready));
	term = xmalloc((n ? n : 1) * sizeof(*term));
	for (size_t i = 0; i < n; i++) {
		if (v[i].ep->ready) {
			ready[n_ready++] = v[i];
			n_lr += v[i].b.local;
		} else {
			term[n_term++] = v[i];
		}
	}
	{
		const struct cand *use = n_ready ? ready : term;
		size_t n_use = n_ready ? n_ready : n_term;
		const struct cand *luse = n_lr ? ready : term;
		size_t n_luse = n_lr ? n_ready : n_term;

		topo = n_ready && topology_usable(ready, n_ready, zone, prefer_close);
		*all = n_use ? xmalloc(n_use * sizeof(**all)) : NULL;
		*cluster = n_use ? xmalloc(n_use * sizeof(**cluster)) : NULL;
		*local = n_luse ? xmalloc(n_luse * sizeof(**local)) : NULL;
		*n_cluster = *n_local = 0;
		for (size_t i = 0; i < n_use; i++) {
			(*all)[i] = use[i].b;
			if (!topo || hinted_for(use[i].ep, zone, prefer_close))
				(*cluster)[(*n_cluster)++] = use[i].b;
		}
		for (size_t i = 0; i < n_luse; i++)
			if (luse[i].b.local)
				(*local)[(*n_local)++] = luse[i].b;
		*n_all = n_use;
	}
	free(ready);
	free(term);
	free(v);
}

/* A copy of v[0..n), only the local ones when local_only. */
static struct backend *backends_copy(const struct backend *v, size_t n, bool local_only,
                                     size_t *nout)
{
	struct backend *c = n ? xmalloc(n * sizeof(*c)) : NULL;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!local_only || v[i].local)
			c[k++] = v[i];
	*nout = k;
	return c;
}

static bool service_is_proxied(const struct service *s)
{
	return !s->ignored && !s->headless && s->type != SVC_EXTERNAL_NAME;
}

static char *port_label(const struct service *s, const struct svc_port *sp)
{
	char *l;

	if (asprintf(&l, "%s/%s%s%s", s->ns, s->name, sp->name && *sp->name ? ":" : "",
	             sp->name ? sp->name : "") < 0)
		die_oom();
	return l;
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
                      enum entry_kind kind, const struct ipaddr *addr, size_t n_all,
                      const struct backend *cluster, size_t n_cluster, const struct backend *local,
                      size_t n_local)
{
	bool external = kind != ENTRY_CLUSTER_IP;
	bool local_only = external ? s->etp_local : s->itp_local;
	struct entry *e;

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4;
		b->entries = xrealloc(b->entries, b->cap * sizeof(*b->entries));
	}
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
		e->backends = backends_copy(local, n_local, false, &e->n_backends);
	else
		e->backends = backends_copy(cluster, n_cluster, false, &e->n_backends);
	e->n_all = n_all;
	if (external && s->etp_local) {
		e->etp_local = true;
		e->all_backends = backends_copy(cluster, n_cluster, false, &e->n_all_backends);
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
static struct entry_block *compile_service(const struct service *s, struct endpoint_slice **slices,
                                           size_t n, const struct ipaddr *vip,
                                           const struct compile_opts *o, const char *zone)
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
		struct backend *all, *cl, *loc;
		size_t n_all, n_cl, n_loc;

		collect_backends(slices, 0, n, s, sp, o, zone, &all, &n_all, &cl, &n_cl, &loc,
		                 &n_loc);
		add_entry(b, s, sp, ENTRY_CLUSTER_IP, vip, n_all, cl, n_cl, loc, n_loc);
		for (size_t i = 0; i < s->n_external_ips; i++)
			if (s->external_ips[i].family == o->family)
				add_entry(b, s, sp, ENTRY_EXTERNAL, &s->external_ips[i], n_all, cl,
				          n_cl, loc, n_loc);
		for (size_t i = 0; s->type == SVC_LOAD_BALANCER && i < s->n_lb_ips; i++)
			if (s->lb_ips[i].family == o->family)
				add_entry(b, s, sp, ENTRY_EXTERNAL, &s->lb_ips[i], n_all, cl, n_cl,
				          loc, n_loc);
		if (node_ports && sp->node_port)
			add_entry(b, s, sp, ENTRY_NODE_PORT, NULL, n_all, cl, n_cl, loc, n_loc);
		if (n_loc > n_local_eps)
			n_local_eps = n_loc;
		free(all);
		free(cl);
		free(loc);
	}
	if (node_ports && s->etp_local && s->health_check_node_port) {
		b->has_hc = true;
		b->hc.ns = xstrdup(s->ns);
		b->hc.name = xstrdup(s->name);
		b->hc.port = s->health_check_node_port;
		b->hc.local_endpoints = n_local_eps;
	}
	return b;
}

/* ---- the compiler: a cache of blocks per Service -------------------------- */

struct unit {
	char *key;            /* "ns/name" */
	uint64_t gen;         /* of the Service */
	uint64_t *slice_gens; /* sorted */
	size_t n_slice_gens;
	struct entry_block *block; /* NULL: not proxied in this family */
	bool seen;
};

/* An entry with the rank of its block, for conflict resolution. */
struct ranked {
	const struct entry *e;
	const struct entry_block *b;
};

struct compiler {
	/* every live entry, sorted: merged with the new ones instead of a full sort */
	struct ranked *sorted;
	size_t n_sorted;
	/* blocks replaced during a compile, released once the merge is done */
	struct entry_block **dead;
	size_t n_dead, cap_dead;
	int family;
	char *hostname, *zone;
	struct unit *units;
	size_t n_units, cap_units;
	struct elemset index; /* 8-byte hash of "ns/name" -> u32 unit index */
};

struct compiler *compiler_new(void)
{
	struct compiler *c = xcalloc(1, sizeof(*c));

	elemset_init(&c->index, 8, 4);
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
	elemset_free(&c->index);
}

/* b leaves the cache: it stays readable until compile_with() ends. */
static void block_retire(struct compiler *c, struct entry_block *b)
{
	if (!b)
		return;
	b->dead = true;
	if (c->n_dead == c->cap_dead) {
		c->cap_dead = c->cap_dead ? c->cap_dead * 2 : 16;
		c->dead = xrealloc(c->dead, c->cap_dead * sizeof(*c->dead));
	}
	c->dead[c->n_dead++] = b;
}

void compiler_free(struct compiler *c)
{
	if (!c)
		return;
	compiler_reset(c);
	free(c->units);
	free(c->sorted);
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
		i = elemset_find(&c->index, &h);
		if (i < 0)
			break;
		memcpy(&idx, elemset_data(&c->index, (size_t)i), 4);
		/* the same object (gen) needs no string compare */
		if (c->units[idx].gen == s->gen || key_is(c->units[idx].key, ns, name))
			return &c->units[idx];
	}
	if (asprintf(&key, "%s/%s", ns, name) < 0)
		die_oom();
	if (c->n_units == c->cap_units) {
		c->cap_units = c->cap_units ? c->cap_units * 2 : 64;
		c->units = xrealloc(c->units, c->cap_units * sizeof(*c->units));
	}
	idx = (uint32_t)c->n_units++;
	memset(&c->units[idx], 0, sizeof(c->units[idx]));
	c->units[idx].key = key;
	elemset_put(&c->index, &h, &idx, NULL);
	return &c->units[idx];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Drop units not seen in this sync, and rebuild the index when many went. */
static void compiler_gc(struct compiler *c)
{
	size_t w = 0;

	for (size_t i = 0; i < c->n_units; i++) {
		if (c->units[i].seen) {
			c->units[w++] = c->units[i];
			continue;
		}
		free(c->units[i].key);
		free(c->units[i].slice_gens);
		block_retire(c, c->units[i].block);
	}
	if (w == c->n_units)
		return;
	c->n_units = w;
	elemset_free(&c->index);
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
		while (elemset_find(&c->index, &h) >= 0)
			h++;
		elemset_put(&c->index, &h, &idx, NULL);
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

int compile_with(struct compiler *c, const struct model *m, const struct compile_opts *o,
                 struct desired *out, struct diag *d)
{
	const char *zone = NULL;
	struct elemset groups; /* hash of "ns/service-name" -> u32 first slice */
	uint32_t *next = NULL;
	struct endpoint_slice **mine = NULL;
	size_t cap_mine = 0, n_ranked = 0, cap_ranked = 0;
	uint64_t *gens = NULL;
	struct ranked *rk = NULL;

	/* this node's zone, for topology: label topology.kubernetes.io/zone of its Node */
	for (size_t i = 0; o->hostname && i < m->n_nodes; i++)
		if (m->nodes[i]->name && !strcmp(m->nodes[i]->name, o->hostname))
			zone = m->nodes[i]->zone;
	/* what every block depends on besides its objects: a change drops the cache */
	if (c->family != o->family || cmp_str(c->hostname, o->hostname) || cmp_str(c->zone, zone)) {
		compiler_reset(c);
		c->family = o->family;
		free(c->hostname);
		free(c->zone);
		c->hostname = o->hostname ? xstrdup(o->hostname) : NULL;
		c->zone = zone ? xstrdup(zone) : NULL;
	}
	memset(out, 0, sizeof(*out));
	out->family = o->family;

	/* slices by (namespace, service name): chains through next[] */
	elemset_init(&groups, 8, 4);
	next = xmalloc((m->n_slices ? m->n_slices : 1) * sizeof(*next));
	for (size_t i = m->n_slices; i-- > 0;) {
		uint64_t h = m->slices[i]->hash;
		long g = elemset_find(&groups, &h);
		uint32_t idx = (uint32_t)i;

		next[i] = UINT32_MAX;
		if (g >= 0)
			memcpy(&next[i], elemset_data(&groups, (size_t)g), 4);
		elemset_put(&groups, &h, &idx, NULL);
	}

	for (size_t i = 0; i < c->n_units; i++)
		c->units[i].seen = false;
	out->blocks = xmalloc((m->n_services ? m->n_services : 1) * sizeof(*out->blocks));
	for (size_t si = 0; si < m->n_services; si++) {
		const struct service *s = m->services[si];
		const struct ipaddr *vip = NULL;
		uint64_t h = s->hash;
		long g = elemset_find(&groups, &h);
		size_t n_mine = 0;
		struct unit *u;
		bool same;

		if (!service_is_proxied(s))
			continue;
		for (size_t i = 0; i < s->n_cluster_ips; i++)
			if (s->cluster_ips[i].family == o->family) {
				vip = &s->cluster_ips[i];
				break;
			}
		if (!vip)
			continue;
		out->n_services++;
		if (g >= 0) {
			uint32_t idx;

			memcpy(&idx, elemset_data(&groups, (size_t)g), 4);
			for (; idx != UINT32_MAX; idx = next[idx]) {
				struct endpoint_slice *e = m->slices[idx];

				/* the hash picked the group; the names decide */
				if (cmp_str(e->ns, s->ns) || cmp_str(e->service_name, s->name))
					continue;
				if (n_mine == cap_mine) {
					cap_mine = cap_mine ? cap_mine * 2 : 16;
					mine = xrealloc(mine, cap_mine * sizeof(*mine));
					gens = xrealloc(gens, cap_mine * sizeof(*gens));
				}
				gens[n_mine] = e->gen;
				mine[n_mine++] = e;
			}
		}
		if (n_mine > 1) {
			qsort(mine, n_mine, sizeof(*mine), cmp_slice);
			qsort(gens, n_mine, sizeof(*gens), cmp_u64);
		}
		u = unit_get(c, s);
		same = u->block && u->gen == s->gen && u->n_slice_gens == n_mine &&
		       (!n_mine || !memcmp(u->slice_gens, gens, n_mine * sizeof(*gens)));
		u->seen = true;
		if (!same) {
			block_retire(c, u->block);
			u->block = compile_service(s, mine, n_mine, vip, o, zone);
			/* its entries join the sorted list by merge below */
			for (size_t i = 0; i < u->block->n; i++) {
				if (n_ranked == cap_ranked) {
					cap_ranked = cap_ranked ? cap_ranked * 2 : 64;
					rk = xrealloc(rk, cap_ranked * sizeof(*rk));
				}
				rk[n_ranked].e = &u->block->entries[i];
				rk[n_ranked++].b = u->block;
			}
			u->gen = s->gen;
			free(u->slice_gens);
			u->slice_gens = n_mine ? xmalloc(n_mine * sizeof(*gens)) : NULL;
			if (n_mine)
				memcpy(u->slice_gens, gens, n_mine * sizeof(*gens));
			u->n_slice_gens = n_mine;
		}
		/* the desired state holds a reference to every block it uses */
		out->blocks[out->n_blocks++] = u->block;
		u->block->refs++;
		if (u->block->has_hc) {
			struct health_check *hc;

			out->health_checks =
			    xrealloc(out->health_checks, (out->n_health_checks + 1) * sizeof(*hc));
			hc = &out->health_checks[out->n_health_checks++];
			*hc = u->block->hc;
			hc->ns = xstrdup(hc->ns);
			hc->name = xstrdup(hc->name);
		}
	}
	compiler_gc(c);

	/*
	 * The entries of unchanged blocks are already in order in c->sorted:
	 * merge the new blocks' entries (sorted among themselves) into them.
	 */
	if (n_ranked > 1)
		qsort(rk, n_ranked, sizeof(*rk), cmp_ranked);
	{
		struct ranked *all = xmalloc((c->n_sorted + n_ranked + 1) * sizeof(*all));
		size_t a = 0, b = 0, n = 0;

		while (a < c->n_sorted || b < n_ranked) {
			if (a < c->n_sorted && c->sorted[a].b->dead) {
				a++;
				continue;
			}
			if (b == n_ranked ||
			    (a < c->n_sorted && cmp_ranked(&c->sorted[a], &rk[b]) <= 0))
				all[n++] = c->sorted[a++];
			else
				all[n++] = rk[b++];
		}
		free(c->sorted);
		free(rk);
		c->sorted = all;
		c->n_sorted = n;
		rk = all;
		n_ranked = n;
	}

	/* one address:port/protocol, one Service: the first by namespace/name */
	out->entries = xmalloc((n_ranked ? n_ranked : 1) * sizeof(*out->entries));
	for (size_t i = 0; i < n_ranked; i++) {
		const struct entry *prev =
		    out->n_entries ? &out->entries[out->n_entries - 1] : NULL;
		char a[IPADDR_STRLEN];

		if (!prev || entry_cmp(prev, rk[i].e)) {
			out->entries[out->n_entries++] = *rk[i].e;
			continue;
		}
		diag_add(d,
		         "%s: Service %s/%s: %s: %s port %u/%s is already used by %s; "
		         "this port is not programmed",
		         rk[i].b->origin, rk[i].b->ns, rk[i].b->name, entry_field(rk[i].e->kind),
		         rk[i].e->kind == ENTRY_NODE_PORT ? "node" : ipaddr_str(&rk[i].e->addr, a),
		         rk[i].e->port, l4proto_name(rk[i].e->proto), prev->label);
	}
	/* rk is c->sorted now; the replaced blocks are no longer read */
	for (size_t i = 0; i < c->n_dead; i++)
		block_unref(c->dead[i]);
	c->n_dead = 0;
	free(mine);
	free(gens);
	free(next);
	elemset_free(&groups);
	return 0;
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
	for (size_t i = 0; i < ds->n_blocks; i++)
		block_unref(ds->blocks[i]);
	free(ds->blocks);
	free(ds->entries);
	for (size_t i = 0; i < ds->n_health_checks; i++) {
		free(ds->health_checks[i].ns);
		free(ds->health_checks[i].name);
	}
	free(ds->health_checks);
	memset(ds, 0, sizeof(*ds));
}

void desired_copy(struct desired *dst, const struct desired *src)
{
	*dst = *src;
	dst->entries = xmalloc((src->n_entries ? src->n_entries : 1) * sizeof(*dst->entries));
	memcpy(dst->entries, src->entries, src->n_entries * sizeof(*dst->entries));
	dst->blocks = xmalloc((src->n_blocks ? src->n_blocks : 1) * sizeof(*dst->blocks));
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
