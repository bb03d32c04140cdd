/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_decode.c - manifest decoding: good input, and one case per rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "source/decode.h"
#include "decode_fix.h"

static void assert_ip(const struct ipaddr *a, const char *want)
{
	char buf[IPADDR_STRLEN];

	assert_string_equal(ipaddr_str(a, buf), want);
}

#define SVC_HEAD "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"

/* A Service that uses every field svcproxy reads. */
static void test_service_full(void **state)
{
	struct fix *f = *state;
	struct service *s;
	char buf[CIDR_STRLEN];

	assert_int_equal(dec(f, "svc.yaml",
	                     "apiVersion: v1\n"
	                     "kind: Service\n"
	                     "metadata:\n"
	                     "  name: web\n"
	                     "  namespace: prod\n"
	                     "spec:\n"
	                     "  type: LoadBalancer\n"
	                     "  clusterIP: 10.96.0.10\n"
	                     "  clusterIPs: [10.96.0.10, 'fd00::10']\n"
	                     "  ports:\n"
	                     "  - name: http\n"
	                     "    port: 80\n"
	                     "    targetPort: http-alt\n"
	                     "    nodePort: 30080\n"
	                     "  - name: dns\n"
	                     "    port: 53\n"
	                     "    protocol: UDP\n"
	                     "    targetPort: 5353\n"
	                     "  - name: sctp\n"
	                     "    port: 80\n"
	                     "    protocol: SCTP\n"
	                     "  externalIPs: [192.0.2.1]\n"
	                     "  loadBalancerSourceRanges: ['10.1.2.3/8', ' 192.168.0.0/16 ']\n"
	                     "  externalTrafficPolicy: Local\n"
	                     "  internalTrafficPolicy: Local\n"
	                     "  healthCheckNodePort: 32000\n"
	                     "  sessionAffinity: ClientIP\n"
	                     "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n"
	                     "  trafficDistribution: PreferClose\n"
	                     "status:\n"
	                     "  loadBalancer:\n"
	                     "    ingress: [{ip: 203.0.113.7}, {hostname: lb.example.com}]\n"),
	                 0);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(f->m.n_services, 1);
	s = f->m.services[0];
	assert_string_equal(s->origin, "svc.yaml");
	assert_string_equal(s->ns, "prod");
	assert_string_equal(s->name, "web");
	assert_int_equal(s->type, SVC_LOAD_BALANCER);
	assert_false(s->headless);
	assert_false(s->ignored);
	assert_int_equal(s->n_cluster_ips, 2);
	assert_ip(&s->cluster_ips[0], "10.96.0.10");
	assert_ip(&s->cluster_ips[1], "fd00::10");
	assert_int_equal(s->n_ports, 3);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].proto, L4_TCP);
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].target_port, 0);
	assert_string_equal(s->ports[0].target_port_name, "http-alt");
	assert_int_equal(s->ports[0].node_port, 30080);
	assert_int_equal(s->ports[1].proto, L4_UDP);
	assert_int_equal(s->ports[1].target_port, 5353);
	assert_null(s->ports[1].target_port_name);
	assert_int_equal(s->ports[2].proto, L4_SCTP);
	assert_int_equal(s->ports[2].target_port, 80);
	assert_int_equal(s->n_external_ips, 1);
	assert_ip(&s->external_ips[0], "192.0.2.1");
	assert_int_equal(s->n_lb_ips, 1);
	assert_ip(&s->lb_ips[0], "203.0.113.7");
	assert_int_equal(s->n_lb_source_ranges, 2);
	assert_string_equal(cidr_str(&s->lb_source_ranges[0], buf), "10.0.0.0/8");
	assert_string_equal(cidr_str(&s->lb_source_ranges[1], buf), "192.168.0.0/16");
	assert_true(s->etp_local);
	assert_true(s->itp_local);
	assert_int_equal(s->health_check_node_port, 32000);
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 60);
	assert_string_equal(s->traffic_distribution, "PreferClose");
}

