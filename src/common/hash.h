/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hash.h - the one general-purpose hash: 64-bit FNV-1a.
 *
 * Chainable: hash a compound key by feeding its parts in turn,
 *     h = fnv1a(FNV1A_INIT, ns, strlen(ns));  h = fnv1a(h, "/", 1); ...
 * Fast enough for short keys (names, addresses); not keyed, so not for
 * tables an attacker fills with chosen keys in bulk.
 */
#ifndef SVCPROXY_HASH_H
#define SVCPROXY_HASH_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_INIT  0xcbf29ce484222325ull /* offset basis */
#define FNV1A_PRIME 0x100000001b3ull

static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * FNV1A_PRIME;
	return h;
}

#endif
