/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.c - the manifest-file source: files and directories, watched.
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
 * Last good, per file:
 *   syntax error / unreadable  -> all previous objects of the file stay
 *   one object invalid         -> its previous version from the file stays
 *   object gone from the file  -> gone;  file deleted -> its objects gone
 *
 * inotify watches directories (for a file PATH its parent, filtered by
 * name), so rename-into-place by editors and new files are seen. A change
 * to a hidden "..name" in a watched directory (Kubernetes ConfigMap volumes
 * swap a "..data" symlink) rescans the whole directory.
 *
 * Out of memory is fatal (x*alloc), as everywhere in the daemon.
 */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "source/decode.h"

#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF |   \
	 IN_MOVE_SELF)

/* more changed names than this in one directory: rescan it instead */
#define BULK_RESCAN 256

/* at most this many threads read and decode files at once */
#define MAX_WORKERS 16

struct mjob;

/*
 * The identity hashes (okey_hash()) of a model's objects: its services,
 * then its slices, then its nodes, each in array order.
 */
struct okeys {
	uint64_t *h;
	size_t n_svc, n_slc, n_node;
};

struct mfile {
	char *path;   /* origin of its objects, as named in messages */
	char *name;   /* name in its directory: the sort key */
	bool decoded; /* hash/size/msgs describe a text read before */
	uint64_t hash;
	size_t size;
	int problems;      /* found in that text */
	struct diag msgs;  /* ... and their messages */
	struct model objs; /* last good objects, owned */
	struct mjob *job;  /* its text read and decoded ahead (fetch_all), or NULL */
	/* for manifest_source_model() */
	uint64_t id;        /* unique among all mfiles ever made: never reused */
	struct okeys keys;  /* of objs */
	struct okeys tkeys; /* of the objs the claim table last saw (may share keys.h) */
	bool dirty;         /* objs replaced since then */
	uint8_t *hidden;    /* per key: a duplicate, left out of the view; NULL: none */
	struct diag dups;   /* the duplicate messages of its objects, in order */
};

struct mroot {
	char *path;  /* as given */
	bool is_dir; /* as found by the last probe */
	char *dir;   /* watched directory: path itself, or a file's parent */
	char *base;  /* for a file PATH: its name in dir */
	int wd;      /* inotify watch, or -1 */
	struct mfile **files;
	size_t n_files;
};

/*
 * The identities the model view has claimed: one entry per kind/ns/name,
 * naming the first object (in view order) that defines it. Kept from one
 * manifest_source_model() to the next, so that a view after a small change
 * costs the changed files plus copying pointers. Open addressing, linear
 * probing, backward-shift deletion. Entries hold no pointers: an object is
 * found as files[file]'s objs (kind, idx), so what a changed file held can
 * be dropped after its objects are freed.
 */
struct claim {
	uint64_t h;    /* okey_hash(); 0 marks an empty slot */
	uint32_t file; /* the first object: its file's index in files[] ... */
	uint32_t idx;  /* ... and its index in that file's array of its kind */
	uint32_t n;    /* objects with this identity (> 1: duplicates) */
	uint8_t kind;  /* enum obj_kind */
};

struct claims {
	struct claim *v;
	size_t mask, n;       /* n: slots used */
	struct mfile **files; /* every file, in view order (refreshed per view) */
	uint64_t *ids;        /* the files' ids when the table was last right */
	size_t n_files, n_ids;
	bool valid; /* v, ids and every file's tkeys/hidden/dups agree */
};

struct manifest_source {
	struct mroot *roots;
	size_t n_roots;
	int ifd;          /* inotify, or -1 */
	unsigned workers; /* threads for reading files; 0: one per CPU */
	struct claims claims;
};

static void claims_free(struct claims *c)
{
	free(c->v);
	free(c->files);
	free(c->ids);
	memset(c, 0, sizeof(*c));
}

