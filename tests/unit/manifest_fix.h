/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_fix.h - the manifest source tests' fixture: a fresh temporary
 * directory per test, writers for its files, and waiting for the watch.
 * Included by test_manifest.c and test_manifest_watch.c only.
 */
#ifndef SVCPROXY_TEST_MANIFEST_FIX_H
#define SVCPROXY_TEST_MANIFEST_FIX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/manifest.h"

/* A source with a short debounce, so that the tests stay quick. */
static inline struct manifest_source *src_new(const char *const *paths, size_t n)
{
	struct manifest_source *ms = manifest_source_new(paths, n);

	manifest_source_set_debounce(ms, 5);
	return ms;
}

/*
 * Wait for ms's fd, then handle what comes until it has been quiet for
 * 50 ms (debounce and retries come through the same fd). 1 when any
 * call said the objects changed, else 0 (or the first error).
 */
static inline int settle(struct manifest_source *ms, int fd, struct diag *d)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int ret = 0, timeout = 2000;

	while (poll(&p, 1, timeout) == 1) {
		int r = manifest_source_handle_events(ms, d);

		if (r < 0)
			return r;
		ret |= r;
		timeout = 50;
	}
	assert_int_equal(timeout, 50); /* something came */
	return ret;
}

/* Handle what comes on fd until a call says the objects changed; false after timeout_ms. */
static inline bool until_changed(struct manifest_source *ms, int fd, struct diag *d, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 10) == 1 && manifest_source_handle_events(ms, d) == 1)
			return true;
	}
	return false;
}

struct fix {
	char dir[64];
	struct manifest_source *ms;
	struct diag d;
	struct model m; /* a view */
};

static inline int setup(void **state)
{
	static struct fix f;
	const char *paths[1];

	memset(&f, 0, sizeof(f));
	strcpy(f.dir, "/tmp/svcproxy-test-XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	paths[0] = f.dir;
	f.ms = src_new(paths, 1);
	*state = &f;
	return f.ms ? 0 : -1;
}

static inline int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];

	model_free_view(&f->m);
	manifest_source_free(f->ms);
	diag_clear(&f->d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write name in the test directory, atomically (rename into place). */
static inline void put(struct fix *f, const char *name, const char *text)
{
	const char *slash = strrchr(name, '/');
	char tmp[512], path[512];
	FILE *fp;

	if (slash) /* in a subdirectory: the temporary file beside it */
		snprintf(tmp, sizeof(tmp), "%s/%.*s/.%s.tmp", f->dir, (int)(slash - name), name,
		         slash + 1);
	else
		snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", f->dir, name);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/* Write a file below the test directory in place (no events wanted). */
static inline void put_raw(struct fix *f, const char *rel, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Rename from to to, both in the test directory. */
static inline void put_rename(struct fix *f, const char *from, const char *to)
{
	char a[512], b[512];

	snprintf(a, sizeof(a), "%s/%s", f->dir, from);
	snprintf(b, sizeof(b), "%s/%s", f->dir, to);
	assert_int_equal(rename(a, b), 0);
}

static inline void del(struct fix *f, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(unlink(path), 0);
}

/* Rebuild the view, with problems in f->d. */
static inline void view(struct fix *f)
{
	model_free_view(&f->m);
	assert_int_equal(manifest_source_model(f->ms, &f->m, &f->d), 0);
}

static inline const struct service *svc(struct fix *f, const char *name)
{
	for (size_t i = 0; i < f->m.n_services; i++)
		if (!strcmp(f->m.services[i]->name, name))
			return f->m.services[i];
	return NULL;
}

static inline char *svc_yaml(const char *name, int port)
{
	static char buf[4][256];
	static int i;
	char *b = buf[i++ % 4];

	snprintf(b, 256,
	         "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\n"
	         "spec: {ports: [{port: %d}]}\n",
	         name, port);
	return b;
}

static inline void assert_msg_has(struct fix *f, const char *sub)
{
	for (size_t i = 0; i < f->d.n; i++)
		if (strstr(f->d.msgs[i], sub))
			return;
	print_error("no message contains: %s\nhave %zu:\n", sub, f->d.n);
	for (size_t i = 0; i < f->d.n; i++)
		print_error("  %s\n", f->d.msgs[i]);
	fail();
}

/* Wait for the watch fd, then handle what came; returns handle_events(). */
static inline int events(struct fix *f, int fd)
{
	return settle(f->ms, fd, &f->d);
}

/* Handle what comes on fd for ms milliseconds; every view in between must hold name. */
static inline void watch_keeps(struct fix *f, int fd, int ms, const char *name)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (int waited = 0; waited < ms; waited += 10) {
		if (poll(&p, 1, 10) != 1)
			continue;
		if (manifest_source_handle_events(f->ms, &f->d) > 0) {
			view(f);
			assert_non_null(svc(f, name));
		}
	}
}

/*
 * An editor's save is read once, whole: moved away then written anew, or
 * truncated then written, the Service never leaves the view in between.
 */

#endif
