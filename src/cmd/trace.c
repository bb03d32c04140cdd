/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * trace.c - svcproxy trace: where a new connection goes, and why, hop by hop.
 *
 * Everything comes from the live kernel: svcproxy's sets and maps, read
 * back over netlink, walked in the order the packet meets them, plus this
 * node's own addresses (getifaddrs) to tell NodePorts and node-originated
 * traffic apart. Nothing is sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/trace.h"
#include "common/log.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/nft.h"
#include "model/model.h"

__attribute__((format(printf, 3, 4))) static void hop(struct trace *t, const char *chain,
                                                      const char *fmt, ...)
{
	va_list ap;

	fprintf(t->out, "%2d. ", ++t->hop);
	va_start(ap, fmt);
	vfprintf(t->out, fmt, ap);
	va_end(ap);
	fprintf(t->out, "\n");
	if (chain && t->on_chain)
		t->on_chain(t->ctx, chain);
}

static bool is_local(const struct ipaddr *a)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) < 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		struct ipaddr x = {0};

		if (!i->ifa_addr || i->ifa_addr->sa_family != a->family)
			continue;
		x.family = a->family;
		if (a->family == AF_INET)
			x.v4 = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else
			x.v6 = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		found = ipaddr_equal(&x, a);
	}
	freeifaddrs(ifs);
	return found;
}

static bool in_cidrs(const struct cidr *c, size_t n, const struct ipaddr *a)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_contains(&c[i], a))
			return true;
	return false;
}

static const char *label(const struct bytemap *s, long i)
{
	const char *c = i >= 0 ? bytemap_comment(s, (size_t)i) : NULL;

	return c ? c : "?";
}

/*
 * The DNAT of a vmap element: chain <prefix>_<k>, numgen random mod k,
 * every slot with its chance. Returns true when the source is one of the
 * endpoints (hairpin).
 */
static bool trace_lb(struct trace *t, const struct bytemap *vmap, long vi)
{
	char chain[32], dest[IPADDR_STRLEN + 16];
	bool hairpin = false;
	struct nft_slots it;

	nft_slots_begin(&it, &t->s, vmap, (size_t)vi);
	nft_lb_chain_name(it.kind, it.k, chain, sizeof(chain));
	hop(t, chain,
	    "chain %s: dnat to numgen random mod %u map @%s, one endpoint per new connection:",
	    chain, it.k, nft_set_name(nft_lb_map(it.kind)));
	for (uint32_t slot = 0; slot < it.k; slot++) {
		long bi = nft_slot(&it, slot);
		const uint8_t *d;

		if (bi < 0) {
			fprintf(t->out,
			        "      slot %u: missing (the kernel state is inconsistent)\n",
			        slot);
			continue;
		}
		d = bytemap_data(it.map, (size_t)bi);
		fprintf(t->out, "      slot %u: %s (%.1f%%)\n", slot,
		        nft_dest_str(t->dst.family, d, dest, sizeof(dest)), 100.0 / it.k);
		if (!memcmp(d, t->src.raw, t->al))
			hairpin = true;
	}
	return hairpin;
}

static void trace_post(struct trace *t, bool marked, bool hairpin, bool nodeport)
{
	if (hairpin)
		hop(t, "nat_postrouting",
		    "nat postrouting: when the source itself is picked (hairpin, @hairpin) the "
		    "source is masqueraded, so the reply comes back through the node");
	if (marked)
		hop(t, "nat_postrouting",
		    "nat postrouting: marked 0x%x: masquerade (the source becomes the node's "
		    "address on the way out, so replies return through this node)",
		    NFT_MASQ_MARK);
	else if (!hairpin)
		hop(t, "nat_postrouting",
		    "nat postrouting: not marked: the source address is kept (the endpoint sees "
		    "the client)");
	if (nodeport)
		fprintf(t->out, "=> a NodePort is real: the node receives the traffic (svcproxy "
		                "holds the port), and the kernel DNATs it before any socket sees "
		                "it.\n");
	else
		fprintf(t->out, "=> the destination is virtual: nothing listens on it. conntrack "
		                "keeps the DNAT and rewrites the replies back.\n");
}

