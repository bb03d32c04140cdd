/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_kube.c - the API source's pieces that need no server: the streaming
 * JSON splitter (fed in every possible chunking), JSON strings, object
 * metadata and decoding, base64, kubeconfig and in-cluster config.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "source/kube/jscan.h"
#include "source/kube/kobj.h"
#include "source/kube/kubeconfig.h"

/* --- jscan --------------------------------------------------------------------- */

struct got {
	char text[16][256];
	char key[16][16];
	size_t n;
	size_t oversized;
};

static int collect(void *arg, const char *key, const char *text, size_t len)
{
	struct got *g = arg;

	if (!text) {
		g->oversized = len;
		return 0;
	}
	assert_true(g->n < 16 && len < 256);
	snprintf(g->key[g->n], sizeof(g->key[0]), "%s", key ? key : "-");
	memcpy(g->text[g->n], text, len);
	g->text[g->n][len] = '\0';
	g->n++;
	return 0;
}

static const char list_text[] =
    "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"17\","
    "\"continue\":\"a}b\"},\"items\":[{\"metadata\":{\"name\":\"x\\\"]}\"}},\n"
    " {\"metadata\":{\"name\":\"y\"},\"spec\":{\"ports\":[{\"port\":80}]}}],\"extra\":{\"items\":[{"
    "}]}}";

/* Every split of the input into two chunks gives the same objects. */
static void test_jscan_list_chunked(void **state)
{
	size_t n = strlen(list_text);

	for (size_t cut = 0; cut <= n; cut++) {
		struct got g = {0};
		struct jscan js;

		jscan_init(&js, JSCAN_LIST, 1 << 20, collect, &g);
		assert_int_equal(jscan_feed(&js, list_text, cut), 0);
		assert_int_equal(jscan_feed(&js, list_text + cut, n - cut), 0);
		assert_int_equal(jscan_end(&js), 0);
		jscan_free(&js);
		assert_int_equal(g.n, 3);
		assert_string_equal(g.key[0], "metadata");
		assert_string_equal(g.text[0], "{\"resourceVersion\":\"17\",\"continue\":\"a}b\"}");
		assert_string_equal(g.key[1], "items");
		assert_string_equal(g.text[1], "{\"metadata\":{\"name\":\"x\\\"]}\"}}");
		assert_string_equal(
		    g.text[2],
		    "{\"metadata\":{\"name\":\"y\"},\"spec\":{\"ports\":[{\"port\":80}]}}");
	}
}

static void test_jscan_list_byte_by_byte_and_cut(void **state)
{
	size_t n = strlen(list_text);
	struct got g = {0};
	struct jscan js;

	jscan_init(&js, JSCAN_LIST, 1 << 20, collect, &g);
	for (size_t i = 0; i < n - 1; i++)
		assert_int_equal(jscan_feed(&js, list_text + i, 1), 0);
	assert_int_equal(jscan_end(&js), -EPROTO); /* the last brace never came */
	jscan_free(&js);

	memset(&g, 0, sizeof(g));
	jscan_init(&js, JSCAN_LIST, 1 << 20, collect, &g);
	assert_int_equal(jscan_feed(&js, "[1,2]", 5), -EPROTO); /* not an object */
	jscan_free(&js);
}

static void test_jscan_oversized(void **state)
{
	const char *t = "{\"items\":[{\"a\":\"0123456789\"},{\"b\":1}]}";
	struct got g = {0};
	struct jscan js;

	jscan_init(&js, JSCAN_LIST, 12, collect, &g);
	for (size_t i = 0, n = strlen(t); i < n; i += 3) /* never step past the NUL */
		assert_int_equal(jscan_feed(&js, t + i, n - i < 3 ? n - i : 3), 0);
	assert_int_equal(jscan_end(&js), 0);
	jscan_free(&js);
	assert_int_equal(g.oversized, 13); /* reported as "more than 12" */
	assert_int_equal(g.n, 1);
	assert_string_equal(g.text[0], "{\"b\":1}");
}

