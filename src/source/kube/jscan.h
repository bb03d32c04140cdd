/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jscan.h - JSON split as it streams, without building a tree.
 *
 * The API server's answers are read as they arrive: a List of 100k objects
 * is never held whole, only the object being received. jscan finds where
 * each object of interest begins and ends and hands its text over:
 *
 *   JSCAN_LIST    one JSON object (a List): each element of its "items"
 *                 array ("items"), and its "metadata" object ("metadata")
 *   JSCAN_STREAM  a watch: one event per line (the API server writes each
 *                 event as one line of JSON): each non-blank line (key NULL)
 *
 * Only structure is checked here (brackets balance and strings end in a
 * List; nothing for a line); the text of an object is parsed by whoever
 * receives it. A line that is not one JSON object does not disturb the
 * lines after it, which a lexer carried across lines could not promise. An object longer than
 * max_item bytes is not kept: it is reported with text NULL and its length, and the scan goes on.
 *
 * jscan_members() and json_str() read the small things (an event's type,
 * an object's metadata) out of an object's text.
 */
#ifndef SVCPROXY_JSCAN_H
#define SVCPROXY_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

enum jscan_mode { JSCAN_LIST, JSCAN_STREAM };

/*
 * Called for each complete object: key "items", "metadata" or NULL (see
 * the top); text (not NUL-terminated; NULL when longer than max_item) and
 * its length. Valid during the call only. A negative return stops the scan
 * and is returned by jscan_feed().
 */
typedef int (*jscan_fn)(void *arg, const char *key, const char *text, size_t len);

struct jscan {
	enum jscan_mode mode;
	jscan_fn fn;
	void *arg;
	size_t max_item;
	/* lexer */
	unsigned depth;
	bool in_str, esc;
	/* JSCAN_LIST, inside the top object */
	bool expect_key, in_key, key_over, in_items, done;
	char key[16];
	size_t key_len;
	/* the object being captured */
	bool capturing;
	unsigned cap_depth;
	const char *cap_key;
	char *buf;
	size_t len, cap, total;
	int err;
};

void jscan_init(struct jscan *js, enum jscan_mode mode, size_t max_item, jscan_fn fn, void *arg);
void jscan_free(struct jscan *js); /* js can be initialised again */

/*
 * Scan the next n bytes. 0, -EPROTO when the text is not JSON of the
 * expected shape (the scan is then over), or the callback's negative value.
 */
int jscan_feed(struct jscan *js, const char *p, size_t n);

/*
 * The input ended. 0 when it ended after the top object (JSCAN_LIST) or
 * after a line break (JSCAN_STREAM); -EPROTO when it was cut short.
 */
int jscan_end(struct jscan *js);

/*
 * Call fn for each member of the JSON object in text[0, len): the key as
 * it is written (between its quotes, escapes not decoded) and the value's
 * text (a string with its quotes). fn returns 0 to go on, 1 to stop (then
 * jscan_members() returns 0), or a negative value (returned). -EPROTO when
 * text is not an object.
 */
int jscan_members(const char *text, size_t len,
                  int (*fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen),
                  void *arg);

/*
 * Decode a JSON string value (with its quotes) into out (size bytes, NUL
 * terminated). Returns its length, or -EINVAL when val is not a string or
 * does not fit.
 */
int json_str(const char *val, size_t vlen, char *out, size_t size);

/*
 * True when s[0, len) is well-formed UTF-8 (RFC 3629) without NUL bytes,
 * as JSON text must be.
 */
bool json_utf8_valid(const char *s, size_t len);

/* True when the member key (as given by jscan_members) is lit. */
bool json_key_is(const char *key, size_t klen, const char *lit);

#endif
