/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest_readahead.c - many manifest files read and decoded at once, on
 * worker threads that touch nothing but their files' jobs (fetch_all()).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/mem.h"
#include "source/manifest_impl.h"

/* at most this many threads read and decode files at once */
#define MAX_WORKERS 16

struct fetch_pool {
	struct mfile **files;
	size_t n;
	atomic_size_t next;
};

static void *fetch_worker(void *arg)
{
	struct fetch_pool *p = arg;
	struct rbuf rb = {0};
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		mfile_fetch(p->files[i], p->files[i]->job, &rb);
	rbuf_free(&rb);
	return NULL;
}

static unsigned online_cpus(void)
{
	cpu_set_t set;
	long n;

	if (!sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

void fetch_all(const struct manifest_source *ms, struct mfile **files, size_t n)
{
	struct fetch_pool pool = {.files = files, .n = n};
	unsigned want = ms->workers ? ms->workers : online_cpus();
	size_t nthreads = want < n ? want : n, started = 0;
	sigset_t all, old;
	pthread_t *tids;

	if (nthreads > MAX_WORKERS)
		nthreads = MAX_WORKERS;
	if (nthreads <= 1)
		return;
	for (size_t i = 0; i < n; i++)
		if (!files[i]->job)
			files[i]->job = xcalloc(1, sizeof(*files[i]->job));
	atomic_init(&pool.next, 0);
	tids = xcalloc(nthreads - 1, sizeof(*tids));
	/* signals are for the main thread (the daemon's signalfd) only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < nthreads - 1; started++)
		if (pthread_create(&tids[started], NULL, fetch_worker, &pool))
			break; /* fewer threads: still correct */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	fetch_worker(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
}

void flist_add(struct flist *l, struct mfile *f)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = f;
}
