/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kube.c - the Kubernetes API source: three informers behind source.h.
 *
 * The informers' threads change their stores under sh.lock and write the
 * eventfd; the daemon's thread reads the eventfd in handle(), where the
 * objects the stores dropped since the last call are freed (a model view
 * is valid until then), and builds views under the same lock.
 */
#include "kube.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "model/model.h"
#include "source/kube/informer.h"
#include "source/kube/kubeconfig.h"

#define PROXY_SELECTOR "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

struct kube_src {
	struct source base;
	char *kubeconfig, *master, *hostname;
	struct kube_config cfg;
	struct kshared sh;
	struct informer inf[KK_N];
	bool started;
	bool node_ineligible;   /* as last reported */
	unsigned pending[KK_N]; /* events taken in by handle(), not yet asked for */
};

static struct kube_src *ksrc(struct source *s)
{
	return (struct kube_src *)s;
}

static int kube_start(struct source *s, struct diag *d)
{
	struct kube_src *k = ksrc(s);
	char *sel, *node;
	int ret;

	if (k->kubeconfig || k->master)
		ret = kube_config_load(k->kubeconfig, k->master, &k->cfg, d);
	else
		ret = kube_config_in_cluster(KUBE_SA_DIR, &k->cfg, d);
	if (ret)
		return ret;
	if (kube_client_global_init()) {
		diag_add(d, "cannot initialise libcurl");
		return -EIO;
	}
	k->sh.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->sh.efd < 0) {
		ret = -errno;
		diag_add(d, "eventfd: %s", strerror(errno));
		return ret;
	}
	k->sh.cfg = &k->cfg;
	sel = kube_query_param("labelSelector", PROXY_SELECTOR);
	node = xasprintf("metadata.name=%s", k->hostname);
	informer_init(&k->inf[KK_SERVICE], &k->sh, KK_SERVICE, sel);
	informer_init(&k->inf[KK_SLICE], &k->sh, KK_SLICE, sel);
	free(sel);
	sel = kube_query_param("fieldSelector", node);
	informer_init(&k->inf[KK_NODE], &k->sh, KK_NODE, sel);
	free(sel);
	free(node);
	k->started = true;
	log_info("api", "watching %s (%s) for node %s", k->cfg.server, k->cfg.origin, k->hostname);
	for (int i = 0; i < KK_N; i++) {
		ret = informer_start(&k->inf[i]);
		if (ret) {
			diag_add(d, "cannot start a thread: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int kube_fd(struct source *s)
{
	return ksrc(s)->started ? ksrc(s)->sh.efd : -EBADF;
}

static int kube_handle(struct source *s, struct diag *d)
{
	struct kube_src *k = ksrc(s);
	struct kshared *sh = &k->sh;
	uint64_t n;
	bool changed, ineligible;

	if (read(sh->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&sh->lock);
	/* the daemon names the source ("api: ") before each message: once is enough */
	for (size_t i = 0; i < sh->msgs.n; i++)
		diag_add(d, "%s",
		         sh->msgs.msgs[i] + (strncmp(sh->msgs.msgs[i], "api: ", 5) ? 0 : 5));
	diag_clear(&sh->msgs);
	for (size_t i = 0; i < sh->n_graves; i++)
		kobj_free(sh->graves[i].kind, sh->graves[i].obj);
	sh->n_graves = 0;
	changed = sh->changed;
	sh->changed = false;
	ineligible = sh->node_ineligible;
	for (int i = 0; i < KK_N; i++) {
		k->pending[i] += sh->events[i];
		sh->events[i] = 0;
	}
	pthread_mutex_unlock(&sh->lock);
	if (ineligible != k->node_ineligible) {
		log_info("api",
		         ineligible
		             ? "Node %s is deleted, being deleted or drained: /healthz now 503"
		             : "Node %s is eligible again",
		         k->hostname);
	}
	k->node_ineligible = ineligible;
	return changed;
}

static void kube_changes(struct source *s, unsigned *services, unsigned *slices)
{
	struct kube_src *k = ksrc(s);

	*services = k->pending[KK_SERVICE];
	*slices = k->pending[KK_SLICE];
	memset(k->pending, 0, sizeof(k->pending));
}

static bool kube_node_eligible(struct source *s)
{
	return !ksrc(s)->node_ineligible;
}

static bool kube_ready(struct source *s)
{
	struct kube_src *k = ksrc(s);

	if (!k->started)
		return false;
	for (int i = 0; i < KK_N; i++)
		if (!atomic_load(&k->inf[i].synced))
			return false;
	return true;
}

static int kube_model(struct source *s, struct model *m, struct diag *d)
{
	struct kube_src *k = ksrc(s);

	model_view_clear(m);
	pthread_mutex_lock(&k->sh.lock);
	for (int i = 0; i < KK_N; i++) {
		const struct kstore *st = &k->inf[i].store;
		void *chunk[256];
		size_t n = 0;

		/*
		 * Services and slices by pointer, unread (kobj_decode() gave them
		 * their gen): a view of 10k objects must not cost 10k cache misses.
		 */
		for (size_t j = 0; j <= kstore_slots(st); j++) {
			void *obj = j < kstore_slots(st) ? kstore_obj(st, j) : NULL;

			if (obj && i == KK_NODE)
				model_add_node(m, obj);
			else if (obj)
				chunk[n++] = obj;
			if (n < sizeof(chunk) / sizeof(chunk[0]) && j < kstore_slots(st))
				continue;
			if (i == KK_SERVICE)
				model_view_services(m, (struct service *const *)chunk, n, NULL);
			else if (i == KK_SLICE)
				model_view_slices(m, (struct endpoint_slice *const *)chunk, n,
				                  NULL);
			n = 0;
		}
	}
	pthread_mutex_unlock(&k->sh.lock);
	return 0;
}

static void kube_free(struct source *s)
{
	struct kube_src *k = ksrc(s);

	atomic_store(&k->sh.stop, true);
	for (int i = 0; i < KK_N; i++)
		if (k->inf[i].sh)
			informer_free(&k->inf[i]);
	for (size_t i = 0; i < k->sh.n_graves; i++)
		kobj_free(k->sh.graves[i].kind, k->sh.graves[i].obj);
	free(k->sh.graves);
	diag_clear(&k->sh.msgs);
	if (k->sh.efd >= 0)
		close(k->sh.efd);
	pthread_mutex_destroy(&k->sh.lock);
	kube_config_free(&k->cfg);
	free(k->kubeconfig);
	free(k->master);
	free(k->hostname);
	free(k);
}

static const struct source_ops kube_ops = {
    .name = "api",
    .start = kube_start,
    .fd = kube_fd,
    .handle = kube_handle,
    .ready = kube_ready,
    .model = kube_model,
    .node_eligible = kube_node_eligible,
    .changes = kube_changes,
    .free = kube_free,
};

struct source *kube_source_open(const char *kubeconfig, const char *master, const char *hostname,
                                const struct decode_opts *opts)
{
	struct kube_src *k = xcalloc(1, sizeof(*k));

	k->base.ops = &kube_ops;
	k->base.impl = k;
	k->kubeconfig = kubeconfig ? xstrdup(kubeconfig) : NULL;
	k->master = master ? xstrdup(master) : NULL;
	k->hostname = xstrdup(hostname ? hostname : "");
	pthread_mutex_init(&k->sh.lock, NULL);
	atomic_init(&k->sh.stop, false);
	k->sh.efd = -1;
	k->sh.opts = opts;
	return &k->base;
}
