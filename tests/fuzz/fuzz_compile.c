/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_compile.c - libFuzzer target for compile: random models, checked
 * against the invariants every dataplane relies on.
 *
 * The input bytes drive a small model generator (Services, EndpointSlices,
 * a Node; addresses and names from small pools so that conflicts,
 * duplicates and shared slices are common). The model is compiled fresh
 * and by an incremental compiler that saw a different model first, and:
 *  - entries are sorted and unique by address, protocol, port;
 *  - every backend of an entry is an endpoint of a slice of that Service,
 *    with the port of the slice port serving it, usable (ready, or serving
 *    and terminating), and of the entry's family;
 *  - n_all == 0 (no endpoint at all: reject) means no backends;
 *  - Local traffic policies program only this node's endpoints;
 *  - the incremental result equals the fresh one, also when the next view
 *    is this one with a few objects replaced in place (a small change).
 * A violation aborts (libFuzzer reports it with the input).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "compile/compile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bytes {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct bytes *b, unsigned mod)
{
	unsigned v;

	if (!b->n)
		return 0;
	v = *b->p++;
	b->n--;
	return mod ? v % mod : v;
}

static const char *const names[] = {"a", "b", "c", "d"};
static const char *const nodes[] = {"node-a", "node-b"};
static const char *const zones[] = {"z1", "z2"};
static const char *const port_names[] = {"", "http", "dns"};
static const uint8_t protos[] = {L4_TCP, L4_UDP, L4_SCTP};

static void pick_addr(struct bytes *b, int family, struct ipaddr *a)
{
	const char *s;
	char buf[64];

	if (family == AF_INET6) {
		snprintf(buf, sizeof(buf), "fd00::%u", take(b, 6) + 1);
		s = buf;
	} else {
		snprintf(buf, sizeof(buf), "10.0.0.%u", take(b, 6) + 1);
		s = buf;
	}
	if (ipaddr_parse(s, a))
		abort();
}

static char *xstr(const char *s)
{
	return xstrdup(s);
}

/* The source guarantees one object per namespace/name: so does the generator. */
static struct service *gen_service(struct bytes *b, unsigned idx)
{
	struct service *s = xcalloc(1, sizeof(*s));
	unsigned flags = take(b, 0);

	s->origin = xstr("fuzz");
	s->ns = xstr("default");
	s->name = xstr(names[idx]);
	s->type = (enum svc_type)take(b, 4);
	s->headless = flags & 1;
	s->etp_local = flags & 2;
	s->itp_local = flags & 4;
	s->affinity_client_ip = flags & 8;
	s->affinity_timeout = take(b, 3) * 100;
	if (flags & 16)
		s->traffic_distribution = xstr("PreferClose");
	s->n_cluster_ips = 1 + take(b, 2);
	s->cluster_ips = xcalloc(s->n_cluster_ips, sizeof(*s->cluster_ips));
	for (size_t i = 0; i < s->n_cluster_ips; i++)
		pick_addr(b, i ? AF_INET6 : (take(b, 4) ? AF_INET : AF_INET6), &s->cluster_ips[i]);
	s->n_ports = 1 + take(b, 3);
	s->ports = xcalloc(s->n_ports, sizeof(*s->ports));
	for (size_t i = 0; i < s->n_ports; i++) {
		struct svc_port *p = &s->ports[i];

		p->name = xstr(port_names[take(b, 3)]);
		p->proto = protos[take(b, 3)];
		p->port = (uint16_t)(80 + take(b, 3));
		if (take(b, 4) == 0)
			p->target_port_name = xstr(port_names[1 + take(b, 2)]);
		else
			p->target_port = (uint16_t)(8080 + take(b, 2));
		p->node_port = take(b, 2) ? (uint16_t)(30000 + take(b, 4)) : 0;
	}
	if (take(b, 3) == 0) {
		s->n_external_ips = 1;
		s->external_ips = xcalloc(1, sizeof(*s->external_ips));
		pick_addr(b, AF_INET, &s->external_ips[0]);
	}
	return s;
}

