/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diag.h - problems found in input, collected as whole messages.
 *
 * Each message names file, object and field, e.g.
 *   services.yaml: Service default/web: spec.ports[1].port: 70000 is not a valid port (1-65535)
 * Decoders append; the caller decides whether to print, log or assert on them.
 */
#ifndef SVCPROXY_DIAG_H
#define SVCPROXY_DIAG_H

#include <stddef.h>

struct diag {
	char **msgs;
	size_t n;
};

void diag_add(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_clear(struct diag *d); /* frees the messages; d stays usable */

#endif
