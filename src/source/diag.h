/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * diag.h - problems found in input, collected as whole messages.
 *
 * Each message names file, object and field, e.g.
 *   services.yaml: Service default/web: spec.ports[1].port: 70000 is not a valid port (1-65535)
 * Decoders append; the caller decides whether to print, log or assert on them.
 *
 * A message is an error (the object or file was refused) or a warning
 * (reported, nothing refused: e.g. an unknown field, as `kubectl apply
 * --validate=warn` does); a warning's text ends in "(warning)". Callers
 * that decide on success count errors only (diag_errors()).
 */
#ifndef SVCPROXY_DIAG_H
#define SVCPROXY_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/log.h"

struct diag {
	char **msgs;
	bool *warning; /* per message; same length as msgs */
	size_t n;
	size_t n_warnings;
};

void diag_add(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warn(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append copies of src's messages to dst, each keeping its level. */
void diag_append(struct diag *dst, const struct diag *src);
void diag_clear(struct diag *d); /* frees the messages; d stays usable */
/* Log every message under subsys, at lvl (warnings as warnings), then clear d. Returns how
 * many errors. */
size_t diag_log(struct diag *d, enum log_level lvl, const char *subsys);

static inline size_t diag_errors(const struct diag *d)
{
	return d->n - d->n_warnings;
}

#endif