static struct endpoint_slice *gen_slice(struct bytes *b, unsigned idx)
{
	struct endpoint_slice *e = xcalloc(1, sizeof(*e));
	char name[16];

	snprintf(name, sizeof(name), "slice-%u", idx);
	e->origin = xstr("fuzz");
	e->ns = xstr("default");
	e->service_name = xstr(names[take(b, 4)]);
	e->name = xstr(name);
	e->family = take(b, 4) ? AF_INET : AF_INET6;
	e->n_ports = 1 + take(b, 2);
	e->ports = xcalloc(e->n_ports, sizeof(*e->ports));
	for (size_t i = 0; i < e->n_ports; i++) {
		e->ports[i].name = xstr(port_names[take(b, 3)]);
		e->ports[i].proto = protos[take(b, 3)];
		e->ports[i].port = (uint16_t)(8080 + take(b, 3));
	}
	e->n_endpoints = take(b, 5);
	e->endpoints = xcalloc(e->n_endpoints ? e->n_endpoints : 1, sizeof(*e->endpoints));
	for (size_t i = 0; i < e->n_endpoints; i++) {
		struct endpoint *ep = &e->endpoints[i];
		unsigned f = take(b, 0);

		pick_addr(b, e->family, &ep->addr);
		ep->ready = f & 1;
		ep->serving = f & 2;
		ep->terminating = f & 4;
		if (f & 8)
			ep->node_name = xstr(nodes[take(b, 2)]);
		if (f & 16)
			ep->zone = xstr(zones[take(b, 2)]);
		if (f & 32) {
			ep->n_hint_zones = 1;
			ep->hint_zones = xcalloc(1, sizeof(char *));
			ep->hint_zones[0] = xstr(zones[take(b, 2)]);
		}
	}
	return e;
}

static void gen_model(struct bytes *b, struct model *m)
{
	unsigned n_svc = take(b, 5), n_sl = take(b, 8);
	struct node *nd = xcalloc(1, sizeof(*nd));

	for (unsigned i = 0; i < n_svc; i++)
		model_add_service(m, gen_service(b, i));
	for (unsigned i = 0; i < n_sl; i++)
		model_add_slice(m, gen_slice(b, i));
	nd->origin = xstr("fuzz");
	nd->name = xstr("node-a");
	nd->zone = xstr(zones[take(b, 2)]);
	model_add_node(m, nd);
}

/* The Service an entry label "ns/name[:port]" names. */
static const struct service *service_of(const struct model *m, const char *label)
{
	for (size_t i = 0; i < m->n_services; i++) {
		const struct service *s = m->services[i];
		size_t l = strlen(s->ns), n = strlen(s->name);

		if (!strncmp(label, s->ns, l) && label[l] == '/' &&
		    !strncmp(label + l + 1, s->name, n) &&
		    (label[l + 1 + n] == ':' || !label[l + 1 + n]))
			return s;
	}
	abort();
}

/* Is backend bk an endpoint of one of label's Service's slices? */
static int backend_known(const struct model *m, const char *label, int family,
                         const struct backend *bk)
{
	for (size_t i = 0; i < m->n_slices; i++) {
		const struct endpoint_slice *e = m->slices[i];
		size_t l = strlen(e->ns);

		size_t n = strlen(e->service_name);

		if (e->family != family || strncmp(label, e->ns, l) || label[l] != '/' ||
		    strncmp(label + l + 1, e->service_name, n) ||
		    (label[l + 1 + n] != ':' && label[l + 1 + n]))
			continue;
		for (size_t j = 0; j < e->n_endpoints; j++) {
			const struct endpoint *ep = &e->endpoints[j];

			if (!ipaddr_equal(&ep->addr, &bk->addr) ||
			    !(ep->ready || (ep->serving && ep->terminating)))
				continue;
			for (size_t k = 0; k < e->n_ports; k++)
				if (e->ports[k].port == bk->port)
					return 1;
		}
	}
	return 0;
}

