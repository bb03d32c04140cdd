/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.c - the manifest-file source: its roots (one per --manifests
 * PATH), loading them, the model view, and the struct source around it.
 * The parts are listed in manifest_impl.h.
 *
 * Last good, per file:
 *   syntax error / unreadable  -> all previous objects of the file stay
 *   one object invalid         -> its previous version from the file stays
 *   object gone from the file  -> gone;  file deleted -> its objects gone
 *
 * Out of memory is fatal (x*alloc), as everywhere in the daemon.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "source/lastgood.h"
#include "source/manifest_impl.h"

/* --- roots ---------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* index of the first file whose name is >= name */
static size_t file_lower_bound(const struct mroot *r, const char *name)
{
	size_t lo = 0, hi = r->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(r->files[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A file found gone: whether to drop it (and its objects) now. While the
 * source is watched, a file that had objects is dropped only once it has
 * been gone for GONE_GRACE debounce periods (it is looked at again then):
 * a name that vanished for a moment (an editor's save, a slow `mv` then
 * write) is not "no objects". An explicit load drops it at once.
 */
static bool file_gone(struct mfile *f)
{
	const struct manifest_source *ms = f->root->ms;
	uint64_t now = now_ms(), grace = (uint64_t)ms->debounce_ms * GONE_GRACE;

	if (ms->efd < 0 || model_empty(&f->objs))
		return true;
	if (!f->gone_since)
		f->gone_since = now;
	if (now - f->gone_since >= grace)
		return true;
	f->backoff_ms = (unsigned)grace; /* look again when it is up */
	f->retry_at = f->gone_since + grace;
	return false;
}

static void root_remove_at(struct mroot *r, size_t i, bool *changed)
{
	if (!model_empty(&r->files[i]->objs))
		*changed = true;
	mfile_free(r->files[i]);
	memmove(&r->files[i], &r->files[i + 1], (r->n_files - i - 1) * sizeof(*r->files));
	r->n_files--;
}

static void root_clear(struct mroot *r, bool *changed)
{
	while (r->n_files)
		root_remove_at(r, r->n_files - 1, changed);
}

struct mfile *root_file(struct mroot *r, const char *name, size_t *at)
{
	size_t i = file_lower_bound(r, name);

	if (i == r->n_files || strcmp(r->files[i]->name, name)) {
		struct mfile *f = mfile_new(r, name);

		r->files = xrealloc(r->files, (r->n_files + 1) * sizeof(*r->files));
		memmove(&r->files[i + 1], &r->files[i], (r->n_files - i) * sizeof(*r->files));
		r->files[i] = f;
		r->n_files++;
	}
	*at = i;
	return r->files[i];
}

int root_refresh_name(struct mroot *r, const char *name, struct diag *d, bool *changed)
{
	size_t i;
	int ret;

	ret = mfile_reload(root_file(r, name, &i), d, false, changed);
	if (ret == -ENOENT) {
		if (file_gone(r->files[i]))
			root_remove_at(r, i, changed);
		ret = 0;
	}
	return ret;
}

int root_probe(struct mroot *r)
{
	struct stat st;
	char *slash;

	if (stat(r->path, &st))
		return -errno;
	if (r->dir && r->is_dir == !!S_ISDIR(st.st_mode))
		return 0;
	free(r->dir);
	free(r->base);
	r->is_dir = S_ISDIR(st.st_mode);
	if (r->is_dir) {
		r->dir = xstrdup(r->path);
		r->base = NULL;
		return 0;
	}
	slash = strrchr(r->path, '/');
	if (!slash) {
		r->dir = xstrdup(".");
		r->base = xstrdup(r->path);
	} else {
		r->dir =
		    slash == r->path ? xstrdup("/") : strndup(r->path, (size_t)(slash - r->path));
		if (!r->dir)
			die_oom();
		r->base = xstrdup(slash + 1);
	}
	return 0;
}

/*
 * A root that cannot be read now (err: ENOENT, EMFILE, EACCES...): its
 * files are kept as they are (a PATH renamed away for a moment, or a
 * directory swapped, is not "no objects"), the problem is reported when
 * it is new or report_same asks, and the root is read again with backoff.
 * Returns 1 (one problem).
 */
static int root_trouble(struct mroot *r, int err, const char *what, struct diag *d,
                        bool report_same)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_files; i++)
		n += r->files[i]->objs.n_services + r->files[i]->objs.n_slices +
		     r->files[i]->objs.n_nodes;
	r->backoff_ms = backoff_next(r->backoff_ms);
	r->retry_at = now_ms() + r->backoff_ms;
	if (r->err == err && !report_same)
		return 1;
	r->err = err;
	if (n)
		diag_add(d, "%s: %s%s (keeping its %zu objects until it can be read; retrying)",
		         r->path, what, err == ENOENT ? "no such file or directory" : strerror(err),
		         n);
	else
		diag_add(d, "%s: %s%s", r->path, what,
		         err == ENOENT ? "no such file or directory" : strerror(err));
	return 1;
}

/*
 * List a directory root: new files are added (not read yet), vanished ones
 * dropped. Returns 0, or 1 when the directory cannot be read (its files
 * are kept as they are).
 */
static int root_list_dir(struct mroot *r, struct diag *d, bool report_same, bool *changed)
{
	struct mfile **files = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0, nf = 0, i = 0, j = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(r->path);
	if (!dir)
		return root_trouble(r, errno, "cannot read directory: ", d, report_same);
	while ((de = readdir(dir))) {
		if (!manifest_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);

	/* merge the sorted old list with the sorted new one */
	files = xcalloc(n + r->n_files + 1, sizeof(*files)); /* gone ones may stay */
	while (i < r->n_files || j < n) {
		int c = i == r->n_files ? 1 : j == n ? -1 : strcmp(r->files[i]->name, names[j]);

		if (c < 0 && !file_gone(r->files[i])) { /* gone, for now */
			files[nf++] = r->files[i++];
			continue;
		}
		if (c < 0) { /* gone */
			if (!model_empty(&r->files[i]->objs))
				*changed = true;
			mfile_free(r->files[i++]);
			continue;
		}
		if (c == 0) {
			files[nf++] = r->files[i++];
			j++;
		} else {
			files[nf++] = mfile_new(r, names[j++]);
		}
	}
	free(r->files);
	r->files = files;
	r->n_files = nf;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return 0;
}

int root_prepare(struct mroot *r, struct diag *d, bool report_same, bool *changed)
{
	bool was_dir = r->is_dir, had = r->dir != NULL;
	int ret;

	ret = root_probe(r);
	if (ret) {
		root_trouble(r, -ret, "", d, report_same);
		return ret;
	}
	if (had && was_dir != r->is_dir)
		root_clear(r, changed);
	if (r->is_dir && root_list_dir(r, d, report_same, changed))
		return 1;
	if (!r->is_dir && !r->n_files) {
		r->files = xcalloc(1, sizeof(*r->files));
		r->files[0] = mfile_new(r, r->base);
		r->n_files = 1;
	}
	r->err = 0;
	r->backoff_ms = 0;
	return 0;
}

int root_reload(struct mroot *r, struct diag *d, bool report_same, bool *changed)
{
	size_t nf = 0;
	int problems = 0, ret;

	if (!r->is_dir) {
		ret = mfile_reload(r->files[0], d, report_same, changed);
		if (ret == -ENOENT) /* gone since root_probe() */
			return root_trouble(r, ENOENT, "", d, report_same);
		return ret;
	}
	for (size_t i = 0; i < r->n_files; i++) {
		struct mfile *f = r->files[i];

		ret = mfile_reload(f, d, report_same, changed);
		if (ret == -ENOENT && !file_gone(f)) { /* vanished, for now */
			r->files[nf++] = f;
			continue;
		}
		if (ret == -ENOENT) { /* vanished since readdir */
			if (!model_empty(&f->objs))
				*changed = true;
			mfile_free(f);
			continue;
		}
		problems += ret;
		r->files[nf++] = f;
	}
	r->n_files = nf;
	return problems;
}

/*
 * The directory that holds path and path's name in it, from the string
 * alone ("a/b/" -> "a", "b"; "b" -> ".", "b"; "/" -> NULL, "/").
 */
static void path_split(const char *path, char **dir, char **name)
{
	size_t len = strlen(path), end;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (end = len; end > 0 && path[end - 1] != '/'; end--)
		;
	*name = strndup(path + end, len - end);
	if (end == 0)
		*dir = xstrdup(".");
	else if (end == len) /* "/" */
		*dir = NULL;
	else
		*dir = strndup(path, end > 1 ? end - 1 : 1);
	if (!*name || (end && end != len && !*dir))
		die_oom();
}

/* --- the source ------------------------------------------------------------------ */

struct manifest_source *manifest_source_new(const char *const *paths, size_t n_paths)
{
	struct manifest_source *ms = xcalloc(1, sizeof(*ms));

	ms->ifd = ms->tfd = ms->efd = -1;
	ms->debounce_ms = MANIFEST_DEBOUNCE_MS;
	ms->max_size = MANIFEST_MAX_FILE_SIZE;
	ms->roots = xcalloc(n_paths, sizeof(*ms->roots));
	for (size_t i = 0; i < n_paths; i++) {
		struct mroot *r = &ms->roots[i];

		r->ms = ms;
		r->wd = r->pwd = -1;
		r->opts = &ms->opts;
		r->path = xstrdup(paths[i]);
		path_split(r->path, &r->pdir, &r->pname);
		ms->n_roots++;
	}
	return ms;
}

void manifest_source_free(struct manifest_source *ms)
{
	if (!ms)
		return;
	watch_close(ms);
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];

		for (size_t j = 0; j < r->n_files; j++)
			mfile_free(r->files[j]);
		free(r->files);
		free(r->path);
		free(r->dir);
		free(r->base);
		free(r->pdir);
		free(r->pname);
	}
	free(ms->roots);
	claims_free(&ms->claims);
	free(ms);
}

