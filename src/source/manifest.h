/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.h - the manifest-file source: --manifests PATH (repeatable).
 *
 * A PATH is a file, or a directory whose *.yaml, *.yml and *.json files
 * (not hidden, not recursive, sorted by name) are read. Only regular files
 * (or symlinks to them) are read: anything else with such a name (a FIFO,
 * a directory, a device) is reported and skipped, never opened, and so is
 * a file over the size limit; either keeps the objects it had. The source keeps
 * the last good objects of every file: when a file turns invalid, the
 * objects that were good before stay (and the problem is logged); when an
 * object inside a valid file turns invalid, its previous version stays.
 * Changes are picked up with inotify (directories are watched, so editors'
 * rename-into-place and new files are seen), debounced. A PATH renamed
 * away, swapped or unreadable for a while keeps its objects until it can
 * be read again; so does a file that cannot be read (retried).
 */
#ifndef SVCPROXY_MANIFEST_H
#define SVCPROXY_MANIFEST_H

#include <stddef.h>

#include "model/model.h"
#include "source/decode.h"
#include "source/diag.h"
#include "source/source.h"

struct manifest_source;

/* Paths are copied. Cannot fail. */
struct manifest_source *manifest_source_new(const char *const *paths, size_t n_paths);
void manifest_source_free(struct manifest_source *ms);

/*
 * How many threads may read and decode files at once (the files are then
 * taken in order, so the result is the same). 0, the default: one per CPU;
 * 1: none but the caller's.
 */
void manifest_source_set_workers(struct manifest_source *ms, unsigned n);

/*
 * Files larger than this are refused (named in the problems, with the
 * limit), their last good objects kept; nothing of them is read. The
 * kube-apiserver's own request limit is 3 MiB per object; a file holds
 * many objects.
 */
#define MANIFEST_MAX_FILE_SIZE ((size_t)64 << 20)
void manifest_source_set_max_file_size(struct manifest_source *ms, size_t bytes);

/*
 * What the cluster allows (decode.h): node port range, externalIP
 * allow-list. Copied, but the CIDR array it points to must outlive ms.
 * NULL, the default: the API server's defaults. Applies from the next read.
 */
void manifest_source_set_decode_opts(struct manifest_source *ms, const struct decode_opts *o);

/*
 * (Re)read every path. Problems go to d (one message each).
 * Returns the number of problems found (0 = all good), or -ENOENT when a
 * given PATH does not exist (named in d).
 */
int manifest_source_load(struct manifest_source *ms, struct diag *d);

/*
 * Start watching (inotify on every directory PATH and on the directory
 * holding every PATH, plus a timer). Returns one file descriptor to poll
 * for reading (an epoll fd), or -errno.
 */
int manifest_source_watch(struct manifest_source *ms);

/*
 * Changes are read once no other came for this long (or at the latest a
 * second after the first), so that an editor's save is read once, whole:
 * not as a missing or empty file in between. 0 reads at once.
 */
#define MANIFEST_DEBOUNCE_MS 100
void manifest_source_set_debounce(struct manifest_source *ms, unsigned ms_quiet);

/*
 * Call when the watch fd is readable (a spurious call is harmless).
 * Re-reads what changed once it is due, and retries failed reads (100 ms
 * doubling to 10 s). Returns 1 when the set of objects changed, 0 when
 * not (or not yet: changes wait for quiet), -errno on error. Problems go
 * to d, each once per change of state, not once per retry.
 */
int manifest_source_handle_events(struct manifest_source *ms, struct diag *d);

/*
 * The current objects of all files, as a view in *m (empty, or a view of
 * an earlier call: its arrays are reused): the arrays belong to the
 * caller (free them with model_free_view()), the objects to the source;
 * valid until the next load or handle_events. When two files define the
 * same kind/namespace/name, the first file (in PATH order, then name order)
 * wins and the duplicate is reported in d. The duplicate table is kept
 * from call to call: when only some files changed (and no identity they
 * hold is defined twice), a call costs those files plus a pointer copy
 * per object, not a lookup of every object.
 */
int manifest_source_model(struct manifest_source *ms, struct model *m, struct diag *d);

/*
 * The manifest files as a struct source (source.h): start() is
 * manifest_source_load() (-ENOENT when a PATH does not exist; problems in
 * the files go to d and do not fail it), ready as soon as started, fd() the
 * inotify watch. opts as manifest_source_set_decode_opts(). Aborts on out
 * of memory.
 */
struct source *manifest_source_open(const char *const *paths, size_t n_paths,
                                    const struct decode_opts *opts);

#endif
