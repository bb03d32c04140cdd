/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_manifest.c - the manifest source loaded: directories, what is read,
 * last-good retention, duplicates, reading in parallel, the view kept
 * across calls (the watch: test_manifest_watch.c).
 */
#include "manifest_fix.h"

static void test_load_dir(void **state)
{
	struct fix *f = *state;
	char path[128];

	put(f, "b.yaml", svc_yaml("bravo", 80));
	put(f, "a.yml", svc_yaml("alpha", 80));
	put(f, "c.json",
	    "{\"apiVersion\": \"v1\", \"kind\": \"Node\", \"metadata\": {\"name\": \"n1\"}}");
	put(f, "notes.txt", svc_yaml("ignored", 80));
	put(f, ".hidden.yaml", svc_yaml("hidden", 80));
	snprintf(path, sizeof(path), "%s/sub.yaml", f->dir);
	assert_int_equal(mkdir(path, 0755), 0); /* a directory, not a file: skipped */

	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_int_equal(f->d.n, 1);
	assert_msg_has(f, "sub.yaml: a directory, not a regular file: skipped");
	view(f);
	assert_int_equal(f->m.n_services, 2);
	/* sorted by file name: a.yml before b.yaml */
	assert_string_equal(f->m.services[0]->name, "alpha");
	assert_string_equal(f->m.services[1]->name, "bravo");
	assert_int_equal(f->m.n_nodes, 1);
	snprintf(path, sizeof(path), "%s/a.yml", f->dir);
	assert_string_equal(f->m.services[0]->origin, path);
}

static void test_missing_path(void **state)
{
	struct fix *f = *state;
	const char *paths[] = {"/nonexistent/svcproxy.yaml"};
	struct manifest_source *ms = src_new(paths, 1);

	assert_non_null(ms);
	assert_int_equal(manifest_source_load(ms, &f->d), -ENOENT);
	assert_msg_has(f, "/nonexistent/svcproxy.yaml: no such file or directory");
	manifest_source_free(ms);
}

/* A file PATH: only that file is read, even when its directory has more. */
static void test_file_path(void **state)
{
	struct fix *f = *state;
	char path[128];
	const char *paths[] = {path};
	struct manifest_source *ms;
	struct model m = {0};

	put(f, "one.yaml", svc_yaml("one", 80));
	put(f, "two.yaml", svc_yaml("two", 80));
	snprintf(path, sizeof(path), "%s/one.yaml", f->dir);
	ms = src_new(paths, 1);
	assert_int_equal(manifest_source_load(ms, &f->d), 0);
	assert_int_equal(manifest_source_model(ms, &m, &f->d), 0);
	assert_int_equal(m.n_services, 1);
	assert_string_equal(m.services[0]->name, "one");
	assert_string_equal(m.services[0]->origin, path);
	model_free_view(&m);
	manifest_source_free(ms);
}

