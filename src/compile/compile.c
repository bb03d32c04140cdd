/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_service(const void *pa, const void *pb)
{
	const struct service *a = *(const struct service *const *)pa;
	const struct service *b = *(const struct service *const *)pb;
	int c = cmp_str(a->ns, b->ns);

	return c ? c : cmp_str(a->name, b->name);
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

static int entry_key_cmp(const struct entry *a, const struct entry *b)
{
	int c = ipaddr_cmp(&a->addr, &b->addr);

	if (!c)
		c = (int)a->proto - (int)b->proto;
	return c ? c : (int)a->port - (int)b->port;
}

/* An entry before conflict resolution, with the rank of its Service. */
struct pending {
	struct entry e;
	size_t rank; /* service order, for conflict resolution */
	const struct service *svc;
};

static int cmp_pending(const void *pa, const void *pb)
{
	const struct pending *a = pa, *b = pb;
	int c = entry_key_cmp(&a->e, &b->e);

	if (c)
		return c;
	return a->rank < b->rank ? -1 : a->rank > b->rank;
}

/* First index in sorted slices[] of the group (ns, name), n if none. */
static size_t slices_find(struct endpoint_slice **slices, size_t n, const char *ns,
                          const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_str(slices[mid]->ns, ns);

		if (!c)
			c = cmp_str(slices[mid]->service_name, name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
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

/*
 * Collect the usable backends of Service port sp from the slices
 * [first, end): ready endpoints; if there are none, serving+terminating
 * ones. Sorted, duplicates merged. *all gets them all (for Local policies
 * and the reject/drop choice), *cluster those topology leaves to cluster
 * traffic (the same list when topology does not apply). Both malloc'd.
 */
static void collect_backends(struct endpoint_slice **slices, size_t first, size_t end,
                             const struct service *svc, const struct svc_port *sp,
                             const struct compile_opts *o, const char *zone, struct backend **all,
                             size_t *n_all, struct backend **cluster, size_t *n_cluster)
{
	bool prefer_close =
	    svc->traffic_distribution && (!strcmp(svc->traffic_distribution, "PreferClose") ||
	                                  !strcmp(svc->traffic_distribution, "PreferSameZone"));
	struct cand *v = NULL;
	size_t n = 0, cap = 0;
	bool topo;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
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
				bool usable =
				    pass == 0 ? ep->ready : ep->serving && ep->terminating;

				if (!usable || ep->addr.family != o->family)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 8;
					v = xrealloc(v, cap * sizeof(*v));
				}
				v[n].b.addr = ep->addr;
				v[n].b.port = pp->port;
				v[n].b.local = o->hostname && ep->node_name &&
				               !strcmp(o->hostname, ep->node_name);
				v[n].ep = ep;
				n++;
			}
		}
	}
	if (n > 1) {
		size_t w = 1;

		qsort(v, n, sizeof(*v), cmp_cand);
		for (size_t r = 1; r < n; r++)
			if (cmp_backend(&v[r].b, &v[w - 1].b))
				v[w++] = v[r];
			else
				v[w - 1].b.local |= v[r].b.local;
		n = w;
	}
	topo = topology_usable(v, n, zone, prefer_close);
	*all = n ? xmalloc(n * sizeof(**all)) : NULL;
	*cluster = n ? xmalloc(n * sizeof(**cluster)) : NULL;
	*n_cluster = 0;
	for (size_t i = 0; i < n; i++) {
		(*all)[i] = v[i].b;
		if (!topo || hinted_for(v[i].ep, zone, prefer_close))
			(*cluster)[(*n_cluster)++] = v[i].b;
	}
	*n_all = n;
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
}

struct pending_list {
	struct pending *v;
	size_t n, cap;
};

