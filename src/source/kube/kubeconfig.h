/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kubeconfig.h - where the API server is and how to prove who we are.
 *
 * Three ways, as kube-proxy chooses them (client-go's BuildConfigFromFlags):
 *   --kubeconfig FILE [--master URL]  the file's current context; --master
 *                                     replaces its cluster's server
 *   --master URL alone                that server, no credentials, the
 *                                     system's CAs
 *   neither                           in-cluster: KUBERNETES_SERVICE_HOST
 *                                     and _PORT, the service account's
 *                                     token and ca.crt
 *
 * Supported in a kubeconfig: cluster server, certificate-authority(-data);
 * user token, tokenFile, client-certificate(-data), client-key(-data).
 * Relative file names are relative to the kubeconfig's directory. The
 * server's certificate is always verified: insecure-skip-tls-verify, plain
 * http:// servers, and credential plugins (exec, auth-provider) are refused
 * with a message saying so.
 */
#ifndef SVCPROXY_KUBECONFIG_H
#define SVCPROXY_KUBECONFIG_H

#include <stddef.h>

#include "source/diag.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_config {
	char *server;  /* "https://host:port[/prefix]", no trailing '/' */
	char *ca_file; /* PEM file, or NULL */
	char *ca_data; /* PEM bytes (ca_len), or NULL; neither: the system's CAs */
	size_t ca_len;
	char *token;      /* a fixed bearer token, or NULL */
	char *token_file; /* read again whenever it changes (rotation), or NULL */
	char *cert_file;  /* client certificate: file or data (PEM) */
	char *cert_data;
	size_t cert_len;
	char *key_file; /* ... and its key */
	char *key_data;
	size_t key_len;
	char *origin; /* "kubeconfig FILE", "in-cluster config", "--master URL" */
};

/*
 * From a kubeconfig file (NULL: none) and --master (NULL: none); one of
 * them is given. 0, or -EINVAL with the reason in d (naming the file and
 * the field).
 */
int kube_config_load(const char *kubeconfig, const char *master, struct kube_config *c,
                     struct diag *d);

/*
 * The same with the kubeconfig's text given (text[0, len), not necessarily
 * NUL-terminated): kubeconfig names the file, for messages and relative
 * file names; NULL for none (master alone).
 */
int kube_config_parse(const char *kubeconfig, const char *text, size_t len, const char *master,
                      struct kube_config *c, struct diag *d);

/*
 * In-cluster: the environment's KUBERNETES_SERVICE_HOST/PORT and sa_dir's
 * token and ca.crt (KUBE_SA_DIR in production). -ENOENT when not running
 * in a cluster (no KUBERNETES_SERVICE_HOST), -EINVAL when the token is
 * missing; reasons in d.
 */
int kube_config_in_cluster(const char *sa_dir, struct kube_config *c, struct diag *d);

void kube_config_free(struct kube_config *c); /* accepts a zeroed or half-built one */

/*
 * What to check after a 401, e.g. "the token in /run/token", "the client
 * certificate of kubeconfig /etc/kube.conf", "the credentials (none are
 * given)". Points into c or is static.
 */
const char *kube_config_cred_hint(const struct kube_config *c, char *buf, size_t size);

/* Decode base64 (whitespace ignored). Returns a malloc'd buffer and *len, or NULL. */
char *kube_base64_decode(const char *s, size_t n, size_t *len);

#endif
