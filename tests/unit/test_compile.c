/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_compile.c - compile(): which endpoints serve which ClusterIP:port.
 *
 * The model is built directly in C with small constructors, so each test
 * states exactly the objects it needs; backends are compared as text
 * ("10.244.0.5:8080*,10.244.1.7:8080", '*' = local) for readable failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/mem.h"
#include "compile/compile.h"
#include "daemon/nodelocal.h"

/* ---- fixture ------------------------------------------------------------ */

struct fix {
	struct model m;
	struct diag d;
	struct desired ds;
	struct compile_opts o;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->o.hostname = "node-1";
	f->o.family = AF_INET;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	desired_free(&f->ds);
	model_free(&f->m);
	diag_clear(&f->d);
	free(f);
	return 0;
}

/* ---- model constructors --------------------------------------------------- */

static struct ipaddr ip(const char *s)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(s, &a), 0);
	return a;
}

/* A ClusterIP Service with the given cluster IPs (NULL-terminated list). */
static struct service *svc_ips(struct model *m, const char *ns, const char *name, ...)
{
	struct service *s = xcalloc(1, sizeof(*s));
	const char *a;
	va_list ap;

	s->origin = xstrdup("test.yaml");
	s->ns = xstrdup(ns);
	s->name = xstrdup(name);
	s->type = SVC_CLUSTER_IP;
	s->affinity_timeout = 10800;
	va_start(ap, name);
	while ((a = va_arg(ap, const char *))) {
		s->cluster_ips =
		    xrealloc(s->cluster_ips, (s->n_cluster_ips + 1) * sizeof(struct ipaddr));
		s->cluster_ips[s->n_cluster_ips++] = ip(a);
	}
	va_end(ap);
	model_add_service(m, s);
	return s;
}

static struct service *svc(struct model *m, const char *ns, const char *name, const char *cip)
{
	return svc_ips(m, ns, name, cip, (const char *)NULL);
}

/* Add a port; tp_name non-NULL makes the targetPort a name. */
static void svc_port(struct service *s, const char *name, uint8_t proto, uint16_t port, uint16_t tp,
                     const char *tp_name)
{
	struct svc_port *p;

	s->ports = xrealloc(s->ports, (s->n_ports + 1) * sizeof(*s->ports));
	p = &s->ports[s->n_ports++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	p->proto = proto;
	p->port = port;
	p->target_port = tp_name ? 0 : tp;
	p->target_port_name = tp_name ? xstrdup(tp_name) : NULL;
}

/* An EndpointSlice; service_name NULL means no kubernetes.io/service-name label. */
static struct endpoint_slice *slice(struct model *m, const char *ns, const char *name,
                                    const char *service_name, int family)
{
	struct endpoint_slice *e = xcalloc(1, sizeof(*e));

	e->origin = xstrdup("test.yaml");
	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	e->service_name = service_name ? xstrdup(service_name) : NULL;
	e->family = family;
	model_add_slice(m, e);
	return e;
}

static void slice_port(struct endpoint_slice *e, const char *name, uint8_t proto, uint16_t port)
{
	struct eps_port *p;

	e->ports = xrealloc(e->ports, (e->n_ports + 1) * sizeof(*e->ports));
	p = &e->ports[e->n_ports++];
	p->name = xstrdup(name);
	p->proto = proto;
	p->port = port;
}

enum { READY = 1, SERVING = 2, TERMINATING = 4 };

/* An endpoint with conditions (READY|SERVING|TERMINATING) on node (or NULL). */
static void slice_ep(struct endpoint_slice *e, const char *addr, unsigned cond, const char *node)
{
	struct endpoint *ep;

	e->endpoints = xrealloc(e->endpoints, (e->n_endpoints + 1) * sizeof(*e->endpoints));
	ep = &e->endpoints[e->n_endpoints++];
	memset(ep, 0, sizeof(*ep));
	ep->addr = ip(addr);
	ep->ready = cond & READY;
	ep->serving = cond & SERVING;
	ep->terminating = cond & TERMINATING;
	ep->node_name = node ? xstrdup(node) : NULL;
}

/* A ready endpoint on another node. */
static void slice_ready(struct endpoint_slice *e, const char *addr)
{
	slice_ep(e, addr, READY | SERVING, "node-2");
}

/* ---- assertions ------------------------------------------------------------ */

static void run(struct fix *f)
{
	desired_free(&f->ds);
	assert_int_equal(compile(&f->m, &f->o, &f->ds, &f->d), 0);
	assert_int_equal(f->ds.family, f->o.family);
}

/* "a:p,a:p" with '*' after local backends; IPv6 as "[a]:p". */
static const char *backends_str(const struct entry *e, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e->n_backends; i++) {
		const struct backend *b = &e->backends[i];
		char a[IPADDR_STRLEN];
		int v6 = b->addr.family == AF_INET6;
		int w =
		    snprintf(buf + off, len - off, "%s%s%s%s:%u%s", i ? "," : "", v6 ? "[" : "",
		             ipaddr_str(&b->addr, a), v6 ? "]" : "", b->port, b->local ? "*" : "");

		assert_true(w > 0 && (size_t)w < len - off);
		off += (size_t)w;
	}
	return buf;
}

