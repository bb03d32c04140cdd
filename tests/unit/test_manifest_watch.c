/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_manifest_watch.c - the manifest source watched: inotify, debounce,
 * PATH swaps, files that turn into FIFOs, failed reads retried.
 */
#include "manifest_fix.h"

/*
 * A ConfigMap volume as the kubelet writes it: cm.yaml -> ..data/cm.yaml,
 * ..data -> ..v1 (cm on port 80); ..v2 holds the next version (port 81).
 */
static void configmap_volume(struct fix *f)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/..v1", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put_raw(f, "..v1/cm.yaml", svc_yaml("cm", 80));
	snprintf(path, sizeof(path), "%s/..v2", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put_raw(f, "..v2/cm.yaml", svc_yaml("cm", 81));
	snprintf(path, sizeof(path), "%s/..data", f->dir);
	assert_int_equal(symlink("..v1", path), 0);
	snprintf(path, sizeof(path), "%s/cm.yaml", f->dir);
	assert_int_equal(symlink("..data/cm.yaml", path), 0);
}

/* The kubelet's update: ..data swapped to ..v2 in one rename. */
static void configmap_update(struct fix *f)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/..data_tmp", f->dir);
	assert_int_equal(symlink("..v2", path), 0);
	put_rename(f, "..data_tmp", "..data");
}

static void test_watch(void **state)
{
	struct fix *f = *state;
	int fd;

	put(f, "a.yaml", svc_yaml("web", 80));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	fd = manifest_source_watch(f->ms);
	assert_true(fd >= 0);
	assert_int_equal(manifest_source_watch(f->ms), fd);

	/* nothing happened yet */
	assert_int_equal(manifest_source_handle_events(f->ms, &f->d), 0);

	/* a new file */
	put(f, "b.yaml", svc_yaml("api", 80));
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(f->m.n_services, 2);

	/* rewriting the same text, or only a comment: no change */
	put(f, "b.yaml", svc_yaml("api", 80));
	assert_int_equal(events(f, fd), 0);
	{
		char text[512];

		snprintf(text, sizeof(text), "# a comment\n%s", svc_yaml("api", 80));
		put(f, "b.yaml", text);
	}
	assert_int_equal(events(f, fd), 0);

	/* a real change */
	put(f, "b.yaml", svc_yaml("api", 8080));
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(svc(f, "api")->ports[0].port, 8080);

	/* breaking the file keeps its objects and reports */
	assert_int_equal(f->d.n, 0);
	put(f, "b.yaml", "{{{");
	assert_int_equal(events(f, fd), 0);
	assert_int_equal(f->d.n, 1);
	view(f);
	assert_int_equal(svc(f, "api")->ports[0].port, 8080);

	/* files that are not manifests do not matter */
	put(f, "README.md", "hello");
	assert_int_equal(events(f, fd), 0);

	/* deleting */
	del(f, "b.yaml");
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(f->m.n_services, 1);
	assert_null(svc(f, "api"));
}

/* Many files at once (rescan path), and a ConfigMap-volume style "..data" swap. */
static void test_watch_bulk_and_configmap(void **state)
{
	struct fix *f = *state;
	char name[64], target[64];
	int fd;

	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	fd = manifest_source_watch(f->ms);
	assert_true(fd >= 0);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%03d.yaml", i);
		put(f, name, svc_yaml(name, 80) /* "s000.yaml" is no valid name */);
	}
	assert_int_equal(events(f, fd), 0);
	assert_int_equal(f->d.n, 300);
	diag_clear(&f->d);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%03d.yaml", i);
		snprintf(target, sizeof(target), "s%03d", i);
		put(f, name, svc_yaml(target, 80));
	}
	assert_int_equal(events(f, fd), 1);
	assert_int_equal(f->d.n, 0);
	view(f);
	assert_int_equal(f->m.n_services, 300);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s%03d.yaml", i);
		del(f, name);
	}
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(f->m.n_services, 0);

	/* cm.yaml -> ..data/cm.yaml, ..data -> ..v1; the update swaps ..data to ..v2 */
	configmap_volume(f);
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(svc(f, "cm")->ports[0].port, 80);
	configmap_update(f);
	assert_int_equal(events(f, fd), 1);
	view(f);
	assert_int_equal(svc(f, "cm")->ports[0].port, 81);
}

