/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * source.h - where Services, EndpointSlices and the Node come from: one
 * contract, several implementations (manifest files, the Kubernetes API).
 *
 * The daemon drives a source without knowing which one it is:
 *
 *   source_start()            initial load / connect (may return before the
 *        |                    initial state is complete: see ready)
 *        v
 *   poll(source_fd())  --readable-->  source_handle()  == 1: objects changed
 *        |
 *   source_ready()            the initial state is complete: every object
 *        |                    that existed at start has been seen. Nothing
 *        |                    is programmed before (a partial initial list
 *        |                    would delete the Services not yet listed).
 *        v
 *   source_model()            a view of the current objects -> compile
 *
 * Objects carry their origin (a file path, or "api") for messages. A source
 * keeps the last good version of an object that turns invalid, and never
 * reports a transient failure (an unreadable file, an unreachable API
 * server) as "the objects are gone": the daemon programs what the source
 * says exists, so losing objects must be a decision, not an accident.
 *
 * Errors: functions return 0 (or the documented value) or -errno; problems
 * in the input go to the diag given (one message each, naming file, object
 * and field) and are not errors of the call.
 */
#ifndef SVCPROXY_SOURCE_H
#define SVCPROXY_SOURCE_H

#include <stdbool.h>

#include "model/model.h"
#include "source/diag.h"

struct source;

struct source_ops {
	const char *name; /* "manifests", "api": for log lines */
	/*
	 * Load or connect. -errno when the source cannot work at all (a
	 * --manifests PATH that does not exist: -ENOENT; unusable credentials:
	 * -EINVAL), reported in d; the daemon then exits.
	 */
	int (*start)(struct source *s, struct diag *d);
	/* A file descriptor to poll for reading; valid after start. */
	int (*fd)(struct source *s);
	/*
	 * Call when fd is readable (a spurious call is harmless). 1 when the
	 * set of objects changed, 0 when not, -errno on a failure that was
	 * logged and will be retried by the source itself.
	 */
	int (*handle)(struct source *s, struct diag *d);
	bool (*ready)(struct source *s);
	/*
	 * Optional (NULL: nothing to re-read). Re-read everything from scratch,
	 * as at start, for an operator's SIGHUP: 1 when the objects may have
	 * changed, 0 when not, -errno (logged in d; the objects stay as they were).
	 */
	int (*reload)(struct source *s, struct diag *d);
	/*
	 * The current objects as a view in *m (empty, or a view of an earlier
	 * call: its arrays are reused): the arrays belong to the caller
	 * (model_free_view()), the objects to the source, valid until the next
	 * handle(). 0 or -errno.
	 */
	int (*model)(struct source *s, struct model *m, struct diag *d);
	/*
	 * Optional (NULL: always). May this node take load-balancer traffic?
	 * Not when its Node object is deleted, being deleted or drained: then
	 * /healthz answers 503 (kube-proxy's nodeEligible) while the rules stay.
	 * Changes are seen after handle().
	 */
	bool (*node_eligible)(struct source *s);
	/*
	 * Optional (NULL: not counted). How many Service and EndpointSlice
	 * events handle() has taken in since the last call (kube-proxy's
	 * *_changes_pending metrics); the counts restart at 0.
	 */
	void (*changes)(struct source *s, unsigned *services, unsigned *slices);
	void (*free)(struct source *s); /* accepts a source never started */
};

struct source {
	const struct source_ops *ops;
	void *impl;
};

static inline int source_start(struct source *s, struct diag *d)
{
	return s->ops->start(s, d);
}

static inline int source_fd(struct source *s)
{
	return s->ops->fd(s);
}

static inline int source_handle(struct source *s, struct diag *d)
{
	return s->ops->handle(s, d);
}

static inline bool source_ready(struct source *s)
{
	return s->ops->ready(s);
}

static inline int source_reload(struct source *s, struct diag *d)
{
	return s->ops->reload ? s->ops->reload(s, d) : 0;
}

static inline bool source_node_eligible(struct source *s)
{
	return !s->ops->node_eligible || s->ops->node_eligible(s);
}

static inline void source_changes(struct source *s, unsigned *services, unsigned *slices)
{
	*services = *slices = 0;
	if (s->ops->changes)
		s->ops->changes(s, services, slices);
}

static inline int source_model(struct source *s, struct model *m, struct diag *d)
{
	return s->ops->model(s, m, d);
}

static inline const char *source_name(const struct source *s)
{
	return s->ops->name;
}

/* Frees s and its implementation; accepts NULL. */
static inline void source_free(struct source *s)
{
	if (s)
		s->ops->free(s);
}

#endif
