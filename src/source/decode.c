/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode.c - Kubernetes manifests (YAML or JSON) to model objects:
 * buffers, documents, objects.
 *
 * Documents are read from libyaml's parse events into a compact tree
 * (ytree.c) and decoded one by one into a private model, published only
 * when the whole buffer parsed (so a syntax error anywhere adds nothing
 * and yields exactly one message). Validation collects every
 * problem of an object before rejecting it, so one run of `svcproxy check`
 * shows all of them. The kinds live in decode_service.c and
 * decode_endpoints.c, the YAML access in decode_yaml.c.
 *
 * Out of memory is fatal (x*alloc), as everywhere in the daemon.
 */
#include "decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "source/decode_int.h"

#define LIST_MAX_DEPTH 8

/* The fields the API defines (see dy_check_fields()). */
static const char *const f_meta[] = {"name",
                                     "generateName",
                                     "namespace",
                                     "selfLink",
                                     "uid",
                                     "resourceVersion",
                                     "generation",
                                     "creationTimestamp",
                                     "deletionTimestamp",
                                     "deletionGracePeriodSeconds",
                                     "labels",
                                     "annotations",
                                     "ownerReferences",
                                     "finalizers",
                                     "managedFields",
                                     NULL};
static const char *const f_node[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const f_list[] = {"apiVersion", "kind", "metadata", "items", NULL};

/*
 * Read metadata.{name,namespace,labels}. name_ok checks the name's syntax
 * (NULL: any); namespaced selects whether a namespace applies.
 */
void dy_get_meta(struct dctx *c, struct ynode *obj, bool namespaced, bool (*name_ok)(const char *),
                 const char *name_rule, struct meta *m)
{
	const char *s, *name;
	struct ynode *md;
	int ret;

	memset(m, 0, sizeof(*m));
	m->ns = namespaced ? "default" : NULL;
	c->ns = m->ns;
	ret = dy_get_map(c, obj, "metadata", "", &md);
	if (ret <= 0) {
		if (ret == 0)
			dy_bad(c, "metadata.name",
			       "required value is missing (every object needs a name)");
		return;
	}
	/* the name first, so that every message can say which object */
	ret = dy_get_str(c, md, "name", "metadata", &name);
	if (ret > 0)
		c->name = m->name = name;
	dy_check_fields(c, md, "metadata", f_meta);
	if (namespaced && dy_get_str(c, md, "namespace", "metadata", &s) > 0 && *s) {
		c->ns = m->ns = s;
		if (!k8s_is_dns_label(s, false))
			dy_bad(
			    c, "metadata.namespace",
			    "\"%s\" is not a valid namespace (lowercase letters, digits and '-', "
			    "at "
			    "most 63 characters)",
			    s);
	}
	if (ret > 0 && name_ok && !name_ok(name))
		dy_bad(c, "metadata.name", "\"%s\" is not a valid %s name (%s)", name, c->kind,
		       name_rule);
	else if (ret == 0)
		dy_bad(c, "metadata.name", "required value is missing (every object needs a name)");
	if (dy_get_map(c, md, "labels", "metadata", &m->labels) < 0)
		m->labels = NULL;
}

/* A label's value: 1 present (string), 0 absent, -1 wrong type (reported). */
int dy_get_label(struct dctx *c, struct meta *m, const char *key, const char **out)
{
	*out = NULL;
	if (!m->labels)
		return 0;
	if (!dy_get(c, m->labels, key))
		return 0;
	if (dy_vtype(dy_get(c, m->labels, key)) == V_NULL) { /* present but empty */
		*out = "";
		return 1;
	}
	return dy_get_str(c, m->labels, key, "metadata.labels", out);
}

void dy_reject(struct dctx *c, enum obj_kind kind)
{
	struct decode_rejects *r = c->rejects;

	c->invalid++;
	if (!r || !c->name)
		return;
	r->v = dy_grow(r->v, &r->n, sizeof(*r->v));
	r->v[r->n - 1].kind = kind;
	r->v[r->n - 1].ns = xstrdup(c->ns ? c->ns : "");
	r->v[r->n - 1].name = xstrdup(c->name);
}

/* --- Node ------------------------------------------------------------------------ */

static void decode_node(struct dctx *c, struct ynode *obj)
{
	struct meta m;
	struct node *n;
	const char *zone;

	dy_get_meta(c, obj, false, k8s_is_dns_subdomain,
	            "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	dy_check_fields(c, obj, "", f_node);
	if (dy_get_label(c, &m, LABEL_ZONE, &zone) < 0 || c->errors) {
		dy_reject(c, OBJ_NODE);
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->origin = xstrdup(c->origin);
	n->name = xstrdup(m.name);
	n->zone = zone && *zone ? xstrdup(zone) : NULL;
	model_add_node(c->out, n);
}

/* --- documents ----------------------------------------------------------------------- */

/* 1-based line of a node (its first key for a mapping), 0 if unknown */
static int node_line(const struct ynode *n)
{
	if (n && n->type == YN_MAP)
		n = n->len ? n->u.pairs[0].key : NULL;
	if (n && (n->type == YN_SCALAR || n->type == YN_ALIAS))
		return n->line;
	return 0;
}

static void decode_any(struct dctx *c, struct ynode *obj, int depth);

/* The unknown fields past the first UNKNOWN_SHOWN of the current object, as one warning. */
static void unknown_summary(struct dctx *c)
{
	if (c->unknown > UNKNOWN_SHOWN)
		dy_warn(c, NULL, "%d more unknown fields (warning)", c->unknown - UNKNOWN_SHOWN);
}

static void decode_list(struct dctx *c, struct ynode *obj, int depth)
{
	struct ynode *items, *n;
	size_t it = 0;

	if (depth >= LIST_MAX_DEPTH) {
		dy_bad(c, "items", "Lists nested more than %d deep", LIST_MAX_DEPTH);
		c->invalid++;
		return;
	}
	dy_check_fields(c, obj, "", f_list);
	unknown_summary(c);
	if (dy_get_seq(c, obj, "items", "", &items) < 0) {
		c->invalid++;
		return;
	}
	while (items && !c->refused && (n = dy_item(items, &it)))
		decode_any(c, n, depth + 1);
}

/*
 * Decode one object (a document root or a List item). Problems are
 * reported with the object's identity; the object is added to c->out only
 * when it has none. Past DECODE_MAX_OBJECTS, sets c->refused (reported).
 */
static void decode_any(struct dctx *c, struct ynode *obj, int depth)
{
	const char *api = NULL, *kind = NULL;
	size_t klen;

	c->kind = NULL;
	c->ns = NULL;
	c->name = NULL;
	c->errors = 0;
	c->unknown = 0;
	c->line = node_line(obj);
	if (dy_vtype(obj) == V_NULL || dy_vtype(obj) == V_ABSENT)
		return; /* empty document */
	if (++c->objects > DECODE_MAX_OBJECTS) {
		diag_add(c->d, "%s: more than %d objects: refused (split the file)", c->origin,
		         DECODE_MAX_OBJECTS);
		c->refused = true;
		return;
	}
	if (dy_vtype(obj) != V_MAP) {
		dy_bad(c, "document", "expected a Kubernetes object (a mapping), got %s",
		       dy_vtype_names[dy_vtype(obj)]);
		c->invalid++;
		return;
	}
	dy_get_str(c, obj, "kind", "", &kind);
	c->kind = kind;
	dy_get_str(c, obj, "apiVersion", "", &api);
	if (!kind && !c->errors)
		dy_bad(c, "kind", "required value is missing (e.g. Service, EndpointSlice)");
	if (!api && !c->errors)
		dy_bad(c, "apiVersion", "required value is missing (e.g. v1, discovery.k8s.io/v1)");
	if (c->errors) {
		c->invalid++;
		return;
	}
	klen = strlen(kind);
	if (!strcmp(api, "v1") && klen >= 4 && !strcmp(kind + klen - 4, "List")) {
		decode_list(c, obj, depth);
		return;
	}
	if (!strcmp(api, "v1") && !strcmp(kind, "Service"))
		decode_service(c, obj);
	else if (!strcmp(api, "discovery.k8s.io/v1") && !strcmp(kind, "EndpointSlice"))
		decode_slice(c, obj);
	else if (!strcmp(api, "v1") && !strcmp(kind, "Endpoints"))
		decode_endpoints(c, obj);
	else if (!strcmp(api, "v1") && !strcmp(kind, "Node"))
		decode_node(c, obj);
	else
		return; /* anything else (Deployments, ConfigMaps, ...) is not ours: skipped */
	unknown_summary(c);
}

/*
 * Decode one parsed tree (a document's root, or an object the caller
 * parsed) into c's private model, messages and rejects, after checking
 * its limits. -EINVAL when refused.
 */
static int decode_tree(struct dctx *c, struct ynode *root, size_t text_len)
{
	int ret = decode_check_tree(c->origin, root, text_len, c->d);

	if (!ret)
		decode_any(c, root, 0);
	return ret || c->refused ? -EINVAL : 0;
}

/* Hand what c decoded to the caller's model, diag and rejects. */
static void publish(struct dctx *c, struct model *out, struct diag *d,
                    struct decode_rejects *rejects)
{
	struct model *tmp = c->out;
	struct decode_rejects *rej = c->rejects;

	for (size_t i = 0; i < tmp->n_services; i++)
		model_add_service(out, tmp->services[i]);
	for (size_t i = 0; i < tmp->n_slices; i++)
		model_add_slice(out, tmp->slices[i]);
	for (size_t i = 0; i < tmp->n_nodes; i++)
		model_add_node(out, tmp->nodes[i]);
	model_free_view(tmp);
	*tmp = (struct model){0};
	diag_append(d, c->d);
	if (rejects && rej->n) {
		rejects->v = xrealloc(rejects->v, (rejects->n + rej->n) * sizeof(*rej->v));
		memcpy(rejects->v + rejects->n, rej->v, rej->n * sizeof(*rej->v));
		rejects->n += rej->n;
		free(rej->v); /* the strings now belong to rejects */
		rej->v = NULL;
		rej->n = 0;
	}
}

static void dctx_free(struct dctx *c)
{
	model_free(c->out);
	diag_clear(c->d);
	decode_rejects_clear(c->rejects);
}

/*
 * Documents are decoded as they are parsed, into a private model, diag
 * and reject list: a syntax error in a later document must leave no trace
 * but its own message, and one document at a time keeps memory flat for
 * files with tens of thousands of objects.
 */
int manifest_decode_buffer(const char *origin, const char *buf, size_t len,
                           const struct decode_opts *opts, struct model *out, struct diag *d,
                           struct decode_rejects *rejects)
{
	struct decode_rejects rej = {0};
	struct model tmp = {0};
	struct diag msgs = {0};
	struct dctx c = {.origin = origin, .d = &msgs, .out = &tmp, .rejects = &rej, .opts = opts};
	struct yparser *p = NULL;
	struct ytree *t = NULL;
	struct ynode *root;
	struct yerror yerr;
	int ret = -EINVAL, r;

	if (decode_check_text(origin, buf, len, d))
		return -EINVAL;
	/*
	 * A .json file is read as YAML too (JSON is YAML's flow style), as
	 * kubectl reads it. Duplicate keys are found by decode_check_tree().
	 */
	p = yparser_new(buf, len);
	t = ytree_new();
	while ((r = ytree_next(t, p, &root, &yerr)) > 0) {
		if (decode_tree(&c, root, len)) {
			/* only the message that refused it: the rest is moot */
			diag_add(d, "%s", msgs.msgs[msgs.n - 1]);
			goto out;
		}
	}
	if (r < 0) {
		diag_add(d, "%s:%d:%d: %s", origin, yerr.line, yerr.col, yerr.msg);
		goto out;
	}
	publish(&c, out, d, rejects); /* all parsed */
	ret = c.invalid;
out:
	dctx_free(&c);
	ytree_free(t);
	yparser_free(p);
	return ret;
}

int decode_object(const char *origin, struct ynode *obj, const struct decode_opts *opts,
                  struct model *out, struct diag *d, struct decode_rejects *rejects)
{
	struct decode_rejects rej = {0};
	struct model tmp = {0};
	struct diag msgs = {0};
	struct dctx c = {.origin = origin, .d = &msgs, .out = &tmp, .rejects = &rej, .opts = opts};
	int ret = -EINVAL;

	if (decode_tree(&c, obj, 0)) {
		diag_add(d, "%s", msgs.msgs[msgs.n - 1]);
		goto out;
	}
	publish(&c, out, d, rejects);
	ret = c.invalid;
out:
	dctx_free(&c);
	return ret;
}

void decode_rejects_clear(struct decode_rejects *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].ns);
		free(r->v[i].name);
	}
	free(r->v);
	r->v = NULL;
	r->n = 0;
}
