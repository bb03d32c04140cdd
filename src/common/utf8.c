/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * utf8.c - UTF-8 validation for text from untrusted files (utf8.h).
 */
#include "common/utf8.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char b = s[i];
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;

		if (b < 0x80) {
			uint64_t w;

			/* ASCII, 8 bytes at a time */
			while (len - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ULL)))
				i += 8;
			if (i < len && s[i] < 0x80)
				i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			n = 1;
		else if (b >= 0xe0 && b <= 0xef)
			n = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			n = 3;
		else
			return i;
		if (b == 0xe0)
			lo = 0xa0; /* overlong */
		else if (b == 0xed)
			hi = 0x9f; /* surrogates */
		else if (b == 0xf0)
			lo = 0x90; /* overlong */
		else if (b == 0xf4)
			hi = 0x8f; /* > U+10FFFF */
		if (len - i <= n)  /* truncated */
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n + 1;
	}
	return len;
}

size_t text_invalid_at(const unsigned char *s, size_t len)
{
	const unsigned char *nul = memchr(s, '\0', len);

	/* all before a NUL valid: the NUL's offset */
	return utf8_invalid_at(s, nul ? (size_t)(nul - s) : len);
}

size_t yaml_text_invalid_at(const char *s, size_t len, const char **what, const char **why)
{
	size_t bad = text_invalid_at((const unsigned char *)s, len);

	*why = " (the file must be UTF-8 text)";
	*what = bad < len && !s[bad] ? "NUL byte" : "invalid UTF-8";
	return bad;
}