/* Entry i is addr proto/port with this label and these backends. */
static void assert_entry(const struct desired *ds, size_t i, const char *addr, uint8_t proto,
                         uint16_t port, const char *label, const char *backends)
{
	const struct entry *e;
	char a[IPADDR_STRLEN], b[1024];

	assert_true(i < ds->n_entries);
	e = &ds->entries[i];
	assert_int_equal(e->kind, ENTRY_CLUSTER_IP);
	assert_string_equal(ipaddr_str(&e->addr, a), addr);
	assert_int_equal(e->proto, proto);
	assert_int_equal(e->port, port);
	assert_string_equal(e->label, label);
	assert_string_equal(backends_str(e, b, sizeof(b)), backends);
	assert_true(e->n_backends == 0 || e->backends != NULL);
}

static size_t count_kind(const struct desired *ds, enum entry_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < ds->n_entries; i++)
		n += ds->entries[i].kind == kind;
	return n;
}

static void assert_no_diag(const struct fix *f)
{
	for (size_t i = 0; i < f->d.n; i++)
		print_error("unexpected message: %s\n", f->d.msgs[i]);
	assert_int_equal(f->d.n, 0);
}

/* ---- Service ports and entries ---------------------------------------------- */

static void test_empty_model(void **state)
{
	struct fix *f = *state;

	run(f);
	assert_int_equal(f->ds.n_entries, 0);
	assert_int_equal(f->ds.n_services, 0);
	assert_no_diag(f);
}

/* One entry per Service port, at the ClusterIP, sorted by address, protocol, port. */
static void test_entry_per_port(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");

	svc_port(s, "https", L4_TCP, 443, 8443, NULL);
	svc_port(s, "dns", L4_UDP, 53, 5353, NULL);
	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	svc_port(s, "dns-tcp", L4_TCP, 53, 5353, NULL);
	svc_port(s, "sctp", L4_SCTP, 9, 9, NULL);
	/* a second Service at a numerically lower (but textually higher) address */
	s = svc(&f->m, "default", "api", "10.96.0.9");
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	run(f);

	assert_int_equal(f->ds.n_services, 2);
	assert_int_equal(f->ds.n_entries, 6);
	assert_entry(&f->ds, 0, "10.96.0.9", L4_TCP, 80, "default/api", "");
	assert_entry(&f->ds, 1, "10.96.0.10", L4_TCP, 53, "default/web:dns-tcp", "");
	assert_entry(&f->ds, 2, "10.96.0.10", L4_TCP, 80, "default/web:http", "");
	assert_entry(&f->ds, 3, "10.96.0.10", L4_TCP, 443, "default/web:https", "");
	assert_entry(&f->ds, 4, "10.96.0.10", L4_UDP, 53, "default/web:dns", "");
	assert_entry(&f->ds, 5, "10.96.0.10", L4_SCTP, 9, "default/web:sctp", "");
	assert_no_diag(f);
}

static void test_label_unnamed_port(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "kube-system", "dns", "10.96.0.53");
	struct endpoint_slice *e = slice(&f->m, "kube-system", "dns-abc", "dns", AF_INET);

	svc_port(s, "", L4_UDP, 53, 5353, NULL);
	slice_port(e, "", L4_UDP, 5353);
	slice_ready(e, "10.244.0.2");
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.53", L4_UDP, 53, "kube-system/dns", "10.244.0.2:5353");
}

/* NodePort and LoadBalancer Services have a ClusterIP too. */
static void test_nodeport_lb_have_cluster_ip(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "np", "10.96.0.1");

	s->type = SVC_NODE_PORT;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s->ports[0].node_port = 30080;
	s = svc(&f->m, "default", "lb", "10.96.0.2");
	s->type = SVC_LOAD_BALANCER;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	run(f);
	assert_int_equal(f->ds.n_services, 2);
	assert_int_equal(count_kind(&f->ds, ENTRY_CLUSTER_IP), 2);
	/* the NodePort entry has no address, so it sorts first */
	assert_int_equal(count_kind(&f->ds, ENTRY_NODE_PORT), 1);
	assert_int_equal(f->ds.entries[0].kind, ENTRY_NODE_PORT);
	assert_int_equal(f->ds.entries[0].port, 30080);
	assert_true(f->ds.entries[0].masquerade);
	assert_entry(&f->ds, 1, "10.96.0.1", L4_TCP, 80, "default/np", "");
	assert_entry(&f->ds, 2, "10.96.0.2", L4_TCP, 80, "default/lb", "");
}

