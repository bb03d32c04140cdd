/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jscan.c - JSON split as it streams (see jscan.h).
 *
 * A byte-level lexer that knows only strings (with escapes) and bracket
 * depth. The object being captured is copied out chunk by chunk: the part
 * of it in the current input chunk is appended when the chunk ends or the
 * object does; an object that lies wholly inside one chunk is handed over
 * in place, without a copy.
 */
#include "jscan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/utf8.h"

void jscan_init(struct jscan *js, enum jscan_mode mode, size_t max_item, jscan_fn fn, void *arg)
{
	memset(js, 0, sizeof(*js));
	js->mode = mode;
	js->max_item = max_item;
	js->fn = fn;
	js->arg = arg;
}

void jscan_free(struct jscan *js)
{
	free(js->buf);
	js->buf = NULL;
	js->len = js->cap = js->total = 0;
}

/* Append to the captured object; past max_item only its length is counted. */
static void cap_append(struct jscan *js, const char *p, size_t n)
{
	js->total += n;
	if (js->total > js->max_item) {
		jscan_free(js);
		js->total = js->max_item + 1;
		return;
	}
	if (js->len + n > js->cap) {
		size_t want = js->cap ? js->cap : 4096;

		while (want < js->len + n)
			want *= 2;
		js->buf = xrealloc(js->buf, want);
		js->cap = want;
	}
	memcpy(js->buf + js->len, p, n);
	js->len += n;
}

/* The captured object ends with seg[0, n) (its part in the current chunk). */
static int cap_emit(struct jscan *js, const char *seg, size_t n)
{
	int ret;

	js->capturing = false;
	if (!js->total && n <= js->max_item) {
		ret = js->fn(js->arg, js->cap_key, seg, n);
	} else {
		cap_append(js, seg, n);
		ret = js->total > js->max_item ? js->fn(js->arg, js->cap_key, NULL, js->total)
		                               : js->fn(js->arg, js->cap_key, js->buf, js->len);
	}
	js->len = js->total = 0;
	if (js->cap > (1u << 20)) /* do not keep a huge buffer for small objects */
		jscan_free(js);
	return ret;
}

static bool key_is(const struct jscan *js, const char *lit)
{
	return !js->key_over && js->key_len == strlen(lit) && !memcmp(js->key, lit, js->key_len);
}

/* Whether the container opened by c at the current depth is to be captured. */
static bool capture_here(struct jscan *js, char c)
{
	if (c != '{')
		return false;
	if (js->depth == 1 && key_is(js, "metadata")) {
		js->cap_key = "metadata";
		return true;
	}
	if (js->depth == 2 && js->in_items) {
		js->cap_key = "items";
		return true;
	}
	return false;
}

/* In a string: skip to its end or the chunk's. Returns the index reached. */
static size_t scan_string(struct jscan *js, const char *p, size_t i, size_t n)
{
	for (; i < n; i++) {
		char c = p[i];

		if (js->esc) {
			js->esc = false;
		} else if (c == '\\') {
			js->esc = true;
		} else if (c == '"') {
			js->in_str = js->in_key = false;
			return i;
		}
		if (js->in_key) {
			if (js->key_len < sizeof(js->key) - 1)
				js->key[js->key_len++] = c;
			else
				js->key_over = true;
		}
	}
	return i;
}

static int scan_open(struct jscan *js, char c, size_t i, size_t *seg)
{
	if (js->depth == 0 && (c != '{' || js->done))
		return -EPROTO;
	if (!js->capturing && capture_here(js, c)) {
		js->capturing = true;
		js->cap_depth = js->depth;
		*seg = i;
	}
	if (js->depth == 1 && c == '[' && key_is(js, "items"))
		js->in_items = true;
	if (js->depth == UINT32_MAX / 2)
		return -EPROTO;
	js->depth++;
	if (js->depth == 1)
		js->expect_key = true;
	return 0;
}

static int scan_close(struct jscan *js, const char *p, size_t i, size_t seg)
{
	int ret = 0;

	if (!js->depth)
		return -EPROTO;
	js->depth--;
	if (js->capturing && js->depth == js->cap_depth)
		ret = cap_emit(js, p + seg, i + 1 - seg);
	if (js->depth == 1)
		js->in_items = false;
	if (js->depth == 0)
		js->done = true;
	return ret;
}

static bool blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* JSCAN_STREAM: every line is captured; the non-blank ones are handed over. */
static int feed_lines(struct jscan *js, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		int ret = 0;

		if (!nl) {
			cap_append(js, p, n);
			js->capturing = true;
			return 0;
		}
		if (!js->total && !blank(p, take)) {
			ret = js->fn(js->arg, NULL, p, take);
		} else if (js->total) {
			cap_append(js, p, take);
			if (js->total > js->max_item)
				ret = js->fn(js->arg, NULL, NULL, js->total);
			else if (!blank(js->buf, js->len))
				ret = js->fn(js->arg, NULL, js->buf, js->len);
			js->len = js->total = 0;
			if (js->cap > (1u << 20))
				jscan_free(js);
		}
		js->capturing = false;
		if (ret)
			return js->err = ret;
		p += take + 1;
		n -= take + 1;
	}
	return 0;
}

