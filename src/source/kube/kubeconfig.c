/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kubeconfig.c - kubeconfig files, --master, in-cluster config (see kubeconfig.h).
 */
#include "kubeconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "common/utf8.h"
#include "source/ytree.h"

#define KUBECONFIG_MAX (16u << 20) /* bytes: kubeconfigs are a few KiB */

void kube_config_free(struct kube_config *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->token);
	free(c->token_file);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	free(c->key_data);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

char *kube_base64_decode(const char *s, size_t n, size_t *len)
{
	char *out = xmalloc(n / 4 * 3 + 4);
	uint32_t acc = 0;
	size_t o = 0;
	int bits = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v;

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad; /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+')
			v = 62;
		else if (c == '/')
			v = 63;
		else
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	out[o] = '\0';
	*len = o;
	return out;
bad:
	free(out);
	return NULL;
}

/* --- reading the YAML ----------------------------------------------------------- */

struct kcfg {
	const char *file;
	char *dir; /* for relative file names */
	struct diag *d;
	int errors;
};

/* A scalar's text, NULL for anything else (a text with a NUL in it is not one). */
static const char *scalar_text(const struct ynode *n)
{
	return n && n->type == YN_SCALAR && strlen(n->u.text) == n->len ? n->u.text : NULL;
}

/* A string field, or NULL when absent or empty; not a string: an error. */
static const char *mstr(struct kcfg *k, struct ynode *map, const char *key, const char *where)
{
	struct ynode *n = ynode_get(map, key);
	const char *s;

	if (!n)
		return NULL;
	s = scalar_text(n);
	if (!s) {
		diag_add(k->d, "%s: %s.%s: expected a string", k->file, where, key);
		k->errors++;
		return NULL;
	}
	return *s ? s : NULL;
}

/* The entry named name of a list like clusters: [{name: x, cluster: {...}}]. */
static struct ynode *named(struct kcfg *k, struct ynode *root, const char *list, const char *field,
                           const char *name)
{
	struct ynode *seq = ynode_get(root, list);

	for (size_t i = 0; seq && seq->type == YN_SEQ && i < seq->len; i++) {
		struct ynode *it = seq->u.items[i];
		const char *s = scalar_text(ynode_get(it, "name"));

		if (s && !strcmp(s, name)) {
			struct ynode *body = ynode_get(it, field);

			if (body && body->type == YN_MAP)
				return body;
			break;
		}
	}
	diag_add(k->d, "%s: %s: no %s named '%s'", k->file, list, field, name);
	k->errors++;
	return NULL;
}

static char *abs_path(const struct kcfg *k, const char *p)
{
	return p[0] == '/' || !k->dir ? xstrdup(p) : xasprintf("%s/%s", k->dir, p);
}

/* A file field or its -data twin: *file, or *data (*len) decoded. */
static void file_or_data(struct kcfg *k, struct ynode *map, const char *key, const char *where,
                         char **file, char **data, size_t *len)
{
	char dkey[64];
	const char *f = mstr(k, map, key, where), *b64;

	snprintf(dkey, sizeof(dkey), "%s-data", key);
	b64 = mstr(k, map, dkey, where);
	if (b64) {
		*data = kube_base64_decode(b64, strlen(b64), len);
		if (!*data) {
			diag_add(k->d, "%s: %s.%s: not valid base64", k->file, where, dkey);
			k->errors++;
		}
	} else if (f) {
		*file = abs_path(k, f);
	}
}

static void read_cluster(struct kcfg *k, struct ynode *cl, struct kube_config *c)
{
	const char *insecure = scalar_text(ynode_get(cl, "insecure-skip-tls-verify"));
	const char *server = mstr(k, cl, "server", "cluster");

	if (insecure && !strcmp(insecure, "true")) {
		diag_add(k->d,
		         "%s: cluster.insecure-skip-tls-verify: not supported: svcproxy always "
		         "verifies the API server's certificate (give certificate-authority or "
		         "certificate-authority-data)",
		         k->file);
		k->errors++;
	}
	if (server)
		c->server = xstrdup(server);
	file_or_data(k, cl, "certificate-authority", "cluster", &c->ca_file, &c->ca_data,
	             &c->ca_len);
}

