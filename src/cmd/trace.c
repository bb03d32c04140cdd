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
#include "common/log.h"
#include "dataplane/nft.h"
#include "model/model.h"

struct trace {
	struct nft_sets s;
	struct ipaddr src, dst;
	uint8_t proto;
	uint16_t port;
	size_t al;
	int hop;
	struct cidr *cluster; /* --cluster-cidr of this family, from the table comment */
	size_t n_cluster;
	struct cidr *npaddr; /* --nodeport-addresses */
	size_t n_npaddr;
	bool masq_all;
};

__attribute__((format(printf, 2, 3))) static void hop(struct trace *t, const char *fmt, ...)
{
	va_list ap;

	printf("%2d. ", ++t->hop);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
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

/* "... ; cluster-cidr A,B; nodeport-addresses C" -> the lists. */
static void parse_layout(struct trace *t)
{
	const char *p;
	const char *bad;

	t->masq_all = strstr(t->s.layout, "masquerade-all yes") != NULL;
	if ((p = strstr(t->s.layout, "cluster-cidr "))) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s", p + strlen("cluster-cidr "));
		buf[strcspn(buf, ";")] = '\0';
		cidr_list_parse(buf, &t->cluster, &t->n_cluster, &bad);
	}
	if ((p = strstr(t->s.layout, "nodeport-addresses "))) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s", p + strlen("nodeport-addresses "));
		buf[strcspn(buf, ";")] = '\0';
		cidr_list_parse(buf, &t->npaddr, &t->n_npaddr, &bad);
	}
}

static void key3(const struct trace *t, uint8_t *k, const struct ipaddr *a)
{
	uint16_t nport = htons(t->port);

	memset(k, 0, t->al + 8);
	memcpy(k, a->raw, t->al);
	k[t->al] = t->proto;
	memcpy(k + t->al + 4, &nport, 2);
}

static void key2(const struct trace *t, uint8_t *k)
{
	uint16_t nport = htons(t->port);

	memset(k, 0, 8);
	k[0] = t->proto;
	memcpy(k + 4, &nport, 2);
}

static const char *label(const struct bytemap *s, long i)
{
	const char *c = i >= 0 ? bytemap_comment(s, (size_t)i) : NULL;

	return c ? c : "?";
}

static void print_dest(const struct trace *t, const uint8_t *d, char *out, size_t len)
{
	struct ipaddr a = {.family = t->dst.family};
	char buf[IPADDR_STRLEN];
	uint16_t nport;

	memcpy(a.raw, d, t->al);
	memcpy(&nport, d + t->al, 2);
	snprintf(out, len, t->dst.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ipaddr_str(&a, buf),
	         ntohs(nport));
}

/*
 * The DNAT of a vmap element: chain <prefix>_<k>, numgen random mod k,
 * every slot with its chance. Returns true when the source is one of the
 * endpoints (hairpin).
 */
static bool trace_lb(struct trace *t, const struct bytemap *vmap, long vi, const uint8_t *key,
                     size_t klen)
{
	uint32_t d, k;
	enum nft_lb_kind kind;
	uint8_t bkey[NFT_MAX_KEY];
	bool hairpin = false;

	memcpy(&d, bytemap_data(vmap, (size_t)vi), 4);
	kind = (enum nft_lb_kind)(d >> 24);
	k = d & 0xffffff;
	hop(t,
	    "chain %s_%u: dnat to numgen random mod %u map @%s, one endpoint per new connection:",
	    nft_lb_prefix(kind), k, k, nft_set_name(nft_lb_map(kind)));
	memcpy(bkey, key, klen);
	for (uint32_t slot = 0; slot < k; slot++) {
		const struct bytemap *m = &t->s.s[nft_lb_map(kind)];
		long bi;
		char dest[IPADDR_STRLEN + 16];

		memcpy(bkey + klen, &slot, 4);
		bi = bytemap_find(m, bkey);
		if (bi < 0) {
			printf("      slot %u: missing (the kernel state is inconsistent)\n", slot);
			continue;
		}
		print_dest(t, bytemap_data(m, (size_t)bi), dest, sizeof(dest));
		printf("      slot %u: %s (%.1f%%)\n", slot, dest, 100.0 / k);
		if (!memcmp(bytemap_data(m, (size_t)bi), t->src.raw, t->al))
			hairpin = true;
	}
	return hairpin;
}

static void trace_post(struct trace *t, bool marked, bool hairpin, bool nodeport)
{
	if (hairpin)
		hop(t, "nat postrouting: when the source itself is picked (hairpin, @hairpin) the "
		       "source is masqueraded, so the reply comes back through the node");
	if (marked)
		hop(t,
		    "nat postrouting: marked 0x%x: masquerade (the source becomes the node's "
		    "address on the way out, so replies return through this node)",
		    NFT_MASQ_MARK);
	else if (!hairpin)
		hop(t, "nat postrouting: not marked: the source address is kept (the endpoint sees "
		       "the client)");
	if (nodeport)
		printf("=> a NodePort is real: the node receives the traffic (svcproxy holds the "
		       "port), and the kernel DNATs it before any socket sees it.\n");
	else
		printf("=> the destination is virtual: nothing listens on it. conntrack keeps the "
		       "DNAT and rewrites the replies back.\n");
}

