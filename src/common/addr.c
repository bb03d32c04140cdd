/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

int ipaddr_parse(const char *s, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->v4) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &out->v6) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

const char *ipaddr_str(const struct ipaddr *a, char *buf)
{
	if (!a->family || !inet_ntop(a->family, a->raw, buf, IPADDR_STRLEN))
		strcpy(buf, "<none>");
	return buf;
}

size_t ipaddr_len(const struct ipaddr *a)
{
	return a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;
}

bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	return ipaddr_cmp(a, b) == 0;
}

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->family == AF_INET) { /* the hot case: no memcmp call */
		uint32_t x = ntohl(a->v4.s_addr), y = ntohl(b->v4.s_addr);

		return x < y ? -1 : x > y;
	}
	return memcmp(a->raw, b->raw, ipaddr_len(a));
}

static unsigned int family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char buf[CIDR_STRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;
	char *end;

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (ipaddr_parse(buf, &out->addr))
		return -EINVAL;
	if (!slash) {
		out->prefix_len = family_bits(out->addr.family);
		return 0;
	}
	if (!slash[1] || slash[1] == '-' || slash[1] == '+')
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || len > family_bits(out->addr.family))
		return -EINVAL;
	out->prefix_len = (unsigned int)len;
	/* host bits must be clear */
	for (unsigned int bit = out->prefix_len; bit < family_bits(out->addr.family); bit++)
		if (out->addr.raw[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	return 0;
}

const char *cidr_str(const struct cidr *c, char *buf)
{
	char a[IPADDR_STRLEN];

	snprintf(buf, CIDR_STRLEN, "%s/%u", ipaddr_str(&c->addr, a), c->prefix_len);
	return buf;
}

bool cidr_contains(const struct cidr *c, const struct ipaddr *a)
{
	unsigned int full = c->prefix_len / 8, rest = c->prefix_len % 8;

	if (a->family != c->addr.family)
		return false;
	if (memcmp(a->raw, c->addr.raw, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->raw[full] & mask) == c->addr.raw[full];
}

int cidr_list_parse(const char *s, struct cidr **out, size_t *n, const char **bad)
{
	struct cidr *v = NULL;
	size_t count = 0, cap = 0;
	const char *p = s;

	*out = NULL;
	*n = 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char buf[CIDR_STRLEN];
		struct cidr c;

		if (len == 0 || len >= sizeof(buf) ||
		    (memcpy(buf, p, len), buf[len] = '\0', cidr_parse(buf, &c))) {
			*bad = p;
			free(v);
			return -EINVAL;
		}
		v = xgrow(v, &cap, count + 1, sizeof(*v));
		v[count++] = c;
		p += len;
		if (*p == ',')
			p++;
	}
	*out = v;
	*n = count;
	return 0;
}
