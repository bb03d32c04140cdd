/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_kpconfig.c - the KubeProxyConfiguration decoder: kube-proxy's
 * defaults, the mode picking the section, unknown fields warned, wrong types
 * and unsupported values rejected with file, line and field path, and what
 * the YAML parser (libyaml, through ytree) lets through but kube-proxy does
 * not: duplicate keys, an alias inside the node it names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "cmd/kpconfig.h"

#define HEAD "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

struct res {
	struct kpconfig c;
	struct diag errs, warns;
	int ret;
};

static void dec(struct res *r, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->ret = kpconfig_decode("kp.yaml", text, strlen(text), &r->c, &r->errs, &r->warns);
}

static void res_free(struct res *r)
{
	kpconfig_free(&r->c);
	diag_clear(&r->errs);
	diag_clear(&r->warns);
}

/* some message in d contains all of the given substrings */
static bool has(const struct diag *d, const char *a, const char *b)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->msgs[i], a) && (!b || strstr(d->msgs[i], b)))
			return true;
	return false;
}

static void test_defaults(void **unused)
{
	struct res r;

	dec(&r, HEAD);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.errs.n, 0);
	assert_int_equal(r.warns.n, 0);
	assert_string_equal(r.c.healthz_addr, "0.0.0.0:10256");
	assert_string_equal(r.c.metrics_addr, "127.0.0.1:10249");
	assert_true(r.c.sync_period == 30);
	assert_true(r.c.min_sync_period == 1);
	assert_null(r.c.kubeconfig);
	assert_null(r.c.hostname);
	assert_false(r.c.nftables_mode);
	assert_false(r.c.nodeport_set);
	assert_int_equal(r.c.verbosity, -1);
	assert_int_equal(r.c.log_json, -1);
	assert_int_equal(r.c.ct.max_per_core, -1);
	assert_true(r.c.ct.tcp_established < 0);
	res_free(&r);

	/* an IPv6 bindAddress moves both defaults to IPv6, as kube-proxy */
	dec(&r, HEAD "bindAddress: \"::\"\n");
	assert_int_equal(r.ret, 0);
	assert_string_equal(r.c.healthz_addr, "[::]:10256");
	assert_string_equal(r.c.metrics_addr, "[::1]:10249");
	assert_int_equal(r.c.bind_address.family, 0); /* :: is "unset" */
	res_free(&r);
}

static void test_nftables_section(void **unused)
{
	struct res r;

	dec(&r, HEAD "mode: nftables\n"
	             "clientConnection: {kubeconfig: /k.conf, qps: 5, burst: 10}\n"
	             "hostnameOverride: \" Node-A \"\n"
	             "bindAddress: 10.0.0.5\n"
	             "healthzBindAddress: 10.0.0.5\n"
	             "metricsBindAddress: \"[::1]:9000\"\n"
	             "clusterCIDR: 10.244.0.0/16,fd00:10:244::/56\n"
	             "nodePortAddresses: [primary, all]\n"
	             "iptables: {syncPeriod: 5s, masqueradeAll: false}\n"
	             "nftables: {syncPeriod: 1m30s, minSyncPeriod: 100ms, masqueradeAll: true,\n"
	             "           masqueradeBit: 14}\n"
	             "conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 24h, udpTimeout: null}\n"
	             "logging: {format: json, verbosity: 4, flushFrequency: 5s}\n");
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.warns.n, 0);
	assert_true(r.c.nftables_mode);
	assert_string_equal(r.c.kubeconfig, "/k.conf");
	assert_string_equal(r.c.hostname, "node-a");
	assert_int_equal(r.c.bind_address.family, AF_INET);
	assert_string_equal(r.c.healthz_addr, "10.0.0.5:10256");
	assert_string_equal(r.c.metrics_addr, "[::1]:9000");
	assert_int_equal(r.c.n_cluster_cidrs, 2);
	assert_true(r.c.nodeport_primary);
	assert_int_equal(r.c.n_nodeport_cidrs, 2); /* all: 0.0.0.0/0 and ::/0 */
	assert_int_equal(r.c.nodeport_cidrs[1].addr.family, AF_INET6);
	assert_true(r.c.sync_period == 90);
	assert_true(r.c.min_sync_period > 0.0999 && r.c.min_sync_period < 0.1001);
	assert_true(r.c.masquerade_all);
	assert_int_equal(r.c.ct.max_per_core, 0);
	assert_true(r.c.ct.tcp_established == 86400);
	assert_true(r.c.ct.udp < 0);
	assert_int_equal(r.c.log_json, 1);
	assert_int_equal(r.c.verbosity, 4);
	res_free(&r);

	/* mode "" is kube-proxy's iptables mode: its section is the one read */
	dec(&r, HEAD "iptables: {syncPeriod: 5s, masqueradeAll: true}\n"
	             "nftables: {syncPeriod: 1m}\n");
	assert_int_equal(r.ret, 0);
	assert_true(r.c.sync_period == 5);
	assert_true(r.c.masquerade_all);
	res_free(&r);
}