/* A watched file PATH: events for its neighbours are filtered out. */
static void test_watch_file_path(void **state)
{
	struct fix *f = *state;
	char path[128], cm[128];
	const char *paths[] = {path};
	struct manifest_source *ms;
	struct model m = {0};
	int fd;

	put(f, "one.yaml", svc_yaml("one", 80));
	snprintf(path, sizeof(path), "%s/one.yaml", f->dir);
	ms = src_new(paths, 1);
	assert_int_equal(manifest_source_load(ms, &f->d), 0);
	fd = manifest_source_watch(ms);
	assert_true(fd >= 0);

	put(f, "two.yaml", svc_yaml("two", 80));
	assert_int_equal(settle(ms, fd, &f->d), 0);

	put(f, "one.yaml", svc_yaml("one", 81));
	assert_int_equal(settle(ms, fd, &f->d), 1);
	assert_int_equal(manifest_source_model(ms, &m, &f->d), 0);
	assert_int_equal(m.n_services, 1);
	assert_int_equal(m.services[0]->ports[0].port, 81);
	model_free_view(&m);
	manifest_source_free(ms);

	/* a file PATH in a ConfigMap volume: cm.yaml -> ..data/cm.yaml, ..data swapped */
	configmap_volume(f);
	snprintf(cm, sizeof(cm), "%s/cm.yaml", f->dir);
	paths[0] = cm;
	ms = src_new(paths, 1);
	assert_int_equal(manifest_source_load(ms, &f->d), 0);
	fd = manifest_source_watch(ms);
	assert_true(fd >= 0);
	configmap_update(f);
	assert_int_equal(settle(ms, fd, &f->d), 1);
	assert_int_equal(manifest_source_model(ms, &m, &f->d), 0);
	assert_int_equal(m.n_services, 1);
	assert_int_equal(m.services[0]->ports[0].port, 81);
	model_free_view(&m);
	manifest_source_free(ms);
}

/*
 * A FIFO with a manifest's name is skipped, never opened (opening it for
 * reading would block until a writer comes): reported once, and a file
 * that turns into one keeps its last good objects.
 */
