/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_informer.c - the informer's lists and watches, with the API
 * server's answers served from memory (inf->get) instead of libcurl.
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
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/addr.h"
#include "model/model.h"
#include "source/kube/informer.h"

/* The answers the next requests get, in order: a status and a 200's body. */
static struct {
	struct answer {
		long status;
		const char *body;
	} v[8];
	size_t n, next;
	size_t chunk; /* bodies are handed over in pieces of this size (0: whole) */
} srv;

static void serve(long status, const char *body)
{
	assert_true(srv.n < sizeof(srv.v) / sizeof(*srv.v));
	srv.v[srv.n++] = (struct answer){status, body};
}

static int fake_get(struct kube_client *kc, const char *path,
                    int (*body)(void *arg, const char *p, size_t n), void *arg, long timeout,
                    const atomic_bool *stop, struct kube_result *res)
{
	const struct answer *a;
	size_t len, off = 0;

	memset(res, 0, sizeof(*res));
	if (srv.next >= srv.n) {
		snprintf(res->msg, sizeof(res->msg), "Connection refused");
		return -EIO;
	}
	a = &srv.v[srv.next++];
	res->status = a->status;
	if (a->status != 200)
		return 0;
	len = strlen(a->body);
	while (off < len) {
		size_t n = srv.chunk && srv.chunk < len - off ? srv.chunk : len - off;
		char *p = malloc(n); /* exactly as long, not NUL-terminated, as libcurl's */
		int ret;

		memcpy(p, a->body + off, n);
		ret = body(arg, p, n);
		free(p);
		if (ret)
			return ret;
		off += n;
	}
	return 0;
}

struct fixture {
	struct kshared sh;
	struct informer inf;
};

static struct fixture *fixture_new(enum kkind kind)
{
	struct fixture *f = calloc(1, sizeof(*f));

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&f->sh.lock, NULL);
	f->sh.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->sh.efd >= 0);
	informer_init(&f->inf, &f->sh, kind, "");
	f->inf.get = fake_get;
	f->inf.kp = kparser_new();
	return f;
}

/* What the daemon's handle() does: the dropped objects freed. */
static void handle(struct fixture *f)
{
	for (size_t i = 0; i < f->sh.n_graves; i++)
		kobj_free(f->sh.graves[i].kind, f->sh.graves[i].obj);
	f->sh.n_graves = 0;
	diag_clear(&f->sh.msgs);
	f->sh.changed = false;
}

static void fixture_free(struct fixture *f)
{
	handle(f);
	informer_free(&f->inf);
	free(f->sh.graves);
	close(f->sh.efd);
	pthread_mutex_destroy(&f->sh.lock);
	free(f);
}

/* The store's Service ns/name, or NULL. */
static const struct service *find_svc(const struct fixture *f, const char *ns, const char *name)
{
	for (size_t i = 0; i < kstore_slots(&f->inf.store); i++) {
		const struct service *s = kstore_obj(&f->inf.store, i);

		if (s && !strcmp(s->ns, ns) && !strcmp(s->name, name))
			return s;
	}
	return NULL;
}

static char *svc_json(const char *name, const char *rv, const char *ip)
{
	static char buf[16][512];
	static unsigned next;
	char *b = buf[next++ % 16];

	snprintf(b, sizeof(buf[0]),
	         "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"resourceVersion\":"
	         "\"%s\"},\"spec\":{\"clusterIP\":\"%s\",\"ports\":[{\"port\":80,\"protocol\":"
	         "\"TCP\",\"targetPort\":8080}]}}",
	         name, rv, ip);
	return b;
}

static void assert_ip(const struct service *s, const char *ip)
{
	char buf[IPADDR_STRLEN];

	assert_non_null(s);
	assert_int_equal(s->n_cluster_ips, 1);
	assert_string_equal(ipaddr_str(&s->cluster_ips[0], buf), ip);
}

/*
 * The same namespace/name twice in one list (a buggy or hostile server): the
 * later one wins, and nothing leaks (make asan) or is freed while in use.
 */
