/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode.c - Kubernetes manifests (YAML or JSON) to model objects.
 *
 * Two passes over a buffer: first every document is parsed (so a syntax
 * error anywhere adds nothing and yields exactly one message), then each
 * document's object is validated and converted. Validation collects every
 * problem of an object before rejecting it, so one run of `svcproxy check`
 * shows all of them.
 *
 * Typing follows what kubectl/the API server accept: a quoted "80" is a
 * string and not an integer (except where the API takes int-or-string,
 * i.e. targetPort), a plain 80 is not a string. Aliases are followed;
 * merge keys (<<) are not supported.
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
#include <time.h>

#include <libfyaml.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/utf8.h"

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define LABEL_PROXY_NAME   "service.kubernetes.io/service-proxy-name"
#define LABEL_ZONE         "topology.kubernetes.io/zone"
#define AFFINITY_DEFAULT   10800
#define AFFINITY_MAX       86400
#define LIST_MAX_DEPTH     8
#define PATH_LEN           128
#define KV_MAX             16 /* mappings with more keys are searched in place */
#define KV_SLOTS           4
#define ARENA_CHUNK        4096

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
	/* the keys of the last few mappings read (see get()); per document */
	struct kvmap {
		struct fy_node *map; /* NULL: slot unused */
		unsigned n;
		struct kv {
			const char *key;
			size_t len;
			struct fy_node *val;
		} e[KV_MAX];
	} kv[KV_SLOTS];
	unsigned kv_next;
	/* NUL-terminated copies of scalars (see scalar0()); per document */
	struct arena {
		struct achunk *head;
		size_t used, cap;
	} arena;
};

struct achunk {
	struct achunk *next;
	char mem[];
};

/*
 * One message about the current object, prefixed with what names it
 * (origin, kind, ns/name, or the line for an unnamed object) and the field
 * path (none when NULL).
 */
static void vreport(struct dctx *c, bool warning, const char *path, const char *fmt, va_list ap)
{
	void (*add)(struct diag *, const char *, ...) = warning ? diag_warn : diag_add;
	char *msg, who[320];

	if (vasprintf(&msg, fmt, ap) < 0)
		die_oom();
	if (c->name && c->ns)
		snprintf(who, sizeof(who), "%s: %s %s/%s", c->origin, c->kind, c->ns, c->name);
	else if (c->name)
		snprintf(who, sizeof(who), "%s: %s %s", c->origin, c->kind, c->name);
	else if (c->kind)
		snprintf(who, sizeof(who), "%s:%d: %s", c->origin, c->line, c->kind);
	else
		snprintf(who, sizeof(who), "%s:%d", c->origin, c->line);
	if (path)
		add(c->d, "%s: %s: %s", who, path, msg);
	else
		add(c->d, "%s: %s", who, msg);
	free(msg);
}

/* Report one problem of the current object (it will be rejected); path is the field path. */
static void __attribute__((format(printf, 3, 4)))
bad(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, false, path, fmt, ap);
	va_end(ap);
	c->errors++;
}

/* Report a warning about the current object: it is still decoded. */
static void __attribute__((format(printf, 3, 4)))
warn(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, true, path, fmt, ap);
	va_end(ap);
}

/* --- typed access to YAML nodes ------------------------------------------ */

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

static const char *const vtype_names[] = {
    [V_ABSENT] = "nothing", [V_NULL] = "null",      [V_STR] = "a string",  [V_INT] = "an integer",
    [V_BOOL] = "a boolean", [V_FLOAT] = "a number", [V_MAP] = "a mapping", [V_SEQ] = "a list",
};

/* Follow aliases; NULL for an alias that leads nowhere. */
static struct fy_node *deref(struct fy_node *n)
{
	if (n && fy_node_is_alias(n))
		n = fy_node_resolve_alias(n);
	return n;
}

static bool text_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(s, lit, len);
}

static bool text_is_int(const char *s, size_t len)
{
	size_t i = 0;

	if (len && (s[0] == '-' || s[0] == '+'))
		i++;
	if (i == len)
		return false;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* YAML 1.2 core schema float, roughly: digits with '.' or an exponent, .inf, .nan */
static bool text_is_float(const char *s, size_t len)
{
	char buf[64];
	char *end;

	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!strcmp(buf, ".inf") || !strcmp(buf, "-.inf") || !strcmp(buf, "+.inf") ||
	    !strcmp(buf, ".nan") || !strcmp(buf, ".Inf") || !strcmp(buf, ".NaN"))
		return true;
	if (!strpbrk(buf, ".eE") || strpbrk(buf, "xXpP") || strspn(buf, "0123456789+-.eE") != len)
		return false;
	strtod(buf, &end);
	return *end == '\0';
}

/* The type of a node as the Kubernetes JSON decoder would see it. */
static enum vtype vtype(struct fy_node *n)
{
	const char *s, *tag;
	size_t len, tlen;

	if (!n)
		return V_ABSENT;
	switch (fy_node_get_type(n)) {
	case FYNT_MAPPING:
		return V_MAP;
	case FYNT_SEQUENCE:
		return V_SEQ;
	case FYNT_SCALAR:
		break;
	}
	tag = fy_node_get_tag(n, &tlen);
	if (tag && (text_is(tag, tlen, "!!str") || text_is(tag, tlen, "tag:yaml.org,2002:str")))
		return V_STR;
	if (fy_node_get_style(n) != FYNS_PLAIN)
		return V_STR;
	s = fy_node_get_scalar(n, &len);
	if (!s || !len || text_is(s, len, "~") || text_is(s, len, "null") ||
	    text_is(s, len, "Null") || text_is(s, len, "NULL"))
		return V_NULL;
	if (text_is(s, len, "true") || text_is(s, len, "True") || text_is(s, len, "TRUE") ||
	    text_is(s, len, "false") || text_is(s, len, "False") || text_is(s, len, "FALSE"))
		return V_BOOL;
	if (text_is_int(s, len))
		return V_INT;
	if (text_is_float(s, len))
		return V_FLOAT;
	return V_STR;
}

/* A mapping's key as text: NULL when not a scalar. */
static const char *key_text(struct fy_node_pair *pair, size_t *len)
{
	struct fy_node *k = deref(fy_node_pair_key(pair));

	if (!k || fy_node_get_type(k) != FYNT_SCALAR)
		return NULL;
	return fy_node_get_scalar(k, len);
}

/*
 * The value of key in mapping map (aliases followed), or NULL. Objects
 * are read by asking a mapping for one key after another, most of them
 * absent, so the keys of the last KV_SLOTS mappings are kept as plain
 * text (c->kv, forgotten with the document): asking again costs no call
 * into libfyaml.
 */
static struct fy_node *get(struct dctx *c, struct fy_node *map, const char *key)
{
	size_t klen = strlen(key), len;
	struct fy_node_pair *pair;
	struct kvmap *m = NULL;
	void *it = NULL;
	const char *s;

	if (!map || fy_node_get_type(map) != FYNT_MAPPING)
		return NULL;
	for (unsigned i = 0; i < KV_SLOTS; i++)
		if (c->kv[i].map == map) {
			m = &c->kv[i];
			break;
		}
	if (!m && fy_node_mapping_item_count(map) <= KV_MAX) {
		m = &c->kv[c->kv_next++ % KV_SLOTS];
		m->map = map;
		m->n = 0;
		while ((pair = fy_node_mapping_iterate(map, &it)))
			if ((s = key_text(pair, &len)))
				m->e[m->n++] = (struct kv){s, len, deref(fy_node_pair_value(pair))};
	}
	if (m) {
		for (unsigned i = 0; i < m->n; i++)
			if (m->e[i].len == klen && !memcmp(m->e[i].key, key, klen))
				return m->e[i].val;
		return NULL;
	}
	while ((pair = fy_node_mapping_iterate(map, &it)))
		if ((s = key_text(pair, &len)) && len == klen && !memcmp(s, key, len))
			return deref(fy_node_pair_value(pair));
	return NULL;
}

/* A scalar's text with a NUL added, valid for the document (c->arena). */
static const char *scalar0(struct dctx *c, struct fy_node *n, size_t *lenp)
{
	struct arena *a = &c->arena;
	size_t len = 0;
	const char *s = fy_node_get_scalar(n, &len);
	char *p;

	if (!s)
		s = "";
	if (len + 1 > a->cap - a->used) {
		size_t cap = len + 1 > ARENA_CHUNK ? len + 1 : ARENA_CHUNK;
		struct achunk *ch = xmalloc(sizeof(*ch) + cap);

		ch->next = a->head;
		a->head = ch;
		a->used = 0;
		a->cap = cap;
	}
	p = a->head->mem + a->used;
	memcpy(p, s, len);
	p[len] = '\0';
	a->used += len + 1;
	*lenp = len;
	return p;
}

/* Forget the document's keys and strings (its nodes are about to go). */
static void doc_done(struct dctx *c)
{
	struct achunk *ch = c->arena.head;

	for (unsigned i = 0; i < KV_SLOTS; i++)
		c->kv[i].map = NULL;
	/* keep the newest chunk for the next document */
	if (ch) {
		while (ch->next) {
			struct achunk *next = ch->next->next;

			free(ch->next);
			ch->next = next;
		}
		c->arena.used = 0;
	}
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct achunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	a->used = a->cap = 0;
}

