/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * k8s_validate.c - Kubernetes value rules, on plain values (no YAML): the
 * decoder's and, for the same rules, the API source's.
 */
#include "k8s_validate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63; alpha_first: RFC 1035 */
bool k8s_is_dns_label(const char *s, bool alpha_first)
{
	size_t len = strlen(s);

	if (!len || len > 63)
		return false;
	if (alpha_first && !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

/* RFC 1123 subdomain: labels joined by '.', at most 253 */
bool k8s_is_dns_subdomain(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.'))
			return false;
		if (ch == '.' || ch == '-') {
			bool first = i == 0 || s[i - 1] == '.';
			bool last = i == len - 1 || s[i + 1] == '.';

			if (first || last)
				return false;
		}
	}
	return true;
}

/* IANA service name (named targetPort): 1-15 of [a-z0-9-], a letter, no "--", no edge '-' */
bool k8s_is_iana_svc_name(const char *s)
{
	size_t len = strlen(s);
	bool letter = false;

	if (!len || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	}
	return letter;
}

static bool v6_mapped(const struct ipaddr *a)
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return a->family == AF_INET6 && !memcmp(a->raw, pfx, sizeof(pfx));
}

/* Why a may not be used as use, or NULL when it may. */
const char *k8s_ip_refused(const struct ipaddr *a, enum k8s_ip_use use)
{
	static const uint8_t zero[16], one6[16] = {[15] = 1};
	const uint8_t *b = a->raw;
	bool v4 = a->family == AF_INET;

	if (!memcmp(b, zero, ipaddr_len(a)))
		return "may not be unspecified";
	if (v4 ? b[0] == 127 : !memcmp(b, one6, 16))
		return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
	if (v4 ? b[0] == 169 && b[1] == 254 : b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
	if (v6_mapped(a))
		return "may not be an IPv4-mapped IPv6 address (write the IPv4 address)";
	if (use == K8S_IP_ENDPOINT) {
		if (v4 ? b[0] == 224 && b[1] == 0 && b[2] == 0 : b[0] == 0xff && (b[1] & 0x0f) == 2)
			return "may not be in the link-local multicast range (224.0.0.0/24, "
			       "ff02::/16)";
		return NULL;
	}
	if (v4 ? (b[0] & 0xf0) == 224 : b[0] == 0xff)
		return "may not be multicast (224.0.0.0/4, ff00::/8)";
	if (v4 && b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
		return "may not be the broadcast address";
	return NULL;
}

/*
 * A CIDR as in loadBalancerSourceRanges: surrounding blanks are ignored and
 * host bits are cleared (the API server accepts "10.0.0.1/8" there).
 */
int k8s_cidr_parse_loose(const char *s, struct cidr *out)
{
	char buf[CIDR_STRLEN];
	const char *slash;
	unsigned long len;
	size_t n;
	char *end;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	buf[slash - buf] = '\0';
	if (ipaddr_parse(buf, &out->addr))
		return -EINVAL;
	if (!slash[1] || slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return -EINVAL;
	len = strtoul(slash + 1, &end, 10);
	if (*end || len > ipaddr_len(&out->addr) * 8)
		return -EINVAL;
	out->prefix_len = (unsigned int)len;
	for (unsigned int bit = out->prefix_len; bit < ipaddr_len(&out->addr) * 8; bit++)
		out->addr.raw[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
	return 0;
}

bool k8s_external_ip_allowed(const struct decode_opts *o, const struct ipaddr *a)
{
	if (!o || !o->n_external_ip_cidrs)
		return true;
	for (size_t i = 0; i < o->n_external_ip_cidrs; i++)
		if (cidr_contains(&o->external_ip_cidrs[i], a))
			return true;
	return false;
}

void k8s_node_port_range(const struct decode_opts *o, unsigned *lo, unsigned *hi)
{
	*lo = DECODE_NODE_PORT_MIN;
	*hi = DECODE_NODE_PORT_MAX;
	if (o && o->node_port_max) {
		*lo = o->node_port_min;
		*hi = o->node_port_max;
	}
}
