/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_decode_validate.c - the address, node port and field rules that
 * make manifests as strict as the API server (issue 9), the decode options
 * that carry the cluster's settings, and decode_object() for the API source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "source/decode.h"
#include "source/ytree.h"
#include "decode_fix.h"

#define SVC_HEAD "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
#define EPS_HEAD                                                                                   \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n"         \
	"  labels: {kubernetes.io/service-name: web}\n"

/* Service addresses: no unspecified, loopback, link-local, multicast, broadcast, mapped. */
static void test_service_addresses(void **state)
{
	static const char *const refused[][2] = {
	    {"0.0.0.0", "may not be unspecified"},
	    {"::", "may not be unspecified"},
	    {"127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"},
	    {"::1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"},
	    {"169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"},
	    {"fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"},
	    {"239.1.2.3", "may not be multicast (224.0.0.0/4, ff00::/8)"},
	    {"ff05::1", "may not be multicast (224.0.0.0/4, ff00::/8)"},
	    {"255.255.255.255", "may not be the broadcast address"},
	    {"::ffff:10.0.0.1", "may not be an IPv4-mapped IPv6 address (write the IPv4 address)"},
	};
	struct fix *f = *state;
	char text[512], want[256];

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(text, sizeof(text),
		         SVC_HEAD "spec:\n  clusterIP: '%s'\n  ports: [{port: 80}]\n",
		         refused[i][0]);
		assert_int_equal(dec(f, "services.yaml", text), 1);
		snprintf(want, sizeof(want),
		         "services.yaml: Service default/web: spec.clusterIP: \"%s\" %s",
		         refused[i][0], refused[i][1]);
		assert_msg(f, want);
	}
	assert_int_equal(f->m.n_services, 0);
	assert_int_equal(f->rej.n, sizeof(refused) / sizeof(refused[0]));

	diag_clear(&f->d);
	assert_int_equal(dec(f, "s.yaml",
	                     SVC_HEAD
	                     "spec:\n  type: LoadBalancer\n  clusterIPs: [10.0.0.1, '::1']\n"
	                     "  externalIPs: [0.0.0.0, 192.0.2.1]\n"
	                     "  ports: [{port: 80}]\n"
	                     "status: {loadBalancer: {ingress: [{ip: 224.0.0.1}]}}\n"),
	                 1);
	assert_msg_has(f, "spec.clusterIPs[1]: \"::1\" may not be in the loopback range");
	assert_msg_has(f, "spec.externalIPs[0]: \"0.0.0.0\" may not be unspecified");
	assert_msg_has(f, "status.loadBalancer.ingress[0].ip: \"224.0.0.1\" may not be multicast");
	assert_int_equal(diag_errors(&f->d), 3);
}

/* Endpoints: kube-apiserver's ValidateEndpointIP, in slices and in v1 Endpoints. */
static void test_endpoint_addresses(void **state)
{
	struct fix *f = *state;

	assert_int_equal(dec(f, "eps.yaml",
	                     EPS_HEAD "addressType: IPv4\nendpoints:\n"
	                              "- addresses: [127.0.0.1]\n"
	                              "- addresses: [169.254.169.254]\n"
	                              "- addresses: [0.0.0.0]\n"
	                              "- addresses: [224.0.0.251]\n"),
	                 1);
	assert_msg(f, "eps.yaml: EndpointSlice default/web-1: endpoints[0].addresses[0]: "
	              "\"127.0.0.1\" may not be in the loopback range (127.0.0.0/8, ::1/128)");
	assert_msg(f, "eps.yaml: EndpointSlice default/web-1: endpoints[1].addresses[0]: "
	              "\"169.254.169.254\" may not be in the link-local range (169.254.0.0/16, "
	              "fe80::/10)");
	assert_msg_has(f, "endpoints[2].addresses[0]: \"0.0.0.0\" may not be unspecified");
	assert_msg_has(f, "endpoints[3].addresses[0]: \"224.0.0.251\" may not be in the link-local "
	                  "multicast range");
	assert_int_equal(f->rej.n, 1);
	assert_int_equal(f->rej.v[0].kind, OBJ_SLICE);

	diag_clear(&f->d);
	assert_int_equal(dec(f, "ep6.yaml",
	                     EPS_HEAD "addressType: IPv6\nendpoints:\n- addresses: ['fe80::1']\n"),
	                 1);
	assert_msg_has(f, "\"fe80::1\" may not be in the link-local range");

	diag_clear(&f->d);
	assert_int_equal(dec(f, "v1.yaml",
	                     "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\nsubsets:\n"
	                     "- addresses: [{ip: 127.0.0.2}]\n  ports: [{port: 80}]\n"),
	                 1);
	assert_msg(f,
	           "v1.yaml: Endpoints default/web: subsets[0].addresses[0].ip: \"127.0.0.2\" may "
	           "not be in the loopback range (127.0.0.0/8, ::1/128)");
	assert_int_equal(f->rej.v[f->rej.n - 1].kind, OBJ_ENDPOINTS);
	assert_int_equal(f->m.n_slices, 0);

	/* what the API server accepts stays accepted */
	diag_clear(&f->d);
	assert_int_equal(dec(f, "ok.yaml",
	                     EPS_HEAD "addressType: IPv4\nendpoints:\n- addresses: [10.244.1.5]\n"),
	                 0);
	assert_int_equal(f->m.n_slices, 1);
}

