/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_int.h - the decoder's insides, shared by its files:
 *
 *   decode.c            buffers and documents, object dispatch, metadata, Node
 *   decode_limits.c     what is refused before decoding: text, aliases, duplicate keys
 *   decode_yaml.c       typed access to tree nodes, field paths, messages
 *   ytree.c             libyaml's parse events to a compact tree (ytree.h)
 *   decode_service.c    v1 Service
 *   decode_endpoints.c  discovery.k8s.io/v1 EndpointSlice and v1 Endpoints
 *   k8s_validate.c      Kubernetes value rules without YAML (names, IPs, CIDRs)
 *
 * Every dy_* reader takes the decoding state (struct dctx), the node to
 * read and the field path for messages; it returns 1 with a value, 0 when
 * the field is absent or null, -1 when it is invalid (reported with dy_bad(),
 * which counts an error against the current object).
 *
 * Not for use outside these files: decode.h is the interface.
 */
#ifndef SVCPROXY_DECODE_INT_H
#define SVCPROXY_DECODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/decode.h"
#include "source/k8s_validate.h"
#include "source/ytree.h"

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_PROXY_NAME   "service.kubernetes.io/service-proxy-name"
#define LABEL_ZONE         "topology.kubernetes.io/zone"
#define PATH_LEN           128 /* field paths in messages; longer ones are cut */
#define UNKNOWN_SHOWN      10  /* unknown-field warnings per object; past this only counted */

/* Decoding state for one object: where it came from, and what it is called. */
struct dctx {
	const char *origin;
	struct diag *d;
	struct model *out;
	struct decode_rejects *rejects;
	const char *kind;               /* for messages */
	const char *ns;                 /* NULL for cluster-scoped kinds */
	const char *name;               /* NULL until metadata.name is known */
	int line;                       /* 1-based line of the object, for unnamed objects */
	const struct decode_opts *opts; /* may be NULL */
	int errors;                     /* problems found in the current object */
	int unknown;                    /* unknown fields found in the current object */
	int invalid;                    /* invalid objects in the buffer */
	size_t objects;                 /* objects decoded from the buffer */
	bool refused;                   /* past a limit: the buffer is refused (reported) */
};

/* --- decode_yaml.c: messages ---------------------------------------------------- */

/* An error of the current object (it will be rejected); path: the field, or NULL. */
void dy_bad(struct dctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A warning about the current object: it is still decoded. */
void dy_warn(struct dctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- decode_yaml.c: nodes --------------------------------------------------------- */

/* The type of a node as the Kubernetes JSON decoder would see it. */
enum vtype {
	V_ABSENT,
	V_NULL,
	V_STR,
	V_INT,
	V_BOOL,
	V_FLOAT,
	V_MAP,
	V_SEQ,
};

extern const char *const dy_vtype_names[]; /* "a string", "a list", ... */

enum vtype dy_vtype(struct ynode *n);
bool dy_text_is(const char *s, size_t len, const char *lit);
bool dy_text_is_int(const char *s, size_t len);
struct ynode *dy_get(struct dctx *c, struct ynode *map, const char *key);
/* the next list item (*it from 0), aliases followed; NULL at the end or a dangling alias */
struct ynode *dy_item(struct ynode *seq, size_t *it);
const char *dy_scalar0(struct dctx *c, struct ynode *n, size_t *lenp); /* valid for the tree */
const char *dy_show(struct ynode *n, char *buf, size_t size);          /* for messages */
void *dy_grow(void *arr, size_t *n, size_t sz); /* append one zeroed element */

/*
 * Which keys a list has shown so far, for "duplicate" messages that name
 * the earlier item, in linear time (a pairwise check is quadratic in the
 * list, and lists are as long as the input makes them). A key is a string
 * (which must outlive the table) or, with s NULL, a number in h.
 */
#define DY_SEEN_FEW 8 /* keys compared in place before a table is allocated */
struct dy_seen {
	struct dy_seen_e {
		uint64_t h;
		const char *s;
		size_t len, idx;
	} * v, few[DY_SEEN_FEW];
	size_t mask, n; /* table capacity - 1 (0 while none: in few), entries */
};

/* -1 when new (recorded with idx), else the idx it was first seen with. */
long dy_seen_add(struct dy_seen *t, const char *s, size_t len, uint64_t num, size_t idx);
void dy_seen_free(struct dy_seen *t);

/* Field paths: buf = parent.key (key alone at the top), buf = parent[i]; parent may be buf. */
void dy_join(char *buf, const char *parent, const char *key);
void dy_path_index(char *buf, const char *parent, size_t i);

/* --- decode_yaml.c: typed readers (1 value, 0 absent/null, -1 invalid, reported) ---- */

int dy_get_str(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               const char **out);
int dy_node_str(struct dctx *c, struct ynode *n, const char *path, const char **out);
int dy_node_int(struct dctx *c, struct ynode *n, const char *path, long long *out);
int dy_node_bool(struct dctx *c, struct ynode *n, const char *path, bool *out);
int dy_get_seq(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               struct ynode **out);
int dy_node_map(struct dctx *c, struct ynode *n, const char *path, struct ynode **out);
int dy_get_map(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               struct ynode **out);
int dy_node_port(struct dctx *c, struct ynode *n, const char *path, int lo, uint16_t *out);
int dy_get_port(struct dctx *c, struct ynode *map, const char *key, const char *parent, int lo,
                uint16_t *out);
uint8_t dy_get_proto(struct dctx *c, struct ynode *map, const char *parent); /* 0: invalid */
int dy_node_ip(struct dctx *c, struct ynode *n, const char *path, int family, enum k8s_ip_use use,
               struct ipaddr *out);
bool dy_ip_usable(struct dctx *c, const char *path, const char *text, const struct ipaddr *a,
                  enum k8s_ip_use use);

/*
 * Warn about every key of map (at path) that is not in known (a NULL-ended
 * list of the fields the API defines there), as `kubectl apply
 * --validate=warn` does. One pass over map.
 */
void dy_check_fields(struct dctx *c, struct ynode *map, const char *path, const char *const *known);

/* --- decode.c: object metadata ------------------------------------------------------ */

struct meta {
	const char *name;
	const char *ns;
	struct ynode *labels; /* mapping, or NULL */
};

void dy_get_meta(struct dctx *c, struct ynode *obj, bool namespaced, bool (*name_ok)(const char *),
                 const char *name_rule, struct meta *m);
int dy_get_label(struct dctx *c, struct meta *m, const char *key, const char **out);
/* Count the current object as invalid and list it in c->rejects when named. */
void dy_reject(struct dctx *c, enum obj_kind kind);

/* --- the kinds: each adds a valid object to c->out, or rejects it -------------------- */

void decode_service(struct dctx *c, struct ynode *obj);
void decode_slice(struct dctx *c, struct ynode *obj);
void decode_endpoints(struct dctx *c, struct ynode *obj);

/* --- decode_limits.c --------------------------------------------------------------- */

/* Refuse text that is too long, holds a NUL or is not UTF-8: 0 or -EINVAL (reported in d). */
int decode_check_text(const char *origin, const char *buf, size_t len, struct diag *d);
/*
 * 0 when the tree at root is within the limits (no duplicate key, aliases
 * within max(YTREE_ALIAS_NODES_MIN, text_len) nodes), -EINVAL (reported).
 */
int decode_check_tree(const char *origin, struct ynode *root, size_t text_len, struct diag *d);

#endif