/* Headless, ExternalName, service-proxy-name and no-clusterIP Services: nothing. */
static void test_skipped_services(void **state)
{
	struct fix *f = *state;
	struct endpoint_slice *e;
	struct service *s;

	s = svc_ips(&f->m, "default", "headless", (const char *)NULL);
	s->headless = true;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc_ips(&f->m, "default", "extname", (const char *)NULL);
	s->type = SVC_EXTERNAL_NAME;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	/* ExternalName with a (stale) cluster IP is still not proxied */
	s = svc(&f->m, "default", "extname-ip", "10.96.0.3");
	s->type = SVC_EXTERNAL_NAME;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc(&f->m, "default", "ignored", "10.96.0.4");
	s->ignored = true;
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc_ips(&f->m, "default", "noip", (const char *)NULL);
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	for (size_t i = 0; i < f->m.n_services; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s-1", f->m.services[i]->name);
		e = slice(&f->m, "default", name, f->m.services[i]->name, AF_INET);
		slice_port(e, "", L4_TCP, 80);
		slice_ready(e, "10.244.0.1");
	}
	run(f);
	assert_int_equal(f->ds.n_entries, 0);
	assert_int_equal(f->ds.n_services, 0);
	assert_no_diag(f);
}

/* ---- which slices, which slice port ------------------------------------------- */

/* Only slices labelled with this Service's name, in its namespace. */
static void test_slice_selection(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "prod", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	s = svc(&f->m, "prod", "web2", "10.96.0.11");
	svc_port(s, "http", L4_TCP, 80, 8080, NULL);

	e = slice(&f->m, "prod", "web-a", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	/* same Service name, other namespace */
	e = slice(&f->m, "dev", "web-a", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.9.1");
	/* same namespace, other Service (whose name starts like this one's) */
	e = slice(&f->m, "prod", "web2-a", "web2", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.2.1");
	/* named like the Service but without the service-name label */
	e = slice(&f->m, "prod", "web", NULL, AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.8.1");
	/* a second slice of web */
	e = slice(&f->m, "prod", "web-b", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.0.2");
	run(f);

	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "prod/web:http",
	             "10.244.0.1:8080,10.244.0.2:8080");
	assert_entry(&f->ds, 1, "10.96.0.11", L4_TCP, 80, "prod/web2:http", "10.244.2.1:8080");
	assert_no_diag(f);
}

/*
 * The slice port is found by the Service port's name and protocol; its
 * number (not the Service's targetPort) is the backend port.
 */
static void test_port_match_by_name_and_proto(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e = slice(&f->m, "default", "web-a", "web", AF_INET);

	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	svc_port(s, "dns", L4_UDP, 53, 53, NULL);
	svc_port(s, "metrics", L4_TCP, 9090, 9090, NULL);
	slice_port(e, "http", L4_UDP, 7000);  /* right name, wrong protocol */
	slice_port(e, "admin", L4_TCP, 8080); /* the targetPort number, wrong name */
	slice_port(e, "http", L4_TCP, 8081);  /* the one */
	slice_port(e, "dns", L4_UDP, 5353);
	slice_ready(e, "10.244.0.1");
	run(f);

	assert_int_equal(f->ds.n_entries, 3);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web:http", "10.244.0.1:8081");
	/* no slice port named metrics: no backends, though 9090 is nowhere */
	assert_entry(&f->ds, 1, "10.96.0.10", L4_TCP, 9090, "default/web:metrics", "");
	assert_entry(&f->ds, 2, "10.96.0.10", L4_UDP, 53, "default/web:dns", "10.244.0.1:5353");
}

/* Named targetPort: used when no slice port has the Service port's name. */
static void test_target_port_name_fallback(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "web", L4_TCP, 80, 0, "http-alt");
	svc_port(s, "both", L4_TCP, 81, 0, "http-alt");
	svc_port(s, "numeric", L4_TCP, 82, 8080, NULL);
	svc_port(s, "udp", L4_UDP, 83, 0, "http-alt");
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "http-alt", L4_TCP, 8081);
	slice_port(e, "both", L4_TCP, 9000);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	run(f);

	assert_int_equal(f->ds.n_entries, 4);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web:web", "10.244.0.1:8081");
	/* the Service port's own name wins over the targetPort name */
	assert_entry(&f->ds, 1, "10.96.0.10", L4_TCP, 81, "default/web:both", "10.244.0.1:9000");
	/* a numeric targetPort has no fallback */
	assert_entry(&f->ds, 2, "10.96.0.10", L4_TCP, 82, "default/web:numeric", "");
	/* the fallback still requires the protocol */
	assert_entry(&f->ds, 3, "10.96.0.10", L4_UDP, 83, "default/web:udp", "");
}

/* A slice port with a null port (0) carries nothing. */
static void test_null_slice_port_skipped(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 0);
	slice_ready(e, "10.244.0.1");
	e = slice(&f->m, "default", "web-b", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.0.2");
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web:http", "10.244.0.2:8080");
}

/* ---- endpoint conditions -------------------------------------------------------- */

static void test_ready_only(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e = slice(&f->m, "default", "web-a", "web", AF_INET);

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", READY | SERVING, NULL);
	slice_ep(e, "10.244.0.2", 0, NULL);                     /* not ready */
	slice_ep(e, "10.244.0.3", SERVING | TERMINATING, NULL); /* terminating */
	slice_ep(e, "10.244.0.4", SERVING, NULL);               /* serving, not ready */
	slice_ep(e, "10.244.0.5", READY | SERVING, NULL);
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "10.244.0.1:8080,10.244.0.5:8080");
}

/* None ready: the serving terminating ones; never the not-serving terminating ones. */
static void test_terminating_fallback(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e = slice(&f->m, "default", "web-a", "web", AF_INET);

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", 0, NULL);
	slice_ep(e, "10.244.0.2", SERVING | TERMINATING, NULL);
	slice_ep(e, "10.244.0.3", TERMINATING, NULL); /* not serving */
	slice_ep(e, "10.244.0.4", SERVING, NULL);     /* not terminating */
	slice_ep(e, "10.244.0.5", SERVING | TERMINATING, NULL);
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "10.244.0.2:8080,10.244.0.5:8080");
}