static void test_last_good(void **state)
{
	struct fix *f = *state;

	put(f, "s.yaml", "---\n");
	put(f, "s.yaml", "");
	{
		char text[512];

		snprintf(text, sizeof(text), "%s---\n%s", svc_yaml("web", 80), svc_yaml("api", 81));
		put(f, "s.yaml", text);
	}
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_services, 2);

	/* syntax error: everything from the file stays */
	put(f, "s.yaml", "apiVersion: v1\nkind: [\n");
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_int_equal(f->d.n, 1);
	assert_msg_has(f, "s.yaml:");
	view(f);
	assert_int_equal(f->m.n_services, 2);
	assert_int_equal(svc(f, "web")->ports[0].port, 80);

	/* NUL bytes (what a power loss leaves): refused, everything stays */
	diag_clear(&f->d);
	{
		char path[128];
		FILE *fp;

		snprintf(path, sizeof(path), "%s/s.yaml", f->dir);
		fp = fopen(path, "w");
		assert_non_null(fp);
		for (int i = 0; i < 4096; i++)
			fputc(0, fp);
		assert_int_equal(fclose(fp), 0);
	}
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_msg_has(f, "s.yaml:1:1: NUL byte");
	view(f);
	assert_int_equal(f->m.n_services, 2);

	/* web invalid, api changed: web's previous version stays */
	diag_clear(&f->d);
	{
		char text[512];

		snprintf(text, sizeof(text), "%s---\n%s", svc_yaml("web", 70000),
		         svc_yaml("api", 91));
		put(f, "s.yaml", text);
	}
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_msg_has(f, "Service default/web: spec.ports[0].port: 70000 is not a valid port");
	view(f);
	assert_int_equal(f->m.n_services, 2);
	assert_int_equal(svc(f, "web")->ports[0].port, 80);
	assert_int_equal(svc(f, "api")->ports[0].port, 91);

	/* loading the same text again reports the same problem again */
	diag_clear(&f->d);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_int_equal(f->d.n, 1);

	/*
	 * two invalid copies of web (found by fuzz_manifest_source): its previous
	 * version stays once, not once per copy (which freed it twice)
	 */
	diag_clear(&f->d);
	{
		char text[768];

		snprintf(text, sizeof(text), "%s---\n%s---\n%s", svc_yaml("web", 70000),
		         svc_yaml("api", 91), svc_yaml("web", 0));
		put(f, "s.yaml", text);
	}
	assert_int_equal(manifest_source_load(f->ms, &f->d), 2);
	view(f);
	assert_int_equal(f->m.n_services, 2);
	assert_int_equal(svc(f, "web")->ports[0].port, 80);
	diag_clear(&f->d);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 2);
	view(f);
	assert_int_equal(f->m.n_services, 2);

	/* web removed from a valid file: gone (even though it was kept before) */
	diag_clear(&f->d);
	put(f, "s.yaml", svc_yaml("api", 91));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_services, 1);
	assert_null(svc(f, "web"));

	/* a new object that is invalid from the start: nothing to keep */
	{
		char text[512];

		snprintf(text, sizeof(text), "%s---\n%s", svc_yaml("api", 91), svc_yaml("new", 0));
		put(f, "s.yaml", text);
	}
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	view(f);
	assert_int_equal(f->m.n_services, 1);

	/* file deleted: its objects go */
	del(f, "s.yaml");
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_services, 0);
}

/* An invalid Endpoints keeps all the slices converted from its last good version. */
static void test_last_good_endpoints(void **state)
{
	struct fix *f = *state;

	put(f, "ep.yaml",
	    "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\n"
	    "subsets:\n- addresses: [{ip: 10.0.0.1}]\n  ports: [{port: 80}]\n"
	    "- addresses: [{ip: 10.0.0.2}]\n  ports: [{port: 81}]\n");
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_slices, 2);
	put(f, "ep.yaml",
	    "apiVersion: v1\nkind: Endpoints\nmetadata: {name: web}\n"
	    "subsets:\n- addresses: [{ip: 10.0.0.999}]\n  ports: [{port: 80}]\n");
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	view(f);
	assert_int_equal(f->m.n_slices, 2);
	assert_string_equal(f->m.slices[1]->name, "web-subset1");
}

static void test_duplicates(void **state)
{
	struct fix *f = *state;
	char a[128], b[128];

	put(f, "a.yaml", svc_yaml("web", 80));
	put(f, "b.yaml", svc_yaml("web", 81));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_services, 1);
	assert_int_equal(f->m.services[0]->ports[0].port, 80);
	assert_int_equal(f->d.n, 1);
	snprintf(a, sizeof(a), "%s/a.yaml", f->dir);
	snprintf(b, sizeof(b), "%s/b.yaml", f->dir);
	assert_non_null(strstr(f->d.msgs[0], a));
	assert_non_null(strstr(f->d.msgs[0], b));
	assert_msg_has(f, "b.yaml: Service default/web: duplicate, also defined in ");

	/* a different namespace is a different object */
	diag_clear(&f->d);
	put(f, "b.yaml",
	    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}\n"
	    "spec: {ports: [{port: 81}]}\n");
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_int_equal(f->m.n_services, 2);
	assert_int_equal(f->d.n, 0);
}

