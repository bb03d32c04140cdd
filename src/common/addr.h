/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * addr.h - IP addresses and CIDR prefixes, both families.
 *
 * One small value type used by every stage: the model stores Service and
 * endpoint addresses as struct ipaddr, the dataplane copies the raw bytes
 * into netlink attributes.
 */
#ifndef SVCPROXY_ADDR_H
#define SVCPROXY_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipaddr {
	int family; /* AF_INET or AF_INET6; 0 means "unset" */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t raw[16];
	};
};

struct cidr {
	struct ipaddr addr; /* host bits already cleared */
	unsigned int prefix_len;
};

/* longest text form of an address or prefix, with the NUL */
#define IPADDR_STRLEN 46
#define CIDR_STRLEN   (IPADDR_STRLEN + 4)

/* Parse "10.0.0.1" or "fd00::1". Returns 0, or -EINVAL. */
int ipaddr_parse(const char *s, struct ipaddr *out);
/* Format into buf (IPADDR_STRLEN bytes); returns buf. */
const char *ipaddr_str(const struct ipaddr *a, char *buf);
bool ipaddr_equal(const struct ipaddr *a, const struct ipaddr *b);
int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b);
/* Length of the address in bytes: 4, 16, or 0 for unset. */
size_t ipaddr_len(const struct ipaddr *a);

/*
 * Parse "10.244.0.0/16". Host bits set in the address are an error
 * (-EINVAL), as in Kubernetes validation. A bare address is a /32 or /128.
 */
int cidr_parse(const char *s, struct cidr *out);
const char *cidr_str(const struct cidr *c, char *buf);
bool cidr_contains(const struct cidr *c, const struct ipaddr *a);

/*
 * Parse a comma-separated list of CIDRs ("10.244.0.0/16,fd00::/48").
 * On success *out is a malloc'd array of *n entries (NULL, 0 for "").
 * Returns 0 or -EINVAL; on error *bad points at the offending element
 * inside s (not NUL-terminated: it ends at the next comma).
 */
int cidr_list_parse(const char *s, struct cidr **out, size_t *n, const char **bad);

#endif
