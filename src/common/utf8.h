/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * utf8.h - UTF-8 validation for text from untrusted files.
 */
#ifndef SVCPROXY_UTF8_H
#define SVCPROXY_UTF8_H

#include <stddef.h>

/*
 * Offset of the first byte that is not well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, at most U+10FFFF), or len if all is.
 * YAML and JSON are UTF-8 here: a bad byte gets a message naming its
 * offset before any parser sees it.
 */
size_t utf8_invalid_at(const unsigned char *s, size_t len);

/*
 * The same, also stopping at the first NUL: YAML and JSON text never holds
 * one (a file of NULs is what a power loss can leave).
 */
size_t text_invalid_at(const unsigned char *s, size_t len);

/*
 * text_invalid_at() for a YAML reader's message: the offset, or len; *what
 * names the find ("NUL byte", "invalid UTF-8") and *why says why, for
 * "FILE: what at byte N why".
 */
size_t yaml_text_invalid_at(const char *s, size_t len, const char **what, const char **why);

#endif
