/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_impl.h - the manifest source's insides, shared by its files:
 *
 *   manifest.c            the source: roots, load, view, struct source
 *   manifest_read.c       one file: read it safely, decode, keep last good
 *   manifest_readahead.c  read and decode many files on worker threads
 *   manifest_watch.c      inotify: which roots and names changed
 *   claims.c              the view's duplicate table
 *   lastgood.c, objkey.c  last good retention, object identities
 *
 *   manifest_source
 *     roots[]          one per --manifests PATH, in command-line order
 *       files[]        sorted by name (one entry for a file PATH)
 *         objs         the file's last good objects (a struct model)
 *         hash, size   of the text last decoded, to skip unchanged rewrites
 *         msgs         the problems that text had, repeated on a full load
 *         keys         identity hashes of objs, computed where it was decoded
 *     claims           kind/ns/name -> first object (the view's duplicates)
 *
 * Not for use outside these files: manifest.h is the interface.
 */
#ifndef SVCPROXY_MANIFEST_IMPL_H
#define SVCPROXY_MANIFEST_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "source/claims.h"
#include "source/decode.h"
#include "source/diag.h"
#include "source/manifest.h"
#include "source/objkey.h"

/*
 * One file's text read and decoded (mfile_fetch), possibly on a worker
 * thread: everything mfile_reload() needs, so that the part that depends
 * on order (last good, messages, duplicates) stays on the calling thread.
 */
/* How reading a file went. */
enum mread {
	MREAD_OK,
	MREAD_GONE,        /* no such file (any more) */
	MREAD_NOT_REGULAR, /* a FIFO, directory, device, socket: never opened */
	MREAD_TOO_BIG,     /* over the source's max_size: not read */
	MREAD_FAILED,      /* an error (EMFILE, EIO, EACCES, ...): retried */
};

struct mjob {
	enum mread st;
	int err;       /* errno, for MREAD_FAILED */
	unsigned mode; /* st_mode, for MREAD_NOT_REGULAR */
	uint64_t size; /* for MREAD_TOO_BIG */
	size_t len;
	uint64_t hash;
	bool same; /* the text last decoded: not decoded again */
	int dret;  /* manifest_decode_buffer(), when decoded */
	struct model fresh;
	struct okeys keys; /* of fresh, when decoded */
	struct diag msgs;
	struct decode_rejects rej;
};

struct mfile {
	const struct mroot *root;
	char *path;   /* origin of its objects, as named in messages */
	char *name;   /* name in its directory: the sort key */
	bool decoded; /* hash/size/msgs describe a text read before */
	uint64_t hash;
	size_t size;
	int problems;      /* found in that text */
	struct diag msgs;  /* ... and their messages */
	struct model objs; /* last good objects, owned */
	struct mjob *job;  /* its text read and decoded ahead (fetch_all), or NULL */
	/* the last read, to report a failure once, not on every retry */
	enum mread rstate;
	int rerr;
	unsigned backoff_ms; /* after MREAD_FAILED: the next retry's delay; 0: none due */
	uint64_t retry_at;   /* ... due then (CLOCK_MONOTONIC ms) */
	uint64_t gone_since; /* found missing then (kept for a grace time); 0: not */
	const struct decode_opts *opts; /* its root's */
	/* for the view (claims.c) */
	uint64_t id;        /* unique among all mfiles ever made: never reused */
	struct okeys keys;  /* of objs */
	struct okeys tkeys; /* of the objs the claim table last saw (may share keys.h) */
	bool dirty;         /* objs replaced since then */
	uint8_t *hidden;    /* per key: a duplicate, left out of the view; NULL: none */
	struct diag dups;   /* the duplicate messages of its objects, in order */
};

struct mroot {
	const struct manifest_source *ms;
	char *path;  /* as given */
	bool is_dir; /* as found by the last probe */
	char *dir;   /* watched directory: path itself, or a file's parent */
	char *base;  /* for a file PATH: its name in dir */
	char *pdir;  /* the directory holding path (NULL for "/") ... */
	char *pname; /* ... and path's name in it */
	int wd;      /* inotify watch of a directory PATH, or -1 */
	int pwd;     /* ... of pdir (renames of PATH, a file PATH's writes), or -1 */
	struct mfile **files;
	size_t n_files;
	const struct decode_opts *opts; /* the source's */
	/* when it cannot be read (missing, unlistable): reported once, retried */
	int err;             /* its errno; 0: fine */
	unsigned backoff_ms; /* the next retry's delay; 0: none due */
	uint64_t retry_at;   /* ... due then (CLOCK_MONOTONIC ms) */
};

/* A root to read again (name NULL: all of it, and its watches renewed), or one name in it. */
struct touched {
	size_t root;
	char *name;
};

struct manifest_source {
	struct mroot *roots;
	size_t n_roots;
	int ifd; /* inotify, or -1 */
	int tfd; /* timerfd: debounce and retries, or -1 */
	int efd; /* epoll over ifd and tfd: the fd the caller polls, or -1 */
	unsigned debounce_ms;
	struct touched *pend; /* changes seen, waiting for quiet */
	size_t n_pend;
	uint64_t pend_first, pend_last; /* when the first and last of them came */
	unsigned workers;               /* threads for reading files; 0: one per CPU */
	size_t max_size;                /* bytes per file */
	struct decode_opts opts;
	struct claims claims;
};

/* --- manifest_read.c: one file ---------------------------------------------------- */

bool manifest_name(const char *name); /* *.yaml, *.yml, *.json, not hidden */
struct mfile *mfile_new(const struct mroot *r, const char *name);
void mfile_free(struct mfile *f); /* accepts NULL */

/*
 * A read buffer that a worker keeps from one file to the next: files read
 * into a fresh buffer each left a hole in the heap among the objects
 * decoded meanwhile (5 MB more peak RSS at 10k Services x 10 endpoints),
 * or, mapped, cost their pages' faults again.
 */
struct rbuf {
	char *p;
	size_t cap;
};

void rbuf_free(struct rbuf *rb);

/*
 * Read and decode f's text into j, the text read into rb (kept for the
 * next file; NULL: a buffer of its own). Touches nothing but j and rb, and
 * reads only f's path and what it last decoded, so it may run on any
 * thread while the caller waits.
 */
void mfile_fetch(const struct mfile *f, struct mjob *j, struct rbuf *rb);
void mjob_clear(struct mjob *j);

/*
 * Re-read one file, keeping its last good objects (lastgood.h). Returns
 * the number of problems, or -ENOENT when the file is gone (the caller
 * drops it). *changed is set when its objects changed. With report_same,
 * an unchanged text's problems are reported again. Uses the text fetched
 * ahead by fetch_all() when there is one.
 */
int mfile_reload(struct mfile *f, struct diag *d, bool report_same, bool *changed);

/* A watched file that vanished keeps its objects for this many debounce periods. */
#define GONE_GRACE 5

/* Failed reads are retried after 100 ms, doubling up to 10 s. */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS   10000

uint64_t now_ms(void);                  /* CLOCK_MONOTONIC */
unsigned backoff_next(unsigned cur_ms); /* 0 -> RETRY_FIRST_MS, then doubling to RETRY_MAX_MS */

void diag_copy(struct diag *dst, const struct diag *src);
void diag_move(struct diag *dst, struct diag *src); /* src's messages to dst's end */

/* --- manifest_readahead.c -------------------------------------------------------------- */

/* A growing list of files to read ahead. */
struct flist {
	struct mfile **v;
	size_t n, cap;
};

void flist_add(struct flist *l, struct mfile *f);

/*
 * Read and decode files[0..n) ahead, on min(CPUs, n) threads (this one
 * included): each file's result waits in f->job for mfile_reload(), which
 * the caller then runs file by file in its usual order, so that messages,
 * last good and duplicates come out exactly as when read one by one. With
 * one thread nothing is read ahead (and memory stays flat: one decoded
 * file at a time).
 */
void fetch_all(const struct manifest_source *ms, struct mfile **files, size_t n);

/* --- manifest.c: roots ------------------------------------------------------------ */

/*
 * First half of reading a root completely: find out what it holds now
 * (files not read yet). Returns 0 when its files are to be read, problems
 * (> 0) when not, or -errno when PATH is missing. A PATH missing or
 * unreadable keeps its files (reported once unless report_same, retried).
 */
int root_prepare(struct mroot *r, struct diag *d, bool report_same, bool *changed);
/*
 * Second half: (re)read every file of a prepared root, in order (unchanged
 * texts are cheap: only hashed). Returns the number of problems.
 */
int root_reload(struct mroot *r, struct diag *d, bool report_same, bool *changed);
/* The file of a root with that name, added (not read yet) when new; *at its index. */
struct mfile *root_file(struct mroot *r, const char *name, size_t *at);
/* Re-read one name of a root: dropped when gone. Returns the number of problems. */
int root_refresh_name(struct mroot *r, const char *name, struct diag *d, bool *changed);
/* Find out whether the PATH is a file or a directory; -errno if neither. */
int root_probe(struct mroot *r);

/* --- manifest_watch.c ------------------------------------------------------------- */

void watch_close(struct manifest_source *ms); /* the fds and pending changes */

#endif
