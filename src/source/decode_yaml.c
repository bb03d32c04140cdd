/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_yaml.c - typed access to the document's nodes (ytree.h), for the decoder.
 *
 * Typing follows what kubectl/the API server accept: a quoted "80" is a
 * string and not an integer (except where the API takes int-or-string,
 * i.e. targetPort), a plain 80 is not a string. Aliases are followed;
 * merge keys (<<) are not supported. Field paths are built only for
 * messages, and every problem is reported against the current object.
 *
 * Out of memory is fatal (x*alloc), as everywhere in the daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/mem.h"
#include "source/decode_int.h"

/* --- messages ----------------------------------------------------------------- */

/*
 * One message about the current object, prefixed with what names it
 * (origin, kind, ns/name, or the line for an unnamed object) and the field
 * path (none when NULL).
 */
static void __attribute__((format(printf, 4, 0)))
vreport(struct dctx *c, bool warning, const char *path, const char *fmt, va_list ap)
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
void dy_bad(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, false, path, fmt, ap);
	va_end(ap);
	c->errors++;
}

/* Report a warning about the current object: it is still decoded. */
void dy_warn(struct dctx *c, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, true, path, fmt, ap);
	va_end(ap);
}

/* --- nodes ----------------------------------------------------------------------- */

const char *const dy_vtype_names[] = {
    [V_ABSENT] = "nothing", [V_NULL] = "null",      [V_STR] = "a string",  [V_INT] = "an integer",
    [V_BOOL] = "a boolean", [V_FLOAT] = "a number", [V_MAP] = "a mapping", [V_SEQ] = "a list",
};

bool dy_text_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(s, lit, len);
}

bool dy_text_is_int(const char *s, size_t len)
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

/* The type of a scalar (or alias: a string) as the Kubernetes JSON decoder would see it. */
static enum vtype scalar_vtype(const struct ynode *n)
{
	const char *s = n->u.text;
	size_t len = n->len;

	if ((n->flags & YF_STR_TAG) || !(n->flags & YF_PLAIN))
		return V_STR;
	if (!len)
		return V_NULL;
	/* most scalars are names: the first character rules out every other type */
	switch (s[0]) {
	case '~':
	case 'n':
	case 'N':
		if (dy_text_is(s, len, "~") || dy_text_is(s, len, "null") ||
		    dy_text_is(s, len, "Null") || dy_text_is(s, len, "NULL"))
			return V_NULL;
		return V_STR;
	case 't':
	case 'T':
	case 'f':
	case 'F':
		if (dy_text_is(s, len, "true") || dy_text_is(s, len, "True") ||
		    dy_text_is(s, len, "TRUE") || dy_text_is(s, len, "false") ||
		    dy_text_is(s, len, "False") || dy_text_is(s, len, "FALSE"))
			return V_BOOL;
		return V_STR;
	case '0' ... '9':
	case '+':
	case '-':
	case '.':
		break;
	default:
		return V_STR; /* text_is_float() wants "0123456789+-.eE", and "e..." fails strtod */
	}
	if (dy_text_is_int(s, len))
		return V_INT;
	if (text_is_float(s, len))
		return V_FLOAT;
	return V_STR;
}

/* The type of a node as the Kubernetes JSON decoder would see it (kept in n->user). */
enum vtype dy_vtype(struct ynode *n)
{
	if (!n)
		return V_ABSENT;
	switch (n->type) {
	case YN_MAP:
		return V_MAP;
	case YN_SEQ:
		return V_SEQ;
	case YN_ALIAS:
		return V_STR; /* a tree built by hand may hold a dangling one: not plain */
	}
	if (!n->user)
		n->user = (uint8_t)(scalar_vtype(n) + 1);
	return (enum vtype)(n->user - 1);
}

/* A mapping's key as text: NULL when not a scalar. */
static const char *key_text(const struct ypair *pair, size_t *len)
{
	const struct ynode *k = ynode_deref(pair->key);

	if (!k || k->type != YN_SCALAR)
		return NULL;
	*len = k->len;
	return k->u.text;
}

struct ynode *dy_get(struct dctx *c, struct ynode *map, const char *key)
{
	(void)c;
	return ynode_get(map, key);
}