/* filter prerouting, before DNAT: loadBalancerSourceRanges. False: dropped. */
static bool trace_firewall(struct trace *t, const uint8_t *k3)
{
	const struct bytemap *allow = &t->s.s[SET_FIREWALL_ALLOW];
	long i = bytemap_find(&t->s.s[SET_FIREWALL], k3);
	char b[IPADDR_STRLEN];
	bool allowed = false;

	if (i < 0)
		return true;
	/* firewall_allow is a set of ranges A.P.T.R: look for a covering one */
	for (size_t j = 0; j < allow->n && !allowed; j++) {
		const uint8_t *lo = bytemap_key(allow, j), *hi = bytemap_data(allow, j);

		allowed = memcmp(lo, k3, t->al + 8) == 0 &&
		          memcmp(lo + t->al + 8, t->src.raw, t->al) <= 0 &&
		          memcmp(hi + t->al + 8, t->src.raw, t->al) >= 0;
	}
	hop(t, "firewall_check",
	    "filter prerouting: %s has loadBalancerSourceRanges (%s): source %s",
	    ipaddr_str(&t->dst, b), label(&t->s.s[SET_FIREWALL], i),
	    allowed ? "allowed" : "not in them: DROPPED");
	return allowed;
}

/*
 * A ClusterIP without DNAT: dropped or rejected by the filter checks. The
 * node's own traffic meets them in filter output (-110), before its nat
 * output: nothing of the nat path is shown then.
 */
static bool trace_cluster_ip_refused(struct trace *t, const uint8_t *k3)
{
	const char *hook = t->from_node ? "output" : "prerouting after DNAT";
	const char *chain = t->from_node ? "endpoints_check_local" : "endpoints_check";
	long i;

	if ((i = bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3)) >= 0) {
		hop(t, NULL,
		    "no DNAT: Service %s has no endpoint on this node under "
		    "internalTrafficPolicy: Local",
		    label(&t->s.s[SET_DROP_ENDPOINTS], i));
		hop(t, chain, "filter %s: @drop_endpoints: DROPPED", hook);
		return true;
	}
	if ((i = bytemap_find(&t->s.s[SET_NO_ENDPOINTS], k3)) >= 0) {
		hop(t, NULL, "no DNAT: Service %s has no ready endpoint",
		    label(&t->s.s[SET_NO_ENDPOINTS], i));
		hop(t, chain,
		    "filter %s: @no_endpoints: REJECTED with ICMP port unreachable "
		    "(the client sees connection refused at once)",
		    hook);
		return true;
	}
	return false;
}

