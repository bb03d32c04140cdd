/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * client.c - HTTPS GETs with libcurl (see client.h).
 *
 * One curl easy handle per client, reused from request to request, so the
 * connection (and TLS session) is kept alive between the pages of a list
 * and from a list to its watch.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/mem.h"
#include "source/kube/jscan.h"

#define ERR_BODY_MAX (64 * 1024)
#define TOKEN_MAX    (64 * 1024)

struct kube_client {
	const struct kube_config *cfg;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	/* the token file as last read */
	char *token;
	struct stat token_st;
	bool token_read;
	/* the request under way */
	int (*body)(void *arg, const char *p, size_t n);
	void *arg;
	int body_ret;
	const atomic_bool *stop;
	char *err_body;
	size_t err_len;
	long http_version; /* CURL_HTTP_VERSION_* of the last answer, to log changes */
};

int kube_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static void set_blob(CURL *c, CURLoption opt, const char *data, size_t len)
{
	struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};

	curl_easy_setopt(c, opt, &b);
}

/* The options every request shares: TLS, credentials, keepalive, identity. */
static void setup_handle(struct kube_client *kc)
{
	const struct kube_config *c = kc->cfg;
	CURL *h = kc->curl;

	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, kc->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "svcproxy");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip if the server offers it */
	if (c->ca_file || c->ca_data) {
		/* the CA given, and only it, as client-go does */
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		if (c->ca_data)
			set_blob(h, CURLOPT_CAINFO_BLOB, c->ca_data, c->ca_len);
		else
			curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	}
	if (c->cert_data)
		set_blob(h, CURLOPT_SSLCERT_BLOB, c->cert_data, c->cert_len);
	else if (c->cert_file)
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_data)
		set_blob(h, CURLOPT_SSLKEY_BLOB, c->key_data, c->key_len);
	else if (c->key_file)
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
}

struct kube_client *kube_client_new(const struct kube_config *c)
{
	struct kube_client *kc = xcalloc(1, sizeof(*kc));

	kc->cfg = c;
	kc->curl = curl_easy_init();
	if (!kc->curl)
		die_oom();
	setup_handle(kc);
	return kc;
}

void kube_client_free(struct kube_client *kc)
{
	if (!kc)
		return;
	curl_easy_cleanup(kc->curl);
	free(kc->token);
	free(kc->err_body);
	free(kc);
}

/*
 * The bearer token: the fixed one, or the token file's content, read again
 * when the file changed (inode, size or mtime). An unreadable file keeps
 * the last token read (and says so once).
 */