/* A scalar's (or alias's) text, NUL-terminated, valid as long as the tree. */
const char *dy_scalar0(struct dctx *c, struct ynode *n, size_t *lenp)
{
	(void)c;
	if (!n || (n->type != YN_SCALAR && n->type != YN_ALIAS)) {
		*lenp = 0;
		return "";
	}
	*lenp = n->len;
	return n->u.text;
}

/* A short printable rendering of a scalar for messages ("..." when long). */
const char *dy_show(struct ynode *n, char *buf, size_t size)
{
	const char *s = NULL;
	size_t len = 0;

	if (n && (n->type == YN_MAP || n->type == YN_SEQ)) {
		snprintf(buf, size, "%s", dy_vtype_names[dy_vtype(n)]);
		return buf;
	}
	if (n) {
		s = n->u.text;
		len = n->len;
	}
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
void dy_join(char *buf, const char *parent, const char *key)
{
	size_t len = 0;

	if (parent && *parent) {
		len = path_put(buf, len, parent, strlen(parent));
		len = path_put(buf, len, ".", 1);
	}
	path_put(buf, len, key, strlen(key));
}

/* buf = parent[i] */
void dy_path_index(char *buf, const char *parent, size_t i)
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
int dy_get_str(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               const char **out)
{
	struct ynode *n = dy_get(c, map, key);
	enum vtype t = dy_vtype(n);
	char path[PATH_LEN];
	size_t len;

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_STR) {
		*out = dy_scalar0(c, n, &len);
		if (!memchr(*out, '\0', len))
			return 1;
	}
	dy_join(path, parent, key);
	return dy_node_str(c, n, path, out);
}

/* As dy_get_str(), for a node that is itself the value (list items). */
int dy_node_str(struct dctx *c, struct ynode *n, const char *path, const char **out)
{
	enum vtype t = dy_vtype(n);
	char sh[64];
	size_t len;

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_MAP || t == V_SEQ) {
		dy_bad(c, path, "expected a string, got %s", dy_vtype_names[t]);
		return -1;
	}
	if (t != V_STR) {
		dy_bad(c, path, "expected a string, got %s %s (quote it)", dy_vtype_names[t],
		       dy_show(n, sh, sizeof(sh)));
		return -1;
	}
	*out = dy_scalar0(c, n, &len);
	if (memchr(*out, '\0', len)) {
		dy_bad(c, path, "contains a NUL character");
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
int dy_node_int(struct dctx *c, struct ynode *n, const char *path, long long *out)
{
	enum vtype t = dy_vtype(n);
	char sh[64], buf[32];
	const char *s;
	size_t len;

	*out = 0;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_INT) {
		if (t == V_STR) {
			dy_show(n, sh, sizeof(sh));
			dy_bad(c, path, "\"%s\" is a string, expected an integer%s", sh,
			       dy_text_is_int(sh, strlen(sh)) ? " (remove the quotes)" : "");
		} else if (t == V_MAP || t == V_SEQ)
			dy_bad(c, path, "expected an integer, got %s", dy_vtype_names[t]);
		else
			dy_bad(c, path, "%s is not an integer", dy_show(n, sh, sizeof(sh)));
		return -1;
	}
	s = n->u.text;
	len = n->len;
	if (len >= sizeof(buf)) {
		*out = s[0] == '-' ? LLONG_MIN : LLONG_MAX;
		return 1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	*out = strtoll(buf, NULL, 10); /* saturates on overflow */
	return 1;
}

int dy_node_bool(struct dctx *c, struct ynode *n, const char *path, bool *out)
{
	enum vtype t = dy_vtype(n);
	char sh[64];
	const char *s;

	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t == V_STR) {
		dy_bad(c, path, "\"%s\" is a string, expected a boolean (true or false, unquoted)",
		       dy_show(n, sh, sizeof(sh)));
		return -1;
	}
	if (t != V_BOOL) {
		dy_bad(c, path, "%s is not a boolean (true or false)",
		       t == V_MAP || t == V_SEQ ? dy_vtype_names[t] : dy_show(n, sh, sizeof(sh)));
		return -1;
	}
	s = n->u.text;
	*out = s[0] == 't' || s[0] == 'T';
	return 1;
}

/*
 * The node at parent.key when it is a list; 0 absent/null, 1 list, -1
 * another type (reported).
 */