static void test_jscan_stream_lines(void **state)
{
	const char *t = "{\"type\":\"ADDED\"}\n\n  \r\n{\"type\":\"DELETED\",\"x\":\"a\\nb\"}\nnot "
	                "json\n{\"half";
	size_t n = strlen(t);

	for (size_t cut = 0; cut <= n; cut++) {
		struct got g = {0};
		struct jscan js;

		jscan_init(&js, JSCAN_STREAM, 1 << 20, collect, &g);
		assert_int_equal(jscan_feed(&js, t, cut), 0);
		assert_int_equal(jscan_feed(&js, t + cut, n - cut), 0);
		assert_int_equal(jscan_end(&js), -EPROTO); /* a line cut short */
		jscan_free(&js);
		assert_int_equal(g.n, 3);
		assert_string_equal(g.text[0], "{\"type\":\"ADDED\"}");
		assert_string_equal(g.text[1], "{\"type\":\"DELETED\",\"x\":\"a\\nb\"}");
		assert_string_equal(g.text[2], "not json"); /* the caller judges it */
	}
}

static int member_cb(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%.*s=%.*s;", (int)klen, key, (int)vlen,
	         val);
	return 0;
}

static void test_members_and_strings(void **state)
{
	const char *t =
	    " { \"a\" : \"x,}\" , \"b\":[1,{\"c\":\"]\"}] ,\"n\":-1.5e3,\"t\":true,\"z\":null } ";
	char out[256] = "", s[32];

	assert_int_equal(jscan_members(t, strlen(t), member_cb, out), 0);
	assert_string_equal(out, "a=\"x,}\";b=[1,{\"c\":\"]\"}];n=-1.5e3;t=true;z=null;");
	assert_int_equal(jscan_members("{\"a\":", 5, member_cb, out), -EPROTO);
	assert_int_equal(jscan_members("[]", 2, member_cb, out), -EPROTO);

	t = "\"a\\\"b\\\\\\/\\n\\u00e9\\ud83d\\ude00\"";
	assert_int_equal(json_str(t, strlen(t), s, sizeof(s)), 12);
	assert_string_equal(s, "a\"b\\/\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_int_equal(json_str("\"\\ud83d\"", 8, s, sizeof(s)), -EINVAL); /* lone surrogate */
	t = "\"a\\\"b\\\\\\/\\n\\u00e9\\ud83d\\ude00\"";
	assert_int_equal(json_str(t, strlen(t), s, sizeof(s)), 12);
	assert_int_equal(json_str("12", 2, s, sizeof(s)), -EINVAL);

	assert_true(json_utf8_valid("h\xc3\xa9llo", 6));
	assert_false(json_utf8_valid("a\0b", 3));
	assert_false(json_utf8_valid("\xc0\xaf", 2));     /* overlong */
	assert_false(json_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(json_utf8_valid("\xe2\x82", 2));     /* cut */
}

/* --- objects ------------------------------------------------------------------- */