static void check(const struct model *m, const struct desired *ds, int family)
{
	for (size_t i = 0; i < ds->n_entries; i++) {
		const struct entry *e = &ds->entries[i];
		const struct service *s = service_of(m, e->label);
		bool local_only = e->kind == ENTRY_CLUSTER_IP ? s->itp_local : s->etp_local;

		if (i && entry_cmp(&ds->entries[i - 1], e) >= 0)
			abort(); /* sorted, unique */
		/*
		 * (n_backends may exceed n_all: a Local policy falls back to this
		 * node's terminating endpoints while n_all counts the ready ones.)
		 */
		if (!e->n_all && e->n_backends)
			abort();
		for (size_t j = 0; j < e->n_backends; j++) {
			const struct backend *bk = &e->backends[j];

			if (bk->addr.family != family || !backend_known(m, e->label, family, bk))
				abort();
			if (local_only && !bk->local)
				abort(); /* a Local policy programs this node's endpoints only */
		}
	}
}

static void same(const struct desired *a, const struct desired *b)
{
	if (a->n_entries != b->n_entries || a->n_services != b->n_services)
		abort();
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct entry *x = &a->entries[i], *y = &b->entries[i];

		if (entry_cmp(x, y) || strcmp(x->label, y->label) ||
		    x->n_backends != y->n_backends || x->n_all != y->n_all ||
		    (x->n_backends &&
		     memcmp(x->backends, y->backends, x->n_backends * sizeof(*x->backends))))
			abort();
	}
}

/*
 * The view m with a few objects replaced in place by new ones of the same
 * name (the next sync of a source after a small change); the new objects
 * go to owned. A slice usually keeps its Service, sometimes moves.
 */
static void small_change(struct bytes *b, const struct model *m, struct model *out,
                         struct model *owned)
{
	unsigned n = take(b, 4);

	for (size_t i = 0; i < m->n_services; i++)
		model_add_service(out, m->services[i]);
	for (size_t i = 0; i < m->n_slices; i++)
		model_add_slice(out, m->slices[i]);
	for (size_t i = 0; i < m->n_nodes; i++)
		model_add_node(out, m->nodes[i]);
	for (unsigned k = 0; k < n; k++) {
		if (take(b, 2) && m->n_slices) {
			size_t pos = take(b, 0) % m->n_slices;
			struct endpoint_slice *e = gen_slice(b, (unsigned)pos);

			if (take(b, 4)) {
				free(e->service_name);
				e->service_name = xstr(m->slices[pos]->service_name);
			}
			model_add_slice(owned, e);
			out->slices[pos] = e;
		} else if (m->n_services) {
			size_t pos = take(b, 0) % m->n_services;
			struct service *s = gen_service(b, (unsigned)pos);

			model_add_service(owned, s);
			out->services[pos] = s;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bytes b = {data, size};
	struct model first = {0}, m = {0}, next = {0}, owned = {0};
	struct compiler *inc = compiler_new();
	int families[] = {AF_INET, AF_INET6};

	gen_model(&b, &first);
	gen_model(&b, &m);
	small_change(&b, &m, &next, &owned);
	for (int f = 0; f < 2; f++) {
		struct compile_opts o = {.hostname = "node-a", .family = families[f]};
		struct desired fresh = {0}, a = {0}, again = {0};
		struct diag d = {0};

		compile(&m, &o, &fresh, &d);
		check(&m, &fresh, families[f]);
		compile_with(inc, &first, &o, &a, &d); /* the cache holds another model... */
		desired_free(&a);
		compile_with(inc, &m, &o, &again, &d); /* ...and must not leak into this one */
		check(&m, &again, families[f]);
		same(&fresh, &again);
		desired_free(&fresh);
		desired_free(&again);
		/* a few objects replaced in place: what changed, found by position */
		compile(&next, &o, &fresh, &d);
		compile_with(inc, &next, &o, &again, &d);
		check(&next, &again, families[f]);
		same(&fresh, &again);
		desired_free(&fresh);
		desired_free(&again);
		diag_clear(&d);
	}
	compiler_free(inc);
	model_free_view(&next);
	model_free(&owned);
	model_free(&first);
	model_free(&m);
	return 0;
}