int dy_get_seq(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               struct ynode **out)
{
	struct ynode *n = dy_get(c, map, key);
	enum vtype t = dy_vtype(n);
	char path[PATH_LEN];

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_SEQ) {
		dy_join(path, parent, key);
		dy_bad(c, path, "expected a list, got %s", dy_vtype_names[t]);
		return -1;
	}
	*out = n;
	return 1;
}

int dy_node_map(struct dctx *c, struct ynode *n, const char *path, struct ynode **out)
{
	enum vtype t = dy_vtype(n);

	*out = NULL;
	if (t == V_ABSENT || t == V_NULL)
		return 0;
	if (t != V_MAP) {
		dy_bad(c, path, "expected a mapping, got %s", dy_vtype_names[t]);
		return -1;
	}
	*out = n;
	return 1;
}

int dy_get_map(struct dctx *c, struct ynode *map, const char *key, const char *parent,
               struct ynode **out)
{
	struct ynode *n = dy_get(c, map, key);
	char path[PATH_LEN];

	*out = NULL;
	if (dy_vtype(n) == V_MAP)
		*out = n;
	if (dy_vtype(n) == V_MAP || dy_vtype(n) == V_ABSENT || dy_vtype(n) == V_NULL)
		return *out ? 1 : 0;
	dy_join(path, parent, key);
	return dy_node_map(c, n, path, out);
}

/* The next item of a list (*it counts from 0), aliases followed. */
struct ynode *dy_item(struct ynode *seq, size_t *it)
{
	if (!seq || seq->type != YN_SEQ || *it >= seq->len)
		return NULL;
	return ynode_deref(seq->u.items[(*it)++]);
}

/* --- typed readers ----------------------------------------------------------------- */

/*
 * Read a port number at path. lo is 1 for ports, 0 where 0 means "none".
 * Returns 1 with *out, 0 absent/null, -1 invalid (reported).
 */
int dy_node_port(struct dctx *c, struct ynode *n, const char *path, int lo, uint16_t *out)
{
	long long v;
	char sh[64];
	int r;

	*out = 0;
	r = dy_node_int(c, n, path, &v);
	if (r <= 0)
		return r;
	if (v < lo || v > 65535) {
		dy_bad(c, path, "%s is not a valid port (%d-65535)", dy_show(n, sh, sizeof(sh)),
		       lo);
		return -1;
	}
	*out = (uint16_t)v;
	return 1;
}

int dy_get_port(struct dctx *c, struct ynode *map, const char *key, const char *parent, int lo,
                uint16_t *out)
{
	struct ynode *n = dy_get(c, map, key);
	char path[PATH_LEN];

	*out = 0;
	if (dy_vtype(n) == V_ABSENT || dy_vtype(n) == V_NULL)
		return 0;
	dy_join(path, parent, key);
	return dy_node_port(c, n, path, lo, out);
}

/* protocol: TCP (default), UDP or SCTP; 0 when invalid (reported). */
uint8_t dy_get_proto(struct dctx *c, struct ynode *map, const char *parent)
{
	char path[PATH_LEN];
	const char *s;
	int r;

	r = dy_get_str(c, map, "protocol", parent, &s);
	if (r < 0)
		return 0;
	if (r == 0 || !strcmp(s, "TCP"))
		return L4_TCP;
	if (!strcmp(s, "UDP"))
		return L4_UDP;
	if (!strcmp(s, "SCTP"))
		return L4_SCTP;
	dy_join(path, parent, "protocol");
	dy_bad(c, path, "\"%s\" is not a valid protocol (TCP, UDP or SCTP)", s);
	return 0;
}

/* Check an address parsed from text at path for use; false when refused (reported). */
bool dy_ip_usable(struct dctx *c, const char *path, const char *text, const struct ipaddr *a,
                  enum k8s_ip_use use)
{
	const char *why = k8s_ip_refused(a, use);

	if (why)
		dy_bad(c, path, "\"%s\" %s", text, why);
	return !why;
}

/* Warn about every key of map (at path) not in known; one pass over map. */
void dy_check_fields(struct dctx *c, struct ynode *map, const char *path, const char *const *known)
{
	if (dy_vtype(map) != V_MAP)
		return;
	for (size_t j = 0; j < map->len; j++) {
		struct ynode *kn = ynode_deref(map->u.pairs[j].key);
		char fpath[PATH_LEN], sh[64];
		const char *k;
		size_t len = 0, i;

		k = key_text(&map->u.pairs[j], &len);
		for (i = 0; k && known[i]; i++)
			if (dy_text_is(k, len, known[i]))
				break;
		if (k && known[i])
			continue;
		if (c->unknown++ >= UNKNOWN_SHOWN)
			continue;
		dy_join(fpath, path, dy_show(kn, sh, sizeof(sh)));
		dy_warn(c, fpath, "unknown field (warning)");
	}
}