/* --- object identity and comparison ------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool ipaddrs_eq(const struct ipaddr *a, const struct ipaddr *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ipaddr_equal(&a[i], &b[i]))
			return false;
	return true;
}

static bool service_eq(const struct service *a, const struct service *b)
{
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) || a->type != b->type ||
	    a->headless != b->headless || a->ignored != b->ignored ||
	    a->n_cluster_ips != b->n_cluster_ips || a->n_ports != b->n_ports ||
	    a->n_external_ips != b->n_external_ips || a->n_lb_ips != b->n_lb_ips ||
	    a->n_lb_source_ranges != b->n_lb_source_ranges || a->etp_local != b->etp_local ||
	    a->itp_local != b->itp_local || a->affinity_client_ip != b->affinity_client_ip ||
	    a->affinity_timeout != b->affinity_timeout ||
	    a->health_check_node_port != b->health_check_node_port ||
	    !str_eq(a->traffic_distribution, b->traffic_distribution))
		return false;
	if (!ipaddrs_eq(a->cluster_ips, b->cluster_ips, a->n_cluster_ips) ||
	    !ipaddrs_eq(a->external_ips, b->external_ips, a->n_external_ips) ||
	    !ipaddrs_eq(a->lb_ips, b->lb_ips, a->n_lb_ips))
		return false;
	for (size_t i = 0; i < a->n_lb_source_ranges; i++)
		if (!ipaddr_equal(&a->lb_source_ranges[i].addr, &b->lb_source_ranges[i].addr) ||
		    a->lb_source_ranges[i].prefix_len != b->lb_source_ranges[i].prefix_len)
			return false;
	for (size_t i = 0; i < a->n_ports; i++) {
		const struct svc_port *p = &a->ports[i], *q = &b->ports[i];

		if (!str_eq(p->name, q->name) || p->proto != q->proto || p->port != q->port ||
		    p->target_port != q->target_port ||
		    !str_eq(p->target_port_name, q->target_port_name) ||
		    p->node_port != q->node_port)
			return false;
	}
	return true;
}

static bool endpoint_eq(const struct endpoint *a, const struct endpoint *b)
{
	if (!ipaddr_equal(&a->addr, &b->addr) || a->ready != b->ready || a->serving != b->serving ||
	    a->terminating != b->terminating || !str_eq(a->node_name, b->node_name) ||
	    !str_eq(a->zone, b->zone) || a->n_hint_zones != b->n_hint_zones)
		return false;
	for (size_t i = 0; i < a->n_hint_zones; i++)
		if (!str_eq(a->hint_zones[i], b->hint_zones[i]))
			return false;
	return true;
}

static bool slice_eq(const struct endpoint_slice *a, const struct endpoint_slice *b)
{
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) ||
	    !str_eq(a->service_name, b->service_name) || a->family != b->family ||
	    a->from_endpoints != b->from_endpoints || a->n_ports != b->n_ports ||
	    a->n_endpoints != b->n_endpoints)
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!str_eq(a->ports[i].name, b->ports[i].name) ||
		    a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port)
			return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!endpoint_eq(&a->endpoints[i], &b->endpoints[i]))
			return false;
	return true;
}

static bool node_eq(const struct node *a, const struct node *b)
{
	return str_eq(a->name, b->name) && str_eq(a->zone, b->zone);
}

static bool model_empty(const struct model *m)
{
	return !m->n_services && !m->n_slices && !m->n_nodes;
}

/*
 * A multimap from (kind, namespace, name) to object slots, open addressing
 * with linear probing. Keys point into the objects; nothing is copied.
 */
struct oentry {
	uint64_t h;
	int kind;
	const char *ns, *name;
	void **slot; /* where the object pointer lives (an array element) */
};

struct otable {
	struct oentry *v;
	size_t mask;
};

static uint64_t okey_hash(int kind, const char *ns, const char *name)
{
	uint64_t h = fnv1a(FNV1A_INIT, &kind, sizeof(kind));

	h = fnv1a(h, ns, strlen(ns) + 1);
	h = fnv1a(h, name, strlen(name));
	return h ? h : 1; /* 0 marks an empty slot */
}

static const char *obj_ns(const char *ns)
{
	return ns ? ns : "";
}

/* The identity of object idx of a kind in o (the origin too, if asked). */
static void obj_ident(const struct model *o, int kind, size_t idx, const char **ns,
                      const char **name, char ***origin)
{
	char **org;

	switch (kind) {
	case OBJ_SERVICE:
		*ns = obj_ns(o->services[idx]->ns);
		*name = o->services[idx]->name;
		org = &o->services[idx]->origin;
		break;
	case OBJ_SLICE:
		*ns = obj_ns(o->slices[idx]->ns);
		*name = o->slices[idx]->name;
		org = &o->slices[idx]->origin;
		break;
	default:
		*ns = "";
		*name = o->nodes[idx]->name;
		org = &o->nodes[idx]->origin;
		break;
	}
	if (origin)
		*origin = org;
}