void manifest_source_set_workers(struct manifest_source *ms, unsigned n)
{
	ms->workers = n;
}

void manifest_source_set_max_file_size(struct manifest_source *ms, size_t bytes)
{
	ms->max_size = bytes < SIZE_MAX / 2 ? bytes : SIZE_MAX / 2;
}

/*
 * Every root is prepared (its messages kept aside), then all their files
 * are read ahead in parallel, then each root's messages and files are
 * taken in order: the same result as root_load() root by root.
 */
int manifest_source_load(struct manifest_source *ms, struct diag *d)
{
	struct diag *pre = xcalloc(ms->n_roots + 1, sizeof(*pre));
	int *st = xcalloc(ms->n_roots + 1, sizeof(*st));
	int problems = 0, missing = 0;
	struct flist ahead = {0};
	bool changed = false;

	for (size_t i = 0; i < ms->n_roots; i++) {
		st[i] = root_prepare(&ms->roots[i], &pre[i], true, &changed);
		for (size_t j = 0; !st[i] && j < ms->roots[i].n_files; j++)
			flist_add(&ahead, ms->roots[i].files[j]);
	}
	fetch_all(ms, ahead.v, ahead.n);
	for (size_t i = 0; i < ms->n_roots; i++) {
		int ret;

		diag_move(d, &pre[i]); /* root_prepare()'s, which came first */
		ret = st[i] ? st[i] : root_reload(&ms->roots[i], d, true, &changed);
		if (ret < 0)
			missing = ret;
		else
			problems += ret;
	}
	free(ahead.v);
	free(st);
	free(pre);
	return missing ? missing : problems;
}