static void test_service_defaults(void **state)
{
	struct fix *f = *state;
	struct service *s;

	assert_int_equal(dec(f, "svc.yaml", SVC_HEAD "spec:\n  ports:\n  - port: 8080\n"), 0);
	assert_int_equal(f->m.n_services, 1);
	s = f->m.services[0];
	assert_string_equal(s->ns, "default");
	assert_int_equal(s->type, SVC_CLUSTER_IP);
	assert_int_equal(s->n_cluster_ips, 0);
	assert_string_equal(s->ports[0].name, "");
	assert_int_equal(s->ports[0].proto, L4_TCP);
	assert_int_equal(s->ports[0].target_port, 8080);
	assert_int_equal(s->ports[0].node_port, 0);
	assert_false(s->etp_local);
	assert_false(s->itp_local);
	assert_false(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 10800);
	assert_null(s->traffic_distribution);
}

static void test_service_headless_ignored(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "svc.yaml",
	                     "apiVersion: v1\nkind: Service\nmetadata:\n  name: db\n"
	                     "  labels: {service.kubernetes.io/service-proxy-name: other}\n"
	                     "spec:\n  clusterIP: None\n"),
	                 0);
	assert_int_equal(f->m.n_services, 1);
	assert_true(f->m.services[0]->headless);
	assert_true(f->m.services[0]->ignored);
	assert_int_equal(f->m.services[0]->n_cluster_ips, 0);
}

/* The example from the style guide, to the letter. */
static void test_port_out_of_range(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "services.yaml",
	                     SVC_HEAD "spec:\n  ports:\n  - name: a\n    port: 80\n"
	                              "  - name: b\n    port: 70000\n"),
	                 1);
	assert_int_equal(f->m.n_services, 0);
	assert_int_equal(f->d.n, 1);
	assert_msg(f, "services.yaml: Service default/web: spec.ports[1].port: 70000 is not a "
	              "valid port (1-65535)");
}

static void test_port_rules(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "s.yaml",
	                     SVC_HEAD "spec:\n  ports:\n"
	                              "  - name: a\n    port: \"80\"\n" /* quoted */
	                              "  - port: 81\n"                  /* no name */
	                              "  - name: c\n    port: 82\n    protocol: HTTP\n"
	                              "  - name: d\n    port: 83\n    targetPort: \"8443\"\n"
	                              "  - name: e\n    port: 84\n    targetPort: 70000\n"
	                              "  - name: f\n    port: 85\n    targetPort: Bad_Name\n"
	                              "  - name: g\n    port: 86\n    nodePort: 70000\n"
	                              "  - name: a\n    port: 87\n" /* dup name */
	                              "  - name: i\n    port: 86\n" /* dup port */
	                              "  - name: j\n"               /* no port */
	                              "  - name: Upper\n    port: 88\n"),
	                 1);
	assert_int_equal(f->m.n_services, 0);
	assert_msg(f, "s.yaml: Service default/web: spec.ports[0].port: \"80\" is a string, "
	              "expected an integer (remove the quotes)");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[1].name: required when a Service "
	              "has more than one port");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[2].protocol: \"HTTP\" is not a "
	              "valid protocol (TCP, UDP or SCTP)");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[3].targetPort: \"8443\" is not a "
	              "valid port name (write a number without quotes)");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[4].targetPort: 70000 is not a "
	              "valid port (1-65535)");
	assert_msg_has(f, "spec.ports[5].targetPort: \"Bad_Name\" is not a valid port name");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[6].nodePort: 70000 is not a valid "
	              "port (0-65535)");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[7].name: duplicate port name "
	              "\"a\" (also spec.ports[0])");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[8]: duplicate port 86/tcp (also "
	              "spec.ports[6])");
	assert_msg(f, "s.yaml: Service default/web: spec.ports[9].port: required value is missing");
	assert_msg_has(f, "spec.ports[10].name: \"Upper\" is not a valid port name");
	assert_int_equal(f->d.n, 11);
}