static void test_not_regular(void **state)
{
	struct fix *f = *state;
	char path[128];
	int fd;

	alarm(10); /* a blocked open fails the test instead of hanging it */
	put(f, "a.yaml", svc_yaml("web", 80));
	put(f, "b.yaml", svc_yaml("api", 80));
	snprintf(path, sizeof(path), "%s/fifo.yaml", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(manifest_source_load(f->ms, &f->d), 1);
	assert_int_equal(f->d.n, 1);
	assert_msg_has(f, "fifo.yaml: a FIFO, not a regular file: skipped");
	view(f);
	assert_int_equal(f->m.n_services, 2);

	/* b.yaml replaced by a FIFO: its Service stays */
	fd = manifest_source_watch(f->ms);
	assert_true(fd >= 0);
	diag_clear(&f->d);
	snprintf(path, sizeof(path), "%s/.b.yaml.tmp", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	put_rename(f, ".b.yaml.tmp", "b.yaml");
	assert_int_equal(events(f, fd), 0);
	assert_msg_has(f, "b.yaml: a FIFO, not a regular file: skipped (keeping its previous "
	                  "objects)");
	view(f);
	assert_non_null(svc(f, "api"));
	/* reported once, not on every event */
	diag_clear(&f->d);
	put(f, "c.yaml", svc_yaml("other", 80));
	assert_int_equal(events(f, fd), 1);
	assert_int_equal(f->d.n, 0);
	alarm(0);
}

/*
 * A file over the size limit is refused before anything is read (a 40 GB
 * sparse file costs nothing), named with the limit; its last good objects
 * stay; back under the limit it is read again.
 */

static void test_debounce(void **state)
{
	struct fix *f = *state;
	char path[128];
	FILE *fp;
	int fd;

	manifest_source_set_debounce(f->ms, 100);
	put(f, "a.yaml", svc_yaml("web", 80));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	fd = manifest_source_watch(f->ms);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/a.yaml", f->dir);

	/* vim: rename to a backup, create the file, write it a bit later */
	put_rename(f, "a.yaml", "a.yaml~");
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fflush(fp), 0);
	watch_keeps(f, fd, 30, "web");
	assert_true(fputs(svc_yaml("web", 81), fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	watch_keeps(f, fd, 400, "web");
	view(f);
	assert_int_equal(svc(f, "web")->ports[0].port, 81);

	/* truncated in place, written 30 ms later */
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fclose(fp), 0);
	watch_keeps(f, fd, 30, "web");
	put_raw(f, "a.yaml", svc_yaml("web", 82));
	watch_keeps(f, fd, 400, "web");
	view(f);
	assert_int_equal(svc(f, "web")->ports[0].port, 82);
	assert_int_equal(f->d.n, 0);

	/* gone for longer than the debounce, back within the grace time: kept */
	put_rename(f, "a.yaml", "a.yaml~");
	watch_keeps(f, fd, 250, "web");
	put(f, "a.yaml", svc_yaml("web", 83));
	watch_keeps(f, fd, 400, "web");
	view(f);
	assert_int_equal(svc(f, "web")->ports[0].port, 83);
	/* gone for good: dropped once the grace time (5 debounce periods) is up */
	del(f, "a.yaml");
	watch_keeps(f, fd, 300, "web");
	assert_true(until_changed(f->ms, fd, &f->d, 3000));
	view(f);
	assert_null(svc(f, "web"));
}

/*
 * The PATH directory swapped (`mv dir old && mv new dir`), or a symlink
 * PATH pointed elsewhere (`mv -T`), or its parent renamed: the objects
 * never leave in between, and what the PATH names then is watched.
 */
static void test_dir_swap(void **state)
{
	struct fix *f = *state;
	char m[128], path[160];
	const char *paths[] = {m};
	struct manifest_source *ms;
	struct model mv = {0};
	int fd;

	snprintf(m, sizeof(m), "%s/p/m", f->dir);
	snprintf(path, sizeof(path), "%s/p", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mkdir(m, 0755), 0);
	put(f, "p/m/a.yaml", svc_yaml("one", 80));
	manifest_source_free(f->ms);
	f->ms = ms = src_new(paths, 1);
	assert_int_equal(manifest_source_load(ms, &f->d), 0);
	fd = manifest_source_watch(ms);
	assert_true(fd >= 0);

	/* mv m old && mv new m */
	snprintf(path, sizeof(path), "%s/p/new", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put(f, "p/new/b.yaml", svc_yaml("two", 80));
	put_rename(f, "p/m", "p/old");
	watch_keeps(f, fd, 30, "one");
	put_rename(f, "p/new", "p/m");
	assert_int_equal(settle(ms, fd, &f->d), 1);
	view(f);
	assert_int_equal(f->m.n_services, 1);
	assert_non_null(svc(f, "two"));
	put(f, "p/m/c.yaml", svc_yaml("three", 80)); /* the new directory is watched */
	assert_int_equal(settle(ms, fd, &f->d), 1);
	view(f);
	assert_non_null(svc(f, "three"));
	put(f, "p/old/d.yaml", svc_yaml("four", 80)); /* the old one is not */
	assert_int_equal(manifest_source_handle_events(ms, &f->d), 0);

	/* the parent renamed away for a while, another put in its place */
	put_rename(f, "p", "p.1");
	watch_keeps(f, fd, 150, "two"); /* missing: polled, objects kept */
	assert_msg_has(f, "/p/m: no such file or directory (keeping its 2 objects");
	snprintf(path, sizeof(path), "%s/p", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/p/m", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put(f, "p/m/e.yaml", svc_yaml("five", 80));
	assert_int_equal(settle(ms, fd, &f->d), 1);
	view(f);
	assert_int_equal(f->m.n_services, 1);
	assert_non_null(svc(f, "five"));
	put(f, "p/m/e.yaml", svc_yaml("five", 81));
	assert_int_equal(settle(ms, fd, &f->d), 1);

	/* a symlink PATH swapped atomically */
	snprintf(path, sizeof(path), "%s/p/v1", f->dir);
	assert_int_equal(rename(m, path), 0);
	assert_int_equal(symlink("v1", m), 0);
	assert_int_equal(settle(ms, fd, &f->d), 0 /* the same files */);
	snprintf(path, sizeof(path), "%s/p/v2", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	put(f, "p/v2/g.yaml", svc_yaml("six", 80));
	snprintf(path, sizeof(path), "%s/p/m.tmp", f->dir);
	assert_int_equal(symlink("v2", path), 0);
	put_rename(f, "p/m.tmp", "p/m");
	assert_int_equal(settle(ms, fd, &f->d), 1);
	assert_int_equal(manifest_source_model(ms, &mv, &f->d), 0);
	assert_int_equal(mv.n_services, 1);
	assert_string_equal(mv.services[0]->name, "six");
	model_free_view(&mv);
	put(f, "p/v2/g.yaml", svc_yaml("six", 81));
	assert_int_equal(settle(ms, fd, &f->d), 1);
}

/*
 * A read that fails (EMFILE here) keeps the file's objects, is reported
 * once however often it is retried, and is retried until it works.
 */
static void test_retry(void **state)
{
	struct fix *f = *state;
	struct rlimit old, low;
	struct pollfd p;
	int fd, lowest;

	put(f, "a.yaml", svc_yaml("web", 80));
	assert_int_equal(manifest_source_load(f->ms, &f->d), 0);
	fd = manifest_source_watch(f->ms);
	assert_true(fd >= 0);
	put(f, "a.yaml", svc_yaml("web", 81));
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	lowest = dup(0);
	assert_true(lowest > 0);
	close(lowest);
	low = old;
	low.rlim_cur = (rlim_t)lowest; /* no file can be opened */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(settle(f->ms, fd, &f->d), 0);
	/* several retries (100, 200, 400 ms) */
	for (int i = 0; i < 80; i++) {
		p = (struct pollfd){.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			assert_int_equal(manifest_source_handle_events(f->ms, &f->d), 0);
	}
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_int_equal(f->d.n, 1);
	assert_msg_has(f, "a.yaml: cannot read: Too many open files (keeping its previous "
	                  "objects); retrying");
	view(f);
	assert_int_equal(svc(f, "web")->ports[0].port, 80);
	/* the next retry (at most 10 s later; here 1.5 s after the first) reads it */
	assert_true(until_changed(f->ms, fd, &f->d, 3000));
	view(f);
	assert_int_equal(svc(f, "web")->ports[0].port, 81);
	assert_int_equal(f->d.n, 1);
}

/* Many Services, one per file and all in one file: must stay fast. */

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_bulk_and_configmap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_file_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debounce, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_swap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