static void read_user(struct kcfg *k, struct ynode *u, struct kube_config *c)
{
	static const char *const unsupported[] = {"exec", "auth-provider", "username", "password"};
	const char *tok = mstr(k, u, "token", "user"), *tf = mstr(k, u, "tokenFile", "user");

	for (size_t i = 0; i < sizeof(unsupported) / sizeof(*unsupported); i++) {
		if (ynode_get(u, unsupported[i])) {
			diag_add(k->d,
			         "%s: user.%s: not supported (use token, tokenFile or "
			         "client-certificate/client-key)",
			         k->file, unsupported[i]);
			k->errors++;
		}
	}
	if (tok)
		c->token = xstrdup(tok);
	else if (tf)
		c->token_file = abs_path(k, tf);
	file_or_data(k, u, "client-certificate", "user", &c->cert_file, &c->cert_data,
	             &c->cert_len);
	file_or_data(k, u, "client-key", "user", &c->key_file, &c->key_data, &c->key_len);
	if (!(c->cert_file || c->cert_data) != !(c->key_file || c->key_data)) {
		diag_add(k->d, "%s: user: client-certificate and client-key go together", k->file);
		k->errors++;
	}
}

static int read_kubeconfig(struct kcfg *k, const char *text, size_t len, struct kube_config *c)
{
	struct ytree *t = NULL;
	struct yparser *p = NULL;
	struct ynode *root = NULL, *ctx, *cl, *u;
	const char *cur, *cname, *uname;
	struct yerror err;
	int ret = -EINVAL;
	const char *what, *why;
	size_t bad = yaml_text_invalid_at(text, len, &what, &why);

	if (bad < len) {
		diag_add(k->d, "%s: %s at byte %zu%s", k->file, what, bad, why);
		return -EINVAL;
	}
	t = ytree_new();
	p = yparser_new(text, len);
	if (ytree_next(t, p, &root, &err) < 0) {
		diag_add(k->d, "%s:%d:%d: not a kubeconfig: %s", k->file, err.line, err.col,
		         err.msg);
		goto out;
	}
	/* duplicate keys (which one would count?), alias bombs */
	if (root && ytree_check(root, len, &err)) {
		diag_add(k->d, "%s:%d:%d: %s", k->file, err.line, err.col, err.msg);
		goto out;
	}
	root = ynode_deref(root);
	if (!root || root->type != YN_MAP) {
		diag_add(k->d, "%s: not a kubeconfig (YAML mapping)", k->file);
		goto out;
	}
	cur = mstr(k, root, "current-context", "kubeconfig");
	if (!cur) {
		diag_add(k->d, "%s: current-context: not set", k->file);
		goto out;
	}
	ctx = named(k, root, "contexts", "context", cur);
	cname = ctx ? mstr(k, ctx, "cluster", "context") : NULL;
	uname = ctx ? mstr(k, ctx, "user", "context") : NULL;
	if (ctx && !cname) {
		diag_add(k->d, "%s: context '%s': no cluster", k->file, cur);
		goto out;
	}
	cl = cname ? named(k, root, "clusters", "cluster", cname) : NULL;
	if (cl)
		read_cluster(k, cl, c);
	u = uname ? named(k, root, "users", "user", uname) : NULL;
	if (u)
		read_user(k, u, c);
	if (!k->errors)
		ret = 0;
out:
	yparser_free(p);
	ytree_free(t);
	return ret;
}

/* --- the three ways -------------------------------------------------------------- */

