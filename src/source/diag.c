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

#include "common/log.h"
#include "common/mem.h"

void diag_add(struct diag *d, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		die_oom();
	/* capacity is implicit: 8, then doubling at each power of two */
	if (d->n == 0 || (d->n >= 8 && (d->n & (d->n - 1)) == 0))
		d->msgs = xrealloc(d->msgs, (d->n ? d->n * 2 : 8) * sizeof(*d->msgs));
	d->msgs[d->n++] = msg;
}

void diag_clear(struct diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = 0;
}
