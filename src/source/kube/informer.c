/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * informer.c - list then watch one kind, keeping its store (see informer.h).
 */
#include "informer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "source/kube/jscan.h"

#define PAGE_SIZE     500
#define MAX_OBJECT    (64u << 20) /* bytes: far above the API server's own limit (3 MiB) */
#define LIST_TIMEOUT  120         /* seconds, per page */
#define WATCH_MIN     300         /* seconds: watches last 5-10 min, as client-go's */
#define BACKOFF_FIRST 0.8
#define BACKOFF_CAP   30.0

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the store ------------------------------------------------------------------ */

static uint64_t key_hash(const char *key)
{
	uint64_t h = fnv1a(FNV1A_INIT, key, strlen(key));

	return h ? h : 1;
}

static struct kentry *kstore_find(const struct kstore *s, const char *key)
{
	uint64_t h = key_hash(key);

	if (!s->v)
		return NULL;
	for (size_t i = h & s->mask; s->v[i].h; i = (i + 1) & s->mask)
		if (s->v[i].h == h && !strcmp(s->v[i].key, key))
			return &s->v[i];
	return NULL;
}

static void kstore_grow(struct kstore *s)
{
	size_t old_slots = kstore_slots(s), slots = old_slots ? old_slots * 2 : 64;
	struct kentry *old = s->v;

	s->v = xcalloc(slots, sizeof(*s->v));
	s->mask = slots - 1;
	for (size_t i = 0; i < old_slots; i++) {
		size_t j;

		if (!old[i].h)
			continue;
		for (j = old[i].h & s->mask; s->v[j].h; j = (j + 1) & s->mask)
			;
		s->v[j] = old[i];
	}
	free(old);
}

static void rv_copy(char *dst, const char *rv)
{
	snprintf(dst, sizeof(((struct kentry *)0)->rv), "%s", rv);
}

/* Put obj under key; returns the object it replaces, or NULL. */
static void *kstore_put(struct kstore *s, const char *key, const char *rv, void *obj)
{
	struct kentry *e = kstore_find(s, key);
	uint64_t h = key_hash(key);
	size_t i;

	if (e) {
		void *old = e->obj;

		e->obj = obj;
		rv_copy(e->rv, rv);
		return old;
	}
	if ((s->n + 1) * 4 > kstore_slots(s) * 3)
		kstore_grow(s);
	for (i = h & s->mask; s->v[i].h; i = (i + 1) & s->mask)
		;
	s->v[i] = (struct kentry){.h = h, .key = xstrdup(key), .obj = obj};
	rv_copy(s->v[i].rv, rv);
	s->n++;
	return NULL;
}