/* Queue one entry of Service s (rank si) for port sp; copies what it keeps. */
static void add_entry(struct pending_list *pl, size_t si, const struct service *s,
                      const struct svc_port *sp, enum entry_kind kind, const struct ipaddr *addr,
                      const struct backend *all, size_t n_all, const struct backend *cluster,
                      size_t n_cluster)
{
	bool external = kind != ENTRY_CLUSTER_IP;
	bool local_only = external ? s->etp_local : s->itp_local;
	struct pending *p;

	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 64;
		pl->v = xrealloc(pl->v, pl->cap * sizeof(*pl->v));
	}
	p = &pl->v[pl->n++];
	memset(p, 0, sizeof(*p));
	p->rank = si;
	p->svc = s;
	p->e.kind = kind;
	if (addr)
		p->e.addr = *addr;
	p->e.proto = sp->proto;
	p->e.port = kind == ENTRY_NODE_PORT ? sp->node_port : sp->port;
	p->e.label = port_label(s, sp);
	/* Local policies: this node's endpoints; Cluster: what topology leaves */
	if (local_only)
		p->e.backends = backends_copy(all, n_all, true, &p->e.n_backends);
	else
		p->e.backends = backends_copy(cluster, n_cluster, false, &p->e.n_backends);
	p->e.n_all = n_all;
	if (external && s->etp_local) {
		p->e.etp_local = true;
		p->e.all_backends = backends_copy(cluster, n_cluster, false, &p->e.n_all_backends);
	}
	p->e.masquerade = external && !s->etp_local;
	if (s->affinity_client_ip)
		p->e.affinity_timeout = s->affinity_timeout ? s->affinity_timeout : 10800;
	if (kind == ENTRY_EXTERNAL && s->type == SVC_LOAD_BALANCER && s->n_lb_source_ranges) {
		for (size_t i = 0; i < s->n_lb_ips; i++)
			if (addr && ipaddr_equal(&s->lb_ips[i], addr)) {
				p->e.source_ranges = s->lb_source_ranges;
				p->e.n_source_ranges = s->n_lb_source_ranges;
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

int compile(const struct model *m, const struct compile_opts *o, struct desired *out,
            struct diag *d)
{
	struct service **svcs = NULL;
	struct endpoint_slice **slices = NULL;
	struct pending_list pl = {0};
	const char *zone = NULL;

	/* this node's zone, for topology: label topology.kubernetes.io/zone of its Node */
	for (size_t i = 0; o->hostname && i < m->n_nodes; i++)
		if (m->nodes[i]->name && !strcmp(m->nodes[i]->name, o->hostname))
			zone = m->nodes[i]->zone;
	memset(out, 0, sizeof(*out));
	out->family = o->family;

	svcs = xmalloc((m->n_services ? m->n_services : 1) * sizeof(*svcs));
	if (m->n_services) {
		memcpy(svcs, m->services, m->n_services * sizeof(*svcs));
		qsort(svcs, m->n_services, sizeof(*svcs), cmp_service);
	}
	slices = xmalloc((m->n_slices ? m->n_slices : 1) * sizeof(*slices));
	if (m->n_slices) {
		memcpy(slices, m->slices, m->n_slices * sizeof(*slices));
		qsort(slices, m->n_slices, sizeof(*slices), cmp_slice);
	}

	for (size_t si = 0; si < m->n_services; si++) {
		const struct service *s = svcs[si];
		const struct ipaddr *vip = NULL;
		bool node_ports = s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER;
		size_t first, end, n_local_eps = 0;

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
		first = slices_find(slices, m->n_slices, s->ns, s->name);
		for (end = first; end < m->n_slices; end++)
			if (cmp_str(slices[end]->ns, s->ns) ||
			    cmp_str(slices[end]->service_name, s->name))
				break;

		for (size_t pi = 0; pi < s->n_ports; pi++) {
			const struct svc_port *sp = &s->ports[pi];
			struct backend *all, *cl;
			size_t n_all, n_cl, n_local = 0;

			collect_backends(slices, first, end, s, sp, o, zone, &all, &n_all, &cl,
			                 &n_cl);
			add_entry(&pl, si, s, sp, ENTRY_CLUSTER_IP, vip, all, n_all, cl, n_cl);
			for (size_t i = 0; i < s->n_external_ips; i++)
				if (s->external_ips[i].family == o->family)
					add_entry(&pl, si, s, sp, ENTRY_EXTERNAL,
					          &s->external_ips[i], all, n_all, cl, n_cl);
			for (size_t i = 0; s->type == SVC_LOAD_BALANCER && i < s->n_lb_ips; i++)
				if (s->lb_ips[i].family == o->family)
					add_entry(&pl, si, s, sp, ENTRY_EXTERNAL, &s->lb_ips[i],
					          all, n_all, cl, n_cl);
			if (node_ports && sp->node_port)
				add_entry(&pl, si, s, sp, ENTRY_NODE_PORT, NULL, all, n_all, cl,
				          n_cl);
			for (size_t i = 0; i < n_all; i++)
				n_local += all[i].local;
			if (n_local > n_local_eps)
				n_local_eps = n_local;
			free(all);
			free(cl);
		}
		if (node_ports && s->etp_local && s->health_check_node_port) {
			struct health_check *hc;

			out->health_checks =
			    xrealloc(out->health_checks, (out->n_health_checks + 1) * sizeof(*hc));
			hc = &out->health_checks[out->n_health_checks++];
			hc->ns = xstrdup(s->ns);
			hc->name = xstrdup(s->name);
			hc->port = s->health_check_node_port;
			hc->local_endpoints = n_local_eps;
		}
	}

	if (pl.n)
		qsort(pl.v, pl.n, sizeof(*pl.v), cmp_pending);
	out->entries = xmalloc((pl.n ? pl.n : 1) * sizeof(*out->entries));
	for (size_t i = 0; i < pl.n; i++) {
		const struct entry *prev =
		    out->n_entries ? &out->entries[out->n_entries - 1] : NULL;
		const struct pending *p = &pl.v[i];
		char a[IPADDR_STRLEN];

		if (!prev || entry_key_cmp(prev, &p->e)) {
			out->entries[out->n_entries++] = p->e;
			continue;
		}
		diag_add(d,
		         "%s: Service %s/%s: %s: %s port %u/%s is already used by %s; "
		         "this port is not programmed",
		         p->svc->origin, p->svc->ns, p->svc->name, entry_field(p->e.kind),
		         p->e.kind == ENTRY_NODE_PORT ? "node" : ipaddr_str(&p->e.addr, a),
		         p->e.port, l4proto_name(p->e.proto), prev->label);
		entry_free(&pl.v[i].e);
	}
	free(pl.v);
	free(svcs);
	free(slices);
	return 0;
}

void desired_free(struct desired *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->n_entries; i++)
		entry_free(&ds->entries[i]);
	free(ds->entries);
	for (size_t i = 0; i < ds->n_health_checks; i++) {
		free(ds->health_checks[i].ns);
		free(ds->health_checks[i].name);
	}
	free(ds->health_checks);
	memset(ds, 0, sizeof(*ds));
}
