/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kpconfig.c - KubeProxyConfiguration decoder (contract in kpconfig.h).
 *
 * The document is read with ytree (libyaml's parse, as a compact tree),
 * then three passes: ytree_check() refuses what the YAML parser lets
 * through (a duplicate key, an alias inside the node it names); walk()
 * checks every field against the schema below (types, unknown fields) and
 * collects the values svcproxy uses into vals[]; build() then checks the
 * values and fills struct kpconfig with kube-proxy's v1alpha1 defaults for
 * what is not set.
 *
 * Over 800 lines on purpose: the schema tables (every v1alpha1 field,
 * about 100 lines) sit next to the code that walks and checks them, so a
 * new upstream field is one table line here, reviewed with its handling.
 */
#include "cmd/kpconfig.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "common/mem.h"
#include "common/utf8.h"
#include "source/ytree.h"

enum ktype {
	T_STR,
	T_BOOL,
	T_INT,   /* int32 */
	T_FLOAT, /* float32 */
	T_DUR,   /* metav1.Duration: a string like "30s" */
	T_STRLIST,
	T_BOOLMAP, /* map[string]bool */
	T_OBJ,
	T_ANY, /* accepted as is (logging.options, flushFrequency, vmodule) */
};

/* The values build() reads; K_NONE: checked, then ignored. */
enum kid {
	K_NONE = -1,
	K_API,
	K_KIND,
	K_KUBECONFIG,
	K_HOSTNAME,
	K_BIND,
	K_HEALTHZ,
	K_METRICS,
	K_MODE,
	K_CLUSTER_CIDR,
	K_NODEPORT,
	K_DETECT_LOCAL,
	K_IPT_BIT,
	K_IPT_MASQ,
	K_IPT_SYNC,
	K_IPT_MINSYNC,
	K_NFT_BIT,
	K_NFT_MASQ,
	K_NFT_SYNC,
	K_NFT_MINSYNC,
	K_CT_MAXPERCORE,
	K_CT_MIN,
	K_CT_TCP_EST,
	K_CT_TCP_CW,
	K_CT_LIBERAL,
	K_CT_UDP,
	K_CT_UDP_STREAM,
	K_LOG_FORMAT,
	K_LOG_VERBOSITY,
	K_FEATURE_GATES,
	K_PROFILING,
	K_OOM,
	K_COUNT,
};

struct kfield {
	const char *name;
	enum ktype type;
	enum kid id;
	const struct kfield *sub; /* T_OBJ: its fields, ended by FEND */
};

/* clang-format off */
#define F(n, t, i) {n, t, i, NULL}
#define O(n, s)    {n, T_OBJ, K_NONE, s}
#define FEND       {NULL, T_ANY, K_NONE, NULL}
/* clang-format on */

static const struct kfield f_client[] = {
    F("kubeconfig", T_STR, K_KUBECONFIG),
    F("acceptContentTypes", T_STR, K_NONE),
    F("contentType", T_STR, K_NONE),
    F("qps", T_FLOAT, K_NONE),
    F("burst", T_INT, K_NONE),
    FEND,
};
static const struct kfield f_logging[] = {
    F("format", T_STR, K_LOG_FORMAT),   F("verbosity", T_INT, K_LOG_VERBOSITY),
    F("flushFrequency", T_ANY, K_NONE), F("vmodule", T_ANY, K_NONE),
    F("options", T_ANY, K_NONE),        FEND,
};
static const struct kfield f_iptables[] = {
    F("masqueradeBit", T_INT, K_IPT_BIT),
    F("masqueradeAll", T_BOOL, K_IPT_MASQ),
    F("localhostNodePorts", T_BOOL, K_NONE),
    F("snatNodeInternalIP", T_BOOL, K_NONE),
    F("syncPeriod", T_DUR, K_IPT_SYNC),
    F("minSyncPeriod", T_DUR, K_IPT_MINSYNC),
    FEND,
};
static const struct kfield f_ipvs[] = {
    F("syncPeriod", T_DUR, K_NONE),
    F("minSyncPeriod", T_DUR, K_NONE),
    F("scheduler", T_STR, K_NONE),
    F("excludeCIDRs", T_STRLIST, K_NONE),
    F("strictARP", T_BOOL, K_NONE),
    F("tcpTimeout", T_DUR, K_NONE),
    F("tcpFinTimeout", T_DUR, K_NONE),
    F("udpTimeout", T_DUR, K_NONE),
    FEND,
};
static const struct kfield f_nftables[] = {
    F("masqueradeBit", T_INT, K_NFT_BIT),
    F("masqueradeAll", T_BOOL, K_NFT_MASQ),
    F("syncPeriod", T_DUR, K_NFT_SYNC),
    F("minSyncPeriod", T_DUR, K_NFT_MINSYNC),
    FEND,
};
static const struct kfield f_winkernel[] = {
    F("networkName", T_STR, K_NONE),
    F("sourceVip", T_STR, K_NONE),
    F("enableDSR", T_BOOL, K_NONE),
    F("rootHnsEndpointName", T_STR, K_NONE),
    F("forwardHealthCheckVip", T_BOOL, K_NONE),
    FEND,
};
static const struct kfield f_detect_local[] = {
    F("bridgeInterface", T_STR, K_NONE),
    F("interfaceNamePrefix", T_STR, K_NONE),
    FEND,
};
static const struct kfield f_conntrack[] = {
    F("maxPerCore", T_INT, K_CT_MAXPERCORE),         F("min", T_INT, K_CT_MIN),
    F("tcpEstablishedTimeout", T_DUR, K_CT_TCP_EST), F("tcpCloseWaitTimeout", T_DUR, K_CT_TCP_CW),
    F("tcpBeLiberal", T_BOOL, K_CT_LIBERAL),         F("udpTimeout", T_DUR, K_CT_UDP),
    F("udpStreamTimeout", T_DUR, K_CT_UDP_STREAM),   FEND,
};
static const struct kfield f_root[] = {
    F("apiVersion", T_STR, K_API),
    F("kind", T_STR, K_KIND),
    F("featureGates", T_BOOLMAP, K_FEATURE_GATES),
    O("clientConnection", f_client),
    O("logging", f_logging),
    F("hostnameOverride", T_STR, K_HOSTNAME),
    F("bindAddress", T_STR, K_BIND),
    F("healthzBindAddress", T_STR, K_HEALTHZ),
    F("metricsBindAddress", T_STR, K_METRICS),
    F("bindAddressHardFail", T_BOOL, K_NONE),
    F("enableProfiling", T_BOOL, K_PROFILING),
    F("showHiddenMetricsForVersion", T_STR, K_NONE),
    F("mode", T_STR, K_MODE),
    O("iptables", f_iptables),
    O("ipvs", f_ipvs),
    O("nftables", f_nftables),
    O("winkernel", f_winkernel),
    F("detectLocalMode", T_STR, K_DETECT_LOCAL),
    O("detectLocal", f_detect_local),
    F("clusterCIDR", T_STR, K_CLUSTER_CIDR),
    F("nodePortAddresses", T_STRLIST, K_NODEPORT),
    F("oomScoreAdj", T_INT, K_OOM),
    O("conntrack", f_conntrack),
    F("configSyncPeriod", T_DUR, K_NONE),
    F("portRange", T_STR, K_NONE),
    F("windowsRunAsService", T_BOOL, K_NONE),
    FEND,
};

/* One collected value; n points into the document (valid while it lives). */
struct kval {
	bool set;
	int line;
	char path[160]; /* for messages, e.g. "nftables.syncPeriod" */
	char *s;        /* T_STR, T_DUR: a NUL-terminated copy */
	int64_t i;
	double d; /* T_DUR: seconds; T_FLOAT */
	bool b;
	struct ynode *n; /* T_STRLIST, T_BOOLMAP (aliases followed) */
};

struct kctx {
	const char *origin;
	struct diag *errs, *warns;
	int n_errs;
	struct kval v[K_COUNT];
};

enum vtype { V_NULL, V_BOOL, V_INT, V_FLOAT, V_STR, V_SEQ, V_MAP };
static const char *const vnames[] = {"null",     "a boolean", "an integer", "a number",
                                     "a string", "a list",    "a mapping"};

static void kerr(struct kctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void kerr(struct kctx *c, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(c->errs, "%s:%d: %s", c->origin, line, msg);
	c->n_errs++;
}

/*
 * 1-based line of n, 0 if unknown: where its text starts, a block
 * mapping's at its first key, a flow collection's at its bracket.
 */
static int node_line(const struct ynode *n)
{
	return n ? n->line : 0;
}

static bool text_eq(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && !memcmp(s, lit, len);
}

static bool text_is_int(const char *s, size_t len)
{
	size_t i = (len && (s[0] == '-' || s[0] == '+')) ? 1 : 0;

	if (i == len)
		return false;
	for (; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool text_is_float(const char *s, size_t len)
{
	char buf[64], *end;

	if (!len || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!isdigit((unsigned char)buf[0]) && buf[0] != '-' && buf[0] != '+' && buf[0] != '.')
		return false;
	strtod(buf, &end);
	return *end == '\0';
}

/* YAML 1.2 core schema typing, as Go's YAML->JSON conversion sees a node. */
static enum vtype vtype(const struct ynode *n)
{
	const char *s;
	size_t len;

	if (!n)
		return V_NULL;
	if (n->type == YN_MAP)
		return V_MAP;
	if (n->type == YN_SEQ)
		return V_SEQ;
	if (n->type != YN_SCALAR) /* an alias not followed: not expected here */
		return V_NULL;
	if ((n->flags & YF_STR_TAG) || !(n->flags & YF_PLAIN))
		return V_STR;
	s = n->u.text;
	len = n->len;
	if (!len || text_eq(s, len, "~") || text_eq(s, len, "null") || text_eq(s, len, "Null") ||
	    text_eq(s, len, "NULL"))
		return V_NULL;
	if (text_eq(s, len, "true") || text_eq(s, len, "True") || text_eq(s, len, "TRUE") ||
	    text_eq(s, len, "false") || text_eq(s, len, "False") || text_eq(s, len, "FALSE"))
		return V_BOOL;
	if (text_is_int(s, len))
		return V_INT;
	if (text_is_float(s, len))
		return V_FLOAT;
	return V_STR;
}

/* A scalar's text as a C string (a quoted "\0" ends it: take() refuses those). */
static char *scalar_dup(const struct ynode *n)
{
	char *r = xcalloc(1, n->len + 1);

	memcpy(r, n->u.text, n->len);
	return r;
}

/* A string value with a NUL in it ("\0" quoted): no field takes one. */
static bool has_nul(struct kctx *c, const struct ynode *n, const char *path)
{
	if (!memchr(n->u.text, '\0', n->len))
		return false;
	kerr(c, node_line(n), "%s: a string with a NUL character (\\0) in it", path);
	return true;
}

/* Check one value against its type; collect it if the field has an id. */
static void take(struct kctx *c, const struct kfield *f, const char *path, struct ynode *n)
{
	enum vtype t = vtype(n);
	struct kval *kv = f->id == K_NONE ? NULL : &c->v[f->id];
	int line = node_line(n);
	char *end;

	if (t == V_NULL || f->type == T_ANY)
		return; /* null: not set, as Go's JSON decoding leaves the field */
	switch (f->type) {
	case T_STR:
	case T_DUR:
		if (t != V_STR)
			goto bad_type;
		if (has_nul(c, n, path))
			return;
		break;
	case T_BOOL:
		if (t != V_BOOL)
			goto bad_type;
		break;
	case T_INT:
		if (t != V_INT)
			goto bad_type;
		break;
	case T_FLOAT:
		if (t != V_INT && t != V_FLOAT)
			goto bad_type;
		break;
	case T_STRLIST:
		if (t != V_SEQ)
			goto bad_type;
		for (size_t i = 0; i < n->len; i++) {
			struct ynode *item = ynode_deref(n->u.items[i]);

			if (vtype(item) != V_STR) {
				kerr(c, node_line(item), "%s: list items must be strings, got %s",
				     path, vnames[vtype(item)]);
				return;
			}
			if (has_nul(c, item, path))
				return;
		}
		break;
	case T_BOOLMAP:
		if (t != V_MAP)
			goto bad_type;
		break;
	case T_OBJ:
	case T_ANY:
		break;
	}
	if (!kv)
		return;
	kv->set = true;
	kv->line = line;
	kv->n = n;
	snprintf(kv->path, sizeof(kv->path), "%s", path);
	switch (f->type) {
	case T_STR:
		kv->s = scalar_dup(n);
		break;
	case T_DUR:
		kv->s = scalar_dup(n);
		if (duration_parse(kv->s, &kv->d) < 0) {
			kerr(c, line,
			     "%s: \"%s\" is not a duration like \"30s\", \"1m30s\" or \"500ms\"",
			     path, kv->s);
			kv->set = false;
		}
		break;
	case T_BOOL:
		kv->b = tolower((unsigned char)n->u.text[0]) == 't';
		break;
	case T_INT: {
		char *s = scalar_dup(n);

		errno = 0;
		kv->i = strtoll(s, &end, 10);
		if (errno || *end || kv->i < INT32_MIN || kv->i > INT32_MAX) {
			kerr(c, line, "%s: %s is out of range for a 32-bit integer", path, s);
			kv->set = false;
		}
		free(s);
		break;
	}
	default:
		break;
	}
	return;

bad_type:
	kerr(c, line, "%s: expected %s, got %s", path,
	     f->type == T_DUR       ? "a duration string like \"30s\""
	     : f->type == T_STRLIST ? "a list of strings"
	     : f->type == T_BOOLMAP ? "a mapping of names to booleans"
	     : f->type == T_INT     ? "an integer"
	     : f->type == T_FLOAT   ? "a number"
	                            : vnames[f->type == T_BOOL ? V_BOOL : V_STR],
	     vnames[t]);
}

/* Walk a mapping against fields; prefix is the path so far ("" at the root). */
static void walk(struct kctx *c, struct ynode *map, const struct kfield *fields, const char *prefix)
{
	for (size_t i = 0; i < map->len; i++) {
		struct ynode *k = ynode_deref(map->u.pairs[i].key);
		struct ynode *v = ynode_deref(map->u.pairs[i].value);
		const struct kfield *f;
		char path[160];

		if (!k || k->type != YN_SCALAR) {
			kerr(c, node_line(k), "%s: field names must be strings",
			     *prefix ? prefix : "KubeProxyConfiguration");
			continue;
		}
		snprintf(path, sizeof(path), "%s%s%.*s", prefix, *prefix ? "." : "", (int)k->len,
		         k->u.text);
		for (f = fields; f->name; f++)
			if (text_eq(k->u.text, k->len, f->name))
				break;
		if (!f->name) {
			diag_add(c->warns, "%s:%d: unknown field \"%s\" ignored", c->origin,
			         node_line(k), path);
			continue;
		}
		if (f->type == T_OBJ) {
			if (vtype(v) == V_NULL)
				continue;
			if (vtype(v) != V_MAP) {
				kerr(c, node_line(v), "%s: expected a mapping, got %s", path,
				     vnames[vtype(v)]);
				continue;
			}
			walk(c, v, f->sub, path);
			continue;
		}
		take(c, f, path, v);
	}
}

/*
 * "IP:PORT", "[IPv6]:PORT", or a bare IP that gets port appended (as
 * kube-proxy's AppendPortIfNeeded). Returns a malloc'd normal form, or
 * NULL after an error naming path.
 */
static char *host_port(struct kctx *c, const struct kval *kv, unsigned port)
{
	char host[IPADDR_STRLEN + 2], out[IPADDR_STRLEN + 16];
	const char *s = kv->s, *colon = strrchr(s, ':');
	struct ipaddr a;
	char *end;
	unsigned long p;

	if (ipaddr_parse(s, &a) == 0) { /* bare address */
		snprintf(out, sizeof(out), a.family == AF_INET6 ? "[%s]:%u" : "%s:%u", s, port);
		return xstrdup(out);
	}
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!isdigit((unsigned char)colon[1]) || *end || errno || p > 65535)
		goto bad;
	if (host[0] == '[') {
		size_t hl = strlen(host);

		if (hl < 2 || host[hl - 1] != ']')
			goto bad;
		host[hl - 1] = '\0';
		if (ipaddr_parse(host + 1, &a) || a.family != AF_INET6)
			goto bad;
	} else if (ipaddr_parse(host, &a) || a.family != AF_INET) {
		goto bad;
	}
	return xstrdup(s);
bad:
	kerr(c, kv->line, "%s: \"%s\" is not IP:PORT, [IPv6]:PORT or an IP", kv->path, s);
	return NULL;
}

/* nodePortAddresses: CIDRs and the keywords 'primary' and 'all'. */
static void build_nodeports(struct kctx *c, struct kpconfig *o)
{
	const struct kval *kv = &c->v[K_NODEPORT];
	size_t cap = 0;

	if (!kv->set)
		return;
	cap = 2 * kv->n->len;
	o->nodeport_cidrs = cap ? xcalloc(cap, sizeof(struct cidr)) : NULL;
	for (size_t i = 0; i < kv->n->len; i++) {
		const struct ynode *item = ynode_deref(kv->n->u.items[i]);
		char *s = scalar_dup(item); /* take() checked: a string */

		o->nodeport_set = true;
		if (!strcmp(s, "primary")) {
			o->nodeport_primary = true;
		} else if (!strcmp(s, "all")) {
			cidr_parse("0.0.0.0/0", &o->nodeport_cidrs[o->n_nodeport_cidrs++]);
			cidr_parse("::/0", &o->nodeport_cidrs[o->n_nodeport_cidrs++]);
		} else if (!strcmp(s, "localhost")) {
			kerr(c, node_line(item),
			     "%s: 'localhost' NodePorts are not supported in nftables mode",
			     kv->path);
		} else if (!strchr(s, '/') ||
		           cidr_parse(s, &o->nodeport_cidrs[o->n_nodeport_cidrs]) < 0) {
			kerr(c, node_line(item),
			     "%s: \"%s\" is neither a CIDR like 192.168.0.0/24 nor 'primary' or "
			     "'all'",
			     kv->path, s);
		} else {
			o->n_nodeport_cidrs++;
		}
		free(s);
	}
}

static void build_conntrack(struct kctx *c, struct kpconfig *o)
{
	static const enum kid durs[] = {K_CT_TCP_EST, K_CT_TCP_CW, K_CT_UDP, K_CT_UDP_STREAM};
	double *dst[] = {&o->ct.tcp_established, &o->ct.tcp_close_wait, &o->ct.udp,
	                 &o->ct.udp_stream};

	o->ct.max_per_core = c->v[K_CT_MAXPERCORE].set ? c->v[K_CT_MAXPERCORE].i : -1;
	o->ct.min = c->v[K_CT_MIN].set ? c->v[K_CT_MIN].i : -1;
	if (o->ct.max_per_core < -1 || o->ct.min < -1 ||
	    (c->v[K_CT_MAXPERCORE].set && o->ct.max_per_core < 0) ||
	    (c->v[K_CT_MIN].set && o->ct.min < 0))
		kerr(c, c->v[o->ct.min < 0 && c->v[K_CT_MIN].set ? K_CT_MIN : K_CT_MAXPERCORE].line,
		     "conntrack: maxPerCore and min must be >= 0");
	for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		const struct kval *kv = &c->v[durs[i]];

		*dst[i] = kv->set ? kv->d : -1;
		if (kv->set && kv->d < 0)
			kerr(c, kv->line, "%s: must be >= 0", kv->path);
	}
	o->ct.tcp_be_liberal = c->v[K_CT_LIBERAL].set && c->v[K_CT_LIBERAL].b;
}

/* The mode's section: syncPeriod, minSyncPeriod, masqueradeAll, masqueradeBit. */
static void build_mode(struct kctx *c, struct kpconfig *o)
{
	const struct kval *mode = &c->v[K_MODE], *dl = &c->v[K_DETECT_LOCAL];
	const struct kval *sync, *minsync, *masq, *bit;

	if (mode->set && *mode->s && strcmp(mode->s, "nftables"))
		kerr(c, mode->line,
		     "mode: \"%s\" is not supported: svcproxy programs nftables (use mode: "
		     "nftables)",
		     mode->s);
	o->nftables_mode = mode->set && !strcmp(mode->s, "nftables");
	if (dl->set && *dl->s && strcmp(dl->s, "ClusterCIDR"))
		kerr(c, dl->line,
		     "detectLocalMode: \"%s\" is not supported: svcproxy detects local traffic "
		     "by clusterCIDR only (detectLocalMode: ClusterCIDR)",
		     dl->s);
	sync = &c->v[o->nftables_mode ? K_NFT_SYNC : K_IPT_SYNC];
	minsync = &c->v[o->nftables_mode ? K_NFT_MINSYNC : K_IPT_MINSYNC];
	masq = &c->v[o->nftables_mode ? K_NFT_MASQ : K_IPT_MASQ];
	bit = &c->v[o->nftables_mode ? K_NFT_BIT : K_IPT_BIT];
	/* kube-proxy's defaults: 0 (or unset) means 30s and 1s */
	o->sync_period = sync->set && sync->d != 0 ? sync->d : 30;
	o->min_sync_period = minsync->set && minsync->d != 0 ? minsync->d : 1;
	if (o->sync_period < 0)
		kerr(c, sync->line, "%s: must be greater than 0", sync->path);
	if (o->min_sync_period < 0)
		kerr(c, minsync->line, "%s: must be greater than or equal to 0", minsync->path);
	o->masquerade_all = masq->set && masq->b;
	if (bit->set && (bit->i < 0 || bit->i > 31))
		kerr(c, bit->line, "%s: %lld must be within the range [0, 31]", bit->path,
		     (long long)bit->i);
	else if (bit->set && bit->i != 14)
		kerr(c, bit->line,
		     "%s: %lld is not supported: svcproxy marks packets to masquerade with bit 14 "
		     "(0x4000), kube-proxy's default",
		     bit->path, (long long)bit->i);
}

static void build_logging(struct kctx *c, struct kpconfig *o)
{
	const struct kval *fmt = &c->v[K_LOG_FORMAT], *v = &c->v[K_LOG_VERBOSITY];

	o->log_json = -1;
	if (fmt->set && !strcmp(fmt->s, "json"))
		o->log_json = 1;
	else if (fmt->set && (!*fmt->s || !strcmp(fmt->s, "text")))
		o->log_json = fmt->set && *fmt->s ? 0 : -1;
	else if (fmt->set)
		kerr(c, fmt->line, "%s: \"%s\" is neither text nor json", fmt->path, fmt->s);
	o->verbosity = v->set ? (int)v->i : -1;
	if (v->set && v->i < 0)
		kerr(c, v->line, "%s: must be >= 0", v->path);
}

/* What svcproxy accepts but does not do: say so, once per field. */
static void warn_ignored(struct kctx *c)
{
	const struct kval *fg = &c->v[K_FEATURE_GATES], *prof = &c->v[K_PROFILING];
	const struct kval *oom = &c->v[K_OOM];

	if (fg->set && fg->n->len > 0)
		diag_add(c->warns,
		         "%s:%d: featureGates: kube-proxy's feature gates do not apply to "
		         "svcproxy; ignored",
		         c->origin, fg->line);
	if (prof->set && prof->b)
		diag_add(c->warns, "%s:%d: enableProfiling: svcproxy has no /debug/pprof; ignored",
		         c->origin, prof->line);
	if (oom->set && (oom->i < -1000 || oom->i > 1000))
		kerr(c, oom->line, "oomScoreAdj: %lld must be within the range [-1000, 1000]",
		     (long long)oom->i);
	else if (oom->set)
		diag_add(c->warns,
		         "%s:%d: oomScoreAdj: not applied by svcproxy (set it for the "
		         "container); ignored",
		         c->origin, oom->line);
}

static char *nonempty_dup(const struct kval *kv)
{
	return kv->set && *kv->s ? xstrdup(kv->s) : NULL;
}

/* vals -> *o with kube-proxy's defaults; errors counted in c. */
static void build(struct kctx *c, struct kpconfig *o)
{
	const struct kval *api = &c->v[K_API], *kind = &c->v[K_KIND], *cc = &c->v[K_CLUSTER_CIDR];
	const struct kval *bind = &c->v[K_BIND];
	bool v6 = false;

	if (!api->set || strcmp(api->s, KPCONFIG_API_VERSION))
		kerr(c, api->set ? api->line : 1,
		     "apiVersion: %s%s%s, expected " KPCONFIG_API_VERSION,
		     api->set ? "\"" : "missing", api->set ? api->s : "", api->set ? "\"" : "");
	if (!kind->set || strcmp(kind->s, KPCONFIG_KIND))
		kerr(c, kind->set ? kind->line : 1, "kind: %s%s%s, expected " KPCONFIG_KIND,
		     kind->set ? "\"" : "missing", kind->set ? kind->s : "", kind->set ? "\"" : "");
	o->kubeconfig = nonempty_dup(&c->v[K_KUBECONFIG]);
	if (c->v[K_HOSTNAME].set) {
		const char *h = c->v[K_HOSTNAME].s;
		size_t n;

		while (isspace((unsigned char)*h))
			h++;
		o->hostname = xstrdup(h);
		for (n = strlen(o->hostname); n && isspace((unsigned char)o->hostname[n - 1]);)
			o->hostname[--n] = '\0';
		for (char *p = o->hostname; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!*o->hostname) {
			free(o->hostname);
			o->hostname = NULL;
		}
	}
	if (bind->set && *bind->s) {
		if (ipaddr_parse(bind->s, &o->bind_address) < 0)
			kerr(c, bind->line, "bindAddress: \"%s\" is not an IP address", bind->s);
		v6 = o->bind_address.family == AF_INET6;
		if (!memcmp(o->bind_address.raw, (uint8_t[16]){0}, ipaddr_len(&o->bind_address)))
			o->bind_address.family = 0; /* 0.0.0.0 or ::: no override */
	}
	/* kube-proxy: "" is the default, an address without port gets one */
	if (c->v[K_HEALTHZ].set && *c->v[K_HEALTHZ].s)
		o->healthz_addr = host_port(c, &c->v[K_HEALTHZ], 10256);
	else
		o->healthz_addr = xstrdup(v6 ? "[::]:10256" : "0.0.0.0:10256");
	if (c->v[K_METRICS].set && *c->v[K_METRICS].s)
		o->metrics_addr = host_port(c, &c->v[K_METRICS], 10249);
	else
		o->metrics_addr = xstrdup(v6 ? "[::1]:10249" : "127.0.0.1:10249");
	if (cc->set && *cc->s) {
		const char *bad = NULL;

		if (cidr_list_parse(cc->s, &o->cluster_cidrs, &o->n_cluster_cidrs, &bad) < 0)
			kerr(c, cc->line,
			     "clusterCIDR: \"%s\" is not a list of CIDRs like "
			     "10.244.0.0/16,fd00:10:244::/56",
			     cc->s);
	}
	build_nodeports(c, o);
	build_mode(c, o);
	build_conntrack(c, o);
	build_logging(c, o);
	warn_ignored(c);
}

static void kctx_free(struct kctx *c)
{
	for (int i = 0; i < K_COUNT; i++)
		free(c->v[i].s);
}

/*
 * The single document's root, read into t; NULL after an error or when
 * the stream has none. A second document is read into a tree of its own,
 * so the first one's nodes stay valid.
 */
static struct ynode *load_document(struct kctx *c, struct yparser *p, struct ytree *t)
{
	struct ynode *root = NULL, *next;
	struct yerror err = {0};
	int r = ytree_next(t, p, &root, &err);

	if (r > 0) {
		struct ytree *t2 = ytree_new();

		r = ytree_next(t2, p, &next, &err);
		if (r > 0)
			kerr(c, node_line(next),
			     "one KubeProxyConfiguration per file: a second document follows");
		ytree_free(t2);
	}
	if (r < 0) {
		diag_add(c->errs, "%s:%d:%d: %s", c->origin, err.line, err.col,
		         err.msg[0] ? err.msg : "syntax error");
		c->n_errs++;
	}
	return c->n_errs ? NULL : root;
}

int kpconfig_decode(const char *origin, const char *buf, size_t len, struct kpconfig *out,
                    struct diag *errs, struct diag *warns)
{
	struct kctx c = {.origin = origin, .errs = errs, .warns = warns};
	struct yparser *p;
	struct ytree *t;
	struct ynode *doc, *root;
	struct yerror yerr;
	const char *what, *why;
	size_t bad;

	memset(out, 0, sizeof(*out));
	/* no NUL (libyaml would stop there) and UTF-8 only, with the offset */
	bad = yaml_text_invalid_at(buf, len, &what, &why);
	if (bad < len) {
		diag_add(errs, "%s: %s at byte %zu%s", origin, what, bad, why);
		return -EINVAL;
	}
	p = yparser_new(buf, len);
	t = ytree_new();
	doc = load_document(&c, p, t);
	/* a duplicate key, an alias inside the node it names, an alias bomb */
	if (doc && ytree_check(doc, len, &yerr)) {
		diag_add(errs, "%s:%d:%d: %s", origin, yerr.line, yerr.col, yerr.msg);
		c.n_errs++;
	}
	root = doc && !c.n_errs ? ynode_deref(doc) : NULL;
	if (root && vtype(root) != V_MAP)
		kerr(&c, node_line(root), "expected a KubeProxyConfiguration mapping, got %s",
		     vnames[vtype(root)]);
	else if (root)
		walk(&c, root, f_root, "");
	if (root && vtype(root) == V_MAP)
		build(&c, out); /* also after type errors: report every problem */
	kctx_free(&c);
	ytree_free(t);
	yparser_free(p);
	if (c.n_errs || !doc) {
		if (!c.n_errs)
			diag_add(errs, "%s: empty: expected a KubeProxyConfiguration", origin);
		kpconfig_free(out);
		return -EINVAL;
	}
	return 0;
}

int kpconfig_load(const char *path, struct kpconfig *out, struct diag *errs, struct diag *warns)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!f) {
		ret = -errno;
		diag_add(errs, "%s: cannot read: %s", path, strerror(errno));
		return ret;
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 8192;
			if (cap > (16u << 20)) {
				diag_add(errs,
				         "%s: larger than 16 MiB: not a KubeProxyConfiguration",
				         path);
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		diag_add(errs, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	ret = kpconfig_decode(path, buf ? buf : "", len, out, errs, warns);
	free(buf);
	return ret;
}

void kpconfig_free(struct kpconfig *c)
{
	free(c->kubeconfig);
	free(c->hostname);
	free(c->healthz_addr);
	free(c->metrics_addr);
	free(c->cluster_cidrs);
	free(c->nodeport_cidrs);
	memset(c, 0, sizeof(*c));
}