static void test_too_big(void **state)
{
	struct fix *f = *state;
	char path[128], big[2048];

	put(f, "a.yaml", svc_yaml("web", 80));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	snprintf(path, sizeof(path), "%s/a.yaml", f->dir);
	assert_int_equal(truncate(path, (off_t)40 << 30), 0);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_msg_has(f, "a.yaml: 40.0 GiB is over the limit of 64.0 MiB per manifest file: "
	                  "not read (keeping its previous objects)");
	view(f);
	assert_non_null(svc(f, "web"));

	manifest_source_set_max_file_size(f->ms, 1000);
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big + sizeof(big) - 200, svc_yaml("api", 80), strlen(svc_yaml("api", 80)));
	big[sizeof(big) - 200 - 1] = '\n';
	put(f, "a.yaml", big);
	diag_clear(&f->d);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_msg_has(f, "a.yaml: 2.0 KiB is over the limit of 1000 bytes per manifest file");
	view(f);
	assert_non_null(svc(f, "web"));
	assert_null(svc(f, "api"));

	put(f, "a.yaml", svc_yaml("api", 80));
	diag_clear(&f->d);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	view(f);
	assert_null(svc(f, "web"));
	assert_non_null(svc(f, "api"));
}

static void test_many(void **state)
{
	struct fix *f = *state;
	size_t n = 20000, len = 0;
	char *big = malloc(n * 128);
	char name[64];

	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		len +=
		    (size_t)sprintf(big + len,
		                    "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu}\n"
		                    "spec: {ports: [{port: 80}]}\n",
		                    i);
	put(f, "big.yaml", big);
	for (size_t i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "f%05zu.yaml", i);
		put(f, name, svc_yaml(name + 1, 80)); /* "00001.yaml": invalid name */
	}
	free(big);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 2000);
	view(f);
	assert_int_equal(f->m.n_services, n);
}

/* --- reading files in parallel gives the result of reading them in order ---- */

static void assert_diag_equal(const struct diag *a, const struct diag *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->msgs[i], b->msgs[i]);
}

/* Both sources' views, and the problems found building them, are the same. */
static void assert_same_view(struct manifest_source *seq, struct manifest_source *par)
{
	struct model a = {0}, b = {0};
	struct diag da = {0}, db = {0};

	assert_int_equal(manifest_source_model(seq, &a, &da), 0);
	assert_int_equal(manifest_source_model(par, &b, &db), 0);
	assert_diag_equal(&da, &db);
	assert_int_equal(a.n_services, b.n_services);
	assert_int_equal(a.n_slices, b.n_slices);
	assert_int_equal(a.n_nodes, b.n_nodes);
	for (size_t i = 0; i < a.n_services; i++) {
		const struct service *x = a.services[i], *y = b.services[i];

		assert_string_equal(x->origin, y->origin);
		assert_string_equal(x->ns, y->ns);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->n_ports, y->n_ports);
		for (size_t j = 0; j < x->n_ports; j++)
			assert_int_equal(x->ports[j].port, y->ports[j].port);
	}
	for (size_t i = 0; i < a.n_slices; i++) {
		assert_string_equal(a.slices[i]->origin, b.slices[i]->origin);
		assert_string_equal(a.slices[i]->name, b.slices[i]->name);
		assert_int_equal(a.slices[i]->n_endpoints, b.slices[i]->n_endpoints);
	}
	for (size_t i = 0; i < a.n_nodes; i++) {
		assert_string_equal(a.nodes[i]->origin, b.nodes[i]->origin);
		assert_string_equal(a.nodes[i]->name, b.nodes[i]->name);
	}
	model_free_view(&a);
	model_free_view(&b);
	diag_clear(&da);
	diag_clear(&db);
}