/*
 * An IP address string at path, for use (k8s_ip_refused()); family 0 accepts
 * both. 1 ok, 0 absent, -1 bad (reported).
 */
int dy_node_ip(struct dctx *c, struct ynode *n, const char *path, int family, enum k8s_ip_use use,
               struct ipaddr *out)
{
	const char *s;
	int r;

	r = dy_node_str(c, n, path, &s);
	if (r <= 0)
		return r;
	if (ipaddr_parse(s, out)) {
		dy_bad(c, path, "\"%s\" is not a valid IP address", s);
		return -1;
	}
	if (family && out->family != family) {
		dy_bad(c, path, "\"%s\" is not an %s address (the slice's addressType is %s)", s,
		       family == AF_INET ? "IPv4" : "IPv6", family == AF_INET ? "IPv4" : "IPv6");
		return -1;
	}
	return dy_ip_usable(c, path, s, out, use) ? 1 : -1;
}

/* Append a zeroed element to a malloc'd array of n elements of size sz. */
void *dy_grow(void *arr, size_t *n, size_t sz)
{
	char *p = xrealloc(arr, (*n + 1) * sz);

	memset(p + *n * sz, 0, sz);
	(*n)++;
	return p;
}

static bool seen_eq(const struct dy_seen_e *e, uint64_t h, const char *s, size_t len)
{
	if (e->h != h || !e->s != !s)
		return false;
	return !s || (e->len == len && !memcmp(e->s, s, len));
}

static long table_add(struct dy_seen *t, const char *s, size_t len, uint64_t num, size_t idx)
{
	uint64_t h = s ? fnv1a(FNV1A_INIT, s, len) : num;
	size_t j;

	if ((t->n + 1) * 2 > t->mask) { /* grow: keep at most half full */
		struct dy_seen old = *t;

		t->mask = old.mask ? old.mask * 2 + 1 : 15;
		t->v = xcalloc(t->mask + 1, sizeof(*t->v));
		t->n = 0;
		for (size_t i = 0; old.v && i <= old.mask; i++)
			if (old.v[i].idx) /* stored as idx + 1: 0 is an empty slot */
				table_add(t, old.v[i].s, old.v[i].len, old.v[i].h,
				          old.v[i].idx - 1);
		free(old.v);
	}
	for (j = (size_t)(h * 0x9e3779b97f4a7c15ull >> 7) & t->mask; t->v[j].idx;
	     j = (j + 1) & t->mask)
		if (seen_eq(&t->v[j], h, s, len))
			return (long)(t->v[j].idx - 1);
	t->v[j] = (struct dy_seen_e){.h = h, .s = s, .len = len, .idx = idx + 1};
	t->n++;
	return -1;
}

/*
 * Most lists are short (a Service has a port or two): their keys are
 * compared in place, with no table allocated, up to DY_SEEN_FEW of them.
 */
long dy_seen_add(struct dy_seen *t, const char *s, size_t len, uint64_t num, size_t idx)
{
	struct dy_seen_e few[DY_SEEN_FEW];
	size_t n = t->n;

	if (t->v)
		return table_add(t, s, len, num, idx);
	for (size_t i = 0; i < n; i++) {
		const struct dy_seen_e *e = &t->few[i];

		if (s ? e->s && e->len == len && !memcmp(e->s, s, len) : !e->s && e->h == num)
			return (long)e->idx;
	}
	if (n < DY_SEEN_FEW) {
		t->few[t->n++] = (struct dy_seen_e){.h = num, .s = s, .len = len, .idx = idx};
		return -1;
	}
	memcpy(few, t->few, sizeof(few)); /* to a table, in the order seen */
	t->n = 0;
	for (size_t i = 0; i < n; i++)
		table_add(t, few[i].s, few[i].len, few[i].h, few[i].idx);
	return table_add(t, s, len, num, idx);
}

void dy_seen_free(struct dy_seen *t)
{
	free(t->v);
	*t = (struct dy_seen){0};
}