/* server: https only (the certificate is always verified); trailing '/' dropped. */
static int check_server(struct kube_config *c, const char *where, struct diag *d)
{
	size_t n;

	if (!c->server) {
		diag_add(d, "%s: no server given (cluster.server, or --master URL)", where);
		return -EINVAL;
	}
	if (strncmp(c->server, "https://", 8) || !c->server[8]) {
		diag_add(d,
		         "%s: server '%s': only https:// API servers are supported (the server's "
		         "certificate is always verified)",
		         where, c->server);
		return -EINVAL;
	}
	n = strlen(c->server);
	while (n > 8 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	return 0;
}

/* The whole file, or NULL with the reason in d. */
static char *read_all(const char *path, size_t *len, struct diag *d)
{
	FILE *f = fopen(path, "re");
	size_t cap = 0, n;
	char *buf = NULL;

	*len = 0;
	if (!f) {
		diag_add(d, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - *len < 4096) {
			cap = cap ? 2 * cap : 8192;
			if (cap > KUBECONFIG_MAX) {
				diag_add(d, "%s: larger than %u MiB: not a kubeconfig", path,
				         KUBECONFIG_MAX >> 20);
				goto fail;
			}
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	if (ferror(f)) {
		diag_add(d, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
		goto fail;
	}
	fclose(f);
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

int kube_config_load(const char *kubeconfig, const char *master, struct kube_config *c,
                     struct diag *d)
{
	size_t len;
	char *text;
	int ret;

	memset(c, 0, sizeof(*c));
	if (!kubeconfig)
		return kube_config_parse(NULL, NULL, 0, master, c, d);
	text = read_all(kubeconfig, &len, d);
	if (!text)
		return -EINVAL;
	ret = kube_config_parse(kubeconfig, text, len, master, c, d);
	free(text);
	return ret;
}

int kube_config_parse(const char *kubeconfig, const char *text, size_t len, const char *master,
                      struct kube_config *c, struct diag *d)
{
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (kubeconfig) {
		struct kcfg k = {.file = kubeconfig, .d = d};
		const char *slash = strrchr(kubeconfig, '/');

		if (slash)
			k.dir = slash == kubeconfig
			            ? xstrdup("/")
			            : xasprintf("%.*s", (int)(slash - kubeconfig), kubeconfig);
		ret = read_kubeconfig(&k, text, len, c);
		free(k.dir);
		c->origin = xasprintf("kubeconfig %s", kubeconfig);
	} else {
		c->origin = xasprintf("--master %s", master);
	}
	if (!ret && master) {
		free(c->server);
		c->server = xstrdup(master);
	}
	if (!ret)
		ret = check_server(c, kubeconfig ? kubeconfig : "--master", d);
	if (ret)
		kube_config_free(c);
	return ret;
}

int kube_config_in_cluster(const char *sa_dir, struct kube_config *c, struct diag *d)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *ca;

	memset(c, 0, sizeof(*c));
	if (!host || !*host || !port || !*port) {
		diag_add(d, "not running in a cluster: KUBERNETES_SERVICE_HOST and "
		            "KUBERNETES_SERVICE_PORT are not set (give --kubeconfig FILE)");
		return -ENOENT;
	}
	c->origin = xstrdup("in-cluster config");
	c->server = xasprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
	c->token_file = xasprintf("%s/token", sa_dir);
	if (access(c->token_file, R_OK)) {
		diag_add(d, "in-cluster config: cannot read the service account token %s: %s",
		         c->token_file, strerror(errno));
		kube_config_free(c);
		return -EINVAL;
	}
	ca = xasprintf("%s/ca.crt", sa_dir);
	if (!access(ca, R_OK))
		c->ca_file = ca;
	else
		free(ca); /* client-go goes on with the system's CAs too */
	return 0;
}

const char *kube_config_cred_hint(const struct kube_config *c, char *buf, size_t size)
{
	if (c->token_file)
		snprintf(buf, size, "the token in %s", c->token_file);
	else if (c->token)
		snprintf(buf, size, "the token of %s", c->origin);
	else if (c->cert_file || c->cert_data)
		snprintf(buf, size, "the client certificate of %s", c->origin);
	else
		snprintf(buf, size, "the credentials (%s gives none)", c->origin);
	return buf;
}