static void test_list_duplicates(void **state)
{
	struct fixture *f = fixture_new(KK_SERVICE);
	struct kube_result res;
	char l1[4096], l2[4096];

	snprintf(l1, sizeof(l1),
	         "{\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[%s,%s,%s,%s]}",
	         svc_json("web", "1", "10.96.0.1"), svc_json("web", "2", "10.96.0.2"),
	         svc_json("db", "3", "10.96.0.3"), svc_json("web", "4", "10.96.0.4"));
	/* web: the store's version, then a newer one; db: a newer, then the store's */
	snprintf(l2, sizeof(l2),
	         "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[%s,%s,%s,%s,%s,%s]}",
	         svc_json("web", "4", "10.96.0.4"), svc_json("web", "5", "10.96.0.5"),
	         svc_json("db", "6", "10.96.0.6"), svc_json("db", "3", "10.96.0.3"),
	         /* an invalid later one: the earlier good one of the list stays */
	         svc_json("new", "7", "10.96.0.7"), svc_json("new", "8", "10.96.0.999"));
	serve(200, l1);
	serve(200, l2);

	assert_int_equal(informer_list(&f->inf, &res), KR_OK);
	assert_int_equal(f->inf.store.n, 2);
	assert_ip(find_svc(f, "default", "web"), "10.96.0.4");
	assert_ip(find_svc(f, "default", "db"), "10.96.0.3");
	assert_string_equal(f->inf.rv, "10");
	handle(f);

	{
		const struct service *db = find_svc(f, "default", "db");

		assert_int_equal(informer_list(&f->inf, &res), KR_OK);
		assert_int_equal(f->inf.store.n, 3);
		assert_ip(find_svc(f, "default", "web"), "10.96.0.5");
		assert_ptr_equal(find_svc(f, "default", "db"), db); /* unchanged: not decoded */
		assert_ip(find_svc(f, "default", "new"), "10.96.0.7");
		assert_int_equal(f->sh.n_graves, 1); /* web's version 4 */
		assert_true(f->sh.msgs.n >= 1);      /* new's version 8 */
	}
	fixture_free(f);
}

/* A namespaced object without metadata.namespace is not filed under "/name". */
static void test_list_no_namespace(void **state)
{
	struct fixture *f = fixture_new(KK_SERVICE);
	struct kube_result res;

	serve(200, "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[{\"metadata\":{\"name\":"
	           "\"web\"},\"spec\":{\"clusterIP\":\"10.96.0.1\",\"ports\":[{\"port\":80}]}}]}");
	assert_int_equal(informer_list(&f->inf, &res), KR_OK);
	assert_int_equal(f->inf.store.n, 0);
	assert_int_equal(f->sh.msgs.n, 1);
	assert_non_null(strstr(f->sh.msgs.msgs[0], "no metadata.namespace"));
	fixture_free(f);
}

/*
 * A watch: every event type, in pieces of 7 bytes; a broken line's message
 * quotes that line only, not the bytes after it in the chunk (they were
 * read past the line's end: past the chunk's, when the line ended it).
 */
static void test_watch(void **state)
{
	struct fixture *f = fixture_new(KK_SERVICE);
	struct kube_result res;
	size_t events = 0;
	char w[4096], l[1024];

	snprintf(
	    w, sizeof(w),
	    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
	    "\"metadata\":{\"name\":\"a\",\"namespace\":\"default\",\"resourceVersion\":\"2\"},"
	    "\"spec\":{\"clusterIP\":\"10.96.0.2\",\"ports\":[{\"port\":80}]}}}\n"
	    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"metadata\":{"
	    "\"resourceVersion\":\"3\"}}}\n"
	    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":"
	    "\"web\",\"namespace\":\"default\",\"resourceVersion\":\"4\"}}}\n"
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":"
	    "\"too old resource version: 1 (4)\"}}\n");
	snprintf(l, sizeof(l), "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[%s]}",
	         svc_json("web", "1", "10.96.0.1"));
	serve(200, l);
	serve(200, w);
	serve(200, "{\"type\":\"ADDED\"}\n{\"type\":\"ADDED\",\"object\":{}}\n");
	serve(200, "{\"type\":\"ADDED\"}\n");
	srv.chunk = 7;
	assert_int_equal(informer_list(&f->inf, &res), KR_OK);
	assert_non_null(find_svc(f, "default", "web"));
	handle(f);
	assert_int_equal(informer_watch(&f->inf, &res, &events), KR_GONE);
	assert_int_equal(events, 3);
	assert_non_null(strstr(res.msg, "ERROR event 410: too old resource version"));
	assert_string_equal(f->inf.rv, "4");
	assert_ip(find_svc(f, "default", "a"), "10.96.0.2");
	assert_null(find_svc(f, "default", "web"));
	assert_int_equal(f->inf.store.n, 1);
	assert_int_equal(f->sh.n_graves, 1);
	handle(f);

	srv.chunk = 0; /* one chunk: the next line follows the broken one */
	assert_int_equal(informer_watch(&f->inf, &res, &events), KR_ERR);
	assert_string_equal(res.msg, "a line that is not a watch event: {\"type\":\"ADDED\"}");
	/* the broken line ends the chunk: nothing may be read after it */
	assert_int_equal(informer_watch(&f->inf, &res, &events), KR_ERR);
	assert_string_equal(res.msg, "a line that is not a watch event: {\"type\":\"ADDED\"}");
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_duplicates),
	    cmocka_unit_test(test_list_no_namespace),
	    cmocka_unit_test(test_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