static void test_service_field_rules(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "s.yaml",
	                     SVC_HEAD "spec:\n"
	                              "  type: Magic\n"
	                              "  clusterIP: 10.96.0.300\n"
	                              "  ports: [{port: 80}]\n"
	                              "  externalIPs: [not-an-ip]\n"
	                              "  loadBalancerSourceRanges: [10.0.0.0/33]\n"
	                              "  externalTrafficPolicy: Nearby\n"
	                              "  internalTrafficPolicy: local\n"
	                              "  sessionAffinity: Sticky\n"
	                              "status: {loadBalancer: {ingress: [{ip: 1.2.3}]}}\n"),
	                 1);
	assert_int_equal(f->m.n_services, 0);
	assert_msg(f, "s.yaml: Service default/web: spec.type: \"Magic\" is not valid (ClusterIP, "
	              "NodePort, LoadBalancer or ExternalName)");
	assert_msg(f, "s.yaml: Service default/web: spec.clusterIP: \"10.96.0.300\" is not a valid "
	              "IP address (or \"None\" for a headless Service)");
	assert_msg(f, "s.yaml: Service default/web: spec.externalIPs[0]: \"not-an-ip\" is not a "
	              "valid IP address");
	assert_msg(f, "s.yaml: Service default/web: spec.loadBalancerSourceRanges[0]: "
	              "\"10.0.0.0/33\" is not a valid CIDR (e.g. 203.0.113.0/24)");
	assert_msg(f, "s.yaml: Service default/web: spec.externalTrafficPolicy: \"Nearby\" is not "
	              "valid (Cluster or Local)");
	assert_msg(f, "s.yaml: Service default/web: spec.internalTrafficPolicy: \"local\" is not "
	              "valid (Cluster or Local)");
	assert_msg(f, "s.yaml: Service default/web: spec.sessionAffinity: \"Sticky\" is not valid "
	              "(None or ClientIP)");
	assert_msg(f, "s.yaml: Service default/web: status.loadBalancer.ingress[0].ip: \"1.2.3\" "
	              "is not a valid IP address");
}

static void test_service_more_rules(void **state)
{
	struct fix *f = *state;

	/* no ports, not headless */
	assert_int_equal(dec(f, "a.yaml", SVC_HEAD "spec: {}\n"), 1);
	assert_msg(f, "a.yaml: Service default/web: spec.ports: at least one port is required "
	              "(unless clusterIP is None)");
	/* affinity timeout out of range, and as a string */
	assert_int_equal(dec(f, "b.yaml",
	                     SVC_HEAD
	                     "spec:\n  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n"
	                     "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n"),
	                 1);
	assert_msg(f, "b.yaml: Service default/web: spec.sessionAffinityConfig.clientIP."
	              "timeoutSeconds: 86401 is not valid (1-86400 seconds)");
	/* nodePort on a ClusterIP Service, bad name, bad namespace */
	assert_int_equal(dec(f, "c.yaml",
	                     "apiVersion: v1\nkind: Service\nmetadata: {name: Web, namespace: "
	                     "-x}\nspec:\n  ports: [{port: 80, nodePort: 30000}]\n"),
	                 1);
	assert_msg_has(f, "c.yaml: Service -x/Web: metadata.name: \"Web\" is not a valid Service "
	                  "name");
	assert_msg_has(f, "metadata.namespace: \"-x\" is not a valid namespace");
	assert_msg(f, "c.yaml: Service -x/Web: spec.ports[0].nodePort: may only be used with "
	              "type NodePort or LoadBalancer");
	/* dual-stack clusterIPs of one family; clusterIP mismatch */
	assert_int_equal(dec(f, "d.yaml",
	                     SVC_HEAD "spec:\n  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.2, "
	                              "10.0.0.3]\n  ports: [{port: 80}]\n"),
	                 1);
	assert_msg_has(f, "spec.clusterIPs[0]: \"10.0.0.2\" must match spec.clusterIP");
	assert_msg_has(f, "spec.clusterIPs[1]: \"10.0.0.3\" is of the same family");
	/* healthCheckNodePort without Local */
	assert_int_equal(dec(f, "e.yaml",
	                     SVC_HEAD "spec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n"
	                              "  healthCheckNodePort: 30001\n"),
	                 1);
	assert_msg_has(f, "spec.healthCheckNodePort: may only be set for type LoadBalancer");
	/* a boolean where a string belongs */
	assert_int_equal(dec(f, "f.yaml", SVC_HEAD "spec:\n  type: true\n  ports: [{port: 80}]\n"),
	                 1);
	assert_msg(f, "f.yaml: Service default/web: spec.type: expected a string, got a boolean "
	              "true (quote it)");
	assert_int_equal(f->m.n_services, 0);
}