static int run_trace(struct trace *t)
{
	char a[IPADDR_STRLEN], b[IPADDR_STRLEN];
	bool from_node = is_local(&t->src), to_node = is_local(&t->dst);
	bool from_cluster = in_cidrs(t->cluster, t->n_cluster, &t->src);
	uint8_t k3[NFT_MAX_KEY], k2[8];
	long i;

	key3(t, k3, &t->dst);
	key2(t, k2);
	printf("new %s connection %s -> %s:%u, %s\n", l4proto_name(t->proto),
	       ipaddr_str(&t->src, a), ipaddr_str(&t->dst, b), t->port,
	       from_node ? "from this node (output hooks)" : "arriving at this node (prerouting)");

	if ((i = bytemap_find(&t->s.s[SET_FIREWALL], k3)) >= 0) {
		uint8_t k4[NFT_MAX_KEY];
		bool allowed = false;

		/* firewall_allow is a set of ranges: look for a covering one */
		key3(t, k4, &t->dst);
		memcpy(k4 + t->al + 8, t->src.raw, t->al);
		for (size_t j = 0; j < t->s.s[SET_FIREWALL_ALLOW].n && !allowed; j++) {
			const uint8_t *lo = bytemap_key(&t->s.s[SET_FIREWALL_ALLOW], j);
			const uint8_t *hi = bytemap_data(&t->s.s[SET_FIREWALL_ALLOW], j);

			allowed = memcmp(lo, k4, t->al + 8) == 0 &&
			          memcmp(lo + t->al + 8, t->src.raw, t->al) <= 0 &&
			          memcmp(hi + t->al + 8, t->src.raw, t->al) >= 0;
		}
		hop(t, "filter prerouting: %s has loadBalancerSourceRanges (%s): source %s",
		    ipaddr_str(&t->dst, b), label(&t->s.s[SET_FIREWALL], i),
		    allowed ? "allowed" : "not in them: DROPPED");
		if (!allowed)
			return 0;
	}

	if (bytemap_find(&t->s.s[SET_CLUSTER_IPS], t->dst.raw) >= 0) {
		bool marked = t->masq_all || (t->n_cluster && !from_cluster);

		hop(t,
		    "nat %s -> services: %s is a ClusterIP (@cluster_ips) -> goto cluster_ip_path",
		    from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b));
		if (t->masq_all)
			hop(t, "cluster_ip_path: --masquerade-all: marked for masquerade");
		else if (t->n_cluster)
			hop(t, "cluster_ip_path: source %s is %s --cluster-cidr: %s",
			    ipaddr_str(&t->src, a), from_cluster ? "inside" : "outside",
			    from_cluster ? "not marked" : "marked for masquerade");
		if (bytemap_find(&t->s.s[SET_AFFINITY_SERVICES], k3) >= 0)
			hop(t,
			    "cluster_ip_path: sessionAffinity ClientIP: a client seen within the "
			    "timeout goes back to its endpoint (dynamic map @affinity)");
		if ((i = bytemap_find(&t->s.s[SET_SERVICE_IPS], k3)) >= 0) {
			bool hairpin;

			hop(t, "@service_ips: %s port %u/%s is Service %s", ipaddr_str(&t->dst, b),
			    t->port, l4proto_name(t->proto), label(&t->s.s[SET_SERVICE_IPS], i));
			hairpin = trace_lb(t, &t->s.s[SET_SERVICE_IPS], i, k3, t->al + 8);
			trace_post(t, marked, hairpin, false);
			return 0;
		}
		if ((i = bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3)) >= 0) {
			hop(t,
			    "no DNAT: Service %s has no endpoint on this node under "
			    "internalTrafficPolicy: Local",
			    label(&t->s.s[SET_DROP_ENDPOINTS], i));
			hop(t, "filter %s: @drop_endpoints: DROPPED",
			    from_node ? "output" : "prerouting after DNAT");
			return 0;
		}
		if ((i = bytemap_find(&t->s.s[SET_NO_ENDPOINTS], k3)) >= 0) {
			hop(t, "no DNAT: Service %s has no ready endpoint",
			    label(&t->s.s[SET_NO_ENDPOINTS], i));
			hop(t,
			    "filter %s: @no_endpoints: REJECTED with ICMP port unreachable "
			    "(the client sees connection refused at once)",
			    from_node ? "output" : "prerouting after DNAT");
			return 0;
		}
		hop(t, "no DNAT: port %u/%s is not a port of this ClusterIP", t->port,
		    l4proto_name(t->proto));
		hop(t, "filter cluster_ips_check: REJECTED with ICMP port unreachable");
		return 0;
	}

	if (bytemap_find(&t->s.s[SET_SERVICE_PORTS], k3) >= 0 ||
	    bytemap_find(&t->s.s[SET_NO_ENDPOINTS], k3) >= 0 ||
	    bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3) >= 0) {
		bool marked = bytemap_find(&t->s.s[SET_EXTERNAL_MASQ], k3) >= 0;
		bool sc = (from_cluster || from_node) &&
		          (i = bytemap_find(&t->s.s[SET_SERVICE_IPS_CLUSTER], k3)) >= 0;

		hop(t, "nat %s -> services: %s port %u/%s is an external IP / LoadBalancer IP",
		    from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
		    l4proto_name(t->proto));
		if (marked)
			hop(t, "@external_masq: externalTrafficPolicy: Cluster: marked for "
			       "masquerade");
		if (sc) {
			hop(t,
			    "@service_ips_cluster: externalTrafficPolicy: Local, but the source is "
			    "a pod or this node: every endpoint%s",
			    from_node ? " (masqueraded)" : "");
			trace_post(t, marked || from_node,
			           trace_lb(t, &t->s.s[SET_SERVICE_IPS_CLUSTER], i, k3, t->al + 8),
			           false);
			return 0;
		}
		if ((i = bytemap_find(&t->s.s[SET_SERVICE_IPS], k3)) >= 0) {
			hop(t, "@service_ips: Service %s", label(&t->s.s[SET_SERVICE_IPS], i));
			trace_post(t, marked,
			           trace_lb(t, &t->s.s[SET_SERVICE_IPS], i, k3, t->al + 8), false);
			return 0;
		}
		if ((i = bytemap_find(&t->s.s[SET_DROP_ENDPOINTS], k3)) >= 0) {
			hop(t,
			    "no DNAT: Service %s: externalTrafficPolicy: Local and no endpoint on "
			    "this node: DROPPED",
			    label(&t->s.s[SET_DROP_ENDPOINTS], i));
			return 0;
		}
		hop(t, "no DNAT: no ready endpoint: REJECTED with ICMP port unreachable");
		return 0;
	}

	if (to_node) {
		bool loopback = t->dst.family == AF_INET
		                    ? (t->dst.raw[0] == 127)
		                    : ipaddr_equal(&t->dst, &(struct ipaddr){.family = AF_INET6,
		                                                             .raw = {[15] = 1}});
		bool np_ok =
		    !loopback && (!t->n_npaddr || in_cidrs(t->npaddr, t->n_npaddr, &t->dst));

		if ((i = bytemap_find(&t->s.s[SET_NODEPORT_PORTS], k2)) < 0) {
			hop(t,
			    "%s is an address of this node and %u/%s is no NodePort: svcproxy "
			    "leaves it alone",
			    ipaddr_str(&t->dst, b), t->port, l4proto_name(t->proto));
			return 0;
		}
		if (!np_ok) {
			hop(t,
			    "%s is an address of this node but NodePorts are not served there (%s)",
			    ipaddr_str(&t->dst, b),
			    loopback ? "loopback: never, CVE-2020-8558"
			             : "outside --nodeport-addresses");
			hop(t, "filter input: nodeport_check: REJECTED with ICMP port unreachable");
			return 0;
		}
		hop(t,
		    "nat %s -> services: %s is this node's (fib daddr type local): NodePort %u/%s "
		    "of %s",
		    from_node ? "output" : "prerouting", ipaddr_str(&t->dst, b), t->port,
		    l4proto_name(t->proto), label(&t->s.s[SET_NODEPORT_PORTS], i));
		{
			bool marked = bytemap_find(&t->s.s[SET_NODEPORT_MASQ], k2) >= 0;
			long ci = bytemap_find(&t->s.s[SET_NODEPORTS_CLUSTER], k2);

			if (marked)
				hop(t, "@nodeport_masq: externalTrafficPolicy: Cluster: marked for "
				       "masquerade");
			if ((from_cluster || from_node) && ci >= 0) {
				hop(t,
				    "@nodeports_cluster: externalTrafficPolicy: Local, the source "
				    "is a pod or this node: every endpoint");
				trace_post(t, marked || from_node,
				           trace_lb(t, &t->s.s[SET_NODEPORTS_CLUSTER], ci, k2, 8),
				           true);
				return 0;
			}
			if ((i = bytemap_find(&t->s.s[SET_NODEPORTS], k2)) >= 0) {
				trace_post(t, marked, trace_lb(t, &t->s.s[SET_NODEPORTS], i, k2, 8),
				           true);
				return 0;
			}
			if (bytemap_find(&t->s.s[SET_NODEPORT_DROP], k2) >= 0) {
				hop(t,
				    "no DNAT: externalTrafficPolicy: Local and no endpoint on this "
				    "node: filter input nodeport_check: DROPPED");
				return 0;
			}
			hop(t, "no DNAT: no ready endpoint: filter input nodeport_check: REJECTED "
			       "with ICMP port unreachable");
		}
		return 0;
	}
	hop(t,
	    "%s port %u/%s is no Service address svcproxy knows: it leaves the packet alone "
	    "(normal routing)",
	    ipaddr_str(&t->dst, b), t->port, l4proto_name(t->proto));
	return 0;
}

int cmd_trace(const char *src, const char *dst, const char *proto)
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
	t.al = nft_addr_len(t.dst.family);
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
	parse_layout(&t);
	ret = run_trace(&t);
	nft_sets_free(&t.s);
	free(t.cluster);
	free(t.npaddr);
	return ret;
}