/* Remove key (backward-shift deletion); returns its object, or NULL. */
static void *kstore_del(struct kstore *s, const char *key)
{
	struct kentry *e = kstore_find(s, key);
	size_t i, j;
	void *obj;

	if (!e)
		return NULL;
	obj = e->obj;
	free(e->key);
	i = (size_t)(e - s->v);
	for (j = (i + 1) & s->mask; s->v[j].h; j = (j + 1) & s->mask) {
		size_t home = s->v[j].h & s->mask;
		/* j may move back to i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);

		if (!stays) {
			s->v[i] = s->v[j];
			i = j;
		}
	}
	s->v[i] = (struct kentry){0};
	s->n--;
	return obj;
}

/* Free the table and keys, not the objects. */
static void kstore_clear(struct kstore *s)
{
	for (size_t i = 0; i < kstore_slots(s); i++)
		free(s->v[i].h ? s->v[i].key : NULL);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* --- shared state ---------------------------------------------------------------- */

/* Under sh->lock: obj is freed by the daemon's thread at its next handle(). */
static void grave(struct kshared *sh, enum kkind kind, void *obj)
{
	if (!obj)
		return;
	sh->graves = xgrow(sh->graves, &sh->cap_graves, sh->n_graves + 1, sizeof(*sh->graves));
	sh->graves[sh->n_graves++] = (struct kgrave){kind, obj};
}

/* Under sh->lock: move msgs to the messages for the next handle(). */
static void msgs_move(struct kshared *sh, struct diag *msgs)
{
	for (size_t i = 0; i < msgs->n; i++)
		diag_add(&sh->msgs, "%s", msgs->msgs[i]);
	diag_clear(msgs);
}

static void signal_fd(struct kshared *sh)
{
	uint64_t one = 1;

	if (write(sh->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the daemon will look anyway */
	}
}

static void key_of(const struct kmeta *m, char *key, size_t size)
{
	snprintf(key, size, "%s/%s", m->ns, m->name);
}

/* --- one object arriving --------------------------------------------------------- */

struct list_ctx {
	struct informer *inf;
	struct kstore fresh;
	struct diag msgs;
	char rv[32];
	char cont[4096]; /* continue token of the page, "" for the last page */
	size_t items;
	bool node_ineligible; /* the Node listed is being deleted or drained */
};

/*
 * Put obj under key in the list's objects. The same namespace/name twice in
 * one list (a buggy or hostile server): the later one wins, and the earlier
 * is freed here, unless it is the store's own (still in use): it was never
 * seen outside this list.
 */
static void fresh_put(struct list_ctx *lc, const char *key, const char *rv, void *obj)
{
	void *prev = kstore_put(&lc->fresh, key, rv, obj);
	struct kentry *o;

	if (!prev || prev == obj)
		return;
	o = kstore_find(&lc->inf->store, key);
	if (!o || o->obj != prev)
		kobj_free(lc->inf->kind, prev);
}

/*
 * An object of a list, into lc->fresh: the current version when the
 * resourceVersion did not change (no decoding), else decoded; when it does
 * not validate, its last good version stays (an earlier one of this list,
 * else the store's).
 */
static int list_take(struct list_ctx *lc, const char *text, size_t len)
{
	struct informer *inf = lc->inf;
	struct diag *msgs = &lc->msgs;
	char key[sizeof(((struct kmeta *)0)->ns) + sizeof(((struct kmeta *)0)->name) + 1];
	struct kentry *old;
	struct kmeta m;
	void *obj;

	if (kobj_meta(text, len, &m) || !m.name[0]) {
		diag_add(msgs, "api: a %s in the list has no readable metadata.name: ignored",
		         kkinds[inf->kind].kind);
		return 0;
	}
	key_of(&m, key, sizeof(key));
	if (inf->kind == KK_NODE)
		lc->node_ineligible = !kobj_node_eligible(text, len, &m);
	old = kstore_find(&inf->store, key);
	if (old && m.rv[0] && !strcmp(old->rv, m.rv)) {
		fresh_put(lc, key, old->rv, old->obj);
		return 0;
	}
	obj = kobj_decode(inf->kp, inf->kind, text, len, &m, inf->sh->opts, msgs);
	if (obj)
		fresh_put(lc, key, m.rv, obj);
	else if (old && !kstore_find(&lc->fresh, key))
		fresh_put(lc, key, old->rv, old->obj);
	return 0;
}

/* ADDED or MODIFIED from a watch. */
static void watch_upsert(struct informer *inf, const struct kmeta *m, const char *text, size_t len)
{
	struct kshared *sh = inf->sh;
	char key[sizeof(m->ns) + sizeof(m->name) + 1];
	struct diag msgs = {0};
	struct kentry *e;
	void *obj;

	key_of(m, key, sizeof(key));
	e = kstore_find(&inf->store, key);
	if (e && m->rv[0] && !strcmp(e->rv, m->rv))
		return;
	obj = kobj_decode(inf->kp, inf->kind, text, len, m, sh->opts, &msgs);
	pthread_mutex_lock(&sh->lock);
	if (obj) {
		grave(sh, inf->kind, kstore_put(&inf->store, key, m->rv, obj));
		sh->changed = true;
		sh->events[inf->kind]++;
		if (inf->kind == KK_NODE)
			sh->node_ineligible = !kobj_node_eligible(text, len, m);
	}
	msgs_move(sh, &msgs);
	pthread_mutex_unlock(&sh->lock);
	signal_fd(sh);
}

static void watch_delete(struct informer *inf, const struct kmeta *m)
{
	struct kshared *sh = inf->sh;
	char key[sizeof(m->ns) + sizeof(m->name) + 1];
	void *obj;

	key_of(m, key, sizeof(key));
	pthread_mutex_lock(&sh->lock);
	obj = kstore_del(&inf->store, key);
	if (obj) {
		grave(sh, inf->kind, obj);
		sh->changed = true;
		sh->events[inf->kind]++;
		if (inf->kind == KK_NODE)
			sh->node_ineligible = true; /* gone */
	}
	pthread_mutex_unlock(&sh->lock);
	if (obj)
		signal_fd(sh);
}

/* --- list ------------------------------------------------------------------------- */

static int list_meta(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct list_ctx *lc = arg;

	if (json_key_is(key, klen, "resourceVersion")) {
		if (json_str(val, vlen, lc->rv, sizeof(lc->rv)) < 0)
			return -EPROTO;
	} else if (json_key_is(key, klen, "continue")) {
		if (json_str(val, vlen, lc->cont, sizeof(lc->cont)) < 0)
			return -EPROTO;
	}
	return 0;
}

static int list_item(void *arg, const char *key, const char *text, size_t len)
{
	struct list_ctx *lc = arg;

	if (!strcmp(key, "metadata"))
		return text && jscan_members(text, len, list_meta, lc) == 0 ? 0 : -EPROTO;
	lc->items++;
	if (!text) {
		diag_add(&lc->msgs, "api: a %s of more than %u MiB in the list: ignored",
		         kkinds[lc->inf->kind].kind, MAX_OBJECT >> 20);
		return 0;
	}
	return list_take(lc, text, len);
}

static int feed(void *arg, const char *p, size_t n)
{
	return jscan_feed(arg, p, n);
}

/* Drop what a failed list built: the objects not shared with the store. */
static void fresh_discard(struct informer *inf, struct kstore *fresh)
{
	for (size_t i = 0; i < kstore_slots(fresh); i++) {
		struct kentry *e = &fresh->v[i], *o;

		if (!e->h)
			continue;
		o = kstore_find(&inf->store, e->key);
		if (!o || o->obj != e->obj)
			kobj_free(inf->kind, e->obj);
	}
	kstore_clear(fresh);
}

/* A complete list: it replaces the store, deletions included. */
static void store_replace(struct list_ctx *lc)
{
	struct informer *inf = lc->inf;
	struct kstore *fresh = &lc->fresh;
	struct kshared *sh = inf->sh;
	bool changed = fresh->n != inf->store.n;

	pthread_mutex_lock(&sh->lock);
	for (size_t i = 0; i < kstore_slots(&inf->store); i++) {
		struct kentry *e = &inf->store.v[i], *f;

		if (!e->h)
			continue;
		f = kstore_find(fresh, e->key);
		if (!f || f->obj != e->obj) {
			grave(sh, inf->kind, e->obj);
			changed = true;
			sh->events[inf->kind]++; /* changed or gone */
		}
	}
	kstore_clear(&inf->store);
	inf->store = *fresh;
	memset(fresh, 0, sizeof(*fresh));
	if (inf->kind == KK_NODE)
		sh->node_ineligible = lc->node_ineligible;
	sh->changed |= changed;
	msgs_move(sh, &lc->msgs);
	pthread_mutex_unlock(&sh->lock);
	atomic_store(&inf->synced, true);
	signal_fd(sh);
}

static char *page_path(const struct informer *inf, const char *cont)
{
	char *c = cont[0] ? kube_query_param("continue", cont) : NULL;
	char *p = xasprintf("%s?limit=%d%s%s%s%s", kkinds[inf->kind].path, PAGE_SIZE,
	                    inf->query[0] ? "&" : "", inf->query, c ? "&" : "", c ? c : "");

	free(c);
	return p;
}

/* One page into lc. KR_OK with lc->cont set for the next, or an error. */
static int list_page(struct informer *inf, struct list_ctx *lc, const char *cont,
                     struct kube_result *res)
{
	char *path = page_path(inf, cont);
	struct jscan js;
	int ret;

	lc->rv[0] = lc->cont[0] = '\0';
	jscan_init(&js, JSCAN_LIST, MAX_OBJECT, list_item, lc);
	ret = inf->get(inf->kc, path, feed, &js, LIST_TIMEOUT, &inf->sh->stop, res);
	if (!ret && res->status == 200 && jscan_end(&js))
		ret = -EPROTO;
	jscan_free(&js);
	free(path);
	if (ret == -ECANCELED)
		return KR_STOP;
	if (ret == -EPROTO)
		snprintf(res->msg, sizeof(res->msg),
		         "the answer is not a %s list, or was cut short", kkinds[inf->kind].kind);
	if (ret)
		return KR_ERR;
	if (res->status == 410)
		return KR_GONE;
	return res->status == 200 ? KR_OK : KR_ERR;
}

int informer_list(struct informer *inf, struct kube_result *res)
{
	struct list_ctx lc = {.inf = inf};
	char cont[sizeof(lc.cont)] = "";
	double t0 = now_mono();
	unsigned pages = 0;
	int r;

	for (;;) {
		r = list_page(inf, &lc, cont, res);
		if (r != KR_OK)
			break;
		pages++;
		if (!lc.cont[0])
			break;
		memcpy(cont, lc.cont, sizeof(cont));
	}
	if (r != KR_OK) {
		fresh_discard(inf, &lc.fresh);
		diag_clear(&lc.msgs);
		return r;
	}
	if (!lc.rv[0]) {
		snprintf(res->msg, sizeof(res->msg), "the list has no metadata.resourceVersion");
		fresh_discard(inf, &lc.fresh);
		diag_clear(&lc.msgs);
		return KR_ERR;
	}
	log_info("api", "listed %zu %s in %u page%s (resourceVersion %s) in %.0f ms", lc.fresh.n,
	         kkinds[inf->kind].plural, pages, pages == 1 ? "" : "s", lc.rv,
	         (now_mono() - t0) * 1e3);
	memcpy(inf->rv, lc.rv, sizeof(inf->rv));
	store_replace(&lc);
	return KR_OK;
}

/* --- watch ------------------------------------------------------------------------ */

struct watch_ctx {
	struct informer *inf;
	size_t events; /* understood, ERROR events aside */
	int result;    /* KR_GONE or KR_RELIST after an ERROR event */
	char why[256];
};

struct wevent {
	char type[16];
	const char *obj;
	size_t olen;
};

static int event_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct wevent *ev = arg;

	if (json_key_is(key, klen, "type")) {
		if (json_str(val, vlen, ev->type, sizeof(ev->type)) < 0)
			ev->type[0] = '\0';
	} else if (json_key_is(key, klen, "object") && vlen && val[0] == '{') {
		ev->obj = val;
		ev->olen = vlen;
	}
	return 0;
}

struct wstatus {
	long code;
	char msg[200];
};

static int status_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct wstatus *st = arg;
	char num[16];

	if (json_key_is(key, klen, "code") && vlen < sizeof(num)) {
		/* val[0, vlen) only: it is not NUL-terminated */
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		st->code = strtol(num, NULL, 10);
	}
	if (json_key_is(key, klen, "message") && json_str(val, vlen, st->msg, sizeof(st->msg)) < 0)
		st->msg[0] = '\0';
	return 0;
}

/* An ERROR event: 410 Expired means list again now; others, after a wait. */
static int watch_error(struct watch_ctx *wc, const char *obj, size_t len)
{
	struct wstatus st = {0};

	jscan_members(obj, len, status_member, &st);
	snprintf(wc->why, sizeof(wc->why), "ERROR event %ld: %s", st.code,
	         st.msg[0] ? st.msg : "(no message)");
	wc->result = st.code == 410 ? KR_GONE : KR_RELIST;
	return -EPIPE; /* ends the watch */
}

static int watch_line(void *arg, const char *key, const char *text, size_t len)
{
	struct watch_ctx *wc = arg;
	struct wevent ev = {0};
	struct kmeta m;

	if (!text) {
		snprintf(wc->why, sizeof(wc->why), "a watch event of more than %u MiB",
		         MAX_OBJECT >> 20);
		return -EPROTO;
	}
	if (jscan_members(text, len, event_member, &ev) || !ev.type[0] || !ev.obj) {
		/* text is not NUL-terminated: the rest of the chunk, or nothing, follows */
		snprintf(wc->why, sizeof(wc->why), "a line that is not a watch event: %.*s%s",
		         (int)(len > 60 ? 60 : len), text, len > 60 ? "..." : "");
		return -EPROTO;
	}
	if (!strcmp(ev.type, "ERROR"))
		return watch_error(wc, ev.obj, ev.olen);
	wc->events++;
	if (kobj_meta(ev.obj, ev.olen, &m) || (!m.name[0] && strcmp(ev.type, "BOOKMARK"))) {
		snprintf(wc->why, sizeof(wc->why), "a %s event without readable metadata", ev.type);
		return -EPROTO;
	}
	if (m.name[0])
		log_debug("api", "watch %s: %s %s%s%s (resourceVersion %s)",
		          kkinds[wc->inf->kind].plural, ev.type, m.ns, m.ns[0] ? "/" : "", m.name,
		          m.rv);
	if (!strcmp(ev.type, "ADDED") || !strcmp(ev.type, "MODIFIED")) {
		watch_upsert(wc->inf, &m, ev.obj, ev.olen);
	} else if (!strcmp(ev.type, "DELETED")) {
		watch_delete(wc->inf, &m);
	} else if (strcmp(ev.type, "BOOKMARK")) {
		snprintf(wc->why, sizeof(wc->why), "an event of unknown type %s", ev.type);
		return -EPROTO;
	}
	if (m.rv[0])
		memcpy(wc->inf->rv, m.rv, sizeof(wc->inf->rv));
	return 0;
}

int informer_watch(struct informer *inf, struct kube_result *res, size_t *events)
{
	struct watch_ctx wc = {.inf = inf};
	unsigned timeout = WATCH_MIN + (unsigned)(rand() % WATCH_MIN);
	struct jscan js;
	char *path;
	int ret;

	path = xasprintf(
	    "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u%s%s",
	    kkinds[inf->kind].path, inf->rv, timeout, inf->query[0] ? "&" : "", inf->query);
	jscan_init(&js, JSCAN_STREAM, MAX_OBJECT, watch_line, &wc);
	ret = inf->get(inf->kc, path, feed, &js, (long)timeout + 60, &inf->sh->stop, res);
	if (!ret && res->status == 200 && jscan_end(&js)) {
		snprintf(wc.why, sizeof(wc.why), "the watch ended in the middle of an event");
		ret = -EPROTO;
	}
	jscan_free(&js);
	free(path);
	*events = wc.events;
	if (wc.why[0])
		snprintf(res->msg, sizeof(res->msg), "%s", wc.why);
	if (ret == -ECANCELED)
		return KR_STOP;
	if (ret == -EPIPE)
		return wc.result;
	if (ret)
		return KR_ERR;
	if (res->status == 410)
		return KR_GONE;
	return res->status == 200 ? KR_OK : KR_ERR;
}

/* --- the thread ------------------------------------------------------------------- */

/* Wait up to secs, or until stopped. */
static void nap(struct informer *inf, double secs)
{
	const struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	const double until = now_mono() + secs;

	while (!atomic_load(&inf->sh->stop) && now_mono() < until)
		nanosleep(&tick, NULL);
}

static double next_backoff(struct informer *inf)
{
	double d = inf->backoff ? inf->backoff * 2 : BACKOFF_FIRST, w;

	if (d > BACKOFF_CAP)
		d = BACKOFF_CAP;
	inf->backoff = d;
	w = d * (1.0 + 0.25 * ((double)rand() / RAND_MAX));
	return w > BACKOFF_CAP ? BACKOFF_CAP : w;
}

/* Log a failure and wait before the next try. */
static void failed(struct informer *inf, const char *op, const struct kube_result *res)
{
	const char *what = kkinds[inf->kind].plural;
	double wait = next_backoff(inf);
	char hint[300];

	inf->failures++;
	if (res->status == 401)
		log_err("api",
		        "%s %s: 401 Unauthorized: check %s; retrying in %.1f s (the programmed "
		        "rules stay)",
		        op, what, kube_config_cred_hint(inf->sh->cfg, hint, sizeof(hint)), wait);
	else if (res->status == 403)
		log_err("api",
		        "%s %s: 403 Forbidden: %s (svcproxy needs list and watch on services, "
		        "endpointslices and nodes); retrying in %.1f s",
		        op, what, res->msg, wait);
	else if (res->status && res->status != 200)
		log_warn("api",
		         "%s %s: HTTP %ld: %s; retrying in %.1f s (the programmed rules stay)", op,
		         what, res->status, res->msg, wait);
	else
		log_warn("api", "%s %s: %s; retrying in %.1f s (the programmed rules stay)", op,
		         what, res->msg[0] ? res->msg : "failed", wait);
	nap(inf, wait);
}

static void recovered(struct informer *inf, const char *op)
{
	if (inf->failures)
		log_info("api", "%s %s: working again after %u failure%s", op,
		         kkinds[inf->kind].plural, inf->failures, inf->failures == 1 ? "" : "s");
	inf->failures = 0;
	inf->backoff = 0;
}

static void *informer_main(void *arg)
{
	struct informer *inf = arg;
	bool need_list = true;

	while (!atomic_load(&inf->sh->stop)) {
		struct kube_result res;
		size_t events = 0;
		double t0 = now_mono();
		int r;

		if (need_list) {
			r = informer_list(inf, &res);
			if (r == KR_OK) {
				recovered(inf, "list");
				need_list = false;
			} else if (r == KR_ERR || r == KR_GONE) {
				failed(inf, "list", &res);
			}
			continue;
		}
		r = informer_watch(inf, &res, &events);
		if (events && r != KR_STOP)
			recovered(inf, "watch");
		if (r == KR_OK && !events && now_mono() - t0 < 1.0) {
			snprintf(res.msg, sizeof(res.msg), "the watch ended at once");
			failed(inf, "watch", &res);
		} else if (r == KR_GONE) {
			log_info("api", "watch %s: resourceVersion %s is gone (%s): listing again",
			         kkinds[inf->kind].plural, inf->rv,
			         res.msg[0] ? res.msg : "410 Gone");
			need_list = true;
		} else if (r == KR_RELIST) {
			failed(inf, "watch", &res);
			need_list = true;
		} else if (r == KR_ERR) {
			failed(inf, "watch", &res);
		}
	}
	return NULL;
}

void informer_init(struct informer *inf, struct kshared *sh, enum kkind kind, const char *query)
{
	memset(inf, 0, sizeof(*inf));
	inf->sh = sh;
	inf->kind = kind;
	inf->query = xstrdup(query);
	inf->get = kube_get;
	atomic_init(&inf->synced, false);
}

int informer_start(struct informer *inf)
{
	sigset_t all, old;
	int err;

	inf->kc = kube_client_new(inf->sh->cfg);
	inf->kp = kparser_new();
	/* signals are for the daemon's signalfd, never for these threads */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&inf->tid, NULL, informer_main, inf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -err;
	inf->started = true;
	return 0;
}

void informer_free(struct informer *inf)
{
	if (inf->started)
		pthread_join(inf->tid, NULL);
	inf->started = false;
	for (size_t i = 0; i < kstore_slots(&inf->store); i++)
		if (inf->store.v[i].h)
			kobj_free(inf->kind, inf->store.v[i].obj);
	kstore_clear(&inf->store);
	kube_client_free(inf->kc);
	inf->kc = NULL;
	kparser_free(inf->kp);
	inf->kp = NULL;
	free(inf->query);
	inf->query = NULL;
}