static void test_object_header(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "h.yaml",
	                     "kind: Service\nmetadata: {name: a}\n"
	                     "---\n"
	                     "apiVersion: v1\nmetadata: {name: b}\n"
	                     "---\n"
	                     "apiVersion: v1\nkind: Service\nspec: {ports: [{port: 1}]}\n"
	                     "---\n"
	                     "- just a list\n"),
	                 4);
	assert_int_equal(f->m.n_services, 0);
	assert_msg(f, "h.yaml:1: Service: apiVersion: required value is missing (e.g. v1, "
	              "discovery.k8s.io/v1)");
	assert_msg(f, "h.yaml:4: kind: required value is missing (e.g. Service, EndpointSlice)");
	assert_msg(f, "h.yaml:7: Service: metadata.name: required value is missing (every object "
	              "needs a name)");
	assert_msg(f, "h.yaml:0: document: expected a Kubernetes object (a mapping), got a list");
}

#define EPS_HEAD                                                                                   \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\n"       \
	"  labels: {kubernetes.io/service-name: web}\n"

static void test_slice_good(void **state)
{
	struct fix *f = *state;
	struct endpoint_slice *e;

	assert_int_equal(dec(f, "eps.yaml",
	                     EPS_HEAD
	                     "addressType: IPv4\n"
	                     "ports:\n"
	                     "- {name: http, port: 8080}\n"
	                     "- {port: 9090, protocol: UDP}\n"
	                     "- {name: broken, port: null}\n"
	                     "endpoints:\n"
	                     "- addresses: [10.244.1.5, 10.244.1.6]\n"
	                     "  nodeName: n1\n"
	                     "  zone: z1\n"
	                     "  hints: {forZones: [{name: z1}, {name: z2}]}\n"
	                     "- addresses: [10.244.2.5]\n"
	                     "  conditions: {ready: false}\n"
	                     "- addresses: [10.244.3.5]\n"
	                     "  conditions: {ready: false, serving: true, terminating: true}\n"),
	                 0);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(f->m.n_slices, 1);
	e = f->m.slices[0];
	assert_string_equal(e->ns, "default");
	assert_string_equal(e->name, "web-abc");
	assert_string_equal(e->service_name, "web");
	assert_int_equal(e->family, AF_INET);
	assert_false(e->from_endpoints);
	assert_int_equal(e->n_ports, 3);
	assert_string_equal(e->ports[0].name, "http");
	assert_int_equal(e->ports[0].port, 8080);
	assert_int_equal(e->ports[0].proto, L4_TCP);
	assert_string_equal(e->ports[1].name, "");
	assert_int_equal(e->ports[1].proto, L4_UDP);
	assert_int_equal(e->ports[2].port, 0);
	assert_int_equal(e->n_endpoints, 3);
	assert_ip(&e->endpoints[0].addr, "10.244.1.5");
	assert_true(e->endpoints[0].ready);
	assert_true(e->endpoints[0].serving);
	assert_false(e->endpoints[0].terminating);
	assert_string_equal(e->endpoints[0].node_name, "n1");
	assert_string_equal(e->endpoints[0].zone, "z1");
	assert_int_equal(e->endpoints[0].n_hint_zones, 2);
	assert_string_equal(e->endpoints[0].hint_zones[1], "z2");
	assert_false(e->endpoints[1].ready);
	assert_false(e->endpoints[1].serving); /* absent: same as ready */
	assert_null(e->endpoints[1].node_name);
	assert_false(e->endpoints[2].ready);
	assert_true(e->endpoints[2].serving);
	assert_true(e->endpoints[2].terminating);
}

