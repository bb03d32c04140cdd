/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_watch.c - the manifest source's watch: which roots and names
 * changed, read again once things are quiet (manifest_impl.h).
 *
 * What the caller polls is an epoll fd over two:
 *
 *   inotify  every directory PATH, and the directory holding every PATH
 *            (so that a PATH renamed, swapped or re-created is seen, and a
 *            file PATH's writes: its name is filtered there)
 *   timerfd  when the changes seen are due (debounce), or a failed read's
 *            retry (backoff: 100 ms doubling to 10 s)
 *
 * Debounce: a change is read once no other came for debounce_ms (100 ms),
 * or at the latest MAX_DELAY_MS after the first: an editor's save (rename
 * the old file away, write the new one, or truncate then write) is read
 * once, whole, not as a missing or empty file in between.
 *
 * A PATH is watched by name, not by inode: on any event about its name in
 * its parent, or its directory (or that parent) moved or deleted, the
 * root is read again and its watches put back on what the name holds now
 * (`mv dir old && mv new dir`, a symlink swapped with `mv -T`, a parent
 * renamed). A PATH that cannot be watched (its parent is gone too) is
 * polled with the retry backoff until it can. A change to a hidden
 * "..name" in a watched directory (Kubernetes ConfigMap volumes swap a
 * "..data" symlink) rescans the whole directory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/mem.h"
#include "source/manifest_impl.h"

/* One mask for every watch: inotify keeps one per inode, the last one set. */
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF | IN_ONLYDIR)

/* more changed names than this in one directory: rescan it instead */
#define BULK_RESCAN 256

/* a steady stream of events delays reading by at most this */
#define MAX_DELAY_MS 1000

static void timer_arm(struct manifest_source *ms);

/* --- watches ---------------------------------------------------------------------- */

static bool wd_used(const struct manifest_source *ms, int wd)
{
	for (size_t i = 0; i < ms->n_roots; i++)
		if (ms->roots[i].wd == wd || ms->roots[i].pwd == wd)
			return true;
	return false;
}

/* Remove a watch no root uses any more (several roots may share one). */
static void wd_release(struct manifest_source *ms, int wd)
{
	if (wd >= 0 && !wd_used(ms, wd))
		inotify_rm_watch(ms->ifd, wd); /* EINVAL when the kernel dropped it: fine */
}

/*
 * Watch what r's PATH and its parent name now. What cannot be watched
 * (gone, for now) is polled: the root's retry is scheduled. Returns 0, or
 * -errno for an error that is not about the PATH (ENOSPC: out of watches).
 */
static int root_watch(struct manifest_source *ms, struct mroot *r)
{
	int owd = r->wd, opwd = r->pwd, err = 0;

	r->wd = r->pwd = -1;
	if (r->is_dir && !r->err && (r->wd = inotify_add_watch(ms->ifd, r->path, WATCH_MASK)) < 0)
		err = errno;
	if (r->pdir && (r->pwd = inotify_add_watch(ms->ifd, r->pdir, WATCH_MASK)) < 0 && !err)
		err = errno;
	wd_release(ms, owd);
	wd_release(ms, opwd);
	if (err && !r->backoff_ms) {
		r->backoff_ms = backoff_next(0);
		r->retry_at = now_ms() + r->backoff_ms;
	}
	return err == ENOENT || err == ENOTDIR || err == EACCES ? 0 : -err;
}

void watch_close(struct manifest_source *ms)
{
	for (size_t i = 0; i < ms->n_pend; i++)
		free(ms->pend[i].name);
	free(ms->pend);
	ms->pend = NULL;
	ms->n_pend = 0;
	if (ms->efd >= 0)
		close(ms->efd);
	if (ms->tfd >= 0)
		close(ms->tfd);
	if (ms->ifd >= 0)
		close(ms->ifd);
	ms->efd = ms->tfd = ms->ifd = -1;
	for (size_t i = 0; i < ms->n_roots; i++)
		ms->roots[i].wd = ms->roots[i].pwd = -1;
}

