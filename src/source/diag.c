/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diag.c - a growing list of whole problem messages.
 *
 * Out of memory is fatal (die_oom), as everywhere in the daemon, so
 * diag_add() cannot fail and callers need no error path for reporting.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

static void push(struct diag *d, char *msg, bool warning)
{
	/* capacity is implicit: 8, then doubling at each power of two */
	if (d->n == 0 || (d->n >= 8 && (d->n & (d->n - 1)) == 0)) {
		size_t cap = d->n ? d->n * 2 : 8;

		d->msgs = xrealloc(d->msgs, cap * sizeof(*d->msgs));
		d->warning = xrealloc(d->warning, cap * sizeof(*d->warning));
	}
	d->warning[d->n] = warning;
	d->msgs[d->n++] = msg;
	d->n_warnings += warning;
}

static void __attribute__((format(printf, 3, 0)))
vadd(struct diag *d, bool warning, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		die_oom();
	push(d, msg, warning);
}

void diag_add(struct diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(d, false, fmt, ap);
	va_end(ap);
}

void diag_warn(struct diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd(d, true, fmt, ap);
	va_end(ap);
}

void diag_append(struct diag *dst, const struct diag *src)
{
	for (size_t i = 0; i < src->n; i++)
		push(dst, xstrdup(src->msgs[i]), src->warning[i]);
}

void diag_clear(struct diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->warning);
	d->msgs = NULL;
	d->warning = NULL;
	d->n = 0;
	d->n_warnings = 0;
}

size_t diag_log(struct diag *d, enum log_level lvl, const char *subsys)
{
	size_t n = diag_errors(d);

	for (size_t i = 0; i < d->n; i++)
		log_msg(d->warning[i] ? LOG_LVL_WARN : lvl, subsys, "%s", d->msgs[i]);
	diag_clear(d);
	return n;
}