static void test_only_not_serving_terminating(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e = slice(&f->m, "default", "web-a", "web", AF_INET);

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", TERMINATING, NULL);
	slice_ep(e, "10.244.0.2", 0, NULL);
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web", "");
}

/* One ready endpoint anywhere (in any slice) disables the fallback. */
static void test_ready_in_other_slice_wins(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", SERVING | TERMINATING, NULL);
	e = slice(&f->m, "default", "web-b", "web", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.2", READY | SERVING, NULL);
	run(f);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web", "10.244.0.2:8080");
}

/* The fallback is per Service port: a port with ready endpoints does not block another's. */
static void test_fallback_per_port(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "a", L4_TCP, 80, 8080, NULL);
	svc_port(s, "b", L4_TCP, 81, 8081, NULL);
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "a", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", READY | SERVING, NULL);
	e = slice(&f->m, "default", "web-b", "web", AF_INET);
	slice_port(e, "b", L4_TCP, 8081);
	slice_ep(e, "10.244.0.2", SERVING | TERMINATING, NULL);
	run(f);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web:a", "10.244.0.1:8080");
	assert_entry(&f->ds, 1, "10.96.0.10", L4_TCP, 81, "default/web:b", "10.244.0.2:8081");
}

/* ---- duplicates, order, families ---------------------------------------------------- */

static void test_duplicates_counted_once(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	slice_ready(e, "10.244.0.2");
	e = slice(&f->m, "default", "web-b", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_ready(e, "10.244.0.2");
	slice_ready(e, "10.244.0.1");
	/* same address, another port (a rollout changing the containerPort): distinct */
	e = slice(&f->m, "default", "web-c", "web", AF_INET);
	slice_port(e, "http", L4_TCP, 9090);
	slice_ready(e, "10.244.0.1");
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web:http",
	             "10.244.0.1:8080,10.244.0.1:9090,10.244.0.2:8080");
}

/*
 * The same endpoint in two slices, one saying it is on this node: it is
 * local whichever copy the sort keeps (the result must not depend on
 * qsort's order among equal backends).
 */
static void test_duplicate_local_either_copy(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "web-%d", i);
		e = slice(&f->m, "default", name, "web", AF_INET);
		slice_port(e, "", L4_TCP, 8080);
		slice_ep(e, "10.244.0.1", READY | SERVING, i == 2 ? "node-1" : NULL);
		slice_ep(e, "10.244.0.2", READY | SERVING, i == 0 ? "node-1" : "node-2");
	}
	run(f);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "10.244.0.1:8080*,10.244.0.2:8080*");
}

/* Backends sorted by address (numerically), then port, whatever the slice order. */
static void test_backends_sorted(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e;

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "web-z", "web", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.1.10");
	slice_ready(e, "10.244.0.9");
	slice_ready(e, "192.168.0.1");
	e = slice(&f->m, "default", "web-a", "web", AF_INET);
	slice_port(e, "", L4_TCP, 80);
	slice_ready(e, "10.244.1.10");
	slice_ready(e, "10.244.0.10");
	slice_ready(e, "9.0.0.1");
	run(f);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "9.0.0.1:80,10.244.0.9:8080,10.244.0.10:80,10.244.1.10:80,10.244.1.10:8080,"
	             "192.168.0.1:8080");
}

/* Only opts.family: other-family cluster IPs, slices and endpoints are ignored. */
static void test_family_ipv4(void **state)
{
	struct fix *f = *state;
	struct service *s;
	struct endpoint_slice *e;

	/* dual stack, IPv6 primary */
	s = svc_ips(&f->m, "default", "dual", "fd00::10", "10.96.0.10", (const char *)NULL);
	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	/* IPv6 only: not counted for IPv4 */
	s = svc(&f->m, "default", "v6only", "fd00::11");
	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "dual-v6", "dual", AF_INET6);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "fd00:244::1");
	e = slice(&f->m, "default", "dual-v4", "dual", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	slice_ready(e, "fd00:244::2"); /* wrong family inside an IPv4 slice */
	run(f);
	assert_int_equal(f->ds.n_services, 1);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/dual", "10.244.0.1:8080");
}

