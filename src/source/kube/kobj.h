/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kobj.h - one API object's JSON text to a model object.
 *
 * The kinds the API source watches, their paths, and the two steps an
 * object's text goes through: its metadata read first (identity and
 * resourceVersion, enough for a deletion or an unchanged object), then,
 * only when needed, the whole object decoded and validated by decode.c,
 * with the same rules and messages as a manifest ("api: Service ns/name:
 * field: problem").
 */
#ifndef SVCPROXY_KOBJ_H
#define SVCPROXY_KOBJ_H

#include <stdbool.h>
#include <stddef.h>

#include "source/diag.h"

enum kkind { KK_SERVICE, KK_SLICE, KK_NODE, KK_N };

struct kkind_info {
	const char *kind;        /* "Service" */
	const char *api_version; /* "v1" */
	const char *plural;      /* "services": for log lines */
	const char *path;        /* "/api/v1/services" */
};

extern const struct kkind_info kkinds[KK_N];

struct kmeta {
	char ns[64]; /* "" for cluster-scoped objects */
	char name[254];
	char rv[32];   /* metadata.resourceVersion, "" if none */
	bool has_kind; /* the text names its kind (watch events do, list items do not) */
	bool deleting; /* metadata.deletionTimestamp is set */
};

/*
 * Read an object's metadata. 0, or -EPROTO when text is not a JSON object
 * or its metadata is unreadable. m->name is "" when there is none (a
 * BOOKMARK's object).
 */
int kobj_meta(const char *text, size_t len, struct kmeta *m);

struct decode_opts;

/*
 * The tree (source/ytree.h) each object is read into, its arena kept from
 * one object to the next. For one thread at a time.
 */
struct kparser;

struct kparser *kparser_new(void);
void kparser_free(struct kparser *kp); /* accepts NULL */

/*
 * Decode an object of kind k (m from kobj_meta) with decode.c's options
 * (may be NULL), parsed by kp. Returns the new model
 * object (struct service *, struct endpoint_slice *, struct node *), or
 * NULL when it is invalid or is not the object m names (e.g. a namespaced
 * object without metadata.namespace): the problems are in d.
 */
void *kobj_decode(struct kparser *kp, enum kkind k, const char *text, size_t len,
                  const struct kmeta *m, const struct decode_opts *opts, struct diag *d);

void kobj_free(enum kkind k, void *obj); /* accepts NULL */

/*
 * Whether a Node (text, with m from kobj_meta) may receive traffic, as
 * kube-proxy's NodeEligible: not when it is being deleted or is tainted
 * ToBeDeletedByClusterAutoscaler (the cluster autoscaler drains it).
 */
bool kobj_node_eligible(const char *text, size_t len, const struct kmeta *m);

#endif