/* nat -> services -> cip_<k> (masq_check, affinity, DNAT), or a filter check. */
static void trace_cluster_ip(struct trace *t, const uint8_t *k3, bool from_cluster)
{
	const struct bytemap *ports = &t->s.s[SET_CLUSTER_IP_PORTS];
	bool marked = t->opts.masquerade_all || (t->opts.n_cluster_cidrs && !from_cluster);
	char a[IPADDR_STRLEN], b[IPADDR_STRLEN], chain[32];
	enum nft_lb_kind kind;
	uint32_t k;
	bool hairpin;
	long i;

	if (t->from_node && trace_cluster_ip_refused(t, k3))
		return;
	i = bytemap_find(ports, k3);
	if (i < 0) {
		hop(t, "services",
		    "nat %s -> services: %s is a ClusterIP (@cluster_ips), but port %u/%s is not "
		    "a port of this ClusterIP with endpoints (@cluster_ip_ports): no DNAT",
		    t->from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
		    l4proto_name(t->proto));
		if (trace_cluster_ip_refused(t, k3))
			return;
		hop(t, "cluster_ips_check",
		    "filter cluster_ips_check: REJECTED with ICMP port unreachable");
		return;
	}
	nft_lb_unpack(bytemap_data(ports, (size_t)i), &kind, &k);
	nft_lb_chain_name(kind, k, chain, sizeof(chain));
	hop(t, "services",
	    "nat %s -> services: @cluster_ip_ports: ClusterIP %s port %u/%s is Service %s -> "
	    "goto %s",
	    t->from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
	    l4proto_name(t->proto), label(ports, i), chain);
	if (t->opts.masquerade_all)
		hop(t, "masq_check", "masq_check: --masquerade-all: marked for masquerade");
	else if (t->opts.n_cluster_cidrs)
		hop(t, "masq_check", "masq_check: source %s is %s --cluster-cidr: %s",
		    ipaddr_str(&t->src, a), from_cluster ? "inside" : "outside",
		    from_cluster ? "not marked" : "marked for masquerade");
	if (kind == LB_CLUSTER_IP_AFFINITY)
		hop(t, chain,
		    "chain %s: sessionAffinity ClientIP: a client seen within the timeout goes "
		    "back to its endpoint (dynamic map @affinity)",
		    chain);
	hairpin = trace_lb(t, ports, i);
	trace_post(t, marked, hairpin, false);
}

/* An external IP or LoadBalancer IP: services, its masquerade marks, dispatch. */
static void trace_external(struct trace *t, const uint8_t *k3, bool from_cluster)
{
	bool marked = bytemap_find(&t->s.s[SET_EXTERNAL_MASQ], k3) >= 0;
	long ci = bytemap_find(&t->s.s[SET_SERVICE_IPS_CLUSTER], k3), i;
	char b[IPADDR_STRLEN];

	hop(t, "services", "nat %s -> services: %s port %u/%s is an external IP / LoadBalancer IP",
	    t->from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
	    l4proto_name(t->proto));
	if (marked)
		hop(t, "services",
		    "@external_masq: externalTrafficPolicy: Cluster: marked for "
		    "masquerade");
	if ((from_cluster || t->from_node) && ci >= 0) {
		hop(t, "services",
		    "@service_ips_cluster: externalTrafficPolicy: Local, but the source is "
		    "a pod or this node: every endpoint%s",
		    t->from_node ? " (masqueraded)" : "");
		trace_post(t, marked || t->from_node,
		           trace_lb(t, &t->s.s[SET_SERVICE_IPS_CLUSTER], ci), false);
		return;
	}
	if ((i = bytemap_find(&t->s.s[SET_SERVICE_IPS], k3)) >= 0) {
		hop(t, "services", "@service_ips: Service %s", label(&t->s.s[SET_SERVICE_IPS], i));
		trace_post(t, marked, trace_lb(t, &t->s.s[SET_SERVICE_IPS], i), false);
		return;
	}
	if ((i = bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3)) >= 0) {
		hop(t, t->from_node ? NULL : "endpoints_check",
		    "no DNAT: Service %s: externalTrafficPolicy: Local and no endpoint on "
		    "this node: DROPPED",
		    label(&t->s.s[SET_DROP_ENDPOINTS], i));
		return;
	}
	hop(t, t->from_node ? NULL : "endpoints_check",
	    "no DNAT: no ready endpoint: REJECTED with ICMP port unreachable");
}