/* A short printable rendering of a scalar for messages ("..." when long). */
static const char *show(struct fy_node *n, char *buf, size_t size)
{
	const char *s = n ? fy_node_get_scalar(n, NULL) : NULL;
	size_t len = 0;

	if (n && fy_node_get_type(n) != FYNT_SCALAR) {
		snprintf(buf, size, "%s", vtype_names[vtype(n)]);
		return buf;
	}
	if (s)
		s = fy_node_get_scalar(n, &len);
	if (len > 40)
		snprintf(buf, size, "%.37s...", s);
	else
		snprintf(buf, size, "%.*s", (int)len, s ? s : "");
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = '?';
	return buf;
}

/*
 * Field paths for messages, built without printf (they are built for every
 * field read, and used only for a message): as snprintf() into PATH_LEN
 * bytes would, truncating to PATH_LEN - 1. The parent may be buf itself.
 */
static size_t path_put(char *buf, size_t len, const char *s, size_t n)
{
	if (n > PATH_LEN - 1 - len)
		n = PATH_LEN - 1 - len;
	memmove(buf + len, s, n);
	buf[len + n] = '\0';
	return len + n;
}

/* buf = parent.key (or key at the top level) */
static void join(char *buf, const char *parent, const char *key)
{
	size_t len = 0;

	if (parent && *parent) {
		len = path_put(buf, len, parent, strlen(parent));
		len = path_put(buf, len, ".", 1);
	}
	path_put(buf, len, key, strlen(key));
}

/* buf = parent[i] */
static void path_index(char *buf, const char *parent, size_t i)
{
	char num[24];
	size_t n = sizeof(num), len;

	num[--n] = ']';
	do
		num[--n] = (char)('0' + i % 10);
	while ((i /= 10));
	num[--n] = '[';
	len = path_put(buf, 0, parent, strlen(parent));
	path_put(buf, len, num + n, sizeof(num) - n);
}

/*
 * Read parent.key as a string. Returns 1 and sets *out (owned by the
 * document) when present, 0 when absent or null, -1 when of another type
 * (reported). The path is only built for a message.
 */
static int node_str(struct dctx *c, struct fy_node *n, const char *path, const char **out);

static int get_str(struct dctx *c, struct fy_node *map, const char *key, const char *parent,
                   const char **out)
{
	struct fy_node *n = get(c, map, key);
	enum vtype t = vtype(n);
	char path[PATH_LEN];
	size_t len;

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_STR) {
		*out = scalar0(c, n, &len);
		if (!memchr(*out, '\0', len))
			return 1;
	}
	join(path, parent, key);
	return node_str(c, n, path, out);
}

/* As get_str(), for a node that is itself the value (list items). */
static int node_str(struct dctx *c, struct fy_node *n, const char *path, const char **out)
{
	enum vtype t = vtype(n);
	char sh[64];
	size_t len;

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_MAP || t == V_SEQ) {
		bad(c, path, "expected a string, got %s", vtype_names[t]);
		return -1;
	}
	if (t != V_STR) {
		bad(c, path, "expected a string, got %s %s (quote it)", vtype_names[t],
		    show(n, sh, sizeof(sh)));
		return -1;
	}
	*out = scalar0(c, n, &len);
	if (memchr(*out, '\0', len)) {
		bad(c, path, "contains a NUL character");
		*out = NULL;
		return -1;
	}
	return 1;
}

/*
 * Read an integer node. Returns 1 with *out set, 0 when absent or null,
 * -1 when not an integer (reported against path). Values beyond the range
 * of long long saturate, so range checks by the caller still catch them.
 */
static int node_int(struct dctx *c, struct fy_node *n, const char *path, long long *out)
{
	enum vtype t = vtype(n);
	char sh[64], buf[32];
	const char *s;
	size_t len;

	*out = 0;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_INT) {
		if (t == V_STR) {
			show(n, sh, sizeof(sh));
			bad(c, path, "\"%s\" is a string, expected an integer%s", sh,
			    text_is_int(sh, strlen(sh)) ? " (remove the quotes)" : "");
		} else if (t == V_MAP || t == V_SEQ)
			bad(c, path, "expected an integer, got %s", vtype_names[t]);
		else
			bad(c, path, "%s is not an integer", show(n, sh, sizeof(sh)));
		return -1;
	}
	s = fy_node_get_scalar(n, &len);
	if (len >= sizeof(buf)) {
		*out = s[0] == '-' ? LLONG_MIN : LLONG_MAX;
		return 1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtoll(buf, NULL, 10); /* saturates on overflow */
	return 1;
}

static int node_bool(struct dctx *c, struct fy_node *n, const char *path, bool *out)
{
	enum vtype t = vtype(n);
	char sh[64];
	const char *s;

	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_STR) {
		bad(c, path, "\"%s\" is a string, expected a boolean (true or false, unquoted)",
		    show(n, sh, sizeof(sh)));
		return -1;
	}
	if (t != V_BOOL) {
		bad(c, path, "%s is not a boolean (true or false)",
		    t == V_MAP || t == V_SEQ ? vtype_names[t] : show(n, sh, sizeof(sh)));
		return -1;
	}
	s = fy_node_get_scalar(n, NULL);
	*out = s[0] == 't' || s[0] == 'T';
	return 1;
}

/*
 * The node at parent.key when it is a list; 0 absent/null, 1 list, -1
 * another type (reported).
 */
static int get_seq(struct dctx *c, struct fy_node *map, const char *key, const char *parent,
                   struct fy_node **out)
{
	struct fy_node *n = get(c, map, key);
	enum vtype t = vtype(n);
	char path[PATH_LEN];

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_SEQ) {
		join(path, parent, key);
		bad(c, path, "expected a list, got %s", vtype_names[t]);
		return -1;
	}
	*out = n;
	return 1;
}

static int node_map(struct dctx *c, struct fy_node *n, const char *path, struct fy_node **out)
{
	enum vtype t = vtype(n);

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_MAP) {
		bad(c, path, "expected a mapping, got %s", vtype_names[t]);
		return -1;
	}
	*out = n;
	return 1;
}

static int get_map(struct dctx *c, struct fy_node *map, const char *key, const char *parent,
                   struct fy_node **out)
{
	struct fy_node *n = get(c, map, key);
	char path[PATH_LEN];

	*out = NULL;
	if (vtype(n) == V_MAP)
		*out = n;
	if (vtype(n) == V_MAP || vtype(n) == V_ABSENT || vtype(n) == V_NULL)
		return *out ? 1 : 0;
	join(path, parent, key);
	return node_map(c, n, path, out);
}

/* The i-th item of a list, aliases followed. */
static struct fy_node *item(struct fy_node *seq, void **it)
{
	struct fy_node *n = fy_node_sequence_iterate(seq, it);

	return n ? deref(n) : NULL;
}

/* --- value checks ----------------------------------------------------------- */

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63; alpha_first: RFC 1035 */
static bool is_dns_label(const char *s, bool alpha_first)
{
	size_t len = strlen(s);

	if (!len || len > 63)
		return false;
	if (alpha_first && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

/* RFC 1123 subdomain: labels joined by '.', at most 253 */
static bool is_dns_subdomain(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.'))
			return false;
		if (ch == '.' || ch == '-') {
			bool first = i == 0 || s[i - 1] == '.';
			bool last = i == len - 1 || s[i + 1] == '.';

			if (first || last)
				return false;
		}
	}
	return true;
}

/* IANA service name (named targetPort): 1-15 of [a-z0-9-], a letter, no "--", no edge '-' */
static bool is_iana_svc_name(const char *s)
{
	size_t len = strlen(s);
	bool letter = false;

	if (!len || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	}
	return letter;
}

/*
 * Read a port number at path. lo is 1 for ports, 0 where 0 means "none".
 * Returns 1 with *out, 0 absent/null, -1 invalid (reported).
 */
static int node_port(struct dctx *c, struct fy_node *n, const char *path, int lo, uint16_t *out)
{
	long long v;
	char sh[64];
	int r;

	*out = 0;
	r = node_int(c, n, path, &v);
	if (r <= 0)
		return r;
	if (v < lo || v > 65535) {
		bad(c, path, "%s is not a valid port (%d-65535)", show(n, sh, sizeof(sh)), lo);
		return -1;
	}
	*out = (uint16_t)v;
	return 1;
}

static int get_port(struct dctx *c, struct fy_node *map, const char *key, const char *parent,
                    int lo, uint16_t *out)
{
	struct fy_node *n = get(c, map, key);
	char path[PATH_LEN];

	*out = 0;
	if (vtype(n) == V_ABSENT || vtype(n) == V_NULL)
		return 0;
	join(path, parent, key);
	return node_port(c, n, path, lo, out);
}

/* protocol: TCP (default), UDP or SCTP; 0 when invalid (reported). */
static uint8_t get_proto(struct dctx *c, struct fy_node *map, const char *parent)
{
	char path[PATH_LEN];
	const char *s;
	int r;

	r = get_str(c, map, "protocol", parent, &s);
	if (r < 0)
		return 0;
	if (r == 0 || !strcmp(s, "TCP"))
		return L4_TCP;
	if (!strcmp(s, "UDP"))
		return L4_UDP;
	if (!strcmp(s, "SCTP"))
		return L4_SCTP;
	join(path, parent, "protocol");
	bad(c, path, "\"%s\" is not a valid protocol (TCP, UDP or SCTP)", s);
	return 0;
}

/*
 * Addresses no Service or endpoint may use. kube-apiserver refuses, for
 * endpoints (and externalIPs), what ValidateEndpointIP refuses: the
 * unspecified address, loopback, link-local unicast and link-local
 * multicast. Service addresses (clusterIPs, externalIPs, load-balancer
 * IPs) are destinations svcproxy captures on every node, so multicast of
 * any scope and the IPv4 broadcast address are refused there too. An
 * IPv4-mapped IPv6 address is neither (the API server's IPv6 checks
 * refuse it): it would slip IPv4 rules past the IPv6 table.
 */
enum ip_use { IP_SERVICE, IP_ENDPOINT };

static bool v6_mapped(const struct ipaddr *a)
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return a->family == AF_INET6 && !memcmp(a->raw, pfx, sizeof(pfx));
}