static void test_node_port_range(void **state)
{
	struct fix *f = *state;
	struct decode_opts low = {.node_port_min = 1, .node_port_max = 1000};
	const char *text = SVC_HEAD "spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	                            "  healthCheckNodePort: 32000\n"
	                            "  ports: [{name: a, port: 80, nodePort: 80},\n"
	                            "          {name: b, port: 81, nodePort: 30081}]\n";

	assert_int_equal(dec(f, "services.yaml", text), 1);
	assert_msg(f,
	           "services.yaml: Service default/web: spec.ports[0].nodePort: 80 is not in the "
	           "node port range (30000-32767, --service-node-port-range)");
	assert_int_equal(diag_errors(&f->d), 1);

	diag_clear(&f->d);
	assert_int_equal(deco(f, "services.yaml", &low, text), 1);
	assert_msg_has(f, "spec.ports[1].nodePort: 30081 is not in the node port range (1-1000");
	assert_msg_has(f, "spec.healthCheckNodePort: 32000 is not in the node port range (1-1000");
	assert_int_equal(diag_errors(&f->d), 2);
	assert_int_equal(f->m.n_services, 0);
	assert_int_equal(f->rej.n, 2);
}

static void test_external_ip_cidrs(void **state)
{
	struct fix *f = *state;
	struct cidr allow[2];
	struct decode_opts o = {.external_ip_cidrs = allow, .n_external_ip_cidrs = 2};
	const char *text = SVC_HEAD "spec:\n  externalIPs: [192.0.2.7, 198.51.100.1]\n"
	                            "  ports: [{port: 80}]\n";

	assert_int_equal(cidr_parse("192.0.2.0/24", &allow[0]), 0);
	assert_int_equal(cidr_parse("2001:db8::/64", &allow[1]), 0);
	assert_int_equal(dec(f, "s.yaml", text), 0); /* no list: any address */
	assert_int_equal(f->m.n_services, 1);
	assert_int_equal(deco(f, "s.yaml", &o, text), 1);
	assert_msg(f,
	           "s.yaml: Service default/web: spec.externalIPs[1]: \"198.51.100.1\" is not in "
	           "--external-ip-cidrs (CVE-2020-8554)");
	assert_int_equal(f->m.n_services, 1);
	assert_int_equal(f->rej.n, 1);
}