static void test_json(void **unused)
{
	struct res r;

	dec(&r,
	    "{\"apiVersion\": \"kubeproxy.config.k8s.io/v1alpha1\",\n"
	    " \"kind\": \"KubeProxyConfiguration\", \"mode\": \"nftables\",\n"
	    " \"nftables\": {\"minSyncPeriod\": \"2s\"}, \"detectLocalMode\": \"ClusterCIDR\"}");
	assert_int_equal(r.ret, 0);
	assert_true(r.c.min_sync_period == 2);
	res_free(&r);
}

/* YAML's forms as Go's YAML->JSON conversion types them; aliases followed. */
static void test_yaml_forms(void **unused)
{
	struct res r;

	dec(&r, HEAD "clusterCIDR: &c 10.0.0.0/16\n"
	             "nodePortAddresses: [*c, 'primary']\n"
	             "hostnameOverride: !!str 12\n"
	             "mode: !!str nftables\n"
	             "nftables: &n {masqueradeAll: True, syncPeriod: \"10s\"}\n"
	             "iptables: *n\n"
	             "metricsBindAddress: |-\n  127.0.0.1:9\n"
	             "conntrack: {min: +5, maxPerCore: null}\n"
	             "bindAddress: ~\n");
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.errs.n, 0);
	assert_int_equal(r.warns.n, 0);
	assert_int_equal(r.c.n_cluster_cidrs, 1);
	assert_int_equal(r.c.n_nodeport_cidrs, 1);
	assert_true(r.c.nodeport_primary);
	assert_string_equal(r.c.hostname, "12");
	assert_true(r.c.nftables_mode);
	assert_true(r.c.masquerade_all);
	assert_true(r.c.sync_period == 10);
	assert_string_equal(r.c.metrics_addr, "127.0.0.1:9");
	assert_int_equal(r.c.ct.min, 5);
	assert_int_equal(r.c.ct.max_per_core, -1);
	assert_int_equal(r.c.bind_address.family, 0);
	res_free(&r);

	/* quoted, a block scalar or !!str: a string, never a boolean or a number */
	dec(&r, HEAD "nftables: {masqueradeAll: !!str true}\n"
	             "conntrack:\n  min: '5'\n  tcpBeLiberal: >-\n    true\n");
	assert_int_equal(r.ret, -EINVAL);
	assert_true(has(&r.errs, "kp.yaml:3: nftables.masqueradeAll:", "got a string"));
	assert_true(has(&r.errs, "kp.yaml:5: conntrack.min:", "expected an integer, got a string"));
	assert_true(has(&r.errs, "kp.yaml:6: conntrack.tcpBeLiberal:", "got a string"));
	assert_int_equal(r.errs.n, 3);
	res_free(&r);

	/* an empty document is null, not a mapping */
	dec(&r, "---\n");
	assert_int_equal(r.ret, -EINVAL);
	assert_true(has(&r.errs, "expected a KubeProxyConfiguration mapping, got null", NULL));
	res_free(&r);
}