static void test_family_ipv6(void **state)
{
	struct fix *f = *state;
	struct service *s;
	struct endpoint_slice *e;

	f->o.family = AF_INET6;
	s = svc_ips(&f->m, "default", "dual", "10.96.0.10", "fd00::10", (const char *)NULL);
	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	s = svc(&f->m, "default", "v4only", "10.96.0.11");
	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "dual-v4", "dual", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	e = slice(&f->m, "default", "dual-v6", "dual", AF_INET6);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "fd00:244::2");
	slice_ready(e, "fd00:244::1");
	run(f);
	assert_int_equal(f->ds.n_services, 1);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "fd00::10", L4_TCP, 80, "default/dual",
	             "[fd00:244::1]:8080,[fd00:244::2]:8080");
}

/* ---- local flag ---------------------------------------------------------------------- */

static void test_local_flag(void **state)
{
	struct fix *f = *state;
	struct service *s = svc(&f->m, "default", "web", "10.96.0.10");
	struct endpoint_slice *e = slice(&f->m, "default", "web-a", "web", AF_INET);

	svc_port(s, "", L4_TCP, 80, 8080, NULL);
	slice_port(e, "", L4_TCP, 8080);
	slice_ep(e, "10.244.0.1", READY | SERVING, "node-1");
	slice_ep(e, "10.244.0.2", READY | SERVING, "node-2");
	slice_ep(e, "10.244.0.3", READY | SERVING, NULL);
	slice_ep(e, "10.244.0.4", READY | SERVING, "node-10"); /* prefix is not equality */
	run(f);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "10.244.0.1:8080*,10.244.0.2:8080,10.244.0.3:8080,10.244.0.4:8080");
	/* remote: placed on another node (no hairpin element needed here); unplaced is not */
	assert_false(f->ds.entries[0].backends[0].remote);
	assert_true(f->ds.entries[0].backends[1].remote);
	assert_false(f->ds.entries[0].backends[2].remote);
	assert_true(f->ds.entries[0].backends[3].remote);

	/* no hostname: nothing is local */
	f->o.hostname = NULL;
	run(f);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "default/web",
	             "10.244.0.1:8080,10.244.0.2:8080,10.244.0.3:8080,10.244.0.4:8080");
}

/* ---- conflicts ------------------------------------------------------------------------ */

/*
 * Two Services claiming 10.96.0.10:80/TCP: the first by namespace/name
 * keeps it (whatever the model order), one message names both.
 */
static void test_conflict_keeps_first(void **state)
{
	struct fix *f = *state;
	struct service *s;
	struct endpoint_slice *e;

	s = svc(&f->m, "prod", "zeta", "10.96.0.10");
	free(s->origin);
	s->origin = xstrdup("zeta.yaml");
	svc_port(s, "http", L4_TCP, 80, 8080, NULL);
	svc_port(s, "dns", L4_UDP, 80, 80, NULL); /* same port, other protocol: no conflict */
	s = svc(&f->m, "prod", "alpha", "10.96.0.10");
	free(s->origin);
	s->origin = xstrdup("alpha.yaml");
	svc_port(s, "web", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "prod", "zeta-1", "zeta", AF_INET);
	slice_port(e, "http", L4_TCP, 8080);
	slice_port(e, "dns", L4_UDP, 80);
	slice_ready(e, "10.244.0.26");
	e = slice(&f->m, "prod", "alpha-1", "alpha", AF_INET);
	slice_port(e, "web", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	run(f);

	assert_int_equal(f->ds.n_services, 2);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "prod/alpha:web", "10.244.0.1:8080");
	assert_entry(&f->ds, 1, "10.96.0.10", L4_UDP, 80, "prod/zeta:dns", "10.244.0.26:80");
	assert_int_equal(f->d.n, 1);
	assert_non_null(strstr(f->d.msgs[0], "zeta.yaml"));
	assert_non_null(strstr(f->d.msgs[0], "prod/zeta"));
	assert_non_null(strstr(f->d.msgs[0], "prod/alpha"));
	assert_non_null(strstr(f->d.msgs[0], "10.96.0.10"));
	assert_non_null(strstr(f->d.msgs[0], "80/tcp"));
}

/* Namespace orders before name: b/a loses to a/z. */
static void test_conflict_namespace_first(void **state)
{
	struct fix *f = *state;
	struct service *s;

	s = svc(&f->m, "b", "a", "10.96.0.10");
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc(&f->m, "a", "z", "10.96.0.10");
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc(&f->m, "c", "c", "10.96.0.10");
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.10", L4_TCP, 80, "a/z", "");
	assert_int_equal(f->d.n, 2);
	assert_non_null(strstr(f->d.msgs[0], "b/a"));
	assert_non_null(strstr(f->d.msgs[0], "a/z"));
	assert_non_null(strstr(f->d.msgs[1], "c/c"));
	assert_non_null(strstr(f->d.msgs[1], "a/z"));
}

