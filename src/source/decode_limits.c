/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_limits.c - what the decoder refuses before decoding anything:
 * text that is too long, holds a NUL or is not UTF-8, and parsed trees
 * with a duplicate key or aliases that expand too far (ytree_check();
 * issue 9: each of these once crashed, hung or misled the daemon).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/utf8.h"
#include "source/decode_int.h"

int decode_check_tree(const char *origin, struct ynode *root, size_t text_len, struct diag *d)
{
	struct yerror err;

	if (!ytree_check(root, text_len, &err))
		return 0;
	if (err.line)
		diag_add(d, "%s:%d:%d: %s", origin, err.line, err.col, err.msg);
	else
		diag_add(d, "%s: %s", origin, err.msg);
	return -EINVAL;
}

/* --- text ------------------------------------------------------------------------ */

/* 1-based line and column (in bytes) of offset off in buf */
static void text_pos(const char *buf, size_t off, int *line, int *col)
{
	const char *nl = buf;

	*line = 1;
	for (size_t i = 0; i < off; i++) /* a line ends at "\n", "\r\n" or a lone "\r" */
		if (buf[i] == '\n' || (buf[i] == '\r' && buf[i + 1] != '\n')) {
			(*line)++;
			nl = buf + i + 1;
		}
	*col = (int)(buf + off - nl) + 1;
}

/* Refuse text that is not (all) UTF-8 text, or too long: 0 or -EINVAL (reported). */
int decode_check_text(const char *origin, const char *buf, size_t len, struct diag *d)
{
	const char *nul;
	size_t bad;
	int line, col;

	if (len > DECODE_MAX_BYTES) {
		diag_add(d, "%s: %zu bytes, more than the %u MiB a manifest may have: refused",
		         origin, len, DECODE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	/*
	 * A NUL never belongs in YAML or JSON text; a file of NULs is what a
	 * power loss can leave, and read as "no objects" it would remove every
	 * Service silently. Nothing after one is trusted either.
	 */
	nul = memchr(buf, '\0', len);
	if (nul) {
		text_pos(buf, (size_t)(nul - buf), &line, &col);
		diag_add(d,
		         "%s:%d:%d: NUL byte: refused with all that follows (a truncated or "
		         "corrupt file?)",
		         origin, line, col);
		return -EINVAL;
	}
	bad = utf8_invalid_at((const unsigned char *)buf, len);
	if (bad < len) {
		text_pos(buf, bad, &line, &col);
		diag_add(d, "%s:%d:%d: invalid UTF-8 (manifests must be UTF-8 text)", origin, line,
		         col);
		return -EINVAL;
	}
	return 0;
}