static const char *current_token(struct kube_client *kc)
{
	const struct kube_config *c = kc->cfg;
	struct stat st;
	FILE *f;
	char *buf;
	size_t n;

	if (c->token || !c->token_file)
		return c->token;
	if (stat(c->token_file, &st)) {
		if (kc->token_read)
			log_warn("api", "cannot read the token file %s: %s (using the last token)",
			         c->token_file, strerror(errno));
		kc->token_read = false;
		return kc->token;
	}
	if (kc->token_read && st.st_ino == kc->token_st.st_ino &&
	    st.st_size == kc->token_st.st_size &&
	    st.st_mtim.tv_sec == kc->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == kc->token_st.st_mtim.tv_nsec)
		return kc->token;
	f = fopen(c->token_file, "re");
	if (!f)
		return kc->token;
	buf = xmalloc(TOKEN_MAX + 1);
	n = fread(buf, 1, TOKEN_MAX, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	free(kc->token);
	kc->token = buf;
	kc->token_st = st;
	kc->token_read = true;
	return kc->token;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct kube_client *kc = userdata;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(kc->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		kc->body_ret = kc->body(kc->arg, p, n);
		return kc->body_ret ? 0 : n; /* 0: curl aborts with CURLE_WRITE_ERROR */
	}
	if (kc->err_len < ERR_BODY_MAX) {
		size_t take = n < ERR_BODY_MAX - kc->err_len ? n : ERR_BODY_MAX - kc->err_len;

		kc->err_body = xrealloc(kc->err_body, kc->err_len + take + 1);
		memcpy(kc->err_body + kc->err_len, p, take);
		kc->err_len += take;
		kc->err_body[kc->err_len] = '\0';
	}
	return n;
}

static int on_progress(void *userdata, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct kube_client *kc = userdata;

	return kc->stop && atomic_load(kc->stop);
}

static int status_message(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct kube_result *res = arg;

	if (!json_key_is(key, klen, "message"))
		return 0;
	if (json_str(val, vlen, res->msg, sizeof(res->msg)) < 0)
		snprintf(res->msg, sizeof(res->msg), "(unreadable message)");
	return 1;
}

/*
 * Say which HTTP version the server answers with, when it changes: HTTP/2
 * when it offers h2 by ALPN (a kube-apiserver does), else HTTP/1.1. An
 * operator (and t_api_http2) can see that no silent fallback happened.
 */
static void note_http_version(struct kube_client *kc)
{
	long v = 0;

	curl_easy_getinfo(kc->curl, CURLINFO_HTTP_VERSION, &v);
	if (!v || v == kc->http_version)
		return;
	kc->http_version = v;
	log_info("api", "%s answers over %s", kc->cfg->server,
	         v == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
	         : v == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1"
	         : v == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
	                                      : "another HTTP version");
}

/* res->msg from a non-200 answer: its Status message, or its first line. */
static void error_message(struct kube_client *kc, struct kube_result *res)
{
	res->msg[0] = '\0';
	if (kc->err_body)
		jscan_members(kc->err_body, kc->err_len, status_message, res);
	if (!res->msg[0] && kc->err_body)
		snprintf(res->msg, sizeof(res->msg), "%.*s", (int)strcspn(kc->err_body, "\r\n"),
		         kc->err_body);
}

int kube_get(struct kube_client *kc, const char *path,
             int (*body)(void *arg, const char *p, size_t n), void *arg, long timeout,
             const atomic_bool *stop, struct kube_result *res)
{
	struct curl_slist *hdrs = NULL;
	const char *tok = current_token(kc);
	char *url = xasprintf("%s%s", kc->cfg->server, path), *auth = NULL;
	CURLcode cc;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	kc->body = body;
	kc->arg = arg;
	kc->body_ret = 0;
	kc->stop = stop;
	kc->err_len = 0;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (tok && *tok) {
		auth = xasprintf("Authorization: Bearer %s", tok);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (!hdrs)
		die_oom();
	kc->errbuf[0] = '\0';
	curl_easy_setopt(kc->curl, CURLOPT_URL, url);
	curl_easy_setopt(kc->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(kc->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(kc->curl, CURLOPT_WRITEDATA, kc);
	curl_easy_setopt(kc->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(kc->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(kc->curl, CURLOPT_XFERINFODATA, kc);
	curl_easy_setopt(kc->curl, CURLOPT_TIMEOUT, timeout);
	cc = curl_easy_perform(kc->curl);
	curl_easy_getinfo(kc->curl, CURLINFO_RESPONSE_CODE, &res->status);
	if (res->status)
		note_http_version(kc);
	if (cc == CURLE_WRITE_ERROR && kc->body_ret) {
		ret = kc->body_ret;
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		ret = -ECANCELED;
	} else if (cc != CURLE_OK) {
		snprintf(res->msg, sizeof(res->msg), "%s",
		         kc->errbuf[0] ? kc->errbuf : curl_easy_strerror(cc));
		ret = -EIO;
	} else if (res->status != 200) {
		error_message(kc, res);
	}
	curl_easy_setopt(kc->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (auth) {
		memset(auth, 0, strlen(auth)); /* no token left in freed memory */
		free(auth);
	}
	free(url);
	return ret;
}

char *kube_query_param(const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(value), o = 0;
	char *enc = xmalloc(n * 3 + 1), *out;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			enc[o++] = (char)c;
		} else {
			enc[o++] = '%';
			enc[o++] = hex[c >> 4];
			enc[o++] = hex[c & 15];
		}
	}
	enc[o] = '\0';
	out = xasprintf("%s=%s", key, enc);
	free(enc);
	return out;
}