/* compile() output is independent of the model's order. */
static void test_order_independent(void **state)
{
	struct fix *f = *state;
	struct desired first;
	char b1[1024], b2[1024];

	for (int i = 0; i < 6; i++) {
		char name[16], cip[32], pod[32];
		struct service *s;
		struct endpoint_slice *e;

		snprintf(name, sizeof(name), "s%d", i);
		snprintf(cip, sizeof(cip), "10.96.0.%d", 20 - i);
		s = svc(&f->m, i % 2 ? "odd" : "even", name, cip);
		svc_port(s, "p", L4_TCP, (uint16_t)(80 + i), 8080, NULL);
		for (int j = 0; j < 3; j++) {
			snprintf(pod, sizeof(pod), "%s-%d", name, j);
			e = slice(&f->m, i % 2 ? "odd" : "even", pod, name, AF_INET);
			slice_port(e, "p", L4_TCP, (uint16_t)(8000 + j));
			snprintf(pod, sizeof(pod), "10.244.%d.%d", j, 10 - i);
			slice_ready(e, pod);
		}
	}
	run(f);
	first = f->ds;
	memset(&f->ds, 0, sizeof(f->ds));

	/* reverse both arrays and compile again */
	for (size_t i = 0, j = f->m.n_services - 1; i < j; i++, j--) {
		struct service *t = f->m.services[i];

		f->m.services[i] = f->m.services[j];
		f->m.services[j] = t;
	}
	for (size_t i = 0, j = f->m.n_slices - 1; i < j; i++, j--) {
		struct endpoint_slice *t = f->m.slices[i];

		f->m.slices[i] = f->m.slices[j];
		f->m.slices[j] = t;
	}
	run(f);
	assert_int_equal(f->ds.n_entries, 6);
	assert_int_equal(first.n_entries, f->ds.n_entries);
	for (size_t i = 0; i < first.n_entries; i++) {
		assert_true(ipaddr_equal(&first.entries[i].addr, &f->ds.entries[i].addr));
		assert_int_equal(first.entries[i].port, f->ds.entries[i].port);
		assert_string_equal(first.entries[i].label, f->ds.entries[i].label);
		assert_string_equal(backends_str(&first.entries[i], b1, sizeof(b1)),
		                    backends_str(&f->ds.entries[i], b2, sizeof(b2)));
		assert_int_equal(first.entries[i].n_backends, 3);
	}
	/* sorted by address: s5 (10.96.0.15) first */
	assert_entry(&f->ds, 0, "10.96.0.15", L4_TCP, 85, "odd/s5:p",
	             "10.244.0.5:8000,10.244.1.5:8001,10.244.2.5:8002");
	desired_free(&first);
}

/* A ClusterIP equal to a node address would capture every port of the node: refused. */
static void test_cluster_ip_node_address_refused(void **state)
{
	struct fix *f = *state;
	struct ipaddr node[2] = {ip("192.168.1.5"), ip("10.96.0.2")};
	struct service *s = svc(&f->m, "default", "bad", "10.96.0.2");

	svc_port(s, "", L4_TCP, 80, 80, NULL);
	s = svc(&f->m, "default", "good", "10.96.0.3");
	svc_port(s, "", L4_TCP, 80, 80, NULL);
	f->o.node_addrs = node;
	f->o.n_node_addrs = 2;
	run(f);
	assert_int_equal(f->ds.n_services, 1);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.3", L4_TCP, 80, "default/good", "");
	assert_int_equal(f->d.n, 1);
	assert_string_equal(f->d.msgs[0],
	                    "test.yaml: Service default/bad: spec.clusterIPs[0]: 10.96.0.2 is an "
	                    "address of this node; the Service is refused (it would capture every "
	                    "port of the node)");
}

/* compile_with() into f->ds on the compiler c, which keeps its cache between calls. */
static void run_inc(struct fix *f, struct compiler *c)
{
	desired_free(&f->ds);
	diag_clear(&f->d);
	assert_int_equal(compile_with(c, &f->m, &f->o, &f->ds, &f->d), 0);
}

/*
 * The incremental compiler answers unchanged Services from its cache; what
 * the cache does not see by itself must still reach the output: node
 * addresses that turn a ClusterIP into a node address and back, and a
 * slice of another Service whose name hash collides with a cached one.
 */