int jscan_feed(struct jscan *js, const char *p, size_t n)
{
	size_t seg = 0;
	int ret = 0;

	if (js->err)
		return js->err;
	if (js->mode == JSCAN_STREAM)
		return feed_lines(js, p, n);
	for (size_t i = 0; i < n && !ret; i++) {
		char c = p[i];

		if (js->in_str) {
			i = scan_string(js, p, i, n);
			continue;
		}
		switch (c) {
		case '"':
			if (js->depth == 0)
				ret = -EPROTO;
			js->in_str = true;
			if (js->depth == 1 && js->expect_key) {
				js->in_key = true;
				js->key_len = 0;
				js->key_over = false;
				js->expect_key = false;
			}
			break;
		case '{':
		case '[':
			ret = scan_open(js, c, i, &seg);
			break;
		case '}':
		case ']':
			ret = scan_close(js, p, i, seg);
			break;
		case ',':
			if (js->depth == 1)
				js->expect_key = true;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
		case ':':
			break;
		default:
			if (js->depth == 0)
				ret = -EPROTO;
			break;
		}
	}
	if (ret) {
		js->err = ret;
		return ret;
	}
	if (js->capturing)
		cap_append(js, p + seg, n - seg);
	return 0;
}

int jscan_end(struct jscan *js)
{
	if (js->err)
		return js->err;
	if (js->mode == JSCAN_STREAM)
		return js->capturing && (js->total > js->len || !blank(js->buf, js->len)) ? -EPROTO
		                                                                          : 0;
	if (js->in_str || js->depth || js->capturing)
		return -EPROTO;
	if (js->mode == JSCAN_LIST && !js->done)
		return -EPROTO;
	return 0;
}

/* --- small objects, already received ------------------------------------------ */

static size_t skip_ws(const char *t, size_t i, size_t len)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* t[i] is '"': the index just past the closing quote, or len + 1 if none. */
static size_t string_end(const char *t, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return len + 1;
}

/* The index just past the value starting at t[i], or len + 1 if it is cut. */
static size_t value_end(const char *t, size_t i, size_t len)
{
	unsigned depth = 0;

	if (t[i] == '"')
		return string_end(t, i, len);
	if (t[i] != '{' && t[i] != '[') {
		while (i < len && !strchr(",}] \t\r\n", t[i]))
			i++;
		return i;
	}
	for (; i < len; i++) {
		if (t[i] == '"') {
			i = string_end(t, i, len) - 1;
		} else if (t[i] == '{' || t[i] == '[') {
			depth++;
		} else if (t[i] == '}' || t[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
	}
	return len + 1;
}

int jscan_members(const char *t, size_t len,
                  int (*fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen),
                  void *arg)
{
	size_t i = skip_ws(t, 0, len);

	if (i >= len || t[i] != '{')
		return -EPROTO;
	i = skip_ws(t, i + 1, len);
	if (i < len && t[i] == '}')
		return 0;
	while (i < len) {
		size_t k, kend, v, vend;
		int ret;

		if (t[i] != '"')
			return -EPROTO;
		k = i + 1;
		kend = string_end(t, i, len);
		if (kend > len)
			return -EPROTO;
		i = skip_ws(t, kend, len);
		if (i >= len || t[i] != ':')
			return -EPROTO;
		v = skip_ws(t, i + 1, len);
		if (v >= len)
			return -EPROTO;
		vend = value_end(t, v, len);
		if (vend > len || vend == v)
			return -EPROTO;
		ret = fn(arg, t + k, kend - 1 - k, t + v, vend - v);
		if (ret)
			return ret > 0 ? 0 : ret;
		i = skip_ws(t, vend, len);
		if (i < len && t[i] == '}')
			return 0;
		if (i >= len || t[i] != ',')
			return -EPROTO;
		i = skip_ws(t, i + 1, len);
	}
	return -EPROTO;
}

bool json_key_is(const char *key, size_t klen, const char *lit)
{
	return klen == strlen(lit) && !memcmp(key, lit, klen);
}

static int hex4(const char *p, size_t left, uint32_t *out)
{
	uint32_t v = 0;

	if (left < 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Append code point cp as UTF-8; false when it does not fit. */
static bool put_utf8(char *out, size_t size, size_t *o, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	if (*o + n >= size)
		return false;
	memcpy(out + *o, b, n);
	*o += n;
	return true;
}

/* The escape at v[*i] (just past the backslash), appended to out. */
static int unescape(const char *v, size_t end, size_t *i, char *out, size_t size, size_t *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e = *i < end ? strchr(from, v[*i]) : NULL;
	uint32_t cp, lo;

	if (e && *e) {
		(*i)++;
		return put_utf8(out, size, o, (unsigned char)to[e - from]) ? 0 : -EINVAL;
	}
	if (*i >= end || v[*i] != 'u' || hex4(v + *i + 1, end - *i - 1, &cp))
		return -EINVAL;
	*i += 5;
	if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
		if (end - *i < 6 || v[*i] != '\\' || v[*i + 1] != 'u' ||
		    hex4(v + *i + 2, end - *i - 2, &lo) || lo < 0xdc00 || lo >= 0xe000)
			return -EINVAL;
		*i += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if (cp >= 0xdc00 && cp < 0xe000) {
		return -EINVAL;
	}
	return put_utf8(out, size, o, cp) ? 0 : -EINVAL;
}

int json_str(const char *v, size_t vlen, char *out, size_t size)
{
	size_t o = 0, i = 1;

	if (vlen < 2 || v[0] != '"' || v[vlen - 1] != '"' || !size)
		return -EINVAL;
	while (i < vlen - 1) {
		if (v[i] == '\\') {
			i++;
			if (unescape(v, vlen - 1, &i, out, size, &o))
				return -EINVAL;
			continue;
		}
		if (o + 1 >= size)
			return -EINVAL;
		out[o++] = v[i++];
	}
	out[o] = '\0';
	return (int)o;
}

bool json_utf8_valid(const char *str, size_t len)
{
	/* well-formed UTF-8 without NUL, which JSON text never holds raw */
	return text_invalid_at((const unsigned char *)str, len) == len;
}