static void test_parallel_same(void **state)
{
	struct fix *f = *state;
	struct manifest_source *seq, *par;
	struct diag dseq = {0}, dpar = {0};
	char one[128], text[4096];
	const char *paths[3];
	int fs, fp;

	/* objects in several files: valid, invalid, duplicated across files */
	for (int i = 0; i < 8; i++) {
		char name[32];

		snprintf(text, sizeof(text),
		         "apiVersion: v1\nkind: Service\nmetadata: {name: s%d}\n"
		         "spec: {ports: [{port: %d}]}\n"
		         "---\napiVersion: v1\nkind: Service\nmetadata: {name: dup}\n"
		         "spec: {ports: [{port: %d}]}\n"
		         "---\napiVersion: v1\nkind: Service\nmetadata: {name: bad%d}\n"
		         "spec: {ports: [{port: 70000}, {port: x}]}\n"
		         "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		         "metadata: {name: e%d, labels: {kubernetes.io/service-name: s%d}}\n"
		         "addressType: IPv4\nendpoints: [{addresses: [10.0.0.%d]}, "
		         "{addresses: [nope]}]\n"
		         "---\napiVersion: v1\nkind: Node\nmetadata: {name: n%d}\n",
		         i, 80 + i, 1000 + i, i, i, i, i + 1, i % 3);
		snprintf(name, sizeof(name), "f%d.yaml", i);
		put(f, name, text);
	}
	put(f, "g.yaml", "a: [\n"); /* syntax error */
	put(f, "h.json",
	    "{\"apiVersion\": \"v1\", \"kind\": \"Endpoints\", \"metadata\": "
	    "{\"name\": \"s1\"}, \"subsets\": [{\"addresses\": [{\"ip\": "
	    "\"10.1.0.1\"}], \"ports\": [{\"port\": 80}]}]}");
	snprintf(one, sizeof(one), "%s/f3.yaml", f->dir);
	paths[0] = f->dir;
	paths[1] = "/nonexistent/svcproxy-test";
	paths[2] = one;
	seq = src_new(paths, 3);
	par = src_new(paths, 3);
	assert_non_null(seq);
	assert_non_null(par);
	manifest_source_set_workers(seq, 1);
	manifest_source_set_workers(par, 4);

	assert_int_equal(manifest_source_load(seq, &dseq), -ENOENT);
	assert_int_equal(manifest_source_load(par, &dpar), -ENOENT);
	assert_true(dseq.n > 20);
	assert_diag_equal(&dseq, &dpar);
	assert_same_view(seq, par);

	/* last good: a file turns unparsable, objects of others turn invalid */
	put(f, "f2.yaml", "a: [\n");
	put(f, "f5.yaml", svc_yaml("s5", 0));
	put(f, "f6.yaml", svc_yaml("s6", 90));
	diag_clear(&dseq);
	diag_clear(&dpar);
	assert_int_equal(manifest_source_load(seq, &dseq), -ENOENT);
	assert_int_equal(manifest_source_load(par, &dpar), -ENOENT);
	assert_diag_equal(&dseq, &dpar);
	assert_same_view(seq, par);

	/* several files changed at once, seen through inotify (all paths there) */
	manifest_source_free(seq);
	manifest_source_free(par);
	paths[1] = one;
	seq = src_new(paths, 2);
	par = src_new(paths, 2);
	assert_non_null(seq);
	assert_non_null(par);
	manifest_source_set_workers(seq, 1);
	manifest_source_set_workers(par, 4);
	diag_clear(&dseq);
	diag_clear(&dpar);
	assert_true(manifest_source_load(seq, &dseq) > 0);
	assert_true(manifest_source_load(par, &dpar) > 0);
	assert_diag_equal(&dseq, &dpar);
	assert_same_view(seq, par);
	fs = manifest_source_watch(seq);
	fp = manifest_source_watch(par);
	assert_true(fs >= 0 && fp >= 0);
	put(f, "f0.yaml", svc_yaml("s0", 8080));
	put(f, "f1.yaml", "a: {\n");
	put(f, "f7.yaml", svc_yaml("dup", 7));
	put(f, "f9.yaml", svc_yaml("s9", 0));
	del(f, "f4.yaml");
	diag_clear(&dseq);
	diag_clear(&dpar);
	assert_int_equal(settle(seq, fs, &dseq), 1);
	assert_int_equal(settle(par, fp, &dpar), 1);
	assert_true(dseq.n > 0);
	assert_diag_equal(&dseq, &dpar);
	assert_same_view(seq, par);

	diag_clear(&dseq);
	diag_clear(&dpar);
	manifest_source_free(seq);
	manifest_source_free(par);
}

/* --- the view kept across calls equals one built from scratch ----------------- */

/* Write name in the test directory from YAML documents (NULL-terminated). */
static void put_docs(struct fix *f, const char *name, ...)
{
	char text[4096];
	size_t len = 0;
	const char *doc;
	va_list ap;

	va_start(ap, name);
	while ((doc = va_arg(ap, const char *))) {
		int n = snprintf(text + len, sizeof(text) - len, "---\n%s", doc);

		assert_true(n > 0 && (size_t)n < sizeof(text) - len);
		len += (size_t)n;
	}
	va_end(ap);
	put(f, name, text);
}

static char *svc_doc(const char *ns, const char *name, int port)
{
	static char buf[16][256];
	static int i;
	char *b = buf[i++ % 16];

	snprintf(b, 256,
	         "apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
	         "spec: {ports: [{port: %d}]}\n",
	         name, ns, port);
	return b;
}

