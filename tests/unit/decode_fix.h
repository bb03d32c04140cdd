/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_fix.h - the fixture the decoder's unit tests share: a model, its
 * messages and its rejects, decoded into by dec()/deco()/decn(), and
 * assertions that print every message when they fail.
 *
 * Include after <cmocka.h> and "source/decode.h".
 */
#ifndef SVCPROXY_TEST_DECODE_FIX_H
#define SVCPROXY_TEST_DECODE_FIX_H

#include <string.h>

#define FIX_UNUSED __attribute__((unused))

struct fix {
	struct model m;
	struct diag d;
	struct decode_rejects rej;
};

static FIX_UNUSED int setup(void **state)
{
	static struct fix f;

	memset(&f, 0, sizeof(f));
	*state = &f;
	return 0;
}

static FIX_UNUSED int teardown(void **state)
{
	struct fix *f = *state;

	model_free(&f->m);
	diag_clear(&f->d);
	decode_rejects_clear(&f->rej);
	return 0;
}

/* Decode text[0..len) with decode options o (NULL: the defaults). */
static FIX_UNUSED int decn(struct fix *f, const char *origin, const struct decode_opts *o,
                           const char *text, size_t len)
{
	return manifest_decode_buffer(origin, text, len, o, &f->m, &f->d, &f->rej);
}

static FIX_UNUSED int deco(struct fix *f, const char *origin, const struct decode_opts *o,
                           const char *text)
{
	return decn(f, origin, o, text, strlen(text));
}

static FIX_UNUSED int dec(struct fix *f, const char *origin, const char *text)
{
	return deco(f, origin, NULL, text);
}

static FIX_UNUSED void dump(const struct fix *f)
{
	for (size_t i = 0; i < f->d.n; i++)
		print_error("  %s%s\n", f->d.msgs[i], f->d.warning[i] ? " [W]" : "");
}

/* A message equal to want exists. */
static FIX_UNUSED void assert_msg(const struct fix *f, const char *want)
{
	for (size_t i = 0; i < f->d.n; i++)
		if (!strcmp(f->d.msgs[i], want))
			return;
	print_error("missing message: %s\nhave %zu:\n", want, f->d.n);
	dump(f);
	fail();
}

/* A message containing sub exists. */
static FIX_UNUSED void assert_msg_has(const struct fix *f, const char *sub)
{
	for (size_t i = 0; i < f->d.n; i++)
		if (strstr(f->d.msgs[i], sub))
			return;
	print_error("no message contains: %s\nhave %zu:\n", sub, f->d.n);
	dump(f);
	fail();
}

#endif