int manifest_source_watch(struct manifest_source *ms)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int ret = 0;

	if (ms->efd >= 0)
		return ms->efd;
	ms->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ms->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ms->efd = epoll_create1(EPOLL_CLOEXEC);
	if (ms->ifd < 0 || ms->tfd < 0 || ms->efd < 0)
		goto err;
	ev.data.fd = ms->ifd;
	if (epoll_ctl(ms->efd, EPOLL_CTL_ADD, ms->ifd, &ev))
		goto err;
	ev.data.fd = ms->tfd;
	if (epoll_ctl(ms->efd, EPOLL_CTL_ADD, ms->tfd, &ev))
		goto err;
	for (size_t i = 0; i < ms->n_roots && !ret; i++) {
		struct mroot *r = &ms->roots[i];

		if (!r->dir && root_probe(r))
			ret = -ENOENT;
		else
			ret = root_watch(ms, r);
	}
	if (ret)
		goto out;
	timer_arm(ms);
	return ms->efd;
err:
	ret = -errno;
out:
	watch_close(ms);
	return ret;
}

void manifest_source_set_debounce(struct manifest_source *ms, unsigned ms_quiet)
{
	ms->debounce_ms = ms_quiet;
}

/* --- what changed ------------------------------------------------------------------- */

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

/* Which roots an event concerns, and how: into v (*n entries). */
static void route_event(struct manifest_source *ms, const struct inotify_event *ev,
                        struct touched **v, size_t *n)
{
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];
		bool self = ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF);

		if (ev->mask & IN_Q_OVERFLOW) {
			touch(v, n, i, NULL);
			continue;
		}
		if (ev->wd == r->pwd) { /* the directory holding PATH: PATH's name only */
			if (ev->mask & IN_IGNORED)
				r->pwd = -1;
			/* ... and for a file PATH, a ConfigMap volume's "..data" swap too */
			if (self || (ev->len && (!strcmp(ev->name, r->pname) ||
			                         (!r->is_dir && !strncmp(ev->name, "..", 2)))))
				touch(v, n, i, NULL);
		} else if (ev->wd != r->wd) {
			continue;
		} else if (self) { /* the directory PATH moved or went: what is there now? */
			if (ev->mask & IN_IGNORED)
				r->wd = -1;
			touch(v, n, i, NULL);
		} else if (!ev->len) {
			continue;
		} else if (!strncmp(ev->name, "..", 2)) {
			touch(v, n, i, NULL); /* ConfigMap-style atomic swap */
		} else if (manifest_name(ev->name)) {
			touch(v, n, i, ev->name);
		}
	}
}

/* When the pending changes are due: quiet for debounce_ms, or waited long enough. */
static uint64_t pend_due(const struct manifest_source *ms)
{
	uint64_t quiet = ms->pend_last + ms->debounce_ms, latest = ms->pend_first + MAX_DELAY_MS;

	return quiet < latest ? quiet : latest;
}

/* The earliest retry due of a root or file, or UINT64_MAX. */
static uint64_t retry_due(const struct manifest_source *ms)
{
	uint64_t due = UINT64_MAX;

	for (size_t i = 0; i < ms->n_roots; i++) {
		const struct mroot *r = &ms->roots[i];

		if (r->backoff_ms && r->retry_at < due)
			due = r->retry_at;
		for (size_t j = 0; j < r->n_files; j++)
			if (r->files[j]->backoff_ms && r->files[j]->retry_at < due)
				due = r->files[j]->retry_at;
	}
	return due;
}

/* Set the timer for whatever is due first: the pending changes or a retry. */
static void timer_arm(struct manifest_source *ms)
{
	uint64_t due = retry_due(ms);
	struct itimerspec its = {0};

	if (ms->n_pend && pend_due(ms) < due)
		due = pend_due(ms);
	if (due != UINT64_MAX) {
		due = due ? due : 1; /* 0 would disarm it */
		its.it_value.tv_sec = (time_t)(due / 1000);
		its.it_value.tv_nsec = (long)(due % 1000) * 1000000;
	}
	timerfd_settime(ms->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Read every queued inotify event into the pending changes. 0 or -errno. */
static int events_drain(struct manifest_source *ms)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t before = ms->n_pend;
	uint64_t ticks;

	for (;;) {
		ssize_t len = read(ms->ifd, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0 && errno == EAGAIN)
			break;
		if (len < 0)
			return -errno;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			route_event(ms, ev, &ms->pend, &ms->n_pend);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (ms->n_pend > before) {
		ms->pend_last = now_ms();
		if (!before)
			ms->pend_first = ms->pend_last;
	}
	while (read(ms->tfd, &ticks, sizeof(ticks)) < 0 && errno == EINTR)
		;
	return 0;
}

/* Roots and files whose retry is due, into v. */
static void retries_due(struct manifest_source *ms, uint64_t now, struct touched **v, size_t *n)
{
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];

		if (r->backoff_ms && r->retry_at <= now) {
			touch(v, n, i, NULL);
			continue;
		}
		for (size_t j = 0; j < r->n_files; j++)
			if (r->files[j]->backoff_ms && r->files[j]->retry_at <= now)
				touch(v, n, i, r->is_dir ? r->files[j]->name : NULL);
	}
}