static char *slice_doc(const char *name, const char *svc_name, int last_octet)
{
	static char buf[8][384];
	static int i;
	char *b = buf[i++ % 8];

	snprintf(b, 384,
	         "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	         "metadata: {name: %s, labels: {kubernetes.io/service-name: %s}}\n"
	         "addressType: IPv4\nports: [{port: 8080}]\n"
	         "endpoints: [{addresses: [10.0.0.%d]}]\n",
	         name, svc_name, last_octet);
	return b;
}

static char *node_doc(const char *name)
{
	static char buf[4][128];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, 128, "apiVersion: v1\nkind: Node\nmetadata: {name: %s}\n", name);
	return b;
}

/* The same objects (by content), in the same order. */
static void assert_model_equal(const struct model *a, const struct model *b)
{
	assert_int_equal(a->n_services, b->n_services);
	assert_int_equal(a->n_slices, b->n_slices);
	assert_int_equal(a->n_nodes, b->n_nodes);
	for (size_t i = 0; i < a->n_services; i++) {
		const struct service *x = a->services[i], *y = b->services[i];

		assert_string_equal(x->origin, y->origin);
		assert_string_equal(x->ns, y->ns);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->n_ports, y->n_ports);
		for (size_t j = 0; j < x->n_ports; j++)
			assert_int_equal(x->ports[j].port, y->ports[j].port);
	}
	for (size_t i = 0; i < a->n_slices; i++) {
		const struct endpoint_slice *x = a->slices[i], *y = b->slices[i];

		assert_string_equal(x->origin, y->origin);
		assert_string_equal(x->ns, y->ns);
		assert_string_equal(x->name, y->name);
		assert_string_equal(x->service_name, y->service_name);
		assert_int_equal(x->n_endpoints, y->n_endpoints);
		for (size_t j = 0; j < x->n_endpoints; j++)
			assert_true(ipaddr_equal(&x->endpoints[j].addr, &y->endpoints[j].addr));
	}
	for (size_t i = 0; i < a->n_nodes; i++) {
		assert_string_equal(a->nodes[i]->origin, b->nodes[i]->origin);
		assert_string_equal(a->nodes[i]->name, b->nodes[i]->name);
	}
}

/*
 * The view of inc (kept up to date by events, its duplicate table carried
 * over from earlier views) equals, objects, order and messages, the view
 * of a source reading the same paths from scratch. Asking inc again with
 * nothing changed gives the very same pointers and messages. Leaves inc's
 * messages in f->d.
 */
static void assert_view_fresh(struct fix *f, struct manifest_source *inc, const char **paths,
                              size_t n_paths)
{
	struct manifest_source *ref = src_new(paths, n_paths);
	struct model a = {0}, b = {0}, again = {0};
	struct diag da = {0}, db = {0}, dagain = {0};

	assert_non_null(ref);
	assert_true(manifest_source_load(ref, &db) >= 0);
	diag_clear(&db);
	assert_int_equal(manifest_source_model(inc, &a, &da), 0);
	assert_int_equal(manifest_source_model(ref, &b, &db), 0);
	assert_diag_equal(&da, &db);
	assert_model_equal(&a, &b);

	assert_int_equal(manifest_source_model(inc, &again, &dagain), 0);
	assert_diag_equal(&da, &dagain);
	assert_int_equal(a.n_services, again.n_services);
	assert_int_equal(a.n_slices, again.n_slices);
	assert_int_equal(a.n_nodes, again.n_nodes);
	assert_memory_equal(a.services, again.services, a.n_services * sizeof(*a.services));
	assert_memory_equal(a.slices, again.slices, a.n_slices * sizeof(*a.slices));
	assert_memory_equal(a.nodes, again.nodes, a.n_nodes * sizeof(*a.nodes));

	diag_clear(&f->d);
	f->d = da;
	model_free_view(&a);
	model_free_view(&b);
	model_free_view(&again);
	diag_clear(&db);
	diag_clear(&dagain);
	manifest_source_free(ref);
}

/* Wait for inc's events and take them in; the view must then be as fresh. */
static void change_seen(struct fix *f, struct manifest_source *inc, int fd, const char **paths,
                        size_t n_paths)
{
	struct diag d = {0};

	assert_true(settle(inc, fd, &d) >= 0);
	diag_clear(&d);
	assert_view_fresh(f, inc, paths, n_paths);
}

