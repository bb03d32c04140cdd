/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_service.c - v1 Service to struct service.
 *
 * Every rule of the API server for the fields svcproxy uses, plus the
 * cluster's own (decode_opts: node port range, externalIP allow-list);
 * addresses that would capture node traffic are refused (k8s_ip_refused()).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "source/decode_int.h"

#define AFFINITY_DEFAULT 10800
#define AFFINITY_MAX     86400

/*
 * The fields the API defines at each level svcproxy reads (those svcproxy
 * ignores included, so that `kubectl get -o yaml` output gives no
 * warning); any other key is an unknown-field warning (dy_check_fields()).
 */
static const char *const f_svc[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const f_svc_spec[] = {"ports",
                                         "selector",
                                         "clusterIP",
                                         "clusterIPs",
                                         "type",
                                         "externalIPs",
                                         "sessionAffinity",
                                         "loadBalancerIP",
                                         "loadBalancerSourceRanges",
                                         "externalName",
                                         "externalTrafficPolicy",
                                         "healthCheckNodePort",
                                         "publishNotReadyAddresses",
                                         "sessionAffinityConfig",
                                         "ipFamilies",
                                         "ipFamilyPolicy",
                                         "allocateLoadBalancerNodePorts",
                                         "loadBalancerClass",
                                         "internalTrafficPolicy",
                                         "trafficDistribution",
                                         NULL};
static const char *const f_svc_port[] = {"name",       "protocol", "appProtocol", "port",
                                         "targetPort", "nodePort", NULL};
static const char *const f_svc_status[] = {"loadBalancer", "conditions", NULL};
static const char *const f_lb_status[] = {"ingress", NULL};
static const char *const f_lb_ingress[] = {"ip", "hostname", "ipMode", "ports", NULL};
static const char *const f_affinity[] = {"clientIP", NULL};
static const char *const f_client_ip[] = {"timeoutSeconds", NULL};

static bool name_is_label1035(const char *s)
{
	return k8s_is_dns_label(s, true);
}

/* A nodePort or healthCheckNodePort other than 0 must lie in --service-node-port-range. */
static void check_node_port(struct dctx *c, const char *path, uint16_t port)
{
	unsigned lo, hi;

	k8s_node_port_range(c->opts, &lo, &hi);
	if (port && (port < lo || port > hi))
		dy_bad(c, path,
		       "%u is not in the node port range (%u-%u, --service-node-port-range)", port,
		       lo, hi);
}

/* spec.externalIPs: Service addresses, within --external-ip-cidrs when given. */
static void decode_external_ips(struct dctx *c, struct ynode *spec, struct service *s)
{
	char path[PATH_LEN], sh[64];
	struct ynode *seq, *n;
	size_t it = 0;
	size_t i = 0;
	int r;

	if (dy_get_seq(c, spec, "externalIPs", "spec", &seq) <= 0)
		return;
	s->external_ips = xcalloc(seq->len, sizeof(*s->external_ips));
	while ((n = dy_item(seq, &it))) {
		struct ipaddr *a = &s->external_ips[s->n_external_ips];

		dy_path_index(path, "spec.externalIPs", i++);
		r = dy_node_ip(c, n, path, 0, K8S_IP_SERVICE, a);
		if (r == 0)
			dy_bad(c, path, "an IP address is required");
		else if (r > 0 && !k8s_external_ip_allowed(c->opts, a))
			dy_bad(c, path, "\"%s\" is not in --external-ip-cidrs (CVE-2020-8554)",
			       dy_show(n, sh, sizeof(sh)));
		else if (r > 0)
			s->n_external_ips++;
	}
}

static void decode_svc_port(struct dctx *c, struct ynode *pn, size_t i, size_t n_ports,
                            struct svc_port *p)
{
	char path[PATH_LEN], fpath[PATH_LEN], sh[64];
	struct ynode *tp;
	const char *s;
	long long v;
	int r;

	dy_path_index(path, "spec.ports", i);
	if (dy_vtype(pn) != V_MAP) {
		dy_bad(c, path, "expected a mapping, got %s", dy_vtype_names[dy_vtype(pn)]);
		return;
	}
	dy_check_fields(c, pn, path, f_svc_port);
	r = dy_get_str(c, pn, "name", path, &s);
	dy_join(fpath, path, "name");
	if (r > 0 && *s && !k8s_is_dns_label(s, false))
		dy_bad(
		    c, fpath,
		    "\"%s\" is not a valid port name (lowercase letters, digits and '-', at most "
		    "63 characters)",
		    s);
	else if (r == 0 && n_ports > 1)
		dy_bad(c, fpath, "required when a Service has more than one port");
	else if (r > 0 && !*s && n_ports > 1)
		dy_bad(c, fpath, "required when a Service has more than one port");
	p->name = xstrdup(r > 0 ? s : "");

	p->proto = dy_get_proto(c, pn, path);
	if (dy_get_port(c, pn, "port", path, 1, &p->port) == 0) {
		dy_join(fpath, path, "port");
		dy_bad(c, fpath, "required value is missing");
	}
	if (dy_get_port(c, pn, "nodePort", path, 0, &p->node_port) > 0) {
		dy_join(fpath, path, "nodePort");
		check_node_port(c, fpath, p->node_port);
	}

	/* targetPort: int-or-string; absent or 0 means "same as port" */
	tp = dy_get(c, pn, "targetPort");
	dy_join(fpath, path, "targetPort");
	switch (dy_vtype(tp)) {
	case V_ABSENT:
	case V_NULL:
		p->target_port = p->port;
		break;
	case V_INT:
		dy_node_int(c, tp, fpath, &v);
		if (v == 0)
			p->target_port = p->port;
		else if (v < 1 || v > 65535)
			dy_bad(c, fpath, "%s is not a valid port (1-65535)",
			       dy_show(tp, sh, sizeof(sh)));
		else
			p->target_port = (uint16_t)v;
		break;
	case V_STR:
		dy_node_str(c, tp, fpath, &s);
		if (!s)
			break;
		if (dy_text_is_int(s, strlen(s)))
			dy_bad(c, fpath,
			       "\"%s\" is not a valid port name (write a number without quotes)",
			       s);
		else if (!k8s_is_iana_svc_name(s))
			dy_bad(
			    c, fpath,
			    "\"%s\" is not a valid port name (1-15 lowercase letters, digits and "
			    "'-', with at least one letter)",
			    s);
		else
			p->target_port_name = xstrdup(s);
		break;
	default:
		dy_bad(c, fpath, "expected a port number or name, got %s",
		       dy_vtype_names[dy_vtype(tp)]);
	}
}

/*
 * spec.clusterIP / spec.clusterIPs into s->cluster_ips and s->headless.
 * clusterIPs (primary first, one per family) wins over clusterIP, whose
 * value must then equal clusterIPs[0]. "None" makes the Service headless;
 * "" or absent means no cluster IP (yet).
 */
static void decode_cluster_ips(struct dctx *c, struct ynode *spec, struct service *s)
{
	struct ynode *seq = NULL, *n;
	const char *ip = NULL;
	char path[PATH_LEN];
	size_t it = 0;
	size_t i = 0;
	int r;

	s->cluster_ips = xcalloc(2, sizeof(*s->cluster_ips));
	r = dy_get_str(c, spec, "clusterIP", "spec", &ip);
	if (dy_get_seq(c, spec, "clusterIPs", "spec", &seq) > 0 && seq->len > 0) {
		if (seq->len > 2)
			dy_bad(c, "spec.clusterIPs",
			       "at most two addresses (one per family) are allowed");
		while ((n = dy_item(seq, &it))) {
			struct ipaddr a;
			const char *t;

			dy_path_index(path, "spec.clusterIPs", i);
			if (dy_node_str(c, n, path, &t) == 0)
				dy_bad(c, path, "an IP address is required");
			if (!t) {
				i++;
				continue;
			}
			if (i == 0 && r > 0 && *ip && strcmp(t, ip))
				dy_bad(c, path, "\"%s\" must match spec.clusterIP (\"%s\")", t, ip);
			if (!strcmp(t, "None")) {
				if (i != 0 || seq->len != 1)
					dy_bad(c, path, "\"None\" must be the only entry");
				s->headless = true;
			} else if (ipaddr_parse(t, &a)) {
				dy_bad(c, path, "\"%s\" is not a valid IP address", t);
			} else if (!dy_ip_usable(c, path, t, &a, K8S_IP_SERVICE)) {
				/* reported */
			} else if (s->n_cluster_ips == 1 && s->cluster_ips[0].family == a.family) {
				dy_bad(c, path,
				       "\"%s\" is of the same family as spec.clusterIPs[0] (one "
				       "address per family)",
				       t);
			} else if (s->n_cluster_ips < 2) {
				/* past two, reported above: the array holds two */
				s->cluster_ips[s->n_cluster_ips++] = a;
			}
			i++;
		}
		return;
	}
	if (r <= 0 || !*ip)
		return;
	if (!strcmp(ip, "None"))
		s->headless = true;
	else if (ipaddr_parse(ip, &s->cluster_ips[0]))
		dy_bad(c, "spec.clusterIP",
		       "\"%s\" is not a valid IP address (or \"None\" for a headless Service)", ip);
	else if (dy_ip_usable(c, "spec.clusterIP", ip, &s->cluster_ips[0], K8S_IP_SERVICE))
		s->n_cluster_ips = 1;
}

static void decode_lb_status(struct dctx *c, struct ynode *obj, struct service *s)
{
	struct ynode *st, *lb, *seq, *n;
	char path[PATH_LEN];
	size_t it = 0;
	size_t i = 0;

	if (dy_get_map(c, obj, "status", "", &st) <= 0)
		return;
	dy_check_fields(c, st, "status", f_svc_status);
	if (dy_get_map(c, st, "loadBalancer", "status", &lb) <= 0)
		return;
	dy_check_fields(c, lb, "status.loadBalancer", f_lb_status);
	if (dy_get_seq(c, lb, "ingress", "status.loadBalancer", &seq) <= 0)
		return;
	s->lb_ips = xcalloc(seq->len, sizeof(*s->lb_ips));
	while ((n = dy_item(seq, &it))) {
		dy_path_index(path, "status.loadBalancer.ingress", i++);
		if (dy_node_map(c, n, path, &n) <= 0)
			continue;
		dy_check_fields(c, n, path, f_lb_ingress);
		dy_join(path, path, "ip");
		/* hostname-only entries (AWS ELB) carry no IP for us */
		if (dy_node_ip(c, dy_get(c, n, "ip"), path, 0, K8S_IP_SERVICE,
		               &s->lb_ips[s->n_lb_ips]) > 0)
			s->n_lb_ips++;
	}
}

static void decode_lb_ranges(struct dctx *c, struct ynode *spec, struct service *s)
{
	struct ynode *seq, *n;
	char path[PATH_LEN];
	size_t it = 0;
	size_t i = 0;
	const char *t;

	if (dy_get_seq(c, spec, "loadBalancerSourceRanges", "spec", &seq) <= 0)
		return;
	s->lb_source_ranges = xcalloc(seq->len, sizeof(struct cidr));
	while ((n = dy_item(seq, &it))) {
		dy_path_index(path, "spec.loadBalancerSourceRanges", i++);
		if (dy_node_str(c, n, path, &t) <= 0) {
			if (!t && dy_vtype(n) == V_NULL)
				dy_bad(c, path, "a CIDR is required");
			continue;
		}
		if (k8s_cidr_parse_loose(t, &s->lb_source_ranges[s->n_lb_source_ranges]))
			dy_bad(c, path, "\"%s\" is not a valid CIDR (e.g. 203.0.113.0/24)", t);
		else
			s->n_lb_source_ranges++;
	}
}

/* One of two spellings: 1 for a, 0 for b (or absent), -1 invalid (reported). */
static int get_choice(struct dctx *c, struct ynode *spec, const char *key, const char *a,
                      const char *b, bool *set)
{
	char path[PATH_LEN];
	const char *s;
	int r;

	r = dy_get_str(c, spec, key, "spec", &s);
	if (set)
		*set = r > 0;
	if (r <= 0)
		return r;
	if (!strcmp(s, a))
		return 1;
	if (!strcmp(s, b))
		return 0;
	dy_join(path, "spec", key);
	dy_bad(c, path, "\"%s\" is not valid (%s or %s)", s, b, a);
	return -1;
}

static void decode_affinity(struct dctx *c, struct ynode *spec, struct service *s)
{
	struct ynode *cfg, *cip;
	bool set;
	long long v;
	int r;

	s->affinity_timeout = AFFINITY_DEFAULT;
	r = get_choice(c, spec, "sessionAffinity", "ClientIP", "None", &set);
	s->affinity_client_ip = r > 0;
	if (dy_get_map(c, spec, "sessionAffinityConfig", "spec", &cfg) <= 0)
		return;
	dy_check_fields(c, cfg, "spec.sessionAffinityConfig", f_affinity);
	if (dy_get_map(c, cfg, "clientIP", "spec.sessionAffinityConfig", &cip) <= 0)
		return;
	dy_check_fields(c, cip, "spec.sessionAffinityConfig.clientIP", f_client_ip);
	r = dy_node_int(c, dy_get(c, cip, "timeoutSeconds"),
	                "spec.sessionAffinityConfig.clientIP.timeoutSeconds", &v);
	if (r <= 0)
		return;
	if (v < 1 || v > AFFINITY_MAX)
		dy_bad(c, "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
		       "%lld is not valid (1-%d seconds)", v, AFFINITY_MAX);
	else if (!s->affinity_client_ip)
		dy_bad(c, "spec.sessionAffinityConfig",
		       "may only be set when spec.sessionAffinity is ClientIP");
	else
		s->affinity_timeout = (uint32_t)v;
}

/*
 * spec.ports: each port, then what the API server checks across them
 * (no port/protocol or name twice, nodePort only for NodePort and
 * LoadBalancer), in one pass whatever the number of ports.
 */
static void decode_svc_ports(struct dctx *c, struct ynode *spec, struct service *s)
{
	struct dy_seen ports = {0}, names = {0};
	char path[PATH_LEN];
	struct ynode *seq, *n;
	size_t it = 0;
	size_t i = 0, cnt;
	long j;

	if (dy_get_seq(c, spec, "ports", "spec", &seq) <= 0)
		return;
	cnt = seq->len;
	s->ports = xcalloc(cnt, sizeof(*s->ports));
	for (; (n = dy_item(seq, &it)); i++) {
		struct svc_port *p = &s->ports[s->n_ports++];

		decode_svc_port(c, n, i, cnt, p);
		dy_path_index(path, "spec.ports", i);
		j = p->port ? dy_seen_add(&ports, NULL, 0, (uint64_t)p->proto << 16 | p->port, i)
		            : -1;
		if (j >= 0) {
			dy_bad(c, path, "duplicate port %u/%s (also spec.ports[%ld])", p->port,
			       l4proto_name(p->proto), j);
		} else if (p->name && *p->name &&
		           (j = dy_seen_add(&names, p->name, strlen(p->name), 0, i)) >= 0) {
			dy_join(path, path, "name");
			dy_bad(c, path, "duplicate port name \"%s\" (also spec.ports[%ld])",
			       p->name, j);
		}
		if (p->node_port && s->type != SVC_NODE_PORT && s->type != SVC_LOAD_BALANCER) {
			dy_path_index(path, "spec.ports", i);
			dy_join(path, path, "nodePort");
			dy_bad(c, path, "may only be used with type NodePort or LoadBalancer");
		}
	}
	dy_seen_free(&ports);
	dy_seen_free(&names);
}

void decode_service(struct dctx *c, struct ynode *obj)
{
	struct service *s = xcalloc(1, sizeof(*s));
	struct ynode *spec = NULL;
	const char *t;
	struct meta m;
	int r;

	dy_get_meta(
	    c, obj, true, name_is_label1035,
	    "lowercase letters, digits and '-', starting with a letter, at most 63 characters", &m);
	if (dy_get_label(c, &m, LABEL_PROXY_NAME, &t) > 0)
		s->ignored = true;
	dy_check_fields(c, obj, "", f_svc);
	dy_get_map(c, obj, "spec", "", &spec);
	dy_check_fields(c, spec, "spec", f_svc_spec);

	r = dy_get_str(c, spec, "type", "spec", &t);
	if (r > 0) {
		if (!strcmp(t, "ClusterIP"))
			s->type = SVC_CLUSTER_IP;
		else if (!strcmp(t, "NodePort"))
			s->type = SVC_NODE_PORT;
		else if (!strcmp(t, "LoadBalancer"))
			s->type = SVC_LOAD_BALANCER;
		else if (!strcmp(t, "ExternalName"))
			s->type = SVC_EXTERNAL_NAME;
		else
			dy_bad(c, "spec.type",
			       "\"%s\" is not valid (ClusterIP, NodePort, LoadBalancer or "
			       "ExternalName)",
			       t);
	}
	if (s->type == SVC_EXTERNAL_NAME && dy_get_str(c, spec, "externalName", "spec", &t) == 0)
		dy_bad(c, "spec.externalName", "required for type ExternalName");

	decode_cluster_ips(c, spec, s);
	if (s->headless && (s->type == SVC_NODE_PORT || s->type == SVC_LOAD_BALANCER))
		dy_bad(c, "spec.clusterIP", "\"None\" is only valid for type ClusterIP");

	decode_svc_ports(c, spec, s);
	if (!s->n_ports && !s->headless && s->type != SVC_EXTERNAL_NAME)
		dy_bad(c, "spec.ports", "at least one port is required (unless clusterIP is None)");

	decode_external_ips(c, spec, s);
	decode_lb_status(c, obj, s);
	decode_lb_ranges(c, spec, s);

	bool set;

	r = get_choice(c, spec, "externalTrafficPolicy", "Local", "Cluster", &set);
	s->etp_local = r > 0;
	if (set && s->type != SVC_NODE_PORT && s->type != SVC_LOAD_BALANCER && !s->n_external_ips &&
	    r >= 0)
		dy_bad(c, "spec.externalTrafficPolicy",
		       "may only be set for type NodePort or LoadBalancer, or with externalIPs");
	r = get_choice(c, spec, "internalTrafficPolicy", "Local", "Cluster", NULL);
	s->itp_local = r > 0;
	decode_affinity(c, spec, s);
	if (dy_get_port(c, spec, "healthCheckNodePort", "spec", 0, &s->health_check_node_port) >
	        0 &&
	    s->health_check_node_port && (s->type != SVC_LOAD_BALANCER || !s->etp_local))
		dy_bad(c, "spec.healthCheckNodePort",
		       "may only be set for type LoadBalancer with externalTrafficPolicy Local");
	else
		check_node_port(c, "spec.healthCheckNodePort", s->health_check_node_port);
	if (dy_get_str(c, spec, "trafficDistribution", "spec", &t) > 0)
		s->traffic_distribution = xstrdup(t);

	if (c->errors) {
		dy_reject(c, OBJ_SERVICE);
		service_free(s);
		return;
	}
	s->origin = xstrdup(c->origin);
	s->ns = xstrdup(m.ns);
	s->name = xstrdup(m.name);
	model_add_service(c->out, s);
}
