/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mem.h - allocation that does not fail.
 *
 * Out of memory is fatal in svcproxy, decided once, here: die_oom() logs a
 * line and aborts. Every allocation goes through these wrappers (or calls
 * die_oom() when a library allocation returns NULL), so no function
 * returns -ENOMEM and no caller checks for it.
 */
#ifndef SVCPROXY_MEM_H
#define SVCPROXY_MEM_H

#include <stddef.h>
#include <stdnoreturn.h>

noreturn void die_oom(void);

/* As malloc, calloc, realloc, strdup, asprintf; a size of 0 still allocates. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The one array-growth policy: make room for at least `need` elements of
 * `size` bytes in the array p of *cap elements. Capacity doubles (from at
 * least 4), so appending n elements one by one costs O(n). Returns the
 * array, moved or not; *cap is updated. The new elements are not zeroed.
 *
 *     v = xgrow(v, &cap, n + 1, sizeof(*v));
 *     v[n++] = x;
 */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);

#endif