static void test_kobj(void **state)
{
	const char *item = "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
	                   "\"resourceVersion\":\"42\"},\"spec\":{\"clusterIP\":\"10.96.0.10\","
	                   "\"ports\":[{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}]}}";
	const char *bad =
	    "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"b\","
	    "\"namespace\":\"ns\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
	    "\"spec\":{\"clusterIP\":\"10.96.0.11\",\"ports\":[{\"port\":70000}]}}";
	struct kparser *kp = kparser_new();
	struct diag d = {0};
	struct service *s;
	struct kmeta m;

	assert_int_equal(kobj_meta(item, strlen(item), &m), 0);
	assert_string_equal(m.name, "web");
	assert_string_equal(m.ns, "default");
	assert_string_equal(m.rv, "42");
	assert_false(m.has_kind);
	s = kobj_decode(kp, KK_SERVICE, item, strlen(item), &m, NULL, &d);
	assert_non_null(s);
	assert_int_equal(d.n, 0);
	assert_string_equal(s->origin, "api");
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0].target_port, 8080);
	kobj_free(KK_SERVICE, s);

	assert_int_equal(kobj_meta(bad, strlen(bad), &m), 0);
	assert_true(m.has_kind);
	assert_true(m.deleting);
	assert_null(kobj_decode(kp, KK_SERVICE, bad, strlen(bad), &m, NULL, &d));
	assert_true(d.n >= 1);
	assert_non_null(strstr(d.msgs[0], "api: Service ns/b: spec.ports[0].port"));
	diag_clear(&d);

	assert_false(kobj_node_eligible(bad, strlen(bad), &m)); /* deletionTimestamp */

	{
		const char *n1 =
		    "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{\"key\":\"a\","
		    "\"effect\":\"NoSchedule\"},{\"effect\":\"NoSchedule\",\"key\":"
		    "\"ToBeDeletedByClusterAutoscaler\",\"value\":\"1\"}]}}";
		const char *n2 =
		    "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{\"key\":"
		    "\"node.kubernetes.io/not-ready\"}]},\"x\":\"ToBeDeletedByClusterAutoscaler\"}";

		assert_int_equal(kobj_meta(n1, strlen(n1), &m), 0);
		assert_false(kobj_node_eligible(n1, strlen(n1), &m));
		assert_int_equal(kobj_meta(n2, strlen(n2), &m), 0);
		assert_true(kobj_node_eligible(n2, strlen(n2), &m));
	}

	assert_null(kobj_decode(kp, KK_SERVICE, "{\"a\":\"\xff\"}", 9, &m, NULL, &d));
	assert_non_null(strstr(d.msgs[0], "UTF-8"));
	diag_clear(&d);

	/* a text libyaml refuses leaves the parser fit for the next object */
	assert_int_equal(kobj_meta(item, strlen(item), &m), 0);
	assert_null(kobj_decode(kp, KK_SERVICE, "{\"a\": [1,}", 10, &m, NULL, &d));
	assert_non_null(strstr(d.msgs[0], "api: Service default/web: not a JSON object"));
	diag_clear(&d);
	s = kobj_decode(kp, KK_SERVICE, item, strlen(item), &m, NULL, &d);
	assert_non_null(s);
	assert_int_equal(d.n, 0);
	kobj_free(KK_SERVICE, s);
	kparser_free(kp);
}

