/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_informer.c - libFuzzer target for the API source's informer: list
 * bodies and watch streams, as the HTTP layer hands them over.
 *
 * The API server's answers are untrusted bytes (a compromised or buggy
 * server, a proxy in between): every byte sequence must end in a store
 * that holds well-formed objects, or in an error, without a crash, a leak
 * or undefined behaviour. The informer runs no thread here: its lists and
 * watches are driven one after the other, as its thread would (a list; a
 * watch; on 410 or an ERROR event a list again), and inf->get serves the
 * answers from the input instead of libcurl. The input:
 *
 *   byte 0      the kind (Services, EndpointSlices, Nodes) and whether
 *               decode.c's cluster settings apply
 *   bytes 1-4   the sizes in which each body is handed over, in turn
 *               (1-255 bytes; 0: the rest at once), so split-boundary
 *               bugs show
 *   the rest    the answers, one per request, separated by two NUL
 *               bytes; an answer "!NNN message" has status NNN (no body
 *               is handed over), any other is a 200 body. When the
 *               answers run out, requests fail as a refused connection.
 *
 * After every list and watch the store is checked (every entry reachable,
 * its object decoded and named as its key) and the objects it dropped are
 * freed, as the daemon's handle() does: a dropped object still in use is
 * a use after free for ASan. Log lines are formatted, debug ones too (their
 * arguments read), and dropped: common/log.c is not linked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/hash.h"
#include "common/log.h"
#include "model/model.h"
#include "source/decode.h"
#include "source/kube/informer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_SIZES  4
#define MAX_RUNS 64 /* lists and watches per input */

static struct answers {
	const uint8_t *sizes;
	size_t next_size;
	const uint8_t *p; /* what is left of the input */
	size_t left;
	bool done;
	enum kkind kind;
} A;

/* The next answer, or false when there is none. */
static bool next_answer(const char **text, size_t *len)
{
	const uint8_t *end;

	if (A.done)
		return false;
	end = memmem(A.p, A.left, "\0\0", 2);
	*text = (const char *)A.p;
	if (!end) {
		*len = A.left;
		A.done = true;
		return true;
	}
	*len = (size_t)(end - A.p);
	A.left -= *len + 2;
	A.p = end + 2;
	return true;
}