int manifest_source_model(struct manifest_source *ms, struct model *m, struct diag *d)
{
	struct mfile **files;
	size_t n = 0;

	for (size_t i = 0; i < ms->n_roots; i++)
		n += ms->roots[i].n_files;
	files = xcalloc(n + 1, sizeof(*files));
	n = 0;
	for (size_t i = 0; i < ms->n_roots; i++)
		for (size_t j = 0; j < ms->roots[i].n_files; j++)
			files[n++] = ms->roots[i].files[j];
	claims_view(&ms->claims, files, n, m, d);
	free(files);
	return 0;
}

/* ---- the manifest files as a struct source (source.h) ---- */

struct manifest_adapter {
	struct source base;
	struct manifest_source *ms;
	bool started;
};

static struct manifest_adapter *adapter_of(struct source *s)
{
	return (struct manifest_adapter *)s;
}

static int adapter_start(struct source *s, struct diag *d)
{
	int ret = manifest_source_load(adapter_of(s)->ms, d);

	if (ret < 0)
		return ret;
	adapter_of(s)->started = true;
	return 0;
}

/* inotify, set up on first use: `sync` never needs it */
static int adapter_fd(struct source *s)
{
	return manifest_source_watch(adapter_of(s)->ms);
}

static int adapter_handle(struct source *s, struct diag *d)
{
	return manifest_source_handle_events(adapter_of(s)->ms, d);
}

/* Files are read whole at start: the initial state is complete at once. */
static bool adapter_ready(struct source *s)
{
	return adapter_of(s)->started;
}

/* SIGHUP: every path read again, as at start. */
static int adapter_reload(struct source *s, struct diag *d)
{
	int ret = manifest_source_load(adapter_of(s)->ms, d);

	return ret < 0 ? ret : 1;
}

static int adapter_model(struct source *s, struct model *m, struct diag *d)
{
	return manifest_source_model(adapter_of(s)->ms, m, d);
}

static void adapter_free(struct source *s)
{
	manifest_source_free(adapter_of(s)->ms);
	free(s);
}

static const struct source_ops manifest_ops = {
    .name = "manifests",
    .start = adapter_start,
    .fd = adapter_fd,
    .handle = adapter_handle,
    .ready = adapter_ready,
    .reload = adapter_reload,
    .model = adapter_model,
    .free = adapter_free,
};

void manifest_source_set_decode_opts(struct manifest_source *ms, const struct decode_opts *o)
{
	ms->opts = o ? *o : (struct decode_opts){0};
}

struct source *manifest_source_open(const char *const *paths, size_t n_paths,
                                    const struct decode_opts *opts)
{
	struct manifest_adapter *a = xcalloc(1, sizeof(*a));

	a->base.ops = &manifest_ops;
	a->base.impl = a;
	a->ms = manifest_source_new(paths, n_paths);
	manifest_source_set_decode_opts(a->ms, opts);
	return &a->base;
}