static void view_sequence(struct fix *f, const char **paths, size_t n_paths)
{
	struct manifest_source *inc = src_new(paths, n_paths);
	struct diag d = {0};
	char a[128], b[128], want[512];
	int fd;

	snprintf(a, sizeof(a), "%s/a.yaml", f->dir);
	snprintf(b, sizeof(b), "%s/b.yaml", f->dir);
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), svc_doc("default", "s2", 80),
	         slice_doc("e1", "s1", 1), NULL);
	put_docs(f, "b.yaml", svc_doc("default", "s3", 80), node_doc("n1"), NULL);
	put_docs(f, "c.yaml", svc_doc("other", "s4", 80), slice_doc("e4", "s4", 4), NULL);
	/* a standing duplicate, in a file that does not change for a while */
	put_docs(f, "d.yaml", svc_doc("default", "s2", 81), node_doc("n2"), NULL);
	assert_non_null(inc);
	assert_int_equal(manifest_source_load(inc, &d), 0);
	diag_clear(&d);
	fd = manifest_source_watch(inc);
	assert_true(fd >= 0);
	assert_view_fresh(f, inc, paths, n_paths);
	snprintf(want, sizeof(want),
	         "d.yaml: Service default/s2: duplicate, also defined in %s (using that one)", a);
	assert_msg_has(f, want);

	/* a file edited */
	put_docs(f, "b.yaml", svc_doc("default", "s3", 90), node_doc("n1"), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, want);
	put_docs(f, "b.yaml", svc_doc("default", "s3", 90), node_doc("n1"), node_doc("n3"), NULL);
	put_docs(f, "c.yaml", svc_doc("other", "s4", 81), slice_doc("e4", "s4", 5), NULL);
	change_seen(f, inc, fd, paths, n_paths);

	/* a file added between others, a file removed */
	put_docs(f, "bb.yaml", svc_doc("default", "s5", 80), slice_doc("e5", "s5", 6), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	del(f, "c.yaml");
	change_seen(f, inc, fd, paths, n_paths);

	/* a duplicate introduced in a later file: the earlier one stays */
	put_docs(f, "bb.yaml", svc_doc("default", "s5", 80), slice_doc("e5", "s5", 6),
	         svc_doc("default", "s3", 99), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, "bb.yaml: Service default/s3: duplicate, also defined in ");
	/* ... and in an earlier file: it takes the identity over */
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), svc_doc("default", "s2", 80),
	         slice_doc("e1", "s1", 1), slice_doc("e5", "s5", 7), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, "bb.yaml: EndpointSlice default/e5: duplicate, also defined in ");
	/* ... within one file */
	put_docs(f, "bb.yaml", svc_doc("default", "s5", 80), svc_doc("default", "s5", 81), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, "bb.yaml: Service default/s5: duplicate, also defined in ");

	/* the duplicates removed again */
	put_docs(f, "bb.yaml", svc_doc("default", "s5", 80), slice_doc("e5", "s5", 6), NULL);
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), svc_doc("default", "s2", 80),
	         slice_doc("e1", "s1", 1), NULL);
	change_seen(f, inc, fd, paths, n_paths);

	/* the file whose object wins a duplicate changes, then the one that lost */
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), svc_doc("default", "s2", 82),
	         slice_doc("e1", "s1", 1), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, want);
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), slice_doc("e1", "s1", 1), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	for (size_t i = 0; i < f->d.n; i++) /* d's s2 is the one now */
		assert_null(strstr(f->d.msgs[i], "s2"));
	put_docs(f, "a.yaml", svc_doc("default", "s1", 80), svc_doc("default", "s2", 82),
	         slice_doc("e1", "s1", 1), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, want);
	put_docs(f, "d.yaml", node_doc("n2"), node_doc("n1"), NULL);
	change_seen(f, inc, fd, paths, n_paths);
	assert_msg_has(f, "d.yaml: Node n1: duplicate, also defined in ");
	put_docs(f, "d.yaml", node_doc("n2"), NULL);
	change_seen(f, inc, fd, paths, n_paths);

	/*
	 * An object kept as last good (appended to its file's objects after
	 * the fresh ones) is found as a duplicate like any other.
	 */
	put_docs(f, "b.yaml", svc_doc("default", "s3", 70000), node_doc("n1"), node_doc("n3"),
	         NULL);
	assert_int_equal(settle(inc, fd, &d), 0);
	diag_clear(&d);
	put_docs(f, "d.yaml", node_doc("n2"), svc_doc("default", "s3", 91), NULL);
	assert_int_equal(settle(inc, fd, &d), 1);
	diag_clear(&d);
	model_free_view(&f->m);
	diag_clear(&f->d);
	assert_int_equal(manifest_source_model(inc, &f->m, &f->d), 0);
	snprintf(want, sizeof(want),
	         "d.yaml: Service default/s3: duplicate, also defined in %s (using that one)", b);
	assert_msg_has(f, want);
	assert_int_equal(svc(f, "s3")->ports[0].port, 90);
	assert_string_equal(svc(f, "s3")->origin, b);

	manifest_source_free(inc);
}