/* An address of this node: a NodePort, or nothing of svcproxy's. */
static void trace_nodeport(struct trace *t, const uint8_t *k2, bool from_cluster)
{
	struct ipaddr lo6 = {.family = AF_INET6, .raw = {[15] = 1}};
	bool loopback =
	    t->dst.family == AF_INET ? t->dst.raw[0] == 127 : ipaddr_equal(&t->dst, &lo6);
	bool np_ok =
	    !loopback && (!t->opts.n_nodeport_cidrs ||
	                  in_cidrs(t->opts.nodeport_cidrs, t->opts.n_nodeport_cidrs, &t->dst));
	bool marked = bytemap_find(&t->s.s[SET_NODEPORT_MASQ], k2) >= 0;
	long ci = bytemap_find(&t->s.s[SET_NODEPORTS_CLUSTER], k2), i;
	char b[IPADDR_STRLEN];

	if ((i = bytemap_find(&t->s.s[SET_NODEPORT_PORTS], k2)) < 0) {
		hop(t, NULL,
		    "%s is an address of this node and %u/%s is no NodePort: svcproxy "
		    "leaves it alone",
		    ipaddr_str(&t->dst, b), t->port, l4proto_name(t->proto));
		return;
	}
	if (!np_ok) {
		hop(t, NULL,
		    "%s is an address of this node but NodePorts are not served there (%s)",
		    ipaddr_str(&t->dst, b),
		    loopback ? "loopback: never, CVE-2020-8558" : "outside --nodeport-addresses");
		hop(t, "nodeport_check",
		    "filter input: nodeport_check: REJECTED with ICMP port unreachable");
		return;
	}
	hop(t, "services",
	    "nat %s -> services: %s is this node's (fib daddr type local): NodePort %u/%s "
	    "of %s",
	    t->from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
	    l4proto_name(t->proto), label(&t->s.s[SET_NODEPORT_PORTS], i));
	if (marked)
		hop(t, "nodeport_marks",
		    "@nodeport_masq: externalTrafficPolicy: Cluster: marked for masquerade");
	if ((from_cluster || t->from_node) && ci >= 0) {
		hop(t, "nodeports",
		    "@nodeports_cluster: externalTrafficPolicy: Local, the source "
		    "is a pod or this node: every endpoint");
		trace_post(t, marked || t->from_node,
		           trace_lb(t, &t->s.s[SET_NODEPORTS_CLUSTER], ci), true);
		return;
	}
	if ((i = bytemap_find(&t->s.s[SET_NODEPORTS], k2)) >= 0) {
		trace_post(t, marked, trace_lb(t, &t->s.s[SET_NODEPORTS], i), true);
		return;
	}
	if (bytemap_find(&t->s.s[SET_NODEPORT_DROP], k2) >= 0) {
		hop(t, "nodeport_check",
		    "no DNAT: externalTrafficPolicy: Local and no endpoint on this "
		    "node: filter input nodeport_check: DROPPED");
		return;
	}
	hop(t, "nodeport_check",
	    "no DNAT: no ready endpoint: filter input nodeport_check: REJECTED "
	    "with ICMP port unreachable");
}