/* --- reading what changed ------------------------------------------------------------ */

/* What apply() does for one touched entry. */
enum act {
	ACT_NONE,   /* covered by another entry */
	ACT_RESCAN, /* read the whole root (and watch it again) */
	ACT_UNREAD, /* ... which could not be listed: its files stay */
	ACT_NAME,   /* read one file of the root */
};

/*
 * Sort v, and decide for each entry: each root and name once, a whole-root
 * rescan covering its names. Rescans list their directory now (messages
 * into pre[i]); every file to be read is added to ahead.
 */
static void plan(struct manifest_source *ms, struct touched *v, size_t n, enum act *act,
                 struct diag *pre, struct flist *ahead, bool *changed)
{
	qsort(v, n, sizeof(*v), touched_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		/* many names in one root (a bulk copy): one sorted merge beats inserts */
		for (j = i; j < n && v[j].root == v[i].root; j++)
			;
		if (j - i > BULK_RESCAN)
			v[i].name = (free(v[i].name), NULL);
	}
	for (size_t i = 0; i < n; i++) {
		struct mroot *r = &ms->roots[v[i].root];
		bool same_root = i && v[i].root == v[i - 1].root;
		size_t at;

		if (same_root && !v[i - 1].name) {
			v[i].name = (free(v[i].name), NULL); /* covered: propagate */
		} else if (same_root && !strcmp(v[i].name, v[i - 1].name)) {
			continue;
		} else if (!v[i].name) {
			act[i] = root_prepare(r, &pre[i], false, changed) ? ACT_UNREAD : ACT_RESCAN;
			for (size_t k = 0; act[i] == ACT_RESCAN && k < r->n_files; k++)
				flist_add(ahead, r->files[k]);
		} else {
			act[i] = ACT_NAME;
			flist_add(ahead, root_file(r, v[i].name, &at));
		}
	}
}

/*
 * Read what v names, in two passes, so that the files can be read ahead
 * in parallel in between: first what each entry will read, then the
 * reading, in order. Returns whether any objects changed; -errno when
 * the watch itself failed.
 */
static int apply(struct manifest_source *ms, struct touched *v, size_t n, struct diag *d)
{
	enum act *act = xcalloc(n + 1, sizeof(*act));
	struct diag *pre = xcalloc(n + 1, sizeof(*pre));
	struct flist ahead = {0};
	bool changed = false;
	int ret = 0;

	plan(ms, v, n, act, pre, &ahead, &changed);
	fetch_all(ms, ahead.v, ahead.n);
	for (size_t i = 0; i < n; i++) {
		struct mroot *r = &ms->roots[v[i].root];

		diag_move(d, &pre[i]); /* root_prepare()'s, which came first */
		if (act[i] == ACT_RESCAN)
			root_reload(r, d, false, &changed);
		if ((act[i] == ACT_RESCAN || act[i] == ACT_UNREAD) && !ret)
			ret = root_watch(ms, r);
		if (act[i] == ACT_NAME)
			root_refresh_name(r, v[i].name, d, &changed);
	}
	free(act);
	free(pre);
	free(ahead.v);
	return ret ? ret : changed;
}

int manifest_source_handle_events(struct manifest_source *ms, struct diag *d)
{
	struct touched *v = NULL;
	size_t n = 0;
	uint64_t now;
	int ret;

	if (ms->efd < 0)
		return -EBADF;
	ret = events_drain(ms);
	now = now_ms();
	if (!ret && ms->n_pend && pend_due(ms) <= now) {
		v = ms->pend, n = ms->n_pend;
		ms->pend = NULL, ms->n_pend = 0;
	}
	if (!ret)
		retries_due(ms, now, &v, &n);
	if (n)
		ret = apply(ms, v, n, d);
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	timer_arm(ms);
	return ret;
}
