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
 */
#ifndef SVCPROXY_DECODE_H
#define SVCPROXY_DECODE_H

#include <stddef.h>

#include "model/model.h"
#include "source/diag.h"

/*
 * Decode every document in buf. Valid objects are appended to *out (which
 * owns them). Returns the number of invalid objects (0 when all are valid),
 * or -EINVAL when the text itself does not parse (YAML/JSON syntax error,
 * reported in d with line and column); in that case nothing is added to *out.
 */
int manifest_decode_buffer(const char *origin, const char *buf, size_t len, struct model *out,
                           struct diag *d);

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

/* As manifest_decode_buffer(); rejects (may be NULL) gets the rejected objects. */
int manifest_decode_buffer_ex(const char *origin, const char *buf, size_t len, struct model *out,
                              struct diag *d, struct decode_rejects *rejects);
void decode_rejects_clear(struct decode_rejects *r); /* d stays usable */

#endif
