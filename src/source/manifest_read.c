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
#include <time.h>
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
	f->root = r;
	f->name = xstrdup(name);
	f->opts = r->opts;
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
 * Read a whole regular file of at most max bytes into *buf (malloc'd,
 * NUL-terminated) and *len. Nothing else is ever opened, and nothing can
 * block: a FIFO, a device or a socket with a manifest's name is refused
 * after stat() without being opened (opening a FIFO for reading blocks
 * until a writer comes), and the open is O_NONBLOCK with an fstat() after
 * it, for whatever was renamed into place in between. The size is checked
 * before anything is allocated (a 40 GB sparse file is refused, not read).
 * O_NOFOLLOW is not used: Kubernetes ConfigMap volumes are symlinks.
 * On failure *err is the errno (MREAD_FAILED) and st the file's mode and
 * size (MREAD_NOT_REGULAR, MREAD_TOO_BIG).
 */
static enum mread read_file(const char *path, size_t max, struct rbuf *rb, char **buf, size_t *len,
                            struct stat *st, int *err)
{
	enum mread ret;
	size_t cap, n = 0;
	char *p = NULL;
	int fd;

	if (stat(path, st))
		goto fail;
	if (!S_ISREG(st->st_mode))
		return MREAD_NOT_REGULAR;
	if ((uint64_t)st->st_size > max)
		return MREAD_TOO_BIG;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		goto fail;
	ret = fstat(fd, st)                 ? MREAD_FAILED
	      : !S_ISREG(st->st_mode)       ? MREAD_NOT_REGULAR
	      : (uint64_t)st->st_size > max ? MREAD_TOO_BIG
	                                    : MREAD_OK;
	*err = errno;
	/* + 1 for the NUL, + 1 so that the read that finds EOF needs no growth */
	cap = (size_t)st->st_size + 2;
	if (ret == MREAD_OK && rb->cap < cap) { /* its old text is not needed: no realloc */
		free(rb->p);
		rb->p = xmalloc(cap);
		rb->cap = cap;
	}
	p = rb->p;
	cap = rb->cap;
	while (ret == MREAD_OK) { /* to the end: it may have grown since fstat() */
		ssize_t r;

		if (n + 1 == cap) {
			cap = cap > max / 2 ? max + 2 : cap * 2;
			p = rb->p = xrealloc(p, cap);
			rb->cap = cap;
		}
		r = read(fd, p + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ret = MREAD_FAILED, *err = errno;
		else if (r == 0)
			break;
		n += r > 0 ? (size_t)r : 0;
		if (n > max)
			ret = MREAD_TOO_BIG, st->st_size = (off_t)n;
	}
	close(fd);
	if (ret != MREAD_OK)
		return ret;
	p[n] = '\0';
	*buf = p;
	*len = n;
	return MREAD_OK;
fail:
	*err = errno;
	return *err == ENOENT || *err == ENOTDIR ? MREAD_GONE : MREAD_FAILED;
}

void diag_copy(struct diag *dst, const struct diag *src)
{
	diag_append(dst, src);
}

/*
 * Read and decode f's text into j, the text read into rb (kept for the
 * next file; NULL: a buffer of its own). Touches nothing but j and rb, and
 * reads only f's path and what it last decoded, so it may run on any
 * thread while the caller waits.
 */
void mfile_fetch(const struct mfile *f, struct mjob *j, struct rbuf *rb)
{
	struct rbuf own = {0};
	struct stat st = {0};
	char *buf = NULL;

	if (!rb)
		rb = &own;
	j->st = read_file(f->path, f->root->ms->max_size, rb, &buf, &j->len, &st, &j->err);
	j->mode = st.st_mode;
	j->size = (uint64_t)st.st_size;
	if (j->st != MREAD_OK) {
		rbuf_free(&own);
		return;
	}
	j->hash = fnv1a(FNV1A_INIT, buf, j->len);
	j->same = f->decoded && f->hash == j->hash && f->size == j->len;
	if (!j->same) {
		j->dret = manifest_decode_buffer(f->path, buf, j->len, f->opts, &j->fresh, &j->msgs,
		                                 &j->rej);
		if (j->dret >= 0)
			okeys_fit(&j->keys, &j->fresh); /* here, on the worker thread */
	}
	rbuf_free(&own);
}

void rbuf_free(struct rbuf *rb)
{
	free(rb->p);
	*rb = (struct rbuf){0};
}

/*
 * Re-read one file, keeping its last good objects (see the top). Returns
 * the number of problems, or -ENOENT when the file is gone (the caller
 * drops it). *changed is set when its objects changed. With report_same,
 * an unchanged text's problems are reported again. Uses the text fetched
 * ahead by fetch_all() when there is one.
 */
uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned backoff_next(unsigned cur_ms)
{
	return !cur_ms ? RETRY_FIRST_MS : cur_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : cur_ms * 2;
}

static const char *file_type(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	default:
		return "not a regular file";
	}
}

/* "1.5 GiB", "12 KiB", "100 bytes" */
static void human_size(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]))
		v /= 1024, u++;
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/*
 * A read that did not give a text: the file keeps its last good objects
 * (it is not "empty"), the problem is reported when it is new (not on
 * every retry) or report_same asks, and a failure is retried with backoff.
 */
static void mfile_unread(struct mfile *f, const struct mjob *j, struct diag *d, bool report_same)
{
	const char *keep = model_empty(&f->objs) ? "" : " (keeping its previous objects)";
	bool again = f->rstate == j->st && (j->st != MREAD_FAILED || f->rerr == j->err);
	char size[32], max[32];

	if (j->st == MREAD_FAILED) {
		f->backoff_ms = !f->backoff_ms                     ? RETRY_FIRST_MS
		                : f->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
		                                                   : f->backoff_ms * 2;
		f->retry_at = now_ms() + f->backoff_ms;
	} else {
		f->backoff_ms = 0;
	}
	f->rstate = j->st;
	f->rerr = j->err;
	f->decoded = false;
	if (again && !report_same)
		return;
	switch (j->st) {
	case MREAD_NOT_REGULAR:
		diag_add(d, "%s: %s, not a regular file: skipped%s", f->path, file_type(j->mode),
		         keep);
		break;
	case MREAD_TOO_BIG:
		human_size(size, sizeof(size), j->size);
		human_size(max, sizeof(max), f->root->ms->max_size);
		diag_add(d, "%s: %s is over the limit of %s per manifest file: not read%s", f->path,
		         size, max, keep);
		break;
	default:
		diag_add(d, "%s: cannot read: %s%s; retrying", f->path, strerror(j->err), keep);
		break;
	}
}

/* A text read and decoded: it replaces the file's objects, last good kept. */
static int mfile_take(struct mfile *f, struct mjob *j, struct diag *d, bool *changed)
{
	int ret = j->dret;

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
	return ret;
}

int mfile_reload(struct mfile *f, struct diag *d, bool report_same, bool *changed)
{
	struct mjob local = {0}, *j = f->job ? f->job : &local;
	int ret;

	if (!f->job)
		mfile_fetch(f, &local, NULL);
	f->job = NULL;
	if (j->st == MREAD_GONE) {
		ret = -ENOENT;
	} else if (j->st != MREAD_OK) {
		mfile_unread(f, j, d, report_same);
		ret = 1;
	} else {
		f->rstate = MREAD_OK;
		f->backoff_ms = 0;
		f->gone_since = 0;
		if (!j->same) {
			ret = mfile_take(f, j, d, changed);
		} else {
			if (report_same)
				diag_copy(d, &f->msgs);
			ret = f->problems;
		}
	}
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
