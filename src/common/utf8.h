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
 * YAML and JSON are UTF-8 here, and libfyaml 0.7.12 loops forever on some
 * invalid sequences (e.g. in a directive), so bad bytes never reach it.
 */
size_t utf8_invalid_at(const unsigned char *s, size_t len);

/*
 * The same, also stopping at the first NUL: YAML text never holds one, and
 * libfyaml 0.7.12 reads out of bounds on some documents with NULs in them.
 * Every YAML reader checks its input with this before libfyaml sees it.
 */
size_t text_invalid_at(const unsigned char *s, size_t len);

/*
 * Offset of a tab followed (after blanks) by a block indicator (- ? : | >)
 * in YAML text that also has an explicit key ('?' and a blank or a line
 * break, anywhere: not only at a line's start), or len when there is none. libfyaml 0.7.12 writes
 * through a stale indentation record (fy_indent_vacuum_internal) cleaning up after that error
 * inside an explicit key, and crashes; Kubernetes objects need neither, so every YAML reader
 * refuses such text before libfyaml sees it.
 */
size_t yaml_tab_trap_at(const char *s, size_t len);

/*
 * What a YAML reader refuses before libfyaml sees it: the offset of the
 * first of text_invalid_at's and yaml_tab_trap_at's finds, or len; *what
 * names it ("NUL byte", ...) and *why says why, for "FILE: what at byte N why".
 */
size_t yaml_text_invalid_at(const char *s, size_t len, const char **what, const char **why);

#endif
