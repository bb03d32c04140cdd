/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_watch.c - the manifest source's inotify watch: which roots and
 * names changed, then those read again (manifest_impl.h).
 *
 * inotify watches directories (for a file PATH its parent, filtered by
 * name), so rename-into-place by editors and new files are seen. A change
 * to a hidden "..name" in a watched directory (Kubernetes ConfigMap volumes
 * swap a "..data" symlink) rescans the whole directory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/mem.h"
#include "source/manifest_impl.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF)

/* more changed names than this in one directory: rescan it instead */
#define BULK_RESCAN 256

int manifest_source_watch(struct manifest_source *ms)
{
	int ret;

	if (ms->ifd >= 0)
		return ms->ifd;
	ms->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ms->ifd < 0)
		return -errno;
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];

		if (!r->dir && root_probe(r, NULL)) {
			ret = -ENOENT;
			goto err;
		}
		r->wd = inotify_add_watch(ms->ifd, r->dir, WATCH_MASK);
		if (r->wd < 0) {
			ret = -errno;
			goto err;
		}
	}
	return ms->ifd;
err:
	for (size_t i = 0; i < ms->n_roots; i++)
		ms->roots[i].wd = -1;
	close(ms->ifd);
	ms->ifd = -1;
	return ret;
}

/* A name a root cares about, or needs a rescan for. */
struct touched {
	size_t root;
	char *name; /* NULL: rescan the whole root */
};

static int touched_cmp(const void *a, const void *b)
{
	const struct touched *x = a, *y = b;

	if (x->root != y->root)
		return x->root < y->root ? -1 : 1;
	if (!x->name || !y->name) /* the whole-root entry sorts first */
		return (y->name == NULL) - (x->name == NULL);
	return strcmp(x->name, y->name);
}

static void touch(struct touched **v, size_t *n, size_t root, const char *name)
{
	if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0))
		*v = xrealloc(*v, (*n ? *n * 2 : 8) * sizeof(**v));
	(*v)[*n].root = root;
	(*v)[*n].name = name ? xstrdup(name) : NULL;
	(*n)++;
}

/* Which roots an event concerns, and how. */
static void route_event(struct manifest_source *ms, const struct inotify_event *ev,
                        struct touched **v, size_t *n)
{
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];

		if (ev->mask & IN_Q_OVERFLOW) {
			touch(v, n, i, NULL);
			continue;
		}
		if (r->wd != ev->wd)
			continue;
		if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
			/* the directory itself went away: re-probe (and lose the files) */
			if (ev->mask & IN_IGNORED)
				r->wd = -1;
			touch(v, n, i, NULL);
		} else if (!ev->len) {
			continue;
		} else if (!r->is_dir) {
			if (!strcmp(ev->name, r->base))
				touch(v, n, i, ev->name);
		} else if (!strncmp(ev->name, "..", 2)) {
			touch(v, n, i, NULL); /* ConfigMap-style atomic swap */
		} else if (manifest_name(ev->name)) {
			touch(v, n, i, ev->name);
		}
	}
}

/* What handle_events does for one touched entry. */
enum act {
	ACT_NONE,           /* covered by another entry */
	ACT_RESCAN,         /* read the whole root */
	ACT_RESCAN_UNREAD,  /* ... whose directory could not be listed */
	ACT_RESCAN_MISSING, /* ... which is gone */
	ACT_NAME,           /* read one file of the root */
};

int manifest_source_handle_events(struct manifest_source *ms, struct diag *d)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct touched *v = NULL;
	struct flist ahead = {0};
	struct diag *pre = NULL;
	enum act *act = NULL;
	bool changed = false;
	size_t n = 0;
	int ret = 0, st;

	if (ms->ifd < 0)
		return -EBADF;
	for (;;) {
		ssize_t len = read(ms->ifd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			break;
		if (len < 0) {
			ret = -errno;
			goto out;
		}
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			route_event(ms, ev, &v, &n);
			p += sizeof(*ev) + ev->len;
		}
	}

	/* each root and name once; a whole-root rescan covers its names */
	if (n)
		qsort(v, n, sizeof(*v), touched_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		/* many names in one root (a bulk copy): one sorted merge beats inserts */
		for (j = i; j < n && v[j].root == v[i].root; j++)
			;
		if (j - i > BULK_RESCAN)
			v[i].name = (free(v[i].name), NULL);
	}
	/*
	 * In two passes, so that the files can be read ahead in parallel in
	 * between: first what each entry will read (rescans list their
	 * directory, messages kept aside), then the reading, in order.
	 */
	act = xcalloc(n + 1, sizeof(*act));
	pre = xcalloc(n + 1, sizeof(*pre));
	for (size_t i = 0; i < n; i++) {
		struct mroot *r = &ms->roots[v[i].root];
		bool rescanned = i && v[i].root == v[i - 1].root && !v[i - 1].name;
		size_t at;

		if (rescanned) {
			v[i].name = (free(v[i].name), NULL); /* covered: propagate */
		} else if (i && v[i].root == v[i - 1].root && !strcmp(v[i].name, v[i - 1].name)) {
			continue;
		} else if (!v[i].name) {
			act[i] = ACT_RESCAN;
			st = root_prepare(r, &pre[i], &changed);
			if (st)
				act[i] = st < 0 ? ACT_RESCAN_MISSING : ACT_RESCAN_UNREAD;
			for (size_t j = 0; !st && j < r->n_files; j++)
				flist_add(&ahead, r->files[j]);
		} else {
			act[i] = ACT_NAME;
			flist_add(&ahead, root_file(r, v[i].name, &at));
		}
	}
	fetch_all(ms, ahead.v, ahead.n);
	for (size_t i = 0; i < n; i++) {
		struct mroot *r = &ms->roots[v[i].root];

		diag_move(d, &pre[i]); /* root_prepare()'s, which came first */
		switch (act[i]) {
		case ACT_NONE:
		case ACT_RESCAN_MISSING:
			break;
		case ACT_RESCAN:
			root_reload(r, d, false, &changed);
			/* fall through */
		case ACT_RESCAN_UNREAD:
			if (r->wd < 0)
				r->wd = inotify_add_watch(ms->ifd, r->dir, WATCH_MASK);
			break;
		case ACT_NAME:
			root_refresh_name(r, v[i].name, d, &changed);
			break;
		}
	}
	ret = changed ? 1 : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	free(act);
	free(pre);
	free(ahead.v);
	return ret;
}
