/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "model.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hash.h"
#include "common/mem.h"

const char *l4proto_name(uint8_t proto)
{
	switch (proto) {
	case L4_TCP:
		return "tcp";
	case L4_UDP:
		return "udp";
	case L4_SCTP:
		return "sctp";
	}
	return "?";
}

uint8_t l4proto_parse(const char *s)
{
	if (!strcasecmp(s, "tcp"))
		return L4_TCP;
	if (!strcasecmp(s, "udp"))
		return L4_UDP;
	if (!strcasecmp(s, "sctp"))
		return L4_SCTP;
	return 0;
}

/*
 * The Services and slices freed last, in order (any thread frees). A
 * compile that finds an object of its last view at the same address in
 * the next one knows it is the same object, unless that address was
 * freed in between: then malloc may have given it to a new object.
 */
static struct {
	pthread_mutex_t lock;
	uint64_t n; /* frees ever noted */
	const void *p[MODEL_FREED_LOG];
} freed = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void freed_note(const void *p)
{
	pthread_mutex_lock(&freed.lock);
	freed.p[freed.n++ % MODEL_FREED_LOG] = p;
	pthread_mutex_unlock(&freed.lock);
}

int model_freed_since(uint64_t since, const void **out, uint64_t *now)
{
	int n = -1;

	pthread_mutex_lock(&freed.lock);
	*now = freed.n;
	if (since <= freed.n && freed.n - since <= MODEL_FREED_LOG) {
		n = (int)(freed.n - since);
		for (int i = 0; i < n; i++)
			out[i] = freed.p[(since + (uint64_t)i) % MODEL_FREED_LOG];
	}
	pthread_mutex_unlock(&freed.lock);
	return n;
}

void service_free(struct service *s)
{
	if (!s)
		return;
	freed_note(s);
	free(s->origin);
	free(s->ns);
	free(s->name);
	free(s->cluster_ips);
	for (size_t i = 0; s->ports && i < s->n_ports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
	}
	free(s->ports);
	free(s->external_ips);
	free(s->lb_ips);
	free(s->lb_source_ranges);
	free(s->traffic_distribution);
	free(s);
}

void endpoint_slice_free(struct endpoint_slice *e)
{
	if (!e)
		return;
	freed_note(e);
	free(e->origin);
	free(e->ns);
	free(e->name);
	free(e->service_name);
	for (size_t i = 0; e->ports && i < e->n_ports; i++)
		free(e->ports[i].name);
	free(e->ports);
	for (size_t i = 0; e->endpoints && i < e->n_endpoints; i++) {
		struct endpoint *ep = &e->endpoints[i];

		free(ep->node_name);
		free(ep->zone);
		for (size_t z = 0; ep->hint_zones && z < ep->n_hint_zones; z++)
			free(ep->hint_zones[z]);
		free(ep->hint_zones);
	}
	free(e->endpoints);
	free(e);
}

void node_free(struct node *n)
{
	if (!n)
		return;
	free(n->origin);
	free(n->name);
	free(n->zone);
	free(n);
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_services; i++)
		service_free(m->services[i]);
	for (size_t i = 0; i < m->n_slices; i++)
		endpoint_slice_free(m->slices[i]);
	for (size_t i = 0; i < m->n_nodes; i++)
		node_free(m->nodes[i]);
	free(m->services);
	free(m->slices);
	free(m->nodes);
	memset(m, 0, sizeof(*m));
}

void model_free_view(struct model *m)
{
	if (!m)
		return;
	free(m->services);
	free(m->slices);
	free(m->nodes);
	memset(m, 0, sizeof(*m));
}

void model_view_clear(struct model *m)
{
	m->n_services = m->n_slices = m->n_nodes = 0;
}

static void ptr_push(void ***arr, size_t *n, size_t *cap, void *p)
{
	*arr = xgrow(*arr, cap, *n + 1, sizeof(**arr));
	(*arr)[(*n)++] = p;
}

static void ptr_append(void ***arr, size_t *len, size_t *cap, void *const *v, size_t n,
                       const uint8_t *hide)
{
	void **a;

	if (!n)
		return;
	*arr = xgrow(*arr, cap, *len + n, sizeof(**arr));
	a = *arr;
	for (size_t i = 0; i < n; i++)
		if (!hide || !hide[i])
			a[(*len)++] = v[i];
}

static _Atomic uint64_t last_gen;

uint64_t model_name_hash(const char *ns, const char *name)
{
	uint64_t h = fnv1a(FNV1A_INIT, ns ? ns : "", ns ? strlen(ns) : 0);

	h = fnv1a(h, "/", 1);
	return fnv1a(h, name ? name : "", name ? strlen(name) : 0);
}

void model_add_service(struct model *m, struct service *s)
{
	if (!s->gen) {
		s->gen = ++last_gen;
		s->hash = model_name_hash(s->ns, s->name);
	}
	ptr_push((void ***)&m->services, &m->n_services, &m->cap_services, s);
}

void model_add_slice(struct model *m, struct endpoint_slice *e)
{
	if (!e->gen) {
		e->gen = ++last_gen;
		e->hash = model_name_hash(e->ns, e->service_name);
	}
	ptr_push((void ***)&m->slices, &m->n_slices, &m->cap_slices, e);
}

void model_add_node(struct model *m, struct node *n)
{
	ptr_push((void ***)&m->nodes, &m->n_nodes, &m->cap_nodes, n);
}

void model_view_services(struct model *m, struct service *const *v, size_t n, const uint8_t *hide)
{
	ptr_append((void ***)&m->services, &m->n_services, &m->cap_services, (void *const *)v, n,
	           hide);
}

void model_view_slices(struct model *m, struct endpoint_slice *const *v, size_t n,
                       const uint8_t *hide)
{
	ptr_append((void ***)&m->slices, &m->n_slices, &m->cap_slices, (void *const *)v, n, hide);
}
