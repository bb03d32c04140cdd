/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * endpoints.c - endpoint selection for one Service port: gather the usable
 * endpoints of its slices, merge duplicates, then split them by readiness,
 * locality and topology (see endpoints.h and compile.h for the rules).
 */
#include "compile/endpoints.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_backend(const void *pa, const void *pb)
{
	const struct backend *a = pa, *b = pb;
	int c = ipaddr_cmp(&a->addr, &b->addr);

	return c ? c : (int)a->port - (int)b->port;
}

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

/* Candidates of several slices, growing. */
struct cands {
	struct cand *v;
	size_t n, cap;
};

/* Is a cluster CIDR of a's family known, and a outside all of them? */
static bool outside_pods(const struct compile_opts *o, const struct ipaddr *a)
{
	bool known = false;

	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		if (o->cluster_cidrs[i].addr.family != a->family)
			continue;
		if (cidr_contains(&o->cluster_cidrs[i], a))
			return false;
		known = true;
	}
	return known;
}

/* Step 1: every usable endpoint of this family in the slices, for port sp. */
static void gather_cands(struct cands *c, struct endpoint_slice *const *slices, size_t n_slices,
                         const struct svc_port *sp, const struct compile_opts *o)
{
	for (size_t s = 0; s < n_slices; s++) {
		const struct endpoint_slice *e = slices[s];
		const struct eps_port *pp;

		if (e->family != o->family)
			continue;
		pp = slice_port_for(e, sp);
		if (!pp || pp->port == 0)
			continue;
		for (size_t i = 0; i < e->n_endpoints; i++) {
			const struct endpoint *ep = &e->endpoints[i];
			bool named = o->hostname && ep->node_name;
			struct cand *cd;

			if (!(ep->ready || (ep->serving && ep->terminating)) ||
			    ep->addr.family != o->family)
				continue;
			c->v = xgrow(c->v, &c->cap, c->n + 1, sizeof(*c->v));
			cd = &c->v[c->n];
			cd->b = (struct backend){
			    .addr = ep->addr,
			    .port = pp->port,
			    .local = named && !strcmp(o->hostname, ep->node_name),
			    .remote = named ? strcmp(o->hostname, ep->node_name) != 0
			                    : outside_pods(o, &ep->addr),
			};
			cd->ep = ep;
			c->n++;
		}
	}
}

/* Step 2: sort; the same address:port twice counts once (ready wins, local sticks). */
static void merge_cands(struct cands *c)
{
	size_t w = 1;

	if (c->n < 2)
		return;
	qsort(c->v, c->n, sizeof(*c->v), cmp_cand);
	for (size_t r = 1; r < c->n; r++) {
		struct cand *last = &c->v[w - 1];

		if (cmp_backend(&c->v[r].b, &last->b)) {
			c->v[w++] = c->v[r];
			continue;
		}
		last->b.local |= c->v[r].b.local;
		last->b.remote &= c->v[r].b.remote;
		if (c->v[r].ep->ready && !last->ep->ready)
			last->ep = c->v[r].ep;
	}
	c->n = w;
}

/* Step 3: the three lists of struct port_backends from merged candidates. */
static void select_backends(const struct cands *c, const char *zone, bool prefer_close,
                            struct port_backends *out)
{
	struct cand *ready = xmalloc((c->n ? c->n : 1) * sizeof(*ready));
	struct cand *term = xmalloc((c->n ? c->n : 1) * sizeof(*term));
	size_t n_ready = 0, n_term = 0, n_local_ready = 0;
	const struct cand *use, *luse;
	size_t n_use, n_luse;
	bool topo;

	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].ep->ready) {
			ready[n_ready++] = c->v[i];
			n_local_ready += c->v[i].b.local;
		} else {
			term[n_term++] = c->v[i];
		}
	}
	/* the serving+terminating fallback, decided for cluster and local apart */
	use = n_ready ? ready : term;
	n_use = n_ready ? n_ready : n_term;
	luse = n_local_ready ? ready : term;
	n_luse = n_local_ready ? n_ready : n_term;
	topo = n_ready && topology_usable(ready, n_ready, zone, prefer_close);

	memset(out, 0, sizeof(*out));
	out->all = n_use ? xmalloc(n_use * sizeof(*out->all)) : NULL;
	out->cluster = n_use ? xmalloc(n_use * sizeof(*out->cluster)) : NULL;
	out->local = n_luse ? xmalloc(n_luse * sizeof(*out->local)) : NULL;
	for (size_t i = 0; i < n_use; i++) {
		out->all[i] = use[i].b;
		if (!topo || hinted_for(use[i].ep, zone, prefer_close))
			out->cluster[out->n_cluster++] = use[i].b;
	}
	out->n_all = n_use;
	for (size_t i = 0; i < n_luse; i++)
		if (luse[i].b.local)
			out->local[out->n_local++] = luse[i].b;
	free(ready);
	free(term);
}

void collect_backends(struct endpoint_slice *const *slices, size_t n_slices,
                      const struct service *svc, const struct svc_port *sp,
                      const struct compile_opts *o, const char *zone, struct port_backends *out)
{
	const char *td = svc->traffic_distribution;
	bool prefer_close = td && (!strcmp(td, "PreferClose") || !strcmp(td, "PreferSameZone"));
	struct cands c = {0};

	gather_cands(&c, slices, n_slices, sp, o);
	merge_cands(&c);
	select_backends(&c, zone, prefer_close, out);
	free(c.v);
}

void port_backends_free(struct port_backends *pb)
{
	free(pb->all);
	free(pb->cluster);
	free(pb->local);
}