static void test_incremental_cache(void **state)
{
	struct fix *f = *state;
	struct compiler *c = compiler_new();
	struct ipaddr node[1] = {ip("10.96.0.2")};
	struct service *a = svc(&f->m, "default", "a", "10.96.0.2");
	struct service *b = svc(&f->m, "default", "b", "10.96.0.3");
	struct endpoint_slice *e;

	svc_port(a, "", L4_TCP, 80, 8080, NULL);
	svc_port(b, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "a-1", "a", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	run_inc(f, c);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.2", L4_TCP, 80, "default/a", "10.244.0.1:8080");

	/* the node takes a's ClusterIP: a is refused, though nothing of it changed */
	f->o.node_addrs = node;
	f->o.n_node_addrs = 1;
	run_inc(f, c);
	assert_int_equal(f->ds.n_entries, 1);
	assert_entry(&f->ds, 0, "10.96.0.3", L4_TCP, 80, "default/b", "");
	assert_int_equal(f->d.n, 1);
	run_inc(f, c); /* and the refusal is said at every compile while it stands */
	assert_int_equal(f->ds.n_entries, 1);
	assert_int_equal(f->d.n, 1);

	/* the address goes: a comes back */
	f->o.n_node_addrs = 0;
	run_inc(f, c);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.2", L4_TCP, 80, "default/a", "10.244.0.1:8080");

	/* a slice of b that hashes like a (a collision): b gets it, a's cache is not fooled */
	e = slice(&f->m, "default", "b-1", "b", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.9");
	e->hash = a->hash;
	b->hash = a->hash;
	run_inc(f, c);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.2", L4_TCP, 80, "default/a", "10.244.0.1:8080");
	assert_entry(&f->ds, 1, "10.96.0.3", L4_TCP, 80, "default/b", "10.244.0.9:8080");
	compiler_free(c);
}

/*
 * A compiled state's copies share its arrays (a dataplane keeps the last
 * synced state at no copy), and a later compile builds on an earlier
 * output's arrays only once no one else holds it: a state held across
 * compiles stays as it was compiled, whatever is compiled meanwhile.
 */
static void test_output_shared_then_reused(void **state)
{
	struct fix *f = *state;
	struct compiler *c = compiler_new();
	struct service *a = svc(&f->m, "default", "a", "10.96.0.2");
	struct endpoint_slice *e;
	struct desired held = {0};

	svc_port(a, "", L4_TCP, 80, 8080, NULL);
	e = slice(&f->m, "default", "a-1", "a", AF_INET);
	slice_port(e, "", L4_TCP, 8080);
	slice_ready(e, "10.244.0.1");
	run_inc(f, c);
	desired_copy(&held, &f->ds);
	assert_ptr_equal(held.entries, f->ds.entries);
	/* a Service more, sorted first: no compile may write it over held's entries */
	svc_port(svc(&f->m, "default", "b", "10.96.0.1"), "", L4_TCP, 81, 8080, NULL);
	for (int i = 0; i < 3; i++) {
		run_inc(f, c);
		assert_int_equal(f->ds.n_entries, 2);
		assert_entry(&f->ds, 0, "10.96.0.1", L4_TCP, 81, "default/b", "");
	}
	assert_int_equal(held.n_entries, 1);
	assert_entry(&held, 0, "10.96.0.2", L4_TCP, 80, "default/a", "10.244.0.1:8080");
	/* let go: its arrays may take the next outputs */
	desired_free(&held);
	for (int i = 0; i < 3; i++) {
		run_inc(f, c);
		assert_int_equal(f->ds.n_entries, 2);
		assert_entry(&f->ds, 1, "10.96.0.2", L4_TCP, 80, "default/a", "10.244.0.1:8080");
	}
	compiler_free(c);
}

/*
 * A sync after a small change is told by position (a view of the same
 * shape as the last one): objects at the same address are taken as
 * unchanged, unless that address was freed meanwhile. Here a's successor
 * is made right after a is freed, with malloc (a plain build gives it a's
 * chunk back; under ASan the address differs): either way it must be seen
 * as the new object it is.
 */
static void test_small_change_reused_address(void **state)
{
	struct fix *f = *state;
	struct compiler *c = compiler_new();
	struct service *a = svc(&f->m, "default", "a", "10.96.0.2"), *a2;
	struct service *b = svc(&f->m, "default", "b", "10.96.0.3");
	struct model tmp = {0};
	void *old = a, *drain[16];

	svc_port(a, "", L4_TCP, 80, 8080, NULL);
	svc_port(b, "", L4_TCP, 80, 8080, NULL);
	run_inc(f, c);
	run_inc(f, c); /* the same view: nothing to look at again */
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.2", L4_TCP, 80, "default/a", "");

	/* glibc's per-size cache is LIFO: emptied first, it hands a's chunk back */
	for (size_t i = 0; i < sizeof(drain) / sizeof(drain[0]); i++)
		drain[i] = xmalloc(sizeof(*a2));
	service_free(a);
	a2 = xmalloc(sizeof(*a2));
	for (size_t i = 0; i < sizeof(drain) / sizeof(drain[0]); i++)
		free(drain[i]);
	memset(a2, 0, sizeof(*a2));
	a2->origin = xstrdup("test.yaml");
	a2->ns = xstrdup("default");
	a2->name = xstrdup("a");
	a2->type = SVC_CLUSTER_IP;
	a2->cluster_ips = xmalloc(sizeof(*a2->cluster_ips));
	a2->cluster_ips[0] = ip("10.96.0.4");
	a2->n_cluster_ips = 1;
	svc_port(a2, "", L4_TCP, 81, 8080, NULL);
	model_add_service(&tmp, a2); /* its gen */
	model_free_view(&tmp);
	f->m.services[0] = a2;
	print_message("a's successor %s a's address\n",
	              (void *)a2 == old ? "has" : "does not have");
	run_inc(f, c);
	assert_int_equal(f->ds.n_entries, 2);
	assert_entry(&f->ds, 0, "10.96.0.3", L4_TCP, 80, "default/b", "");
	assert_entry(&f->ds, 1, "10.96.0.4", L4_TCP, 81, "default/a", "");
	compiler_free(c);
}

/*
 * An endpoint with no nodeName is remote (no hairpin element) only when
 * cluster CIDRs are known and it is outside them: then it cannot be a pod
 * of this node.
 */
static void test_unplaced_endpoint_remote(void **state)
{
	struct fix *f = *state;
	struct cidr cidrs[2];
	struct service *s = svc(&f->m, "default", "db", "10.96.0.5");
	struct endpoint_slice *e;

	assert_int_equal(cidr_parse("10.244.0.0/16", &cidrs[0]), 0);
	assert_int_equal(cidr_parse("fd00::/48", &cidrs[1]), 0);
	svc_port(s, "", L4_TCP, 5432, 5432, NULL);
	e = slice(&f->m, "default", "db-1", "db", AF_INET);
	slice_port(e, "", L4_TCP, 5432);
	slice_ep(e, "10.244.3.4", READY, NULL);     /* may be a pod here */
	slice_ep(e, "192.168.50.9", READY, NULL);   /* outside the cluster */
	slice_ep(e, "10.244.3.5", READY, "node-2"); /* a pod of another node */
	run(f);
	assert_int_equal(f->ds.n_entries, 1);
	assert_int_equal(f->ds.entries[0].n_backends, 3);
	for (size_t i = 0; i < 3; i++) /* no cluster CIDR: only nodeName tells */
		assert_int_equal(f->ds.entries[0].backends[i].remote, i == 1);

	f->o.cluster_cidrs = cidrs;
	f->o.n_cluster_cidrs = 2;
	run(f);
	/* sorted: 10.244.3.4, 10.244.3.5, 192.168.50.9 */
	assert_false(f->ds.entries[0].backends[0].remote);
	assert_true(f->ds.entries[0].backends[1].remote);
	assert_true(f->ds.entries[0].backends[2].remote);

	f->o.cluster_cidrs = &cidrs[1]; /* only another family's: nothing known */
	f->o.n_cluster_cidrs = 1;
	run(f);
	assert_false(f->ds.entries[0].backends[2].remote);
}

/* NodePorts and external IP ports a node process listens on are left out. */
static void test_node_local_filter(void **state)
{
	struct fix *f = *state;
	struct ipaddr node[1] = {ip("192.168.1.5")};
	struct listener ls[2] = {
	    {.addr = {.family = AF_INET}, .proto = L4_TCP, .port = 30080}, /* 0.0.0.0:30080 */
	    {.addr = ip("192.168.1.5"), .proto = L4_TCP, .port = 443},
	};
	struct node_local nl = {.addrs = node, .n_addrs = 1, .listeners = ls, .n_listeners = 2};
	struct service *s = svc(&f->m, "default", "np", "10.96.0.1");

	s->type = SVC_NODE_PORT;
	svc_port(s, "a", L4_TCP, 80, 80, NULL);
	svc_port(s, "b", L4_UDP, 80, 80, NULL);
	s->ports[0].node_port = 30080; /* taken (tcp) */
	s->ports[1].node_port = 30080; /* free (udp) */
	s->n_external_ips = 2;
	s->external_ips = xcalloc(2, sizeof(*s->external_ips));
	s->external_ips[0] = ip("192.168.1.5"); /* node address, port 80 free */
	s->external_ips[1] = ip("192.168.9.9"); /* not the node's */
	s = svc(&f->m, "default", "web", "10.96.0.2");
	svc_port(s, "", L4_TCP, 443, 443, NULL);
	s->n_external_ips = 1;
	s->external_ips = xcalloc(1, sizeof(*s->external_ips));
	s->external_ips[0] = ip("192.168.1.5"); /* node address, 443 taken */
	run(f);
	assert_int_equal(count_kind(&f->ds, ENTRY_NODE_PORT), 2);
	assert_int_equal(count_kind(&f->ds, ENTRY_EXTERNAL), 5);
	node_local_filter(&nl, &f->ds, &f->d);
	assert_int_equal(count_kind(&f->ds, ENTRY_NODE_PORT), 1);
	assert_int_equal(f->ds.entries[0].proto, L4_UDP);
	assert_int_equal(count_kind(&f->ds, ENTRY_EXTERNAL), 4);
	assert_int_equal(count_kind(&f->ds, ENTRY_CLUSTER_IP), 3);
	assert_int_equal(f->d.n, 2);
	assert_string_equal(f->d.msgs[0], "Service default/np:a: nodePort 30080/tcp: a process on "
	                                  "this node listens on it; not captured");
	assert_string_equal(f->d.msgs[1],
	                    "Service default/web: external IP 192.168.1.5 port 443/tcp: a process "
	                    "on this node listens on it; not captured");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_entry_per_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_label_unnamed_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nodeport_lb_have_cluster_ip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_services, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slice_selection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_match_by_name_and_proto, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_target_port_name_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_null_slice_port_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ready_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_terminating_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_only_not_serving_terminating, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ready_in_other_slice_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fallback_per_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates_counted_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_local_either_copy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backends_sorted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_family_ipv4, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_family_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_keeps_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict_namespace_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_independent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_ip_node_address_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incremental_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_shared_then_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_change_reused_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unplaced_endpoint_remote, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_local_filter, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
