/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * k8s_validate.h - Kubernetes value rules on plain values: names, IP
 * addresses, CIDRs, node ports. No YAML and no messages beyond a reason
 * string, so the manifest decoder and the API source apply the same rules.
 */
#ifndef SVCPROXY_K8S_VALIDATE_H
#define SVCPROXY_K8S_VALIDATE_H

#include <stdbool.h>

#include "common/addr.h"
#include "source/decode.h"

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63; alpha_first: RFC 1035 */
bool k8s_is_dns_label(const char *s, bool alpha_first);
/* RFC 1123 subdomain: labels joined by '.', at most 253 */
bool k8s_is_dns_subdomain(const char *s);
/* IANA service name (a named targetPort): 1-15 of [a-z0-9-], a letter, no "--", no edge '-' */
bool k8s_is_iana_svc_name(const char *s);

/*
 * Addresses no Service or endpoint may use. kube-apiserver refuses, for
 * endpoints (and externalIPs), what ValidateEndpointIP refuses: the
 * unspecified address, loopback, link-local unicast and link-local
 * multicast. Service addresses (clusterIPs, externalIPs, load-balancer
 * IPs) are destinations svcproxy captures on every node, so multicast of
 * any scope and the IPv4 broadcast address are refused there too. An
 * IPv4-mapped IPv6 address is neither (the API server's IPv6 checks
 * refuse it): it would slip IPv4 rules past the IPv6 table.
 */
enum k8s_ip_use { K8S_IP_SERVICE, K8S_IP_ENDPOINT };

/* Why a may not be used as use ("may not be ..."), or NULL when it may. */
const char *k8s_ip_refused(const struct ipaddr *a, enum k8s_ip_use use);

/*
 * A CIDR as in loadBalancerSourceRanges: surrounding blanks are ignored and
 * host bits are cleared (the API server accepts "10.0.0.1/8" there).
 * 0 or -EINVAL.
 */
int k8s_cidr_parse_loose(const char *s, struct cidr *out);

/* --external-ip-cidrs (o may be NULL): an empty list allows any address. */
bool k8s_external_ip_allowed(const struct decode_opts *o, const struct ipaddr *a);
/* --service-node-port-range (o may be NULL: 30000-32767), inclusive. */
void k8s_node_port_range(const struct decode_opts *o, unsigned *lo, unsigned *hi);

#endif