/* endpoints.kubernetes.io/last-change-trigger-time: RFC 3339, else 0 */
static void test_slice_trigger_time(void **state)
{
	static const struct {
		const char *value;
		double want;
	} cases[] = {
	    {"\"2024-05-01T12:00:00Z\"", 1714564800},
	    {"\"2024-05-01T12:00:00.25Z\"", 1714564800.25},
	    {"\"2024-05-01T14:00:00+02:00\"", 1714564800},
	    {"\"yesterday\"", 0},
	    {"\"2024-05-01 12:00:00\"", 0},
	    {"12", 0},
	};
	struct fix *f = *state;
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
		         "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		         "  name: web-t%zu\n  labels: {kubernetes.io/service-name: web}\n"
		         "  annotations: {endpoints.kubernetes.io/last-change-trigger-time: %s}\n"
		         "addressType: IPv4\n",
		         i, cases[i].value);
		assert_int_equal(dec(f, "eps.yaml", text), 0);
		assert_int_equal(f->d.n, 0); /* never an error: it only feeds a metric */
		assert_true(f->m.slices[f->m.n_slices - 1]->trigger_time == cases[i].want);
	}
	assert_int_equal(dec(f, "eps.yaml", EPS_HEAD "addressType: IPv4\n"), 0);
	assert_true(f->m.slices[f->m.n_slices - 1]->trigger_time == 0);
}

static void test_slice_rules(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "e.yaml",
	                     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	                     "metadata: {name: web-x}\naddressType: IPv6\n"
	                     "ports: [{name: a, port: 0}, {name: b, port: 80, protocol: tcp}]\n"
	                     "endpoints:\n"
	                     "- addresses: [10.0.0.1]\n"
	                     "- addresses: []\n"
	                     "- addresses: [fd00::1]\n"
	                     "  conditions: {ready: \"true\"}\n"),
	                 1);
	assert_int_equal(f->m.n_slices, 0);
	assert_msg(f, "e.yaml: EndpointSlice default/web-x: metadata.labels: label "
	              "kubernetes.io/service-name is required (the name of the Service this slice "
	              "belongs to)");
	assert_msg(f, "e.yaml: EndpointSlice default/web-x: ports[0].port: 0 is not a valid port "
	              "(1-65535)");
	assert_msg(f, "e.yaml: EndpointSlice default/web-x: ports[1].protocol: \"tcp\" is not a "
	              "valid protocol (TCP, UDP or SCTP)");
	assert_msg(f, "e.yaml: EndpointSlice default/web-x: endpoints[0].addresses[0]: "
	              "\"10.0.0.1\" is not an IPv6 address (the slice's addressType is IPv6)");
	assert_msg(f, "e.yaml: EndpointSlice default/web-x: endpoints[1].addresses: at least one "
	              "address is required");
	assert_msg(f,
	           "e.yaml: EndpointSlice default/web-x: endpoints[2].conditions.ready: \"true\" "
	           "is a string, expected a boolean (true or false, unquoted)");
	assert_int_equal(f->d.n, 6);

	assert_int_equal(dec(f, "g.yaml", EPS_HEAD "addressType: IPX\n"), 1);
	assert_msg(f, "g.yaml: EndpointSlice default/web-abc: addressType: \"IPX\" is not valid "
	              "(IPv4, IPv6 or FQDN)");
}