/* --- kubeconfig ------------------------------------------------------------------- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(const char *text, const char *master, struct kube_config *c, struct diag *d)
{
	char path[128];

	write_file("kc", text);
	snprintf(path, sizeof(path), "%s/kc", tmpdir);
	return kube_config_load(path, master, c, d);
}

static const char kc_head[] = "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                              "contexts:\n- name: other\n  context: {cluster: x, user: x}\n"
                              "- name: c\n  context: {cluster: cl, user: u}\n";

static void test_kubeconfig(void **state)
{
	struct kube_config c;
	struct diag d = {0};
	char text[1024], hint[256];

	strcpy(tmpdir, "/tmp/svcproxy-kube-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));

	/* token, CA as data (base64 of "PEM\n"), trailing slash dropped */
	snprintf(
	    text, sizeof(text),
	    "%sclusters:\n- name: cl\n  cluster:\n    server: https://10.0.0.1:6443/\n"
	    "    certificate-authority-data: UEVNCg==\nusers:\n- name: u\n  user: {token: abc}\n",
	    kc_head);
	assert_int_equal(load(text, NULL, &c, &d), 0);
	assert_string_equal(c.server, "https://10.0.0.1:6443");
	assert_int_equal(c.ca_len, 4);
	assert_memory_equal(c.ca_data, "PEM\n", 4);
	assert_string_equal(c.token, "abc");
	kube_config_free(&c);

	/* tokenFile and cert/key files relative to the kubeconfig; --master wins */
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: cl\n  cluster: {server: 'https://a:1', "
	         "certificate-authority: ca.crt}\nusers:\n- name: u\n  user: {tokenFile: tok, "
	         "client-certificate: c.crt, client-key: /abs/c.key}\n",
	         kc_head);
	assert_int_equal(load(text, "https://b:2", &c, &d), 0);
	assert_string_equal(c.server, "https://b:2");
	assert_non_null(strstr(c.token_file, tmpdir));
	assert_non_null(strstr(c.ca_file, "/ca.crt"));
	assert_string_equal(c.key_file, "/abs/c.key");
	assert_non_null(strstr(kube_config_cred_hint(&c, hint, sizeof(hint)), "/tok"));
	kube_config_free(&c);
	assert_int_equal(d.n, 0);

	/* refused: insecure, plain http, exec plugins, a missing context */
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: cl\n  cluster: {server: 'https://a', "
	         "insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {exec: {}}\n",
	         kc_head);
	assert_int_equal(load(text, NULL, &c, &d), -EINVAL);
	assert_int_equal(d.n, 2);
	assert_non_null(strstr(d.msgs[0], "insecure-skip-tls-verify: not supported"));
	assert_non_null(strstr(d.msgs[1], "user.exec: not supported"));
	diag_clear(&d);
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: cl\n  cluster: {server: 'http://a'}\nusers:\n- name: u\n  "
	         "user: {}\n",
	         kc_head);
	assert_int_equal(load(text, NULL, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0], "only https://"));
	diag_clear(&d);
	assert_int_equal(load("current-context: nope\ncontexts: []\n", NULL, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0], "no context named 'nope'"));
	diag_clear(&d);

	/* invalid UTF-8 and NULs are refused at their byte; a YAML error says where */
	assert_int_equal(load("\n% \xff\"}\n", NULL, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0], "invalid UTF-8 at byte 3"));
	diag_clear(&d);
	{
		static const char nul[] = "Aack: maxll\n? tcpie: \t\0\0nuk: mal0\n";

		assert_int_equal(kube_config_parse("kc", nul, sizeof(nul) - 1, NULL, &c, &d),
		                 -EINVAL);
		assert_non_null(strstr(d.msgs[0], "NUL byte at byte 22"));
		diag_clear(&d);
	}
	assert_int_equal(load("Aack: maAll\n? tipi: \t-", NULL, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0], "/kc:2:10: not a kubeconfig: "));
	diag_clear(&d);
	assert_int_equal(load("current-context: c\ncurrent-context: d\n", NULL, &c, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.msgs[0], "/kc:2:1: duplicate key"));
	diag_clear(&d);
	assert_int_equal(kube_config_load("/nonexistent/kc", NULL, &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0], "/nonexistent/kc: cannot read: No such file"));
	diag_clear(&d);

	/* from bytes (not NUL-terminated): relative names are the named file's directory's */
	snprintf(text, sizeof(text),
	         "%sclusters:\n- name: cl\n  cluster: {server: 'https://a:1'}\nusers:\n- name: u\n"
	         "  user: {tokenFile: tok}\n# a comment cut short: XXXXXX",
	         kc_head);
	assert_int_equal(kube_config_parse("/etc/k/kc", text, strlen(text) - 6, NULL, &c, &d), 0);
	assert_string_equal(c.token_file, "/etc/k/tok");
	assert_string_equal(c.origin, "kubeconfig /etc/k/kc");
	kube_config_free(&c);
	assert_int_equal(d.n, 0);

	/* --master alone: no credentials */
	assert_int_equal(kube_config_load(NULL, "https://m:6443", &c, &d), 0);
	assert_null(c.token);
	assert_non_null(strstr(kube_config_cred_hint(&c, hint, sizeof(hint)), "gives none"));
	kube_config_free(&c);
}

static void test_in_cluster(void **state)
{
	struct kube_config c;
	struct diag d = {0};

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_in_cluster(tmpdir, &c, &d), -ENOENT);
	diag_clear(&d);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	unlink("/nonexistent");
	assert_int_equal(kube_config_in_cluster("/nonexistent", &c, &d), -EINVAL);
	diag_clear(&d);
	write_file("token", "t0k\n");
	assert_int_equal(kube_config_in_cluster(tmpdir, &c, &d), 0);
	assert_string_equal(c.server, "https://[fd00::1]:443");
	assert_null(c.ca_file); /* no ca.crt: the system's CAs */
	kube_config_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
}

static void test_base64(void **state)
{
	size_t n;
	char *s = kube_base64_decode("aGVs\nbG8=", 9, &n);

	assert_non_null(s);
	assert_int_equal(n, 5);
	assert_memory_equal(s, "hello", 5);
	free(s);
	assert_null(kube_base64_decode("aGV*", 4, &n));
	assert_null(kube_base64_decode("aG=x", 4, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jscan_list_chunked),
	    cmocka_unit_test(test_jscan_list_byte_by_byte_and_cut),
	    cmocka_unit_test(test_jscan_oversized),
	    cmocka_unit_test(test_jscan_stream_lines),
	    cmocka_unit_test(test_members_and_strings),
	    cmocka_unit_test(test_kobj),
	    cmocka_unit_test(test_kubeconfig),
	    cmocka_unit_test(test_in_cluster),
	    cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
