/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kobj.c - one API object's JSON text to a model object (see kobj.h).
 */
#include "kobj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "model/model.h"
#include "source/decode.h"
#include "source/kube/jscan.h"
#include "source/ytree.h"

const struct kkind_info kkinds[KK_N] = {
    [KK_SERVICE] = {"Service", "v1", "services", "/api/v1/services"},
    [KK_SLICE] = {"EndpointSlice", "discovery.k8s.io/v1", "endpointslices",
                  "/apis/discovery.k8s.io/v1/endpointslices"},
    [KK_NODE] = {"Node", "v1", "nodes", "/api/v1/nodes"},
};

static int meta_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct kmeta *m = arg;

	if (json_key_is(key, klen, "name")) {
		if (json_str(val, vlen, m->name, sizeof(m->name)) < 0)
			return -EPROTO;
	} else if (json_key_is(key, klen, "namespace")) {
		if (json_str(val, vlen, m->ns, sizeof(m->ns)) < 0)
			return -EPROTO;
	} else if (json_key_is(key, klen, "resourceVersion")) {
		if (json_str(val, vlen, m->rv, sizeof(m->rv)) < 0)
			m->rv[0] = '\0'; /* unusable: the object is always decoded */
	} else if (json_key_is(key, klen, "deletionTimestamp")) {
		m->deleting = !(vlen == 4 && !memcmp(val, "null", 4));
	}
	return 0;
}

static int obj_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct kmeta *m = arg;

	if (json_key_is(key, klen, "kind"))
		m->has_kind = true;
	else if (json_key_is(key, klen, "metadata"))
		return jscan_members(val, vlen, meta_member, m) < 0 ? -EPROTO : 0;
	return 0;
}

int kobj_meta(const char *text, size_t len, struct kmeta *m)
{
	memset(m, 0, sizeof(*m));
	if (jscan_members(text, len, obj_member, m) < 0)
		return -EPROTO;
	return 0;
}

/* Name an object in a message: "Service default/web". */
static void obj_ref(enum kkind k, const struct kmeta *m, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s%s%s", kkinds[k].kind, m->ns, m->ns[0] ? "/" : "",
	         m->name[0] ? m->name : "(unnamed)");
}

/*
 * List items lack kind and apiVersion (the API server leaves them out).
 * The values are plain scalars: strings to the decoder all the same.
 */
static void add_kind(struct ytree *t, struct ynode *root, enum kkind k)
{
	ytree_map_append(t, root, ytree_scalar(t, "kind", true),
	                 ytree_scalar(t, kkinds[k].kind, true));
	ytree_map_append(t, root, ytree_scalar(t, "apiVersion", true),
	                 ytree_scalar(t, kkinds[k].api_version, true));
}

struct kparser {
	struct ytree *tree; /* one object at a time; its arena is kept */
};

struct kparser *kparser_new(void)
{
	struct kparser *kp = xcalloc(1, sizeof(*kp));

	kp->tree = ytree_new();
	return kp;
}

void kparser_free(struct kparser *kp)
{
	if (!kp)
		return;
	ytree_free(kp->tree);
	free(kp);
}

/* Whether obj, as decoded, is the object m names (namespace "" for a Node). */
static bool same_identity(enum kkind k, const void *obj, const struct kmeta *m)
{
	const char *ns = "", *name;

	if (k == KK_SERVICE) {
		ns = ((const struct service *)obj)->ns;
		name = ((const struct service *)obj)->name;
	} else if (k == KK_SLICE) {
		ns = ((const struct endpoint_slice *)obj)->ns;
		name = ((const struct endpoint_slice *)obj)->name;
	} else {
		name = ((const struct node *)obj)->name;
	}
	return ns && name && !strcmp(ns, m->ns) && !strcmp(name, m->name);
}

void *kobj_decode(struct kparser *kp, enum kkind k, const char *text, size_t len,
                  const struct kmeta *m, const struct decode_opts *opts, struct diag *d)
{
	struct ynode *root = NULL;
	struct yparser *p;
	struct model out = {0};
	struct yerror err;
	char ref[sizeof(m->ns) + sizeof(m->name) + 32];
	void *obj = NULL;

	obj_ref(k, m, ref, sizeof(ref));
	/* JSON is UTF-8 (RFC 8259): libyaml would also read UTF-16 */
	if (!json_utf8_valid(text, len)) {
		diag_add(d, "api: %s: not valid UTF-8 JSON: ignored", ref);
		return NULL;
	}
	/* the first document only: what may follow it is never looked at */
	p = yparser_new(text, len);
	ytree_next(kp->tree, p, &root, &err);
	yparser_free(p);
	if (!root || root->type != YN_MAP) {
		diag_add(d, "api: %s: not a JSON object: ignored", ref);
		return NULL;
	}
	if (!m->has_kind)
		add_kind(kp->tree, root, k);
	decode_object("api", root, opts, &out, d, NULL);
	if (k == KK_SERVICE && out.n_services == 1) {
		obj = out.services[0];
		out.services[0] = NULL;
	} else if (k == KK_SLICE && out.n_slices == 1) {
		obj = out.slices[0];
		out.slices[0] = NULL;
	} else if (k == KK_NODE && out.n_nodes == 1) {
		obj = out.nodes[0];
		out.nodes[0] = NULL;
	}
	model_free(&out);
	if (obj && !same_identity(k, obj, m)) {
		/*
		 * The store files it under m's namespace/name: a DELETED event naming the
		 * object as decoded would miss it, and two entries could hold one object.
		 * Only a broken or hostile server sends such an object (a namespaced one
		 * without metadata.namespace, which decode.c takes as "default"; members
		 * that the two parsers read differently).
		 */
		diag_add(d, "api: %s: %s: ignored", ref,
		         k != KK_NODE && !m->ns[0]
		             ? "no metadata.namespace"
		             : "metadata.namespace or name not readable as one");
		kobj_free(k, obj);
		obj = NULL;
	}
	return obj;
}

struct taints {
	bool draining;
};

static int taint_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	static const char lit[] = "\"ToBeDeletedByClusterAutoscaler\"";
	struct taints *t = arg;

	if (json_key_is(key, klen, "key") && vlen == sizeof(lit) - 1 && !memcmp(val, lit, vlen))
		t->draining = true;
	return 0;
}

/* spec.taints[]: each element's members (a JSON array walked by hand: elements are objects) */
static int spec_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	size_t i = 1;

	if (!json_key_is(key, klen, "taints") || vlen < 2 || val[0] != '[')
		return 0;
	while (i < vlen) {
		size_t start, depth = 0;

		while (i < vlen && val[i] != '{')
			i++;
		start = i;
		for (; i < vlen; i++) { /* the element's end; taint strings hold no braces */
			if (val[i] == '{')
				depth++;
			else if (val[i] == '}' && --depth == 0)
				break;
		}
		if (i >= vlen)
			break;
		jscan_members(val + start, i + 1 - start, taint_member, arg);
		i++;
	}
	return 1;
}

static int node_member(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	if (json_key_is(key, klen, "spec"))
		return jscan_members(val, vlen, spec_member, arg) < 0 ? 0 : 1;
	return 0;
}

bool kobj_node_eligible(const char *text, size_t len, const struct kmeta *m)
{
	struct taints t = {0};

	if (m->deleting)
		return false;
	jscan_members(text, len, node_member, &t);
	return !t.draining;
}

void kobj_free(enum kkind k, void *obj)
{
	if (!obj)
		return;
	if (k == KK_SERVICE)
		service_free(obj);
	else if (k == KK_SLICE)
		endpoint_slice_free(obj);
	else
		node_free(obj);
}