/* FQDN slices and kinds that are not ours are skipped without a word. */
static void test_skipped(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "x.yaml",
	                     EPS_HEAD
	                     "addressType: FQDN\nendpoints: [{addresses: [example.com]}]\n"
	                     "---\n"
	                     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
	                     "spec: {replicas: \"whatever\"}\n"
	                     "---\n"
	                     "apiVersion: serving.knative.dev/v1\nkind: Service\n"
	                     "metadata: {name: kn}\n"
	                     "---\n"
	                     "# only a comment\n"
	                     "---\n"),
	                 0);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(f->m.n_services + f->m.n_slices + f->m.n_nodes, 0);
}

static void test_endpoints_conversion(void **state)
{
	struct fix *f = *state;
	struct endpoint_slice *a, *b, *c;

	assert_int_equal(dec(f, "ep.yaml",
	                     "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: "
	                     "prod}\n"
	                     "subsets:\n"
	                     "- addresses: [{ip: 10.0.0.1, nodeName: n1}, {ip: 'fd00::1'}]\n"
	                     "  notReadyAddresses: [{ip: 10.0.0.2}]\n"
	                     "  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: "
	                     "UDP}]\n"
	                     "- addresses: [{ip: 10.0.1.1}]\n"
	                     "  ports: [{port: 8080}]\n"),
	                 0);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(f->m.n_slices, 3);
	a = f->m.slices[0];
	b = f->m.slices[1];
	c = f->m.slices[2];
	assert_string_equal(a->name, "web-subset0");
	assert_string_equal(a->ns, "prod");
	assert_string_equal(a->service_name, "web");
	assert_true(a->from_endpoints);
	assert_int_equal(a->family, AF_INET);
	assert_int_equal(a->n_endpoints, 2);
	assert_ip(&a->endpoints[0].addr, "10.0.0.1");
	assert_true(a->endpoints[0].ready);
	assert_true(a->endpoints[0].serving);
	assert_false(a->endpoints[0].terminating);
	assert_string_equal(a->endpoints[0].node_name, "n1");
	assert_ip(&a->endpoints[1].addr, "10.0.0.2");
	assert_false(a->endpoints[1].ready);
	assert_false(a->endpoints[1].serving);
	assert_int_equal(a->n_ports, 2);
	assert_int_equal(a->ports[1].proto, L4_UDP);
	assert_string_equal(b->name, "web-subset0-ipv6");
	assert_int_equal(b->family, AF_INET6);
	assert_int_equal(b->n_endpoints, 1);
	assert_int_equal(b->n_ports, 2);
	assert_string_equal(c->name, "web-subset1");
	assert_int_equal(c->ports[0].port, 8080);
	assert_string_equal(c->ports[0].name, "");

	assert_int_equal(dec(f, "bad.yaml",
	                     "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\n"
	                     "subsets: [{addresses: [{ip: 300.0.0.1}], ports: [{name: x}]}]\n"),
	                 1);
	assert_msg(f, "bad.yaml: Endpoints default/web: subsets[0].addresses[0].ip: \"300.0.0.1\" "
	              "is not a valid IP address");
	assert_msg(f, "bad.yaml: Endpoints default/web: subsets[0].ports[0].port: required value "
	              "is missing");
	assert_int_equal(f->m.n_slices, 3);
}

static void test_node(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "n.yaml",
	                     "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1.example\n"
	                     "  labels: {topology.kubernetes.io/zone: eu-1a}\n"
	                     "---\n"
	                     "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n"
	                     "---\n"
	                     "apiVersion: v1\nkind: Node\nmetadata: {name: N_3}\n"),
	                 1);
	assert_int_equal(f->m.n_nodes, 2);
	assert_string_equal(f->m.nodes[0]->name, "node-1.example");
	assert_string_equal(f->m.nodes[0]->zone, "eu-1a");
	assert_null(f->m.nodes[1]->zone);
	assert_msg_has(f, "n.yaml: Node N_3: metadata.name: \"N_3\" is not a valid Node name");
}