static int fake_get(struct kube_client *kc, const char *path,
                    int (*body)(void *arg, const char *p, size_t n), void *arg, long timeout,
                    const atomic_bool *stop, struct kube_result *res)
{
	const char *text;
	size_t len, off = 0;

	memset(res, 0, sizeof(*res));
	if (strncmp(path, kkinds[A.kind].path, strlen(kkinds[A.kind].path)) || timeout <= 0)
		abort();
	if (!next_answer(&text, &len)) {
		snprintf(res->msg, sizeof(res->msg), "Connection refused");
		return -EIO;
	}
	if (len >= 4 && text[0] == '!' && text[1] >= '1' && text[1] <= '5' && text[2] >= '0' &&
	    text[2] <= '9' && text[3] >= '0' && text[3] <= '9') {
		res->status = (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
		snprintf(res->msg, sizeof(res->msg), "%.*s", (int)(len - 4 > 255 ? 255 : len - 4),
		         text + 4);
		return 0;
	}
	res->status = 200;
	while (off < len) {
		size_t n = A.sizes[A.next_size++ % N_SIZES];
		char *chunk;
		int ret;

		if (!n || n > len - off)
			n = len - off;
		/* a buffer of its own, exactly as long: a read past it is an ASan report */
		chunk = malloc(n);
		memcpy(chunk, text + off, n);
		ret = body(arg, chunk, n);
		free(chunk);
		if (ret)
			return ret;
		off += n;
	}
	return 0;
}

/* common/log.c's functions: every line formatted, none written */
void log_setup(int verbosity, int json)
{
}

int log_json_enabled(void)
{
	return 0;
}

void log_msg(enum log_level lvl, const char *subsys, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

static const char *obj_ns(enum kkind k, const void *obj)
{
	if (k == KK_SERVICE)
		return ((const struct service *)obj)->ns;
	if (k == KK_SLICE)
		return ((const struct endpoint_slice *)obj)->ns;
	return "";
}

static const char *obj_name(enum kkind k, const void *obj)
{
	if (k == KK_SERVICE)
		return ((const struct service *)obj)->name;
	if (k == KK_SLICE)
		return ((const struct endpoint_slice *)obj)->name;
	return ((const struct node *)obj)->name;
}

/* The store's table and objects, then the objects dropped (freed, as handle() does). */
static void check_and_handle(struct informer *inf, struct kshared *sh)
{
	const struct kstore *s = &inf->store;
	size_t used = 0;

	if (!memchr(inf->rv, 0, sizeof(inf->rv)))
		abort();
	for (size_t i = 0; i < kstore_slots(s); i++) {
		const struct kentry *e = &s->v[i];
		uint64_t h;
		const char *ns, *name;
		char key[600];

		if (!e->h)
			continue;
		used++;
		h = fnv1a(FNV1A_INIT, e->key, strlen(e->key));
		if ((h ? h : 1) != e->h || !e->obj || !memchr(e->rv, 0, sizeof(e->rv)))
			abort();
		/* reachable: no empty slot between its home and where it is */
		for (size_t j = e->h & s->mask; j != i; j = (j + 1) & s->mask)
			if (!s->v[j].h)
				abort();
		ns = obj_ns(inf->kind, e->obj);
		name = obj_name(inf->kind, e->obj);
		if (!ns || !name || !name[0])
			abort();
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		if (strcmp(key, e->key))
			abort(); /* a DELETED event naming this object would miss it */
	}
	if (used != s->n || (s->v && s->n >= kstore_slots(s)))
		abort();
	for (size_t g = 0; g < sh->n_graves; g++) {
		for (size_t i = 0; i < kstore_slots(s); i++)
			if (s->v[i].h && s->v[i].obj == sh->graves[g].obj)
				abort(); /* dropped, yet still in use */
		if (sh->graves[g].kind != inf->kind)
			abort();
		kobj_free(sh->graves[g].kind, sh->graves[g].obj);
	}
	sh->n_graves = 0;
	diag_clear(&sh->msgs);
	sh->changed = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cidr allow[2];
	static const struct decode_opts opts = {.node_port_min = 30000,
	                                        .node_port_max = 32767,
	                                        .external_ip_cidrs = allow,
	                                        .n_external_ip_cidrs = 2};
	static int efd = -1;
	struct kshared sh = {0};
	struct informer inf;
	bool need_list = true;
	uint64_t drain;

	if (efd < 0) {
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		cidr_parse("10.0.0.0/8", &allow[0]);
		cidr_parse("fd00::/8", &allow[1]);
	}
	if (size < 1 + N_SIZES)
		return 0;
	memset(&A, 0, sizeof(A));
	A.kind = (enum kkind)(data[0] % KK_N);
	A.sizes = data + 1;
	A.p = data + 1 + N_SIZES;
	A.left = size - 1 - N_SIZES;

	pthread_mutex_init(&sh.lock, NULL);
	sh.efd = efd;
	sh.opts = data[0] & 0x80 ? &opts : NULL;
	atomic_init(&sh.stop, false);
	informer_init(&inf, &sh, A.kind, data[0] & 0x40 ? "labelSelector=a%3Db" : "");
	inf.get = fake_get;
	inf.kp = kparser_new();

	for (int run = 0; run < MAX_RUNS && !A.done; run++) {
		struct kube_result res;
		size_t events = 0;
		int r;

		if (need_list) {
			r = informer_list(&inf, &res);
			if (r == KR_OK) {
				need_list = false;
				if (!atomic_load(&inf.synced))
					abort();
			} else if (r != KR_ERR && r != KR_GONE) {
				abort();
			}
		} else {
			r = informer_watch(&inf, &res, &events);
			if (r == KR_GONE || r == KR_RELIST)
				need_list = true;
			else if (r != KR_OK && r != KR_ERR)
				abort();
		}
		if (!memchr(res.msg, 0, sizeof(res.msg)))
			abort();
		check_and_handle(&inf, &sh);
	}
	while (read(efd, &drain, sizeof(drain)) > 0)
		;
	informer_free(&inf);
	free(sh.graves);
	diag_clear(&sh.msgs);
	pthread_mutex_destroy(&sh.lock);
	return 0;
}