/* Why a may not be used as use, or NULL when it may. */
static const char *ip_refused(const struct ipaddr *a, enum ip_use use)
{
	static const uint8_t zero[16], one6[16] = {[15] = 1};
	const uint8_t *b = a->raw;
	bool v4 = a->family == AF_INET;

	if (!memcmp(b, zero, ipaddr_len(a)))
		return "may not be unspecified";
	if (v4 ? b[0] == 127 : !memcmp(b, one6, 16))
		return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
	if (v4 ? b[0] == 169 && b[1] == 254 : b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
	if (v6_mapped(a))
		return "may not be an IPv4-mapped IPv6 address (write the IPv4 address)";
	if (use == IP_ENDPOINT) {
		if (v4 ? b[0] == 224 && b[1] == 0 && b[2] == 0 : b[0] == 0xff && (b[1] & 0x0f) == 2)
			return "may not be in the link-local multicast range (224.0.0.0/24, "
			       "ff02::/16)";
		return NULL;
	}
	if (v4 ? (b[0] & 0xf0) == 224 : b[0] == 0xff)
		return "may not be multicast (224.0.0.0/4, ff00::/8)";
	if (v4 && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return "may not be the broadcast address";
	return NULL;
}

/* Check an address parsed from text at path for use; false when refused (reported). */
static bool ip_usable(struct dctx *c, const char *path, const char *text, const struct ipaddr *a,
                      enum ip_use use)
{
	const char *why = ip_refused(a, use);

	if (why)
		bad(c, path, "\"%s\" %s", text, why);
	return !why;
}

/* --external-ip-cidrs: an empty list allows any address (CVE-2020-8554 is the operator's call). */
static bool external_ip_allowed(const struct dctx *c, const struct ipaddr *a)
{
	const struct decode_opts *o = c->opts;

	if (!o || !o->n_external_ip_cidrs)
		return true;
	for (size_t i = 0; i < o->n_external_ip_cidrs; i++)
		if (cidr_contains(&o->external_ip_cidrs[i], a))
			return true;
	return false;
}

/* A nodePort or healthCheckNodePort other than 0 must lie in --service-node-port-range. */
static void check_node_port(struct dctx *c, const char *path, uint16_t port)
{
	unsigned lo = DECODE_NODE_PORT_MIN, hi = DECODE_NODE_PORT_MAX;

	if (c->opts && c->opts->node_port_max) {
		lo = c->opts->node_port_min;
		hi = c->opts->node_port_max;
	}
	if (port && (port < lo || port > hi))
		bad(c, path, "%u is not in the node port range (%u-%u, --service-node-port-range)",
		    port, lo, hi);
}

/*
 * Fields of the objects svcproxy reads, at each level it reads, as the
 * v1 API defines them (fields svcproxy ignores included, so that
 * `kubectl get -o yaml` output gives no warning). Any other key is
 * reported as a warning, as `kubectl apply --validate=warn` does: a
 * misspelt field is otherwise silently ignored.
 */
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
static const char *const f_svc[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const f_svc_spec[] = {"ports",
                                         "selector",
                                         "clusterIP",
                                         "clusterIPs",
                                         "type",
                                         "externalIPs",
                                         "sessionAffinity",
                                         "loadBalancerIP",
                                         "loadBalancerSourceRanges",
                                         "externalName",
                                         "externalTrafficPolicy",
                                         "healthCheckNodePort",
                                         "publishNotReadyAddresses",
                                         "sessionAffinityConfig",
                                         "ipFamilies",
                                         "ipFamilyPolicy",
                                         "allocateLoadBalancerNodePorts",
                                         "loadBalancerClass",
                                         "internalTrafficPolicy",
                                         "trafficDistribution",
                                         NULL};
static const char *const f_svc_port[] = {"name",       "protocol", "appProtocol", "port",
                                         "targetPort", "nodePort", NULL};
static const char *const f_svc_status[] = {"loadBalancer", "conditions", NULL};
static const char *const f_lb_status[] = {"ingress", NULL};
static const char *const f_lb_ingress[] = {"ip", "hostname", "ipMode", "ports", NULL};
static const char *const f_affinity[] = {"clientIP", NULL};
static const char *const f_client_ip[] = {"timeoutSeconds", NULL};
static const char *const f_slice[] = {"apiVersion", "kind",  "metadata", "addressType",
                                      "endpoints",  "ports", NULL};
static const char *const f_endpoint[] = {"addresses", "conditions",         "hostname",
                                         "targetRef", "nodeName",           "zone",
                                         "hints",     "deprecatedTopology", NULL};
static const char *const f_conditions[] = {"ready", "serving", "terminating", NULL};
static const char *const f_hints[] = {"forZones", "forNodes", NULL};
static const char *const f_for_zone[] = {"name", NULL};
static const char *const f_eps_port[] = {"name", "protocol", "appProtocol", "port", NULL};
static const char *const f_endpoints[] = {"apiVersion", "kind", "metadata", "subsets", NULL};
static const char *const f_subset[] = {"addresses", "notReadyAddresses", "ports", NULL};
static const char *const f_address[] = {"ip", "hostname", "nodeName", "targetRef", NULL};
static const char *const f_node[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const f_list[] = {"apiVersion", "kind", "metadata", "items", NULL};

/* Unknown-field warnings per object; past this they are only counted. */
#define UNKNOWN_SHOWN 10

/* Warn about every key of map (at path) not in known; one pass over map. */
static void check_fields(struct dctx *c, struct fy_node *map, const char *path,
                         const char *const *known)
{
	struct fy_node_pair *pair;
	void *it = NULL;

	if (vtype(map) != V_MAP)
		return;
	while ((pair = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *kn = deref(fy_node_pair_key(pair));
		char fpath[PATH_LEN], sh[64];
		const char *k;
		size_t len, i;

		k = kn && fy_node_get_type(kn) == FYNT_SCALAR ? fy_node_get_scalar(kn, &len) : NULL;
		for (i = 0; k && known[i]; i++)
			if (text_is(k, len, known[i]))
				break;
		if (k && known[i])
			continue;
		if (c->unknown++ >= UNKNOWN_SHOWN)
			continue;
		join(fpath, path, show(kn, sh, sizeof(sh)));
		warn(c, fpath, "unknown field (warning)");
	}
}

/*
 * An IP address string at path, for use (ip_refused()); family 0 accepts
 * both. 1 ok, 0 absent, -1 bad (reported).
 */
static int node_ip(struct dctx *c, struct fy_node *n, const char *path, int family, enum ip_use use,
                   struct ipaddr *out)
{
	const char *s;
	int r;

	r = node_str(c, n, path, &s);
	if (r <= 0)
		return r;
	if (ipaddr_parse(s, out)) {
		bad(c, path, "\"%s\" is not a valid IP address", s);
		return -1;
	}
	if (family && out->family != family) {
		bad(c, path, "\"%s\" is not an %s address (the slice's addressType is %s)", s,
		    family == AF_INET ? "IPv4" : "IPv6", family == AF_INET ? "IPv4" : "IPv6");
		return -1;
	}
	return ip_usable(c, path, s, out, use) ? 1 : -1;
}

/*
 * A CIDR as in loadBalancerSourceRanges: surrounding blanks are ignored and
 * host bits are cleared (the API server accepts "10.0.0.1/8" there).
 */
static int parse_cidr_loose(const char *s, struct cidr *out)
{
	char buf[CIDR_STRLEN];
	const char *slash;
	unsigned long len;
	size_t n;
	char *end;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	buf[slash - buf] = '\0';
	if (ipaddr_parse(buf, &out->addr))
		return -EINVAL;
	if (!slash[1] || slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return -EINVAL;
	len = strtoul(slash + 1, &end, 10);
	if (*end || len > ipaddr_len(&out->addr) * 8)
		return -EINVAL;
	out->prefix_len = (unsigned int)len;
	for (unsigned int bit = out->prefix_len; bit < ipaddr_len(&out->addr) * 8; bit++)
		out->addr.raw[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
	return 0;
}

/* Append a zeroed element to a malloc'd array of n elements of size sz. */
static void *grow(void *arr, size_t *n, size_t sz)
{
	char *p = xrealloc(arr, (*n + 1) * sz);

	memset(p + *n * sz, 0, sz);
	(*n)++;
	return p;
}

/* spec.externalIPs: Service addresses, within --external-ip-cidrs when given. */
static void decode_external_ips(struct dctx *c, struct fy_node *spec, struct service *s)
{
	char path[PATH_LEN], sh[64];
	struct fy_node *seq, *n;
	void *it = NULL;
	size_t i = 0;
	int r;

	if (get_seq(c, spec, "externalIPs", "spec", &seq) <= 0)
		return;
	s->external_ips = xcalloc(fy_node_sequence_item_count(seq), sizeof(*s->external_ips));
	while ((n = item(seq, &it))) {
		struct ipaddr *a = &s->external_ips[s->n_external_ips];

		path_index(path, "spec.externalIPs", i++);
		r = node_ip(c, n, path, 0, IP_SERVICE, a);
		if (r == 0)
			bad(c, path, "an IP address is required");
		else if (r > 0 && !external_ip_allowed(c, a))
			bad(c, path, "\"%s\" is not in --external-ip-cidrs (CVE-2020-8554)",
			    show(n, sh, sizeof(sh)));
		else if (r > 0)
			s->n_external_ips++;
	}
}

/* --- object metadata -------------------------------------------------------- */

struct meta {
	const char *name;
	const char *ns;
	struct fy_node *labels; /* mapping, or NULL */
};

/*
 * Read metadata.{name,namespace,labels}. name_ok checks the name's syntax
 * (NULL: any); namespaced selects whether a namespace applies.
 */
static void get_meta(struct dctx *c, struct fy_node *obj, bool namespaced,
                     bool (*name_ok)(const char *), const char *name_rule, struct meta *m)
{
	const char *s, *name;
	struct fy_node *md;
	int ret;

	memset(m, 0, sizeof(*m));
	m->ns = namespaced ? "default" : NULL;
	c->ns = m->ns;
	ret = get_map(c, obj, "metadata", "", &md);
	if (ret <= 0) {
		if (ret == 0)
			bad(c, "metadata.name",
			    "required value is missing (every object needs a name)");
		return;
	}
	/* the name first, so that every message can say which object */
	ret = get_str(c, md, "name", "metadata", &name);
	if (ret > 0)
		c->name = m->name = name;
	check_fields(c, md, "metadata", f_meta);
	if (namespaced && get_str(c, md, "namespace", "metadata", &s) > 0 && *s) {
		c->ns = m->ns = s;
		if (!is_dns_label(s, false))
			bad(c, "metadata.namespace",
			    "\"%s\" is not a valid namespace (lowercase letters, digits and '-', "
			    "at "
			    "most 63 characters)",
			    s);
	}
	if (ret > 0 && name_ok && !name_ok(name))
		bad(c, "metadata.name", "\"%s\" is not a valid %s name (%s)", name, c->kind,
		    name_rule);
	else if (ret == 0)
		bad(c, "metadata.name", "required value is missing (every object needs a name)");
	if (get_map(c, md, "labels", "metadata", &m->labels) < 0)
		m->labels = NULL;
}

/* A label's value: 1 present (string), 0 absent, -1 wrong type (reported). */
static int get_label(struct dctx *c, struct meta *m, const char *key, const char **out)
{
	*out = NULL;
	if (!m->labels)
		return 0;
	if (!get(c, m->labels, key))
		return 0;
	if (vtype(get(c, m->labels, key)) == V_NULL) { /* present but empty */
		*out = "";
		return 1;
	}
	return get_str(c, m->labels, key, "metadata.labels", out);
}

static void reject(struct dctx *c, enum obj_kind kind)
{
	struct decode_rejects *r = c->rejects;

	c->invalid++;
	if (!r || !c->name)
		return;
	r->v = grow(r->v, &r->n, sizeof(*r->v));
	r->v[r->n - 1].kind = kind;
	r->v[r->n - 1].ns = xstrdup(c->ns ? c->ns : "");
	r->v[r->n - 1].name = xstrdup(c->name);
}

static bool name_is_label1035(const char *s)
{
	return is_dns_label(s, true);
}

/* --- Service ---------------------------------------------------------------- */

static void decode_svc_port(struct dctx *c, struct fy_node *pn, size_t i, size_t n_ports,
                            struct svc_port *p)
{
	char path[PATH_LEN], fpath[PATH_LEN], sh[64];
	struct fy_node *tp;
	const char *s;
	long long v;
	int r;

	path_index(path, "spec.ports", i);
	if (vtype(pn) != V_MAP) {
		bad(c, path, "expected a mapping, got %s", vtype_names[vtype(pn)]);
		return;
	}
	check_fields(c, pn, path, f_svc_port);
	r = get_str(c, pn, "name", path, &s);
	join(fpath, path, "name");
	if (r > 0 && *s && !is_dns_label(s, false))
		bad(c, fpath,
		    "\"%s\" is not a valid port name (lowercase letters, digits and '-', at most "
		    "63 characters)",
		    s);
	else if (r == 0 && n_ports > 1)
		bad(c, fpath, "required when a Service has more than one port");
	else if (r > 0 && !*s && n_ports > 1)
		bad(c, fpath, "required when a Service has more than one port");
	p->name = xstrdup(r > 0 ? s : "");

	p->proto = get_proto(c, pn, path);
	if (get_port(c, pn, "port", path, 1, &p->port) == 0) {
		join(fpath, path, "port");
		bad(c, fpath, "required value is missing");
	}
	if (get_port(c, pn, "nodePort", path, 0, &p->node_port) > 0) {
		join(fpath, path, "nodePort");
		check_node_port(c, fpath, p->node_port);
	}

	/* targetPort: int-or-string; absent or 0 means "same as port" */
	tp = get(c, pn, "targetPort");
	join(fpath, path, "targetPort");
	switch (vtype(tp)) {
	case V_ABSENT:
	case V_NULL:
		p->target_port = p->port;
		break;
	case V_INT:
		node_int(c, tp, fpath, &v);
		if (v == 0)
			p->target_port = p->port;
		else if (v < 1 || v > 65535)
			bad(c, fpath, "%s is not a valid port (1-65535)", show(tp, sh, sizeof(sh)));
		else
			p->target_port = (uint16_t)v;
		break;
	case V_STR:
		node_str(c, tp, fpath, &s);
		if (!s)
			break;
		if (text_is_int(s, strlen(s)))
			bad(c, fpath,
			    "\"%s\" is not a valid port name (write a number without quotes)", s);
		else if (!is_iana_svc_name(s))
			bad(c, fpath,
			    "\"%s\" is not a valid port name (1-15 lowercase letters, digits and "
			    "'-', with at least one letter)",
			    s);
		else
			p->target_port_name = xstrdup(s);
		break;
	default:
		bad(c, fpath, "expected a port number or name, got %s", vtype_names[vtype(tp)]);
	}
}

/*
 * spec.clusterIP / spec.clusterIPs into s->cluster_ips and s->headless.
 * clusterIPs (primary first, one per family) wins over clusterIP, whose
 * value must then equal clusterIPs[0]. "None" makes the Service headless;
 * "" or absent means no cluster IP (yet).
 */
static void decode_cluster_ips(struct dctx *c, struct fy_node *spec, struct service *s)
{
	struct fy_node *seq = NULL, *n;
	const char *ip = NULL;
	char path[PATH_LEN];
	void *it = NULL;
	size_t i = 0;
	int r;

	s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
	r = get_str(c, spec, "clusterIP", "spec", &ip);
	if (get_seq(c, spec, "clusterIPs", "spec", &seq) > 0 &&
	    fy_node_sequence_item_count(seq) > 0) {
		if (fy_node_sequence_item_count(seq) > 2)
			bad(c, "spec.clusterIPs",
			    "at most two addresses (one per family) are allowed");
		while ((n = item(seq, &it))) {
			struct ipaddr a;
			const char *t;

			path_index(path, "spec.clusterIPs", i);
			if (node_str(c, n, path, &t) == 0)
				bad(c, path, "an IP address is required");
			if (!t) {
				i++;
				continue;
			}
			if (i == 0 && r > 0 && *ip && strcmp(t, ip))
				bad(c, path, "\"%s\" must match spec.clusterIP (\"%s\")", t, ip);
			if (!strcmp(t, "None")) {
				if (i != 0 || fy_node_sequence_item_count(seq) != 1)
					bad(c, path, "\"None\" must be the only entry");
				s->headless = true;
			} else if (ipaddr_parse(t, &a)) {
				bad(c, path, "\"%s\" is not a valid IP address", t);
			} else if (!ip_usable(c, path, t, &a, IP_SERVICE)) {
				/* reported */
			} else if (s->n_cluster_ips == 1 && s->cluster_ips[0].family == a.family) {
				bad(c, path,
				    "\"%s\" is of the same family as spec.clusterIPs[0] (one "
				    "address per family)",
				    t);
			} else if (s->n_cluster_ips < 2) {
				/* past two, reported above: the array holds two */
				s->cluster_ips[s->n_cluster_ips++] = a;
			}
			i++;
		}
		return;
	}
	if (r <= 0 || !*ip)
		return;
	if (!strcmp(ip, "None"))
		s->headless = true;
	else if (ipaddr_parse(ip, &s->cluster_ips[0]))
		bad(c, "spec.clusterIP",
		    "\"%s\" is not a valid IP address (or \"None\" for a headless Service)", ip);
	else if (ip_usable(c, "spec.clusterIP", ip, &s->cluster_ips[0], IP_SERVICE))
		s->n_cluster_ips = 1;
}

static void decode_lb_status(struct dctx *c, struct fy_node *obj, struct service *s)
{
	struct fy_node *st, *lb, *seq, *n;
	char path[PATH_LEN];
	void *it = NULL;
	size_t i = 0;

	if (get_map(c, obj, "status", "", &st) <= 0)
		return;
	check_fields(c, st, "status", f_svc_status);
	if (get_map(c, st, "loadBalancer", "status", &lb) <= 0)
		return;
	check_fields(c, lb, "status.loadBalancer", f_lb_status);
	if (get_seq(c, lb, "ingress", "status.loadBalancer", &seq) <= 0)
		return;
	s->lb_ips = xcalloc(fy_node_sequence_item_count(seq), sizeof(*s->lb_ips));
	while ((n = item(seq, &it))) {
		path_index(path, "status.loadBalancer.ingress", i++);
		if (node_map(c, n, path, &n) <= 0)
			continue;
		check_fields(c, n, path, f_lb_ingress);
		join(path, path, "ip");
		/* hostname-only entries (AWS ELB) carry no IP for us */
		if (node_ip(c, get(c, n, "ip"), path, 0, IP_SERVICE, &s->lb_ips[s->n_lb_ips]) > 0)
			s->n_lb_ips++;
	}
}

static void decode_lb_ranges(struct dctx *c, struct fy_node *spec, struct service *s)
{
	struct fy_node *seq, *n;
	char path[PATH_LEN];
	void *it = NULL;
	size_t i = 0;
	const char *t;

	if (get_seq(c, spec, "loadBalancerSourceRanges", "spec", &seq) <= 0)
		return;
	s->lb_source_ranges = xcalloc(fy_node_sequence_item_count(seq), sizeof(struct cidr));
	while ((n = item(seq, &it))) {
		path_index(path, "spec.loadBalancerSourceRanges", i++);
		if (node_str(c, n, path, &t) <= 0) {
			if (!t && vtype(n) == V_NULL)
				bad(c, path, "a CIDR is required");
			continue;
		}
		if (parse_cidr_loose(t, &s->lb_source_ranges[s->n_lb_source_ranges]))
			bad(c, path, "\"%s\" is not a valid CIDR (e.g. 203.0.113.0/24)", t);
		else
			s->n_lb_source_ranges++;
	}
}

/* One of two spellings: 1 for a, 0 for b (or absent), -1 invalid (reported). */
static int get_choice(struct dctx *c, struct fy_node *spec, const char *key, const char *a,
                      const char *b, bool *set)
{
	char path[PATH_LEN];
	const char *s;
	int r;

	r = get_str(c, spec, key, "spec", &s);
	if (set)
		*set = r > 0;
	if (r <= 0)
		return r;
	if (!strcmp(s, a))
		return 1;
	if (!strcmp(s, b))
		return 0;
	join(path, "spec", key);
	bad(c, path, "\"%s\" is not valid (%s or %s)", s, b, a);
	return -1;
}

static void decode_affinity(struct dctx *c, struct fy_node *spec, struct service *s)
{
	struct fy_node *cfg, *cip;
	bool set;
	long long v;
	int r;

	s->affinity_timeout = AFFINITY_DEFAULT;
	r = get_choice(c, spec, "sessionAffinity", "ClientIP", "None", &set);
	s->affinity_client_ip = r > 0;
	if (get_map(c, spec, "sessionAffinityConfig", "spec", &cfg) <= 0)
		return;
	check_fields(c, cfg, "spec.sessionAffinityConfig", f_affinity);
	if (get_map(c, cfg, "clientIP", "spec.sessionAffinityConfig", &cip) <= 0)
		return;
	check_fields(c, cip, "spec.sessionAffinityConfig.clientIP", f_client_ip);
	r = node_int(c, get(c, cip, "timeoutSeconds"),
	             "spec.sessionAffinityConfig.clientIP.timeoutSeconds", &v);
	if (r <= 0)
		return;
	if (v < 1 || v > AFFINITY_MAX)
		bad(c, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
		    "%lld is not valid (1-%d seconds)", v, AFFINITY_MAX);
	else if (!s->affinity_client_ip)
		bad(c, "spec.sessionAffinityConfig",
		    "may only be set when spec.sessionAffinity is ClientIP");
	else
		s->affinity_timeout = (uint32_t)v;
}

static void decode_service(struct dctx *c, struct fy_node *obj)
{
	struct service *s = xcalloc(1, sizeof(*s));
	struct fy_node *spec = NULL, *ports, *n;
	const char *t;
	struct meta m;
	void *it = NULL;
	size_t i = 0;
	int r;

	get_meta(c, obj, true, name_is_label1035,
	         "lowercase letters, digits and '-', starting with a letter, at most 63 characters",
	         &m);
	if (get_label(c, &m, LABEL_PROXY_NAME, &t) > 0)
		s->ignored = true;
	check_fields(c, obj, "", f_svc);
	get_map(c, obj, "spec", "", &spec);
	check_fields(c, spec, "spec", f_svc_spec);

	r = get_str(c, spec, "type", "spec", &t);
	if (r > 0) {
		if (!strcmp(t, "ClusterIP"))
			s->type = SVC_CLUSTER_IP;
		else if (!strcmp(t, "NodePort"))
			s->type = SVC_NODE_PORT;
		else if (!strcmp(t, "LoadBalancer"))
			s->type = SVC_LOAD_BALANCER;
		else if (!strcmp(t, "ExternalName"))
			s->type = SVC_EXTERNAL_NAME;
		else
			bad(c, "spec.type",
			    "\"%s\" is not valid (ClusterIP, NodePort, LoadBalancer or "
			    "ExternalName)",
			    t);
	}
	if (s->type == SVC_EXTERNAL_NAME && get_str(c, spec, "externalName", "spec", &t) == 0)
		bad(c, "spec.externalName", "required for type ExternalName");

	decode_cluster_ips(c, spec, s);
	if (s->headless && (s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER))
		bad(c, "spec.clusterIP", "\"None\" is only valid for type ClusterIP");

	if (get_seq(c, spec, "ports", "spec", &ports) > 0) {
		size_t cnt = (size_t)fy_node_sequence_item_count(ports);

		s->ports = xcalloc(cnt, sizeof(*s->ports));
		while ((n = item(ports, &it))) {
			struct svc_port *p = &s->ports[s->n_ports++];

			decode_svc_port(c, n, i, cnt, p);
			for (size_t j = 0; j < i; j++) {
				char path[PATH_LEN];
				struct svc_port *q = &s->ports[j];

				path_index(path, "spec.ports", i);
				if (p->port && q->port == p->port && q->proto == p->proto) {
					bad(c, path, "duplicate port %u/%s (also spec.ports[%zu])",
					    p->port, l4proto_name(p->proto), j);
					break;
				}
				if (p->name && q->name && *p->name && !strcmp(p->name, q->name)) {
					join(path, path, "name");
					bad(c, path,
					    "duplicate port name \"%s\" (also spec.ports[%zu])",
					    p->name, j);
					break;
				}
			}
			if (p->node_port && s->type != SVC_NODE_PORT &&
			    s->type != SVC_LOAD_BALANCER) {
				char path[PATH_LEN];

				path_index(path, "spec.ports", i);
				join(path, path, "nodePort");
				bad(c, path, "may only be used with type NodePort or LoadBalancer");
			}
			i++;
		}
	}
	if (!s->n_ports && !s->headless && s->type != SVC_EXTERNAL_NAME)
		bad(c, "spec.ports", "at least one port is required (unless clusterIP is None)");

	decode_external_ips(c, spec, s);
	decode_lb_status(c, obj, s);
	decode_lb_ranges(c, spec, s);

	bool set;

	r = get_choice(c, spec, "externalTrafficPolicy", "Local", "Cluster", &set);
	s->etp_local = r > 0;
	if (set && s->type != SVC_NODE_PORT && s->type != SVC_LOAD_BALANCER && !s->n_external_ips &&
	    r >= 0)
		bad(c, "spec.externalTrafficPolicy",
		    "may only be set for type NodePort or LoadBalancer, or with externalIPs");
	r = get_choice(c, spec, "internalTrafficPolicy", "Local", "Cluster", NULL);
	s->itp_local = r > 0;
	decode_affinity(c, spec, s);
	if (get_port(c, spec, "healthCheckNodePort", "spec", 0, &s->health_check_node_port) > 0 &&
	    s->health_check_node_port && (s->type != SVC_LOAD_BALANCER || !s->etp_local))
		bad(c, "spec.healthCheckNodePort",
		    "may only be set for type LoadBalancer with externalTrafficPolicy Local");
	else
		check_node_port(c, "spec.healthCheckNodePort", s->health_check_node_port);
	if (get_str(c, spec, "trafficDistribution", "spec", &t) > 0)
		s->traffic_distribution = xstrdup(t);

	if (c->errors) {
		reject(c, OBJ_SERVICE);
		service_free(s);
		return;
	}
	s->origin = xstrdup(c->origin);
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	model_add_service(c->out, s);
}

/* --- EndpointSlice ----------------------------------------------------------- */

/*
 * EndpointSlice ports (or v1 Endpoints subset ports, where port_required).
 * A null port is allowed in EndpointSlices: that entry is unusable (port 0).
 */
static void decode_eps_ports(struct dctx *c, struct fy_node *seq, const char *parent,
                             bool port_required, struct eps_port **out, size_t *n_out)
{
	char path[PATH_LEN], fpath[PATH_LEN];
	struct fy_node *n;
	void *it = NULL;
	size_t i = 0;
	const char *s;
	int r;

	*out = xcalloc(fy_node_sequence_item_count(seq), sizeof(**out));
	while ((n = item(seq, &it))) {
		struct eps_port *p = &(*out)[*n_out];

		path_index(path, parent, i++);
		if (node_map(c, n, path, &n) <= 0)
			continue;
		check_fields(c, n, path, f_eps_port);
		(*n_out)++;
		r = get_str(c, n, "name", path, &s);
		if (r > 0 && *s && !is_dns_label(s, false)) {
			join(fpath, path, "name");
			bad(c, fpath,
			    "\"%s\" is not a valid port name (lowercase letters, digits and '-', "
			    "at most 63 characters)",
			    s);
		}
		p->name = xstrdup(r > 0 ? s : "");
		p->proto = get_proto(c, n, path);
		if (get_port(c, n, "port", path, 1, &p->port) == 0 && port_required) {
			join(fpath, path, "port");
			bad(c, fpath, "required value is missing");
		}
		for (size_t j = 0; j + 1 < *n_out; j++)
			if (!strcmp((*out)[j].name, p->name)) {
				join(fpath, path, "name");
				bad(c, fpath, "duplicate port name \"%s\"", p->name);
				break;
			}
	}
}

/* endpoints[i].hints.forZones (hpath: endpoints[i].hints) */
static void decode_hint_zones(struct dctx *c, struct fy_node *zones, const char *hpath,
                              struct endpoint *ep)
{
	char zpath[PATH_LEN];
	struct fy_node *z;
	void *it = NULL;
	const char *s;
	size_t i = 0;
	int r;

	join(zpath, hpath, "forZones");
	if (fy_node_sequence_item_count(zones) > 8)
		bad(c, zpath, "at most 8 zones are allowed");
	ep->hint_zones = xcalloc(fy_node_sequence_item_count(zones), sizeof(char *));
	while ((z = item(zones, &it))) {
		join(zpath, hpath, "forZones");
		path_index(zpath, zpath, i++);
		if (node_map(c, z, zpath, &z) <= 0)
			continue;
		check_fields(c, z, zpath, f_for_zone);
		r = get_str(c, z, "name", zpath, &s);
		if (r > 0) {
			ep->hint_zones[ep->n_hint_zones++] = xstrdup(s);
		} else if (r == 0) {
			join(zpath, zpath, "name");
			bad(c, zpath, "required value is missing");
		}
	}
}

static void decode_endpoint(struct dctx *c, struct fy_node *n, const char *path, int family,
                            struct endpoint *ep)
{
	char fpath[PATH_LEN], hpath[PATH_LEN];
	struct fy_node *addrs, *cond, *hints, *zones;
	void *it = NULL;
	size_t i = 0;
	const char *s;
	int r;

	check_fields(c, n, path, f_endpoint);
	r = get_seq(c, n, "addresses", path, &addrs);
	join(fpath, path, "addresses");
	if (r == 0 || (r > 0 && fy_node_sequence_item_count(addrs) == 0)) {
		bad(c, fpath, "at least one address is required");
	} else if (r > 0) {
		struct fy_node *a;

		if (fy_node_sequence_item_count(addrs) > 100)
			bad(c, fpath, "at most 100 addresses are allowed");
		while ((a = item(addrs, &it))) {
			struct ipaddr ip;

			path_index(hpath, fpath, i);
			r = node_ip(c, a, hpath, family, IP_ENDPOINT, &ip);
			if (r == 0)
				bad(c, hpath, "an IP address is required");
			else if (r > 0 && i == 0)
				ep->addr = ip;
			i++;
		}
	}

	ep->ready = true;
	join(fpath, path, "conditions");
	if (node_map(c, get(c, n, "conditions"), fpath, &cond) > 0) {
		char cpath[PATH_LEN];
		bool serving_set;

		check_fields(c, cond, fpath, f_conditions);
		join(cpath, fpath, "ready");
		node_bool(c, get(c, cond, "ready"), cpath, &ep->ready);
		ep->serving = ep->ready;
		join(cpath, fpath, "serving");
		serving_set = node_bool(c, get(c, cond, "serving"), cpath, &ep->serving) > 0;
		if (!serving_set)
			ep->serving = ep->ready;
		join(cpath, fpath, "terminating");
		node_bool(c, get(c, cond, "terminating"), cpath, &ep->terminating);
	} else {
		ep->serving = ep->ready;
	}

	if (get_str(c, n, "nodeName", path, &s) > 0)
		ep->node_name = xstrdup(s);
	if (get_str(c, n, "zone", path, &s) > 0)
		ep->zone = xstrdup(s);

	join(hpath, path, "hints");
	if (get_map(c, n, "hints", path, &hints) > 0) {
		check_fields(c, hints, hpath, f_hints);
		if (get_seq(c, hints, "forZones", hpath, &zones) > 0)
			decode_hint_zones(c, zones, hpath, ep);
	}
}

/*
 * metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"]
 * (RFC 3339, as the EndpointSlice controller writes it) in unix seconds;
 * 0 when absent or unreadable: kube-proxy ignores a bad one too, it only
 * feeds a latency metric.
 */
static double slice_trigger_time(struct dctx *c, struct fy_node *obj)
{
	struct fy_node *ann = get(c, get(c, obj, "metadata"), "annotations");
	struct fy_node *v = get(c, ann, "endpoints.kubernetes.io/last-change-trigger-time");
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	double frac = 0;
	const char *s, *p;
	struct tm tm = {0};
	size_t len;

	if (vtype(v) != V_STR)
		return 0;
	s = scalar0(c, v, &len);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return 0;
	p = s + n;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		p = end;
	}
	if (*p == '+' || *p == '-') {
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
			return 0;
		if (*p == '-')
			oh = -oh, om = -om;
	} else if (strcmp(p, "Z")) {
		return 0;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (double)timegm(&tm) + frac - oh * 3600.0 - om * 60.0;
}

static void decode_slice(struct dctx *c, struct fy_node *obj)
{
	size_t len;
	struct endpoint_slice *e;
	struct fy_node *seq, *n;
	const char *at, *svc;
	struct meta m;
	void *it = NULL;
	size_t i = 0;
	int r;

	/* FQDN slices carry names, not addresses: nothing to program */
	n = get(c, obj, "addressType");
	if (vtype(n) == V_STR && !strcmp(scalar0(c, n, &len), "FQDN"))
		return;
	e = xcalloc(1, sizeof(*e));
	get_meta(c, obj, true, is_dns_subdomain,
	         "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	check_fields(c, obj, "", f_slice);
	e->trigger_time = slice_trigger_time(c, obj);
	r = get_str(c, obj, "addressType", "", &at);
	if (r == 0)
		bad(c, "addressType", "required value is missing (IPv4, IPv6 or FQDN)");
	else if (r > 0 && !strcmp(at, "IPv4"))
		e->family = AF_INET;
	else if (r > 0 && !strcmp(at, "IPv6"))
		e->family = AF_INET6;
	else if (r > 0)
		bad(c, "addressType", "\"%s\" is not valid (IPv4, IPv6 or FQDN)", at);

	r = get_label(c, &m, LABEL_SERVICE_NAME, &svc);
	if (r == 0 || (r > 0 && !*svc))
		bad(c, "metadata.labels",
		    "label " LABEL_SERVICE_NAME " is required (the name of the Service this "
		    "slice belongs to)");
	else if (r > 0)
		e->service_name = xstrdup(svc);

	if (get_seq(c, obj, "ports", "", &seq) > 0) {
		if (fy_node_sequence_item_count(seq) > 100)
			bad(c, "ports", "at most 100 ports are allowed");
		decode_eps_ports(c, seq, "ports", false, &e->ports, &e->n_ports);
	}

	if (get_seq(c, obj, "endpoints", "", &seq) > 0) {
		if (fy_node_sequence_item_count(seq) > 1000)
			bad(c, "endpoints", "at most 1000 endpoints are allowed");
		e->endpoints = xcalloc(fy_node_sequence_item_count(seq), sizeof(*e->endpoints));
		while ((n = item(seq, &it))) {
			char path[PATH_LEN];

			path_index(path, "endpoints", i++);
			if (node_map(c, n, path, &n) <= 0)
				continue;
			decode_endpoint(c, n, path, e->family, &e->endpoints[e->n_endpoints++]);
		}
	}

	if (c->errors) {
		reject(c, OBJ_SLICE);
		endpoint_slice_free(e);
		return;
	}
	e->origin = xstrdup(c->origin);
	e->ns = xstrdup(m.ns);
	e->name = xstrdup(m.name);
	model_add_slice(c->out, e);
}

/* --- v1 Endpoints ------------------------------------------------------------- */

/*
 * Read subsets[i].addresses or .notReadyAddresses into the slices being
 * built for the subset, one per family (slices[0] IPv4, slices[1] IPv6).
 */
static void decode_ep_addresses(struct dctx *c, struct fy_node *subset, const char *parent,
                                const char *key, bool ready, struct endpoint_slice **slices)
{
	char path[PATH_LEN], fpath[PATH_LEN];
	struct fy_node *seq, *n;
	void *it = NULL;
	size_t i = 0;
	const char *s;

	if (get_seq(c, subset, key, parent, &seq) <= 0)
		return;
	join(path, parent, key);
	while ((n = item(seq, &it))) {
		struct endpoint_slice *e;
		struct endpoint *ep;
		struct ipaddr ip;
		int r;

		path_index(fpath, path, i++);
		if (node_map(c, n, fpath, &n) <= 0)
			continue;
		check_fields(c, n, fpath, f_address);
		join(fpath, fpath, "ip");
		r = node_ip(c, get(c, n, "ip"), fpath, 0, IP_ENDPOINT, &ip);
		if (r == 0)
			bad(c, fpath, "required value is missing");
		if (r <= 0)
			continue;
		e = slices[ip.family == AF_INET6];
		e->endpoints = grow(e->endpoints, &e->n_endpoints, sizeof(*e->endpoints));
		ep = &e->endpoints[e->n_endpoints - 1];
		ep->addr = ip;
		ep->ready = ep->serving = ready;
		path_index(fpath, path, i - 1);
		if (get_str(c, n, "nodeName", fpath, &s) > 0)
			ep->node_name = xstrdup(s);
	}
}

static void copy_ports(struct endpoint_slice *dst, const struct endpoint_slice *src)
{
	dst->ports = xcalloc(src->n_ports, sizeof(*dst->ports));
	for (size_t j = 0; j < src->n_ports; j++) {
		dst->ports[j] = src->ports[j];
		dst->ports[j].name = xstrdup(src->ports[j].name);
	}
	dst->n_ports = src->n_ports;
}

static void decode_endpoints(struct dctx *c, struct fy_node *obj)
{
	struct endpoint_slice *slices[2] = {NULL, NULL};
	struct model tmp = {0};
	struct fy_node *subsets, *sub;
	struct meta m;
	void *it = NULL;
	size_t i = 0;

	get_meta(c, obj, true, is_dns_subdomain,
	         "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	check_fields(c, obj, "", f_endpoints);
	if (get_seq(c, obj, "subsets", "", &subsets) <= 0)
		goto done;
	while ((sub = item(subsets, &it))) {
		char path[PATH_LEN], ppath[PATH_LEN];
		struct fy_node *ports;
		bool has_v4;

		path_index(path, "subsets", i);
		if (node_map(c, sub, path, &sub) <= 0) {
			i++;
			continue;
		}
		check_fields(c, sub, path, f_subset);
		for (int f = 0; f < 2; f++) {
			slices[f] = xcalloc(1, sizeof(*slices[f]));
			slices[f]->family = f ? AF_INET6 : AF_INET;
			slices[f]->from_endpoints = true;
		}
		decode_ep_addresses(c, sub, path, "addresses", true, slices);
		decode_ep_addresses(c, sub, path, "notReadyAddresses", false, slices);
		join(ppath, path, "ports");
		if (get_seq(c, sub, "ports", path, &ports) > 0) {
			decode_eps_ports(c, ports, ppath, true, &slices[0]->ports,
			                 &slices[0]->n_ports);
			copy_ports(slices[1], slices[0]);
		}
		has_v4 = slices[0]->n_endpoints > 0;
		for (int f = 0; f < 2; f++) {
			struct endpoint_slice *e = slices[f];

			if (!e->n_endpoints || !m.name) {
				endpoint_slice_free(e);
			} else {
				const char *sfx = f && has_v4 ? "-ipv6" : "";

				if (asprintf(&e->name, "%s-subset%zu%s", m.name, i, sfx) < 0)
					die_oom();
				e->origin = xstrdup(c->origin);
				e->ns = xstrdup(m.ns);
				e->service_name = xstrdup(m.name);
				model_add_slice(&tmp, e);
			}
			slices[f] = NULL;
		}
		i++;
	}
done:
	if (c->errors) {
		reject(c, OBJ_ENDPOINTS);
		model_free(&tmp);
		return;
	}
	for (i = 0; i < tmp.n_slices; i++)
		model_add_slice(c->out, tmp.slices[i]);
	model_free_view(&tmp);
}

/* --- Node ----------------------------------------------------------------------- */

static void decode_node(struct dctx *c, struct fy_node *obj)
{
	struct meta m;
	struct node *n;
	const char *zone;

	get_meta(c, obj, false, is_dns_subdomain,
	         "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	check_fields(c, obj, "", f_node);
	if (get_label(c, &m, LABEL_ZONE, &zone) < 0 || c->errors) {
		reject(c, OBJ_NODE);
		return;
	}
	n = xcalloc(1, sizeof(*n));
	n->origin = xstrdup(c->origin);
	n->name = xstrdup(m.name);
	n->zone = zone && *zone ? xstrdup(zone) : NULL;
	model_add_node(c->out, n);
}

/* --- limits of a document ------------------------------------------------------ */

/*
 * Checked on every document before any of it is decoded, in one pass over
 * its nodes (aliases not followed): no mapping holds a key twice, and the
 * nodes reached through aliases stay within a budget. libfyaml's own
 * duplicate-key check is off (FYPCF_ALLOW_DUPLICATE_KEYS): it compares
 * each key with every earlier one, 28 s for a mapping of 40k keys.
 *
 * An alias costs the size of what it points to, counted once per alias
 * (as a decoder that follows it reads it again), so "billion laughs"
 * documents (lists of aliases of lists of aliases ...) are refused here
 * in time linear in their text. Sizes of anchored nodes are memoised in
 * the node's meta pointer (size + 2; WALK_BUSY while inside the node,
 * which an alias to its own ancestor would find).
 */
#define WALK_BUSY ((void *)1)

struct walk {
	const char *origin;
	struct diag *d;
	size_t alias_nodes; /* reached through aliases so far */
	size_t alias_max;
};

static void walk_bad(struct walk *w, struct fy_node *at, const char *what)
{
	const struct fy_mark *mk = NULL;
	struct fy_token *t = NULL;

	if (at && fy_node_get_type(at) == FYNT_SCALAR) /* aliases are scalars too */
		t = fy_node_get_scalar_token(at);
	mk = t ? fy_token_start_mark(t) : NULL;
	if (mk)
		diag_add(w->d, "%s:%d:%d: %s", w->origin, mk->line + 1, mk->column + 1, what);
	else
		diag_add(w->d, "%s: %s", w->origin, what);
}

struct keyref {
	const char *s;
	size_t len;
	uint64_t h;
};

static bool key_eq(const struct keyref *a, const struct keyref *b)
{
	return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

/*
 * The first key of map equal to an earlier one, or NULL. Keys that are
 * not scalars cannot be written in JSON and are not compared. Pairwise for
 * small mappings, an open-addressing table of indexes for large ones.
 */
static struct fy_node *dup_key(struct fy_node *map)
{
	size_t n = (size_t)fy_node_mapping_item_count(map), cnt = 0, mask = 0;
	struct keyref small[8], *k = n <= 8 ? small : xmalloc(n * sizeof(*k));
	struct fy_node *found = NULL;
	struct fy_node_pair *pair;
	size_t *tab = NULL;
	void *it = NULL;

	if (n > 8) {
		for (mask = 16; mask < 2 * n; mask *= 2)
			;
		tab = xcalloc(mask--, sizeof(*tab)); /* slot value: index + 1 */
	}
	while (!found && (pair = fy_node_mapping_iterate(map, &it))) {
		struct fy_node *kn = deref(fy_node_pair_key(pair));
		struct keyref r;

		if (!kn || fy_node_get_type(kn) != FYNT_SCALAR)
			continue;
		r.s = fy_node_get_scalar(kn, &r.len);
		if (!r.s)
			r.s = "";
		if (!tab) {
			for (size_t i = 0; i < cnt && !found; i++)
				if (key_eq(&k[i], &r))
					found = fy_node_pair_key(pair);
			k[cnt++] = r;
			continue;
		}
		r.h = fnv1a(FNV1A_INIT, r.s, r.len);
		for (size_t j = r.h & mask;; j = (j + 1) & mask) {
			if (!tab[j]) {
				k[cnt] = r;
				tab[j] = ++cnt;
				break;
			}
			if (k[tab[j] - 1].h == r.h && key_eq(&k[tab[j] - 1], &r)) {
				found = fy_node_pair_key(pair);
				break;
			}
		}
	}
	if (k != small)
		free(k);
	free(tab);
	return found;
}

/* Node count of n with aliases expanded into *size; -EINVAL when refused (reported). */
static int walk_node(struct walk *w, struct fy_node *n, size_t *size)
{
	struct fy_node_pair *pair;
	struct fy_node *x;
	void *it = NULL, *meta;
	size_t sub, total = 1;
	bool anchored;

	*size = 1;
	if (!n)
		return 0;
	if (fy_node_is_alias(n)) {
		x = fy_node_resolve_alias(n);
		if (!x)
			return 0;
		meta = fy_node_get_meta(x);
		if (meta == WALK_BUSY) {
			walk_bad(w, n, "an alias may not refer to a node that contains it");
			return -EINVAL;
		}
		if (meta)
			sub = (size_t)((uintptr_t)meta - 2);
		else if (walk_node(w, x, &sub))
			return -EINVAL;
		w->alias_nodes += sub;
		if (w->alias_nodes > w->alias_max) {
			char msg[160];

			snprintf(msg, sizeof(msg),
			         "aliases expand to more than %zu nodes: refused (a \"billion "
			         "laughs\" document?)",
			         w->alias_max);
			walk_bad(w, n, msg);
			return -EINVAL;
		}
		*size = sub;
		return 0;
	}
	anchored = fy_node_get_anchor(n) != NULL;
	if (anchored)
		fy_node_set_meta(n, WALK_BUSY);
	switch (fy_node_get_type(n)) {
	case FYNT_SCALAR:
		break;
	case FYNT_SEQUENCE:
		while ((x = fy_node_sequence_iterate(n, &it))) {
			if (walk_node(w, x, &sub))
				return -EINVAL;
			total += sub;
		}
		break;
	case FYNT_MAPPING:
		if ((x = dup_key(n))) {
			walk_bad(w, x, "duplicate key");
			return -EINVAL;
		}
		while ((pair = fy_node_mapping_iterate(n, &it))) {
			if (walk_node(w, fy_node_pair_key(pair), &sub))
				return -EINVAL;
			total += sub;
			if (walk_node(w, fy_node_pair_value(pair), &sub))
				return -EINVAL;
			total += sub;
		}
		break;
	}
	if (anchored)
		fy_node_set_meta(n, (void *)(uintptr_t)(total + 2));
	*size = total;
	return 0;
}

/*
 * 0 when the tree at root is within the limits, -EINVAL (reported in d)
 * when not. text_len is the size of the text it was parsed from: the
 * alias budget grows with it (one node per byte), from a floor that any
 * real use of aliases stays under.
 */
static int check_limits(const char *origin, struct fy_node *root, size_t text_len, struct diag *d)
{
	struct walk w = {.origin = origin, .d = d, .alias_max = DECODE_ALIAS_NODES_MIN};
	size_t size;

	if (text_len > w.alias_max)
		w.alias_max = text_len;
	return walk_node(&w, root, &size);
}

/* --- documents -------------------------------------------------------------------- */

/* 1-based line of a node (its first key for a mapping), 0 if unknown */
static int node_line(struct fy_node *n)
{
	const struct fy_mark *mk;
	struct fy_token *t = NULL;

	if (n && fy_node_get_type(n) == FYNT_MAPPING) {
		void *it = NULL;
		struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

		n = p ? fy_node_pair_key(p) : NULL;
	}
	if (n && fy_node_get_type(n) == FYNT_SCALAR)
		t = fy_node_get_scalar_token(n);
	mk = t ? fy_token_start_mark(t) : NULL;
	return mk ? mk->line + 1 : 0;
}

static void decode_any(struct dctx *c, struct fy_node *obj, int depth);

/* The unknown fields past the first UNKNOWN_SHOWN of the current object, as one warning. */
static void unknown_summary(struct dctx *c)
{
	if (c->unknown > UNKNOWN_SHOWN)
		warn(c, NULL, "%d more unknown fields (warning)", c->unknown - UNKNOWN_SHOWN);
}

static void decode_list(struct dctx *c, struct fy_node *obj, int depth)
{
	struct fy_node *items, *n;
	void *it = NULL;

	if (depth >= LIST_MAX_DEPTH) {
		bad(c, "items", "Lists nested more than %d deep", LIST_MAX_DEPTH);
		c->invalid++;
		return;
	}
	check_fields(c, obj, "", f_list);
	unknown_summary(c);
	if (get_seq(c, obj, "items", "", &items) < 0) {
		c->invalid++;
		return;
	}
	while (items && !c->refused && (n = item(items, &it)))
		decode_any(c, n, depth + 1);
}

/*
 * Decode one object (a document root or a List item). Problems are
 * reported with the object's identity; the object is added to c->out only
 * when it has none. Past DECODE_MAX_OBJECTS, sets c->refused (reported).
 */
static void decode_any(struct dctx *c, struct fy_node *obj, int depth)
{
	const char *api = NULL, *kind = NULL;
	size_t klen;

	c->kind = NULL;
	c->ns = NULL;
	c->name = NULL;
	c->errors = 0;
	c->unknown = 0;
	c->line = node_line(obj);
	if (vtype(obj) == V_NULL || vtype(obj) == V_ABSENT)
		return; /* empty document */
	if (++c->objects > DECODE_MAX_OBJECTS) {
		diag_add(c->d, "%s: more than %d objects: refused (split the file)", c->origin,
		         DECODE_MAX_OBJECTS);
		c->refused = true;
		return;
	}
	if (vtype(obj) != V_MAP) {
		bad(c, "document", "expected a Kubernetes object (a mapping), got %s",
		    vtype_names[vtype(obj)]);
		c->invalid++;
		return;
	}
	get_str(c, obj, "kind", "", &kind);
	c->kind = kind;
	get_str(c, obj, "apiVersion", "", &api);
	if (!kind && !c->errors)
		bad(c, "kind", "required value is missing (e.g. Service, EndpointSlice)");
	if (!api && !c->errors)
		bad(c, "apiVersion", "required value is missing (e.g. v1, discovery.k8s.io/v1)");
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

/* 1-based line and column (in bytes) of offset off in buf */
static void text_pos(const char *buf, size_t off, int *line, int *col)
{
	const char *nl = buf;

	*line = 1;
	for (size_t i = 0; i < off; i++)
		if (buf[i] == '\n') {
			(*line)++;
			nl = buf + i + 1;
		}
	*col = (int)(buf + off - nl) + 1;
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t a = strlen(s), b = strlen(sfx);

	return a >= b && !strcmp(s + a - b, sfx);
}

/* Report libfyaml's first error as file:LINE:COL: message. */
static void report_syntax(const char *origin, struct fy_diag *fd, struct diag *d)
{
	struct fy_diag_error *err;
	void *it = NULL;

	err = fy_diag_errors_iterate(fd, &it);
	if (err)
		diag_add(d, "%s:%d:%d: %s", origin, err->line, err->column,
		         err->msg ? err->msg : "syntax error");
	else
		diag_add(d, "%s: syntax error", origin);
}

/*
 * Decode one parsed tree (a document's root, or an object the caller
 * parsed) into c's private model, messages and rejects, after checking
 * its limits. -EINVAL when refused.
 */
static int decode_tree(struct dctx *c, struct fy_node *root, size_t text_len)
{
	int ret = check_limits(c->origin, root, text_len, c->d);

	if (!ret)
		decode_any(c, root, 0);
	doc_done(c);
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

/* Refuse text that is not (all) UTF-8 text, or too long: 0 or -EINVAL (reported). */
static int check_text(const char *origin, const char *buf, size_t len, struct diag *d)
{
	const char *nul;
	size_t bad;
	int line, col;

	if (len > DECODE_MAX_BYTES) {
		diag_add(d, "%s: %zu bytes, more than the %u MiB a manifest may have: refused",
		         origin, len, DECODE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	/*
	 * A NUL never belongs in YAML or JSON text; a file of NULs is what a
	 * power loss can leave, and read as "no objects" it would remove every
	 * Service silently. Nothing after one is trusted either.
	 */
	nul = memchr(buf, '\0', len);
	if (nul) {
		text_pos(buf, (size_t)(nul - buf), &line, &col);
		diag_add(d,
		         "%s:%d:%d: NUL byte: refused with all that follows (a truncated or "
		         "corrupt file?)",
		         origin, line, col);
		return -EINVAL;
	}
	bad = utf8_invalid_at((const unsigned char *)buf, len);
	if (bad < len) {
		text_pos(buf, bad, &line, &col);
		diag_add(d, "%s:%d:%d: invalid UTF-8 (manifests must be UTF-8 text)", origin, line,
		         col);
		return -EINVAL;
	}
	return 0;
}

static void dctx_free(struct dctx *c)
{
	arena_free(&c->arena);
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
	struct fy_parse_cfg cfg = {0};
	struct model tmp = {0};
	struct diag msgs = {0};
	struct dctx c = {.origin = origin, .d = &msgs, .out = &tmp, .rejects = &rej, .opts = opts};
	struct fy_parser *p = NULL;
	struct fy_diag *fd = NULL;
	struct fy_document *doc;
	struct fy_diag_cfg dcfg;
	int ret = -EINVAL;

	if (check_text(origin, buf, len, d))
		return -EINVAL;

	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = NULL;
	dcfg.colorize = false;
	fd = fy_diag_create(&dcfg);
	if (!fd)
		die_oom();
	/* collect libfyaml's messages instead of letting it print to stderr */
	fy_diag_set_collect_errors(fd, true);

	/*
	 * No accelerators: hash tables per mapping cost more than they save
	 * on our small mappings (read through get()'s key cache). Duplicate
	 * keys are found by check_limits(), in linear time. Not
	 * FYPCF_PREFER_RECURSIVE either: 4% fewer instructions, but other
	 * messages for too deep nesting ("depth limit exceeded", another
	 * column). Comments are not kept (no FYPCF_PARSE_COMMENTS).
	 */
	cfg.flags = FYPCF_QUIET | FYPCF_DISABLE_ACCELERATORS | FYPCF_ALLOW_DUPLICATE_KEYS |
	            (ends_with(origin, ".json") ? FYPCF_JSON_FORCE : FYPCF_JSON_NONE);
	cfg.diag = fd;
	p = fy_parser_create(&cfg);
	if (!p)
		die_oom();
	if (fy_parser_set_string(p, buf, len)) {
		report_syntax(origin, fd, d);
		goto out;
	}
	while ((doc = fy_parse_load_document(p))) {
		int r = decode_tree(&c, fy_document_root(doc), len);

		fy_parse_document_destroy(p, doc);
		if (r) {
			/* only the message that refused it: the rest is moot */
			diag_add(d, "%s", msgs.msgs[msgs.n - 1]);
			goto out;
		}
	}
	if (fy_diag_got_error(fd) || fy_parser_get_stream_error(p)) {
		report_syntax(origin, fd, d);
		goto out;
	}
	publish(&c, out, d, rejects); /* all parsed */
	ret = c.invalid;
out:
	dctx_free(&c);
	fy_parser_destroy(p);
	fy_diag_destroy(fd);
	return ret;
}

int decode_object(const char *origin, struct fy_node *obj, const struct decode_opts *opts,
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