static void test_json_list(void **state)
{
	struct fix *f = *state;

	assert_int_equal(
	    dec(f, "list.json",
	        "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
	        "  {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
	        "\"a\"}, \"spec\": {\"ports\": [{\"port\": 80, \"targetPort\": \"web\"}]}},\n"
	        "  {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
	        "\"b\"}, \"spec\": {\"ports\": [{\"port\": \"80\"}]}},\n"
	        "  {\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n"
	        "    {\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": "
	        "\"n\"}}]}\n"
	        "]}\n"),
	    1);
	assert_int_equal(f->m.n_services, 1);
	assert_string_equal(f->m.services[0]->name, "a");
	assert_string_equal(f->m.services[0]->ports[0].target_port_name, "web");
	assert_int_equal(f->m.n_nodes, 1);
	assert_msg(f, "list.json: Service default/b: spec.ports[0].port: \"80\" is a string, "
	              "expected an integer (remove the quotes)");
}

/* One bad object does not stop the others; rejects name it. */
static void test_multidoc_partial(void **state)
{
	struct fix *f = *state;
	struct decode_rejects rej = {0};
	const char *text = SVC_HEAD "spec: {ports: [{port: 80}]}\n---\n"
	                            "apiVersion: v1\nkind: Service\nmetadata: {name: bad, "
	                            "namespace: ns1}\nspec: {ports: [{port: 0}]}\n"
	                            "---\n" EPS_HEAD "addressType: IPv4\n";
	int ret;

	ret = manifest_decode_buffer("m.yaml", text, strlen(text), NULL, &f->m, &f->d, &rej);
	assert_int_equal(ret, 1);
	assert_int_equal(f->m.n_services, 1);
	assert_int_equal(f->m.n_slices, 1);
	assert_int_equal(f->d.n, 1);
	assert_int_equal(rej.n, 1);
	assert_int_equal(rej.v[0].kind, OBJ_SERVICE);
	assert_string_equal(rej.v[0].ns, "ns1");
	assert_string_equal(rej.v[0].name, "bad");
	decode_rejects_clear(&rej);
}

static void test_syntax_error(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "broken.yaml",
	                     SVC_HEAD "spec: {ports: [{port: 80}]}\n---\n"
	                              "apiVersion: v1\nkind: Service\nmetadata: {name: x\n"),
	                 -EINVAL);
	assert_int_equal(f->m.n_services, 0);
	assert_int_equal(f->d.n, 1);
	assert_true(!strncmp(f->d.msgs[0], "broken.yaml:", 12));
	/* file:LINE:COL: message */
	{
		int line = 0, col = 0;

		assert_int_equal(sscanf(f->d.msgs[0], "broken.yaml:%d:%d:", &line, &col), 2);
		assert_true(line >= 9);
	}

	assert_int_equal(dec(f, "dup.yaml", "a: 1\na: 2\n"), -EINVAL);
	assert_msg(f, "dup.yaml:2:1: duplicate key \"a\" (first at line 1)");
	assert_int_equal(dec(f, "bad.json", "{\"apiVersion\": \"v1\",, }"), -EINVAL);
	assert_int_equal(f->d.n, 3);

	/* not UTF-8: refused before parsing, at its place */
	assert_int_equal(dec(f, "latin1.yaml", "\n% \xff\"}\n"), -EINVAL);
	assert_msg(f, "latin1.yaml:2:3: invalid UTF-8 (manifests must be UTF-8 text)");
	assert_int_equal(dec(f, "sur.yaml", "a: \xed\xa0\x80\n"), -EINVAL);
	assert_int_equal(dec(f, "trunc.yaml", "a: \xc3"), -EINVAL);
	assert_int_equal(dec(f, "ok.yaml", "# caf\xc3\xa9 \xf0\x9f\x98\x80\n"), 0);
	assert_int_equal(f->d.n, 6);

	/* a tab is not indentation: libyaml's message, at its place (these once crashed libfyaml)
	 */
	assert_int_equal(dec(f, "trap.yaml", "a: 1\n? b: \t- x\n"), -EINVAL);
	assert_msg(f, "trap.yaml:2:7: block sequence entries are not allowed in this context");
	assert_int_equal(dec(f, "trap3.yaml", "a: 1\r? b: \t- x\r"),
	                 -EINVAL); /* '\r' ends a line */
	assert_msg_has(f, "trap3.yaml:2:7: ");
	assert_int_equal(dec(f, "trap4.yaml", "a: 1\r\n? b: \t- x\r\n"), -EINVAL);
	assert_int_equal(dec(f, "tab.yaml", "a: \t- x\n"), -EINVAL);
	assert_int_equal(f->d.n, 10);
}

