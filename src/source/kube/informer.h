/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * informer.h - list then watch one kind of object, keeping a store of them.
 *
 * As client-go's reflector does for kube-proxy, one thread per kind:
 *
 *        +--> list (pages of 500: limit/continue) --ok--> replace the store
 *        |        | error: back off, list again             (deletions too)
 *        |        v
 *        |    watch from the last resourceVersion (bookmarks allowed,
 *        |        |  timeoutSeconds 5-10 min)
 *        |        |-- ADDED/MODIFIED/DELETED: the store changes, the fd is
 *        |        |   signalled; BOOKMARK: the resourceVersion moves
 *        |        |-- ended cleanly (timeout, server closed): watch again
 *        |        |-- error (refused, reset, 5xx, 401/403, a broken line):
 *        |        |   back off, watch again from the same resourceVersion
 *        +--------+-- 410 Gone / ERROR event 410 (Expired): list again
 *
 * Back off: 0.8 s doubling up to 30 s, plus up to 25% jitter; reset after
 * a list, or a watch that delivered an event. Outage safety: a failure
 * never empties the store; only a complete list replaces it. An object
 * that does not validate keeps its last good version (and is reported).
 *
 * Objects replaced or deleted are not freed by the thread: they go to the
 * shared graveyard, freed by the daemon's thread in handle(), so a model
 * view stays valid until then (source.h).
 */
#ifndef SVCPROXY_INFORMER_H
#define SVCPROXY_INFORMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/diag.h"
#include "source/kube/client.h"
#include "source/kube/kobj.h"

/* State the informers share with the daemon's thread, under lock. */
struct kshared {
	pthread_mutex_t lock;
	int efd;          /* eventfd, written after every change or message */
	bool changed;     /* some store changed since the last handle() */
	struct diag msgs; /* problems in objects, for the next handle() */
	struct kgrave {
		enum kkind kind;
		void *obj;
	} * graves; /* replaced or deleted objects, freed in handle() */
	size_t n_graves, cap_graves;
	atomic_bool stop;
	const struct kube_config *cfg;
	const struct decode_opts *opts; /* validation settings for decode_object(), or NULL */
	/* this node's Node is deleted, being deleted or drained (kobj_node_eligible()) */
	bool node_ineligible;
	/* objects added, changed or deleted since the last handle(), per kind */
	unsigned events[KK_N];
};

struct kentry {
	uint64_t h; /* of key; 0: empty slot */
	char *key;  /* "ns/name" */
	char rv[32];
	void *obj;
};

/* Objects by namespace/name: open addressing, linear probing. */
struct kstore {
	struct kentry *v;
	size_t mask, n;
};

struct informer {
	struct kshared *sh;
	enum kkind kind;
	char *query;         /* the selector parameter, encoded; "" for none */
	struct kstore store; /* written under sh->lock; its thread reads it freely */
	char rv[32];         /* resourceVersion to watch from */
	atomic_bool synced;  /* the first list is complete */
	double backoff;      /* the last wait's base, seconds; 0: none */
	unsigned failures;   /* in a row */
	pthread_t tid;
	bool started;
	struct kube_client *kc;
	struct kparser *kp; /* the thread's, for every object it decodes */
	/* how bodies arrive: kube_get; a test serves bytes of its own instead */
	int (*get)(struct kube_client *kc, const char *path,
	           int (*body)(void *arg, const char *p, size_t n), void *arg, long timeout,
	           const atomic_bool *stop, struct kube_result *res);
};

/* selector: "labelSelector=...", already encoded, or "" */
void informer_init(struct informer *inf, struct kshared *sh, enum kkind kind, const char *query);
/* Start its thread (with every signal blocked). 0 or -errno. */
int informer_start(struct informer *inf);
/* Join the thread (sh->stop must be set) and free everything. */
void informer_free(struct informer *inf);

/*
 * One list (every page, then the store replaced) or one watch (to its
 * end), as the thread does them, the bodies coming through inf->get: for
 * the tests and fuzz targets, which run no thread (they set inf->kp and
 * inf->get themselves). Returns what it came to; res says why.
 */
enum { KR_OK, KR_GONE, KR_ERR, KR_RELIST, KR_STOP };
int informer_list(struct informer *inf, struct kube_result *res);
int informer_watch(struct informer *inf, struct kube_result *res, size_t *events);

/* Every object of the store, for the view; under sh->lock. */
static inline void *kstore_obj(const struct kstore *s, size_t slot)
{
	return s->v && s->v[slot].h ? s->v[slot].obj : NULL;
}

static inline size_t kstore_slots(const struct kstore *s)
{
	return s->v ? s->mask + 1 : 0;
}

#endif