/* Unknown fields warn (kubectl apply --validate=warn) and refuse nothing. */
static void test_unknown_fields(void **state)
{
	struct fix *f = *state;
	struct diag copy = {0};

	assert_int_equal(dec(f, "services.yaml",
	                     SVC_HEAD "  lables: {a: b}\nspec:\n  clusterIp: 10.96.0.1\n"
	                              "  ports: [{port: 80, tagetPort: 8080}]\n"
	                              "  sessionAffinityConfig: {clientIP: {timeout: 5}}\n"
	                              "status: {loadBalancer: {ingres: []}}\n"),
	                 0);
	assert_int_equal(f->m.n_services, 1);
	assert_msg(f,
	           "services.yaml: Service default/web: spec.clusterIp: unknown field (warning)");
	assert_msg(f,
	           "services.yaml: Service default/web: metadata.lables: unknown field (warning)");
	assert_msg(f, "services.yaml: Service default/web: spec.ports[0].tagetPort: unknown field "
	              "(warning)");
	assert_msg_has(f, "spec.sessionAffinityConfig.clientIP.timeout: unknown field (warning)");
	assert_msg_has(f, "status.loadBalancer.ingres: unknown field (warning)");
	assert_int_equal(f->d.n, 5);
	assert_int_equal(f->d.n_warnings, 5);
	assert_int_equal(diag_errors(&f->d), 0);
	diag_append(&copy, &f->d);
	assert_int_equal(copy.n_warnings, 5);
	diag_clear(&copy);

	diag_clear(&f->d);
	assert_int_equal(dec(f, "eps.yaml",
	                     EPS_HEAD
	                     "addressType: IPv4\nendpoint: []\nendpoints:\n"
	                     "- addresses: [10.0.0.1]\n  nodename: n1\n"
	                     "  conditions: {redy: true}\n"
	                     "  hints: {forZone: [], forZones: [{nam: a, name: b}]}\n"
	                     "ports: [{prot: 80}]\n"
	                     "---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspc: {}\n"
	                     "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: e}\n"
	                     "subsets: [{adresses: [], addresses: [{ip: 10.0.0.2, "
	                     "nodname: x}], ports: [{port: 1, nme: a}]}]\n"),
	                 0);
	for (const char *p = "endpoint\0endpoints[0].nodename\0endpoints[0].conditions.redy\0"
	                     "endpoints[0].hints.forZone\0endpoints[0].hints.forZones[0].nam\0"
	                     "ports[0].prot\0spc\0subsets[0].adresses\0subsets[0].addresses[0]."
	                     "nodname\0subsets[0].ports[0].nme\0";
	     *p; p += strlen(p) + 1) {
		char want[128];

		snprintf(want, sizeof(want), ": %s: unknown field (warning)", p);
		assert_msg_has(f, want);
	}
	assert_int_equal(diag_errors(&f->d), 0);
	assert_int_equal(f->m.n_nodes, 1);

	/* a flood of them is summed up */
	{
		char text[4096];
		size_t n =
		    (size_t)snprintf(text, sizeof(text), SVC_HEAD "spec:\n  ports: [{port: 80}]\n");

		for (int i = 0; i < 50; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "x%d: 1\n", i);
		diag_clear(&f->d);
		assert_int_equal(dec(f, "flood.yaml", text), 0);
		assert_int_equal(f->d.n, 11);
		assert_msg(f, "flood.yaml: Service default/web: 40 more unknown fields (warning)");
	}
}

/* The first document of text in t, as the API source parses an object. */
static struct ynode *parse_first(struct ytree *t, const char *text)
{
	struct yparser *p = yparser_new(text, strlen(text));
	struct ynode *root = NULL;
	struct yerror err;

	assert_int_equal(ytree_next(t, p, &root, &err), 1);
	yparser_free(p);
	return root;
}

/* The API source's entry point: one parsed object. */
static void test_decode_object(void **state)
{
	struct fix *f = *state;
	static const char json[] =
	    "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\", "
	    "\"namespace\": \"ns\"}, \"spec\": {\"clusterIP\": \"10.96.0.9\", \"ports\": "
	    "[{\"port\": "
	    "80, \"nodePort\": 80}], \"type\": \"NodePort\"}}";
	struct decode_opts o = {.node_port_min = 1, .node_port_max = 100};
	struct ytree *t = ytree_new();
	struct ynode *root = parse_first(t, json);

	assert_int_equal(decode_object("api", root, &o, &f->m, &f->d, &f->rej), 0);
	assert_int_equal(f->m.n_services, 1);
	assert_string_equal(f->m.services[0]->origin, "api");
	assert_string_equal(f->m.services[0]->ns, "ns");
	assert_int_equal(decode_object("api", root, NULL, &f->m, &f->d, &f->rej), 1);
	assert_msg(f, "api: Service ns/a: spec.ports[0].nodePort: 80 is not in the node port range "
	              "(30000-32767, --service-node-port-range)");
	assert_int_equal(f->rej.n, 1);
	assert_string_equal(f->rej.v[0].name, "a");
	assert_int_equal(decode_object("api", root, NULL, &f->m, &f->d, NULL), 1);

	root = parse_first(t, "a: &a [1, *a]\n");
	assert_int_equal(decode_object("api", root, NULL, &f->m, &f->d, NULL), -EINVAL);
	assert_msg_has(f, "an alias may not refer to a node that contains it");
	ytree_free(t);
	assert_int_equal(f->m.n_services, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_service_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node_port_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_external_ip_cidrs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decode_object, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