/* A YAML tag !!str makes a string; aliases are followed. */
static void test_tags_and_aliases(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "t.yaml",
	                     SVC_HEAD "spec:\n  clusterIP: &tp 10.0.0.1\n  ports:\n"
	                              "  - {name: a, port: !!str 80, targetPort: !!str web}\n"
	                              "  - {name: b, port: 81, targetPort: *tp}\n"),
	                 1);
	assert_msg(f, "t.yaml: Service default/web: spec.ports[0].port: \"80\" is a string, "
	              "expected an integer (remove the quotes)");
	assert_msg_has(f, "spec.ports[1].targetPort: \"10.0.0.1\" is not a valid port name");
	assert_int_equal(f->d.n, 2);
	diag_clear(&f->d);
	assert_int_equal(dec(f, "t2.yaml",
	                     SVC_HEAD "spec:\n  ports: [{name: a, port: &n 80, targetPort: *n}]\n"),
	                 0);
	assert_int_equal(f->m.n_services, 1);
	assert_int_equal(f->m.services[0]->ports[0].target_port, 80);
}

/*
 * What kubectl prints for live objects decodes without a single message.
 * The file is found next to this source (meson runs tests in the build
 * directory, and __FILE__ is relative to it).
 */
static void test_kubectl_output(void **state)
{
	struct fix *f = *state;
	char path[512], *text;
	const char *slash = strrchr(__FILE__, '/');
	FILE *fp;
	long len;

	snprintf(path, sizeof(path), "%.*s/data/kubectl-get.yaml",
	         slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	fp = fopen(path, "r");
	if (!fp)
		skip();
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	text = test_malloc((size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	text[len] = '\0';
	fclose(fp);

	assert_int_equal(dec(f, "kubectl-get.yaml", text), 0);
	test_free(text);
	assert_int_equal(f->d.n, 0);
	assert_int_equal(f->m.n_services, 2);
	assert_string_equal(f->m.services[0]->ports[0].target_port_name, "http");
	assert_int_equal(f->m.services[1]->n_cluster_ips, 2);
	assert_int_equal(f->m.services[1]->n_lb_ips, 1);
	assert_int_equal(f->m.services[1]->health_check_node_port, 31999);
	assert_int_equal(f->m.n_slices, 2);
	assert_string_equal(f->m.slices[0]->service_name, "web");
	assert_true(f->m.slices[1]->from_endpoints);
	assert_int_equal(f->m.n_nodes, 1);
	assert_string_equal(f->m.nodes[0]->zone, "zone-b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_service_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_headless_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_port_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_field_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_more_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_object_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slice_good, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slice_trigger_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slice_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoints_conversion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multidoc_partial, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tags_and_aliases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kubectl_output, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