/*
 * Make k describe m: the hashes k holds are kept (m's arrays may only have
 * grown at their ends since), the rest computed.
 */
static void okeys_fit(struct okeys *k, const struct model *m)
{
	size_t ns = m->n_services, nl = m->n_slices, nn = m->n_nodes;
	const char *s, *n;
	uint64_t *h;

	if (k->h && k->n_svc == ns && k->n_slc == nl && k->n_node == nn)
		return;
	h = xmalloc((ns + nl + nn + 1) * sizeof(*h));
	for (size_t i = 0; i < ns; i++) {
		if (k->h && i < k->n_svc) {
			h[i] = k->h[i];
			continue;
		}
		obj_ident(m, OBJ_SERVICE, i, &s, &n, NULL);
		h[i] = okey_hash(OBJ_SERVICE, s, n);
	}
	for (size_t i = 0; i < nl; i++) {
		if (k->h && i < k->n_slc) {
			h[ns + i] = k->h[k->n_svc + i];
			continue;
		}
		obj_ident(m, OBJ_SLICE, i, &s, &n, NULL);
		h[ns + i] = okey_hash(OBJ_SLICE, s, n);
	}
	for (size_t i = 0; i < nn; i++) {
		if (k->h && i < k->n_node) {
			h[ns + nl + i] = k->h[k->n_svc + k->n_slc + i];
			continue;
		}
		obj_ident(m, OBJ_NODE, i, &s, &n, NULL);
		h[ns + nl + i] = okey_hash(OBJ_NODE, s, n);
	}
	free(k->h);
	*k = (struct okeys){h, ns, nl, nn};
}

static void otable_init(struct otable *t, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	t->v = xcalloc(cap, sizeof(*t->v));
	t->mask = cap - 1;
}

static void otable_free(struct otable *t)
{
	free(t->v);
	t->v = NULL;
}

static void otable_put(struct otable *t, int kind, const char *ns, const char *name, void **slot)
{
	uint64_t h = okey_hash(kind, ns ? ns : "", name);
	size_t i = h & t->mask;

	while (t->v[i].h)
		i = (i + 1) & t->mask;
	t->v[i] = (struct oentry){h, kind, ns ? ns : "", name, slot};
}

/*
 * Iterate the entries for a key: *pos starts at SIZE_MAX; returns NULL at
 * the end.
 */
static struct oentry *otable_next(struct otable *t, int kind, const char *ns, const char *name,
                                  size_t *pos)
{
	uint64_t h = okey_hash(kind, ns ? ns : "", name);
	size_t i = *pos == SIZE_MAX ? h & t->mask : (*pos + 1) & t->mask;

	for (; t->v[i].h; i = (i + 1) & t->mask) {
		struct oentry *e = &t->v[i];

		if (e->h == h && e->kind == kind && !strcmp(e->ns, ns ? ns : "") &&
		    !strcmp(e->name, name)) {
			*pos = i;
			return e;
		}
	}
	return NULL;
}

/*
 * Index every object of m by identity. Slices converted from v1 Endpoints
 * are indexed twice: as OBJ_SLICE under their own name, and as
 * OBJ_ENDPOINTS under the Endpoints' name (for last-good retention).
 */
static void otable_index(struct otable *t, struct model *m, bool endpoints_too)
{
	otable_init(t, m->n_services + m->n_slices * 2 + m->n_nodes);
	for (size_t i = 0; i < m->n_services; i++)
		if (m->services[i])
			otable_put(t, OBJ_SERVICE, m->services[i]->ns, m->services[i]->name,
			           (void **)&m->services[i]);
	for (size_t i = 0; i < m->n_slices; i++) {
		struct endpoint_slice *e = m->slices[i];

		if (!e)
			continue;
		otable_put(t, OBJ_SLICE, e->ns, e->name, (void **)&m->slices[i]);
		if (endpoints_too && e->from_endpoints)
			otable_put(t, OBJ_ENDPOINTS, e->ns, e->service_name,
			           (void **)&m->slices[i]);
	}
	for (size_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i])
			otable_put(t, OBJ_NODE, "", m->nodes[i]->name, (void **)&m->nodes[i]);
}

/*
 * For every rejected object that has no valid version in fresh, append
 * its previous version (if any) from old to fresh. The slots of old that
 * were taken are returned in *taken (*n_taken), for the caller to clear
 * once it no longer needs old intact.
 */
