/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_read.c - one manifest file: read, decoded, its last good
 * objects kept (manifest_impl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "source/lastgood.h"
#include "source/manifest_impl.h"

void mjob_clear(struct mjob *j)
{
	model_free(&j->fresh);
	free(j->keys.h);
	j->keys = (struct okeys){0};
	diag_clear(&j->msgs);
	decode_rejects_clear(&j->rej);
}

void mfile_free(struct mfile *f)
{
	if (!f)
		return;
	free(f->path);
	free(f->name);
	diag_clear(&f->msgs);
	model_free(&f->objs);
	if (f->tkeys.h != f->keys.h)
		free(f->tkeys.h);
	free(f->keys.h);
	free(f->hidden);
	diag_clear(&f->dups);
	if (f->job) {
		mjob_clear(f->job);
		free(f->job);
	}
	free(f);
}

struct mfile *mfile_new(const struct mroot *r, const char *name)
{
	static _Atomic uint64_t last_id;
	struct mfile *f = xcalloc(1, sizeof(*f));
	size_t len = strlen(r->path);

	f->id = ++last_id;
	f->name = xstrdup(name);
	if (!r->is_dir)
		f->path = xstrdup(r->path);
	else if (asprintf(&f->path, "%s%s%s", r->path, len && r->path[len - 1] == '/' ? "" : "/",
	                  name) < 0)
		die_oom();
	return f;
}

bool manifest_name(const char *name)
{
	size_t len = strlen(name);

	if (name[0] == '.')
		return false;
	return (len > 5 && !strcmp(name + len - 5, ".yaml")) ||
	       (len > 4 && !strcmp(name + len - 4, ".yml")) ||
	       (len > 5 && !strcmp(name + len - 5, ".json"));
}

/*
 * Read a whole regular file. Returns 0 with *buf (malloc'd, NUL-terminated)
 * and *len, -ENOENT when it is gone or not a regular file, -errno else.
 */
static int read_file(const char *path, char **buf, size_t *len)
{
	size_t cap, n = 0;
	struct stat st;
	char *p = NULL;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -ENOENT;
		goto err;
	}
	cap = (size_t)st.st_size + 1;
	p = xmalloc(cap);
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			cap *= 2;
			p = xrealloc(p, cap);
		}
		r = read(fd, p + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			goto err;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
err:
	free(p);
	close(fd);
	return ret;
}

void diag_copy(struct diag *dst, const struct diag *src)
{
	for (size_t i = 0; i < src->n; i++)
		diag_add(dst, "%s", src->msgs[i]);
}

/*
 * Read and decode f's text into j. Touches nothing but j, and reads only
 * f's path and what it last decoded, so it may run on any thread while
 * the caller waits.
 */
void mfile_fetch(const struct mfile *f, struct mjob *j)
{
	char *buf = NULL;

	j->rret = read_file(f->path, &buf, &j->len);
	if (j->rret)
		return;
	j->hash = fnv1a(FNV1A_INIT, buf, j->len);
	j->same = f->decoded && f->hash == j->hash && f->size == j->len;
	if (!j->same) {
		j->dret = manifest_decode_buffer(f->path, buf, j->len, NULL, &j->fresh, &j->msgs,
		                                 &j->rej);
		if (j->dret >= 0)
			okeys_fit(&j->keys, &j->fresh); /* here, on the worker thread */
	}
	free(buf);
}

/*
 * Re-read one file, keeping its last good objects (see the top). Returns
 * the number of problems, or -ENOENT when the file is gone (the caller
 * drops it). *changed is set when its objects changed. With report_same,
 * an unchanged text's problems are reported again. Uses the text fetched
 * ahead by fetch_all() when there is one.
 */
int mfile_reload(struct mfile *f, struct diag *d, bool report_same, bool *changed)
{
	struct mjob local = {0}, *j = f->job ? f->job : &local;
	int ret;

	if (!f->job)
		mfile_fetch(f, &local);
	f->job = NULL;
	if (j->rret == -ENOENT) {
		ret = -ENOENT;
		goto out;
	}
	if (j->rret) {
		diag_add(d, "%s: cannot read: %s (keeping its previous objects)", f->path,
		         strerror(-j->rret));
		f->decoded = false;
		ret = 1;
		goto out;
	}
	if (j->same) {
		if (report_same)
			diag_copy(d, &f->msgs);
		ret = f->problems;
		goto out;
	}

	ret = j->dret;
	if (ret < 0) {
		ret = 1; /* syntax error: the file's previous objects all stay */
	} else {
		if (lastgood_apply(&f->objs, &j->fresh, &j->rej))
			*changed = true;
		model_free(&f->objs);
		f->objs = j->fresh;
		memset(&j->fresh, 0, sizeof(j->fresh));
		okeys_fit(&j->keys, &f->objs); /* last good versions appended */
		if (f->keys.h != f->tkeys.h)
			free(f->keys.h);
		f->keys = j->keys;
		j->keys = (struct okeys){0};
		f->dirty = true;
	}
	diag_copy(d, &j->msgs);
	diag_clear(&f->msgs);
	f->msgs = j->msgs;
	memset(&j->msgs, 0, sizeof(j->msgs));
	f->problems = ret;
	f->hash = j->hash;
	f->size = j->len;
	f->decoded = true;
out:
	mjob_clear(j);
	if (j != &local)
		free(j);
	return ret;
}

void diag_move(struct diag *dst, struct diag *src)
{
	diag_copy(dst, src);
	diag_clear(src);
}
