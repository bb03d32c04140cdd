/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode.h - Kubernetes manifests (YAML or JSON, multi-document) to model objects.
 *
 * Understands v1 Service, discovery.k8s.io/v1 EndpointSlice, v1 Endpoints
 * (converted to one endpoint_slice per subset, from_endpoints = true),
 * v1 Node and v1 List (its items). Other kinds are skipped silently, so a
 * manifest written for `kubectl apply` (Deployments and all) works as is.
 *
 * Validation follows the Kubernetes API's rules for the fields svcproxy
 * uses. An invalid object is not added and gets one diag message per problem
 * naming origin, kind, namespace/name and the field path; the other objects
 * of the buffer are still decoded.
 *
 * Input limits (hostile or broken files must not take the daemon down):
 * a buffer over DECODE_MAX_BYTES, one with a NUL byte or invalid UTF-8,
 * a duplicate key, aliases that expand to more than
 * max(YTREE_ALIAS_NODES_MIN, buffer bytes) nodes (ytree_check()), or more
 * than DECODE_MAX_OBJECTS objects is refused as a whole, like a syntax
 * error.
 * Nesting is limited to 64 levels (ytree.c); v1 Lists nest at most 8 deep.
 */
#ifndef SVCPROXY_DECODE_H
#define SVCPROXY_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "model/model.h"
#include "source/diag.h"

struct ynode; /* source/ytree.h */

/*
 * The largest buffer decoded: 64 MiB, some 200k Services, far beyond any
 * real manifest; a runaway generator or a wrong file cannot make the
 * daemon parse gigabytes.
 */
#define DECODE_MAX_BYTES (64u << 20)
/* Objects in one buffer (List items count one each), as many as 10k nodes' worth. */
#define DECODE_MAX_OBJECTS 100000

/* kube-apiserver's default --service-node-port-range */
#define DECODE_NODE_PORT_MIN 30000
#define DECODE_NODE_PORT_MAX 32767

/*
 * What the cluster allows beyond the API's fixed rules, as kube-apiserver
 * is configured. A NULL struct decode_opts * means the defaults (all zero).
 */
struct decode_opts {
	/* --service-node-port-range; both 0: the API server's default 30000-32767 */
	uint16_t node_port_min, node_port_max;
	/* --external-ip-cidrs: externalIPs must lie in one of these; none: any address */
	const struct cidr *external_ip_cidrs;
	size_t n_external_ip_cidrs;
};

/*
 * Which objects were rejected, so a caller can keep their previous version
 * (manifest.c keeps the last good objects of a file). Only objects whose
 * metadata.name could be read are listed; an invalid v1 Endpoints is listed
 * as OBJ_ENDPOINTS and stands for all the slices converted from it.
 */
enum obj_kind {
	OBJ_SERVICE,
	OBJ_SLICE,
	OBJ_ENDPOINTS,
	OBJ_NODE,
};

struct decode_reject {
	enum obj_kind kind;
	char *ns; /* "" for cluster-scoped objects */
	char *name;
};

struct decode_rejects {
	struct decode_reject *v;
	size_t n;
};

/*
 * Decode every document in buf (origin names it in messages; a name ending
 * in ".json" selects JSON). Valid objects are appended to *out (which owns
 * them); rejects (may be NULL) gets the invalid ones. Returns the number of
 * invalid objects (0 when all are valid), or -EINVAL when the text as a
 * whole is refused (syntax error, or one of the limits above; reported in
 * d with line and column where there is one): then nothing is added to
 * *out or rejects. opts may be NULL (defaults).
 */
int manifest_decode_buffer(const char *origin, const char *buf, size_t len,
                           const struct decode_opts *opts, struct model *out, struct diag *d,
                           struct decode_rejects *rejects);

/*
 * Decode ONE object already parsed by the caller (the API source: an item
 * of a list or watch event) into a ytree, as manifest_decode_buffer()
 * decodes each document: obj is a mapping (a v1 List's items are decoded in
 * turn), origin names it in messages (e.g. "api"). The limits on aliases,
 * duplicate keys and object count apply to obj. Does not keep obj or its
 * tree, and leaves no trace in them that matters to the caller (nodes'
 * meta and user fields are used as scratch and cache). Returns the number of invalid objects
 * (each reported in d and, when named, appended to rejects, which may be
 * NULL), or -EINVAL when obj is refused as a whole (nothing added).
 */
int decode_object(const char *origin, struct ynode *obj, const struct decode_opts *opts,
                  struct model *out, struct diag *d, struct decode_rejects *rejects);

void decode_rejects_clear(struct decode_rejects *r); /* r stays usable */

#endif