static void test_unknown_and_ignored_warned(void **unused)
{
	struct res r;

	dec(&r, HEAD "udpIdleTimeout: 250ms\n"
	             "conntrack:\n  tcpTimeout: 5s\n"
	             "featureGates: {SomeGate: true}\n"
	             "enableProfiling: true\n"
	             "oomScoreAdj: -999\n"
	             "ipvs: {scheduler: rr, excludeCIDRs: [10.0.0.0/8]}\n"
	             "winkernel: {enableDSR: false}\n");
	assert_int_equal(r.ret, 0);
	assert_true(has(&r.warns, "kp.yaml:3:", "\"udpIdleTimeout\""));
	assert_true(has(&r.warns, "kp.yaml:5:", "\"conntrack.tcpTimeout\""));
	assert_true(has(&r.warns, "featureGates", NULL));
	assert_true(has(&r.warns, "enableProfiling", NULL));
	assert_true(has(&r.warns, "oomScoreAdj", NULL));
	assert_int_equal(r.warns.n, 5);
	res_free(&r);
}

static void test_errors(void **unused)
{
	static const struct {
		const char *text, *want, *want2;
	} cases[] = {
	    {HEAD "nftables: {syncPeriod: 30}\n",
	     "kp.yaml:3:", "nftables.syncPeriod: expected a duration"},
	    {HEAD "nftables: {syncPeriod: 30x}\n", "nftables.syncPeriod", "not a duration"},
	    {HEAD "nftables: {masqueradeAll: \"yes\"}\n", "nftables.masqueradeAll", "a boolean"},
	    {HEAD "mode: nftables\nnftables: {masqueradeBit: 15}\n", "masqueradeBit", "bit 14"},
	    {HEAD "mode: nftables\nnftables: {masqueradeBit: 40}\n", "masqueradeBit", "[0, 31]"},
	    {HEAD "mode: ipvs\n", "kp.yaml:3:", "mode: \"ipvs\" is not supported"},
	    {HEAD "detectLocalMode: InterfaceNamePrefix\n", "detectLocalMode", "not supported"},
	    {HEAD "clusterCIDR: 10.0.0.0/33\n", "clusterCIDR", "not a list of CIDRs"},
	    {HEAD "nodePortAddresses: [localhost]\n", "nodePortAddresses", "localhost"},
	    {HEAD "nodePortAddresses: [10.0.0.1]\n", "nodePortAddresses", "neither a CIDR"},
	    {HEAD "nodePortAddresses: 10.0.0.0/8\n", "nodePortAddresses", "a list of strings"},
	    {HEAD "healthzBindAddress: \"localhost:10256\"\n", "healthzBindAddress", "not IP:PORT"},
	    {HEAD "hostnameOverride: 12\n", "hostnameOverride",
	     "expected a string, got an integer"},
	    {HEAD "conntrack: {maxPerCore: 99999999999}\n", "conntrack.maxPerCore", "32-bit"},
	    {HEAD "conntrack: 5\n", "conntrack", "expected a mapping"},
	    {HEAD "logging: {format: xml}\n", "logging.format", "neither text nor json"},
	    {"apiVersion: v1\nkind: KubeProxyConfiguration\n", "apiVersion", "expected kubeproxy"},
	    {"apiVersion: kubeproxy.config.k8s.io/v1alpha1\n", "kind: missing", NULL},
	    {HEAD "---\n" HEAD, "kp.yaml:4:", "a second document follows"},
	    {HEAD "---\nmode: [\n", "kp.yaml:5:1:", "did not find expected node content"},
	    {HEAD "mode: [\n", "kp.yaml:4:1: ", "did not find expected node content"},
	    {"{\"apiVersion\": \"v1\",\n \"kind\": \"KubeProxyConfiguration\"\n",
	     "kp.yaml:3:1: ", "did not find expected ',' or '}'"},
	    /* libyaml has no explicit-key tab trouble (libfyaml 0.7.12 crashed here) */
	    {HEAD "? b: \t- x\n",
	     "kp.yaml:3:7: ", "block sequence entries are not allowed in this context"},
	    {"- a\n", "expected a KubeProxyConfiguration mapping", NULL},
	    {"", "empty", NULL},
	    {"mode: \"\xff\"\n", "kp.yaml: invalid UTF-8 at byte 7", NULL},
	    /* a quoted NUL would cut the C string short: refused, not truncated */
	    {HEAD "mode: \"nftables\\0x\"\n", "kp.yaml:3: mode:", "NUL character"},
	    {HEAD "nodePortAddresses: [\"all\\0\"]\n",
	     "kp.yaml:3: nodePortAddresses:", "NUL character"},
	    /* duplicate keys: anywhere, read by svcproxy or not, by text */
	    {HEAD "mode: nftables\nmode: \"\"\n",
	     "kp.yaml:4:1: ", "duplicate key \"mode\" (first at line 3)"},
	    {HEAD "nftables:\n  syncPeriod: 1s\n  syncPeriod: 2s\n",
	     "kp.yaml:5:3: ", "duplicate key \"syncPeriod\" (first at line 4)"},
	    {HEAD "logging: {options: {json: {}, json: {}}}\n",
	     "kp.yaml:3:31: ", "duplicate key \"json\" (first at line 3)"},
	    {HEAD "x: [{a: 1}, {a: 1, \"a\": 2}]\n", "kp.yaml:3:20: ", "duplicate key \"a\""},
	    {"{\"kind\": \"KubeProxyConfiguration\", \"kind\": \"x\"}",
	     "kp.yaml:1:36: ", "duplicate key \"kind\" (first at line 1)"},
	    /* aliases: to no anchor before it (ytree's error), or inside the node it names */
	    {HEAD "mode: *m\n", "kp.yaml:3:7: ", "unknown anchor 'm'"},
	    {HEAD "*m : x\n", "kp.yaml:3:1: ", "unknown anchor 'm'"},
	    {HEAD "mode: *m\nclusterCIDR: &m 10.0.0.0/8\n", "kp.yaml:3:7: ", "unknown anchor 'm'"},
	    {HEAD "x: &a {b: [*a]}\n",
	     "kp.yaml:3:12: ", "an alias may not refer to a node that contains it"},
	    {HEAD "a: &a [*a]\n",
	     "kp.yaml:3:8: ", "an alias may not refer to a node that contains it"},
	    /* an alias bomb: refused before anything is walked */
	    {HEAD "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, "
	          "*a, *a]\n"
	          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, "
	          "*c, *c, *c, *c]\n"
	          "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
	     "kp.yaml:", "aliases expand to more than 65536 nodes"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct res r;

		dec(&r, cases[i].text);
		if (r.ret != -EINVAL || !has(&r.errs, cases[i].want, cases[i].want2)) {
			for (size_t k = 0; k < r.errs.n; k++)
				print_error("  got: %s\n", r.errs.msgs[k]);
			fail_msg("case %zu: want an error with '%s' '%s'", i, cases[i].want,
			         cases[i].want2 ? cases[i].want2 : "");
		}
		/* nothing to free on error, and nothing left allocated */
		assert_null(r.c.healthz_addr);
		res_free(&r);
	}

	/*
	 * A NUL byte is refused, with its offset, before the parser sees it (the
	 * input once crashed libfyaml 0.7.12, found by fuzz_kpconfig; libyaml
	 * only says "control characters are not allowed").
	 */
	{
		static const char nul[] = "Aack: maxll\n? tcpie: \t\0\0\0\0\0\0\0nuk: mal0\n";
		struct res r = {0};

		r.ret = kpconfig_decode("kp.yaml", nul, sizeof(nul) - 1, &r.c, &r.errs, &r.warns);
		assert_int_equal(r.ret, -EINVAL);
		assert_true(has(&r.errs, "kp.yaml: NUL byte at byte 22", NULL));
		res_free(&r);
	}
}

static void test_duration(void **unused)
{
	double d;

	assert_int_equal(duration_parse("1h2m3.5s", &d), 0);
	assert_true(d == 3723.5);
	assert_int_equal(duration_parse("300ms", &d), 0);
	assert_true(d > 0.2999 && d < 0.3001);
	assert_int_equal(duration_parse("1\xc2\xb5s", &d), 0);
	assert_int_equal(duration_parse("-1s", &d), 0);
	assert_true(d == -1);
	assert_int_equal(duration_parse("0", &d), 0);
	assert_int_equal(duration_parse("", &d), -EINVAL);
	assert_int_equal(duration_parse("5", &d), -EINVAL); /* Go: missing unit */
	assert_int_equal(duration_parse("1d", &d), -EINVAL);
	assert_int_equal(duration_parse("s", &d), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_nftables_section),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_yaml_forms),
	    cmocka_unit_test(test_unknown_and_ignored_warned),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