static void keep_last_good(struct model *old, struct model *fresh, const struct decode_rejects *rej,
                           void ****taken, size_t *n_taken)
{
	struct otable told, tnew;

	*taken = NULL;
	*n_taken = 0;
	if (!rej->n || model_empty(old))
		return;
	otable_index(&told, old, true);
	otable_index(&tnew, fresh, true);
	for (size_t i = 0; i < rej->n; i++) {
		const struct decode_reject *r = &rej->v[i];
		size_t pos = SIZE_MAX;
		struct oentry *e;

		if (otable_next(&tnew, (int)r->kind, r->ns, r->name, &pos))
			continue;
		pos = SIZE_MAX;
		while ((e = otable_next(&told, (int)r->kind, r->ns, r->name, &pos))) {
			void *obj = *e->slot;

			switch (r->kind) {
			case OBJ_SERVICE:
				model_add_service(fresh, obj);
				break;
			case OBJ_SLICE:
			case OBJ_ENDPOINTS:
				model_add_slice(fresh, obj);
				break;
			case OBJ_NODE:
				model_add_node(fresh, obj);
				break;
			}
			*taken = xrealloc(*taken, (*n_taken + 1) * sizeof(**taken));
			(*taken)[(*n_taken)++] = e->slot;
		}
	}
	otable_free(&told);
	otable_free(&tnew);
}

/*
 * Whether fresh holds the same objects as old, in any order: same counts,
 * and each object of fresh equal to the one of old with its identity.
 */
static bool model_same(struct model *old, struct model *fresh)
{
	struct otable t;
	bool same = false;
	size_t pos;

	if (old->n_services != fresh->n_services || old->n_slices != fresh->n_slices ||
	    old->n_nodes != fresh->n_nodes)
		return false;
	if (model_empty(old))
		return true;
	otable_index(&t, old, false);
	for (size_t i = 0; i < fresh->n_services; i++) {
		struct service *s = fresh->services[i];
		struct oentry *e =
		    (pos = SIZE_MAX, otable_next(&t, OBJ_SERVICE, s->ns, s->name, &pos));

		if (!e || !service_eq(*e->slot, s))
			goto out;
	}
	for (size_t i = 0; i < fresh->n_slices; i++) {
		struct endpoint_slice *sl = fresh->slices[i];
		struct oentry *e =
		    (pos = SIZE_MAX, otable_next(&t, OBJ_SLICE, sl->ns, sl->name, &pos));

		if (!e || !slice_eq(*e->slot, sl))
			goto out;
	}
	for (size_t i = 0; i < fresh->n_nodes; i++) {
		struct node *n = fresh->nodes[i];
		struct oentry *e = (pos = SIZE_MAX, otable_next(&t, OBJ_NODE, "", n->name, &pos));

		if (!e || !node_eq(*e->slot, n))
			goto out;
	}
	same = true;
out:
	otable_free(&t);
	return same;
}

/* --- files ------------------------------------------------------------------- */

/*
 * One file's text read and decoded (mfile_fetch), possibly on a worker
 * thread: everything mfile_reload() needs, so that the part that depends
 * on order (last good, messages, duplicates) stays on the calling thread.
 */
struct mjob {
	int rret; /* read_file(): 0, -ENOENT or -errno */
	size_t len;
	uint64_t hash;
	bool same; /* the text last decoded: not decoded again */
	int dret;  /* manifest_decode_buffer_ex(), when decoded */
	struct model fresh;
	struct okeys keys; /* of fresh, when decoded */
	struct diag msgs;
	struct decode_rejects rej;
};

static void mjob_clear(struct mjob *j)
{
	model_free(&j->fresh);
	free(j->keys.h);
	j->keys = (struct okeys){0};
	diag_clear(&j->msgs);
	decode_rejects_clear(&j->rej);
}

static void mfile_free(struct mfile *f)
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

static struct mfile *mfile_new(const struct mroot *r, const char *name)
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

/* *.yaml, *.yml, *.json, not hidden */
static bool manifest_name(const char *name)
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

static void diag_copy(struct diag *dst, const struct diag *src)
{
	for (size_t i = 0; i < src->n; i++)
		diag_add(dst, "%s", src->msgs[i]);
}

/*
 * Read and decode f's text into j. Touches nothing but j, and reads only
 * f's path and what it last decoded, so it may run on any thread while
 * the caller waits.
 */