int trace_walk(struct trace *t)
{
	char a[IPADDR_STRLEN], b[IPADDR_STRLEN];
	uint8_t k3[NFT_MAX_KEY], k2[8];
	bool from_cluster;

	t->al = nft_addr_len(t->dst.family);
	t->hop = 0;
	nft_layout_parse(t->s.layout, &t->opts);
	from_cluster = in_cidrs(t->opts.cluster_cidrs, t->opts.n_cluster_cidrs, &t->src);
	nft_key_apt(t->dst.family, k3, &t->dst, t->proto, t->port);
	nft_key_pt(k2, t->proto, t->port);
	fprintf(t->out, "new %s connection %s -> %s:%u, %s\n", l4proto_name(t->proto),
	        ipaddr_str(&t->src, a), ipaddr_str(&t->dst, b), t->port,
	        t->from_node ? "from this node (output hooks)"
	                     : "arriving at this node (prerouting)");

	if (t->opts.scope == NFT_SCOPE_ENTERING &&
	    !(t->opts.paths & (t->from_node ? NFT_PATH_OUTPUT : NFT_PATH_INBOUND)))
		hop(t, NULL,
		    "--dataplane bpf: table %s has no %s hook (it serves only packets entering "
		    "to NodePorts, externalIPs and LoadBalancer IPs, and SCTP): nftables leaves "
		    "the packet alone%s",
		    NFT_TABLE_NAME, t->from_node ? "output" : "prerouting",
		    t->from_node ? "; the node's own connects are the socket programs'" : "");
	else if (!trace_firewall(t, k3))
		;
	else if (bytemap_find(&t->s.s[SET_CLUSTER_IPS], t->dst.raw) >= 0)
		trace_cluster_ip(t, k3, from_cluster);
	else if (bytemap_find(&t->s.s[SET_SERVICE_PORTS], k3) >= 0 ||
	         bytemap_find(&t->s.s[SET_NO_ENDPOINTS], k3) >= 0 ||
	         bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3) >= 0)
		trace_external(t, k3, from_cluster);
	else if (t->to_node)
		trace_nodeport(t, k2, from_cluster);
	else
		hop(t, NULL,
		    "%s port %u/%s is no Service address svcproxy knows%s: it leaves the packet "
		    "alone (normal routing)",
		    ipaddr_str(&t->dst, b), t->port, l4proto_name(t->proto),
		    t->opts.scope == NFT_SCOPE_ENTERING
		        ? " in nftables (--dataplane bpf: TCP/UDP ClusterIPs are translated by the "
		          "socket programs alone, for connects made on this node)"
		        : "");
	nft_layout_parsed_free(&t->opts);
	return 0;
}

int cmd_trace(const char *src, const char *dst, const char *proto, const char *bpf_pin_path)
{
	struct trace t = {0};
	char host[IPADDR_STRLEN + 2];
	const char *colon;
	char *end;
	unsigned long port;
	int ret;

	if (ipaddr_parse(src, &t.src)) {
		fprintf(stderr, "svcproxy trace: '%s' is not an IP address\n", src);
		return EXIT_USAGE;
	}
	/* DST:PORT, or [IPv6]:PORT */
	colon = strrchr(dst, ':');
	if (!colon || colon == dst || (size_t)(colon - dst) >= sizeof(host)) {
		fprintf(stderr, "svcproxy trace: '%s' is not ADDRESS:PORT\n", dst);
		return EXIT_USAGE;
	}
	if (dst[0] == '[' && colon[-1] == ']') {
		memcpy(host, dst + 1, (size_t)(colon - dst - 2));
		host[colon - dst - 2] = '\0';
	} else {
		memcpy(host, dst, (size_t)(colon - dst));
		host[colon - dst] = '\0';
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (ipaddr_parse(host, &t.dst) || errno || *end || port < 1 || port > 65535) {
		fprintf(stderr, "svcproxy trace: '%s' is not ADDRESS:PORT (port 1-65535)\n", dst);
		return EXIT_USAGE;
	}
	if (t.src.family != t.dst.family) {
		fprintf(stderr, "svcproxy trace: %s and %s are not of one address family\n", src,
		        host);
		return EXIT_USAGE;
	}
	t.port = (uint16_t)port;
	t.proto = l4proto_parse(proto ? proto : "tcp");
	if (!t.proto) {
		fprintf(stderr, "svcproxy trace: '%s' is none of tcp, udp, sctp\n", proto);
		return EXIT_USAGE;
	}
	t.out = stdout;
	bpf_trace(bpf_pin_path, &t.dst, t.port, t.proto, stdout); /* the bpf dataplane's part */
	t.from_node = is_local(&t.src);
	t.to_node = is_local(&t.dst);
	ret = nft_read_sets(t.dst.family, &t.s);
	if (ret == -ENOENT) {
		printf("nothing programmed: no table %s %s; the packet is routed as usual\n",
		       t.dst.family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME);
		return EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "svcproxy trace: cannot read table %s: %s\n", NFT_TABLE_NAME,
		        strerror(-ret));
		return EXIT_RUNTIME;
	}
	ret = trace_walk(&t);
	nft_sets_free(&t.s);
	return ret;
}