static void test_view_kept_same(void **state)
{
	struct fix *f = *state;
	char one[128];
	const char *paths[2];

	paths[0] = f->dir;
	view_sequence(f, paths, 1);

	/* the same file again as a second PATH: all its objects duplicates */
	snprintf(one, sizeof(one), "%s/b.yaml", f->dir);
	paths[1] = one;
	del(f, "a.yaml");
	del(f, "b.yaml");
	del(f, "bb.yaml");
	del(f, "d.yaml");
	view_sequence(f, paths, 2);
}

/* Append name's document to text: its kind follows from its number. */
static void put_obj(char *text, size_t *len, size_t cap, int id)
{
	int kind = id % 8;
	char obj[16];

	snprintf(obj, sizeof(obj), "o%d", id);
	*len += (size_t)snprintf(text + *len, cap - *len, "---\n%s",
	                         kind < 5   ? svc_doc(kind < 3 ? "default" : "other", obj, 80)
	                         : kind < 7 ? slice_doc(obj, obj, kind)
	                                    : node_doc(obj));
	assert_true(*len < cap);
}

/*
 * Many rounds of random edits, each taken in with a load: objects come, go
 * and move between files, some are defined twice (in two files, or twice
 * in one), files come and go. The kept view always equals a fresh one.
 */
static void test_view_kept_same_random(void **state)
{
	enum { N_NAMES = 600, N_FILES = 8 };
	struct fix *f = *state;
	const char *paths[1] = {f->dir};
	struct manifest_source *inc = src_new(paths, 1);
	size_t cap = 256 * 1024;
	char *text = malloc(cap);
	int owner[N_NAMES];
	unsigned seed = 12345;
	struct diag d = {0};

	assert_non_null(inc);
	assert_non_null(text);
	for (int i = 0; i < N_NAMES; i++)
		owner[i] = -1;
	for (int round = 0; round < 400; round++) {
		int file = rand_r(&seed) % N_FILES, take = rand_r(&seed) % 40;
		char name[32], path[160];
		bool gone = rand_r(&seed) % 50 == 0;
		size_t len = 0;

		snprintf(name, sizeof(name), "r%d.yaml", file);
		snprintf(path, sizeof(path), "%s/%s", f->dir, name);
		text[0] = '\0';
		for (int i = 0; i < N_NAMES; i++) {
			if (owner[i] == file && (gone || rand_r(&seed) % 6 == 0))
				owner[i] = -1; /* given up */
			else if (owner[i] < 0 && !gone && take && rand_r(&seed) % 8 == 0)
				owner[i] = file, take--; /* taken, maybe from another file */
			if (owner[i] != file)
				continue;
			put_obj(text, &len, cap, i);
			if (rand_r(&seed) % 2000 == 0)
				put_obj(text, &len, cap, i); /* twice in one file */
		}
		if (!gone && rand_r(&seed) % 4 == 0) { /* one of another file's */
			int i = rand_r(&seed) % N_NAMES;

			if (owner[i] >= 0 && owner[i] != file)
				put_obj(text, &len, cap, i);
		}
		if (gone)
			unlink(path);
		else
			put_raw(f, name, text);
		assert_true(manifest_source_load(inc, &d) >= 0);
		diag_clear(&d);
		assert_view_fresh(f, inc, paths, 1);
	}
	free(text);
	manifest_source_free(inc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_good, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_good_endpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parallel_same, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_kept_same, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_kept_same_random, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