static void mfile_fetch(const struct mfile *f, struct mjob *j)
{
	char *buf = NULL;

	j->rret = read_file(f->path, &buf, &j->len);
	if (j->rret)
		return;
	j->hash = fnv1a(FNV1A_INIT, buf, j->len);
	j->same = f->decoded && f->hash == j->hash && f->size == j->len;
	if (!j->same) {
		j->dret =
		    manifest_decode_buffer_ex(f->path, buf, j->len, &j->fresh, &j->msgs, &j->rej);
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
static int mfile_reload(struct mfile *f, struct diag *d, bool report_same, bool *changed)
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
		void ***taken;
		size_t n_taken;

		keep_last_good(&f->objs, &j->fresh, &j->rej, &taken, &n_taken);
		if (!model_same(&f->objs, &j->fresh))
			*changed = true;
		for (size_t i = 0; i < n_taken; i++)
			*taken[i] = NULL; /* now owned by fresh */
		free(taken);
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

/* --- reading ahead, in parallel ----------------------------------------------- */

struct fetch_pool {
	struct mfile **files;
	size_t n;
	atomic_size_t next;
};

static void *fetch_worker(void *arg)
{
	struct fetch_pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		mfile_fetch(p->files[i], p->files[i]->job);
	return NULL;
}

static unsigned online_cpus(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/*
 * Read and decode files[0..n) ahead, on min(CPUs, n) threads (this one
 * included): each file's result waits in f->job for mfile_reload(), which
 * the caller then runs file by file in its usual order, so that messages,
 * last good and duplicates come out exactly as when read one by one. With
 * one thread nothing is read ahead (and memory stays flat: one decoded
 * file at a time).
 */
static void fetch_all(const struct manifest_source *ms, struct mfile **files, size_t n)
{
	struct fetch_pool pool = {.files = files, .n = n};
	unsigned want = ms->workers ? ms->workers : online_cpus();
	size_t nthreads = want < n ? want : n, started = 0;
	sigset_t all, old;
	pthread_t *tids;

	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	if (nthreads <= 1)
		return;
	for (size_t i = 0; i < n; i++)
		if (!files[i]->job)
			files[i]->job = xcalloc(1, sizeof(*files[i]->job));
	atomic_init(&pool.next, 0);
	tids = xcalloc(nthreads - 1, sizeof(*tids));
	/* signals are for the main thread (the daemon's signalfd) only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < nthreads - 1; started++)
		if (pthread_create(&tids[started], NULL, fetch_worker, &pool))
			break; /* fewer threads: still correct */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	fetch_worker(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
}

/* A growing list of files to read ahead. */
struct flist {
	struct mfile **v;
	size_t n, cap;
};

static void flist_add(struct flist *l, struct mfile *f)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = f;
}

/* Move src's messages to the end of dst. */
static void diag_move(struct diag *dst, struct diag *src)
{
	diag_copy(dst, src);
	diag_clear(src);
}

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

/*
 * Re-read one name of a root: read it if it is there (adding it when new),
 * drop it when gone. Returns the number of problems.
 */
/* The file of a root with that name, added (not read yet) when new. */
static struct mfile *root_file(struct mroot *r, const char *name, size_t *at)
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

static int root_refresh_name(struct mroot *r, const char *name, struct diag *d, bool *changed)
{
	size_t i;
	int ret;

	ret = mfile_reload(root_file(r, name, &i), d, false, changed);
	if (ret == -ENOENT) {
		root_remove_at(r, i, changed);
		ret = 0;
	}
	return ret;
}

/* Find out whether the PATH is a file or a directory; -errno if neither. */
static int root_probe(struct mroot *r, struct diag *d)
{
	struct stat st;
	char *slash;

	if (stat(r->path, &st)) {
		int err = errno;

		if (d)
			diag_add(d, "%s: %s", r->path,
			         err == ENOENT ? "no such file or directory" : strerror(err));
		return -err;
	}
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
 * List a directory root: new files are added (not read yet), vanished ones
 * dropped. Returns 0, or 1 when the directory cannot be read (its files
 * are kept as they are).
 */
static int root_list_dir(struct mroot *r, struct diag *d, bool *changed)
{
	struct mfile **files = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0, nf = 0, i = 0, j = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(r->path);
	if (!dir) {
		diag_add(d, "%s: cannot read directory: %s", r->path, strerror(errno));
		return 1;
	}
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
	files = xcalloc(n + 1, sizeof(*files));
	while (i < r->n_files || j < n) {
		int c = i == r->n_files ? 1 : j == n ? -1 : strcmp(r->files[i]->name, names[j]);

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

/*
 * First half of reading a root completely: find out what it holds now
 * (files not read yet). Returns 0 when its files are to be read, problems
 * (> 0) when not, or -errno when PATH is missing.
 */
static int root_prepare(struct mroot *r, struct diag *d, bool *changed)
{
	bool was_dir = r->is_dir, had = r->dir != NULL;
	int ret;

	ret = root_probe(r, d);
	if (ret) {
		root_clear(r, changed);
		return ret;
	}
	if (had && was_dir != r->is_dir)
		root_clear(r, changed);
	if (r->is_dir)
		return root_list_dir(r, d, changed);
	if (!r->n_files) {
		r->files = xcalloc(1, sizeof(*r->files));
		r->files[0] = mfile_new(r, r->base);
		r->n_files = 1;
	}
	return 0;
}

/*
 * Second half: (re)read every file of a prepared root, in order (unchanged
 * texts are cheap: only hashed). Returns the number of problems.
 */
static int root_reload(struct mroot *r, struct diag *d, bool report_same, bool *changed)
{
	size_t nf = 0;
	int problems = 0, ret;

	if (!r->is_dir) {
		ret = mfile_reload(r->files[0], d, report_same, changed);
		if (ret == -ENOENT) { /* a FIFO or some such */
			diag_add(d, "%s: not a regular file", r->path);
			root_clear(r, changed);
			return 1;
		}
		return ret;
	}
	for (size_t i = 0; i < r->n_files; i++) {
		struct mfile *f = r->files[i];

		ret = mfile_reload(f, d, report_same, changed);
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

/* --- the source ------------------------------------------------------------------ */

struct manifest_source *manifest_source_new(const char *const *paths, size_t n_paths)
{
	struct manifest_source *ms = xcalloc(1, sizeof(*ms));

	ms->ifd = -1;
	ms->roots = xcalloc(n_paths, sizeof(*ms->roots));
	for (size_t i = 0; i < n_paths; i++) {
		ms->roots[i].wd = -1;
		ms->roots[i].path = xstrdup(paths[i]);
		ms->n_roots++;
	}
	return ms;
}

void manifest_source_free(struct manifest_source *ms)
{
	if (!ms)
		return;
	for (size_t i = 0; i < ms->n_roots; i++) {
		struct mroot *r = &ms->roots[i];

		for (size_t j = 0; j < r->n_files; j++)
			mfile_free(r->files[j]);
		free(r->files);
		free(r->path);
		free(r->dir);
		free(r->base);
	}
	free(ms->roots);
	claims_free(&ms->claims);
	if (ms->ifd >= 0)
		close(ms->ifd);
	free(ms);
}

void manifest_source_set_workers(struct manifest_source *ms, unsigned n)
{
	ms->workers = n;
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
		st[i] = root_prepare(&ms->roots[i], &pre[i], &changed);
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

/* --- the model view: duplicates ------------------------------------------------ */

/* An empty table with room for n identities (at most half full). */
static void claims_reset(struct claims *c, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	if (!c->v || c->mask + 1 != cap) {
		free(c->v);
		c->v = xmalloc(cap * sizeof(*c->v));
		c->mask = cap - 1;
	}
	memset(c->v, 0, cap * sizeof(*c->v));
	c->n = 0;
}

static void claims_put(struct claims *c, struct claim e)
{
	size_t i;

	if ((c->n + 1) * 2 > c->mask + 1) { /* grow: rehash by the stored hashes */
		struct claim *old = c->v;
		size_t ocap = c->mask + 1;

		c->v = xcalloc(ocap * 2, sizeof(*c->v));
		c->mask = ocap * 2 - 1;
		c->n = 0;
		for (size_t j = 0; j < ocap; j++)
			if (old[j].h)
				claims_put(c, old[j]);
		free(old);
	}
	for (i = e.h & c->mask; c->v[i].h; i = (i + 1) & c->mask)
		;
	c->v[i] = e;
	c->n++;
}

/*
 * The entry of the identity of object idx of a kind in o, whose hash is h,
 * or NULL. The objects are looked at only when the hashes are equal.
 */
static struct claim *claims_find(struct claims *c, uint64_t h, int kind, const struct model *o,
                                 size_t idx)
{
	for (size_t i = h & c->mask; c->v[i].h; i = (i + 1) & c->mask) {
		struct claim *e = &c->v[i];
		const char *ns, *name, *ens, *ename;

		if (e->h != h || e->kind != kind)
			continue;
		obj_ident(o, kind, idx, &ns, &name, NULL);
		obj_ident(&c->files[e->file]->objs, kind, e->idx, &ens, &ename, NULL);
		if (!strcmp(ename, name) && !strcmp(ens, ns))
			return e;
	}
	return NULL;
}

/*
 * Drop the entry that object (file, kind, idx), of hash h, is the only
 * claimant of. False when there is none: the object was a duplicate, or
 * has duplicates. Never looks at the object (it may be freed).
 */
static bool claims_drop(struct claims *c, uint64_t h, int kind, uint32_t file, uint32_t idx)
{
	size_t i, j;

	for (i = h & c->mask; c->v[i].h; i = (i + 1) & c->mask) {
		const struct claim *e = &c->v[i];

		if (e->h == h && e->kind == kind && e->file == file && e->idx == idx)
			break;
	}
	if (!c->v[i].h || c->v[i].n != 1)
		return false;
	/* backward shift: move up every entry that the hole would hide */
	for (j = i;;) {
		size_t home;

		j = (j + 1) & c->mask;
		if (!c->v[j].h)
			break;
		home = c->v[j].h & c->mask;
		if (j > i ? (home <= i || home > j) : (home <= i && home > j)) {
			c->v[i] = c->v[j];
			i = j;
		}
	}
	c->v[i].h = 0;
	c->n--;
	return true;
}

/* What claims_rebuild() and claims_update() go through: one kind's part of a file's keys. */
struct kpart {
	int kind;
	size_t off, n;
};

static void kparts(const struct okeys *k, struct kpart p[3])
{
	p[0] = (struct kpart){OBJ_SERVICE, 0, k->n_svc};
	p[1] = (struct kpart){OBJ_SLICE, k->n_svc, k->n_slc};
	p[2] = (struct kpart){OBJ_NODE, k->n_svc + k->n_slc, k->n_node};
}

/* f's keys are what the table holds for it from now on. */
static void mfile_commit_keys(struct mfile *f)
{
	if (f->tkeys.h != f->keys.h)
		free(f->tkeys.h);
	f->tkeys = f->keys;
	f->dirty = false;
}

/*
 * Claim every object of every file, in view order: the first object of an
 * identity wins; each later one is hidden, with a message naming both
 * files (in its file's dups).
 */
static void claims_rebuild(struct claims *c)
{
	static const char *const kind_names[] = {
	    [OBJ_SERVICE] = "Service",
	    [OBJ_SLICE] = "EndpointSlice",
	    [OBJ_ENDPOINTS] = "Endpoints",
	    [OBJ_NODE] = "Node",
	};
	size_t total = 0;

	for (size_t p = 0; p < c->n_files; p++) {
		const struct okeys *k = &c->files[p]->keys;

		total += k->n_svc + k->n_slc + k->n_node;
	}
	claims_reset(c, total);
	for (size_t p = 0; p < c->n_files; p++) {
		struct mfile *f = c->files[p];
		struct kpart part[3];

		free(f->hidden);
		f->hidden = NULL;
		diag_clear(&f->dups);
		mfile_commit_keys(f);
		kparts(&f->keys, part);
		for (int q = 0; q < 3; q++) {
			for (size_t i = 0; i < part[q].n; i++) {
				int kind = part[q].kind;
				uint64_t h = f->keys.h[part[q].off + i];
				struct claim *e = claims_find(c, h, kind, &f->objs, i);
				const char *ns, *name;
				char **origin, **first;

				if (!e) {
					claims_put(c, (struct claim){h, (uint32_t)p, (uint32_t)i, 1,
					                             (uint8_t)kind});
					continue;
				}
				e->n++;
				if (!f->hidden)
					f->hidden = xcalloc(
					    f->keys.n_svc + f->keys.n_slc + f->keys.n_node, 1);
				f->hidden[part[q].off + i] = 1;
				obj_ident(&f->objs, kind, i, &ns, &name, &origin);
				obj_ident(&c->files[e->file]->objs, kind, e->idx, &ns, &name,
				          &first);
				if (*ns)
					diag_add(&f->dups,
					         "%s: %s %s/%s: duplicate, also defined in %s "
					         "(using that one)",
					         *origin, kind_names[kind], ns, name, *first);
				else
					diag_add(&f->dups,
					         "%s: %s %s: duplicate, also defined in %s (using "
					         "that one)",
					         *origin, kind_names[kind], name, *first);
			}
		}
	}
	c->ids = xrealloc(c->ids, (c->n_files + 1) * sizeof(*c->ids));
	for (size_t p = 0; p < c->n_files; p++)
		c->ids[p] = c->files[p]->id;
	c->n_ids = c->n_files;
	c->valid = true;
}

/*
 * Bring the table up to date with the changed (dirty) files alone, when
 * the files are the ones it was built for, in the same order, and no
 * identity a changed file held or holds now is defined twice (then no other
 * file's part of the view changes). False when that cannot be done: the
 * table is then left half updated, for claims_rebuild().
 */
static bool claims_update(struct claims *c)
{
	if (!c->valid || c->n_ids != c->n_files)
		return false;
	for (size_t p = 0; p < c->n_files; p++)
		if (c->ids[p] != c->files[p]->id)
			return false;
	/* first what the changed files held, so that no entry points into them */
	for (size_t p = 0; p < c->n_files; p++) {
		const struct mfile *f = c->files[p];
		struct kpart part[3];

		if (!f->dirty)
			continue;
		if (f->hidden)
			return false;
		kparts(&f->tkeys, part);
		for (int q = 0; q < 3; q++)
			for (size_t i = 0; i < part[q].n; i++)
				if (!claims_drop(c, f->tkeys.h[part[q].off + i], part[q].kind,
				                 (uint32_t)p, (uint32_t)i))
					return false;
	}
	for (size_t p = 0; p < c->n_files; p++) {
		struct mfile *f = c->files[p];
		struct kpart part[3];

		if (!f->dirty)
			continue;
		kparts(&f->keys, part);
		for (int q = 0; q < 3; q++) {
			for (size_t i = 0; i < part[q].n; i++) {
				int kind = part[q].kind;
				uint64_t h = f->keys.h[part[q].off + i];

				if (claims_find(c, h, kind, &f->objs, i))
					return false;
				claims_put(c, (struct claim){h, (uint32_t)p, (uint32_t)i, 1,
				                             (uint8_t)kind});
			}
		}
		mfile_commit_keys(f);
	}
	return true;
}

/*
 * The view is every file's objects in order, less the duplicates, which
 * the table knows. It is kept across calls: a call after a small change
 * costs that change (claims_update()) plus a pass over pointers, instead
 * of hashing and looking up every identity again.
 */
int manifest_source_model(struct manifest_source *ms, struct model *m, struct diag *d)
{
	struct claims *c = &ms->claims;
	size_t n = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < ms->n_roots; i++)
		n += ms->roots[i].n_files;
	c->files = xrealloc(c->files, (n + 1) * sizeof(*c->files));
	c->n_files = 0;
	for (size_t i = 0; i < ms->n_roots; i++)
		for (size_t j = 0; j < ms->roots[i].n_files; j++)
			c->files[c->n_files++] = ms->roots[i].files[j];
	if (!claims_update(c))
		claims_rebuild(c);

	for (size_t p = 0; p < c->n_files; p++) {
		const struct mfile *f = c->files[p];
		const struct model *o = &f->objs;
		const uint8_t *hide = f->hidden;
		size_t off = 0;

		diag_copy(d, &f->dups);
		for (size_t k = 0; k < o->n_services; k++)
			if (!hide || !hide[off + k])
				model_add_service(m, o->services[k]);
		off += o->n_services;
		for (size_t k = 0; k < o->n_slices; k++)
			if (!hide || !hide[off + k])
				model_add_slice(m, o->slices[k]);
		off += o->n_slices;
		for (size_t k = 0; k < o->n_nodes; k++)
			if (!hide || !hide[off + k])
				model_add_node(m, o->nodes[k]);
	}
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
    .model = adapter_model,
    .free = adapter_free,
};

struct source *manifest_source_open(const char *const *paths, size_t n_paths)
{
	struct manifest_adapter *a = xcalloc(1, sizeof(*a));

	a->base.ops = &manifest_ops;
	a->base.impl = a;
	a->ms = manifest_source_new(paths, n_paths);
	return &a->base;
}
