/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * decode_endpoints.c - discovery.k8s.io/v1 EndpointSlice and v1 Endpoints
 * to struct endpoint_slice (a v1 Endpoints becomes one slice per subset and
 * family, from_endpoints = true). Endpoint addresses are checked as
 * kube-apiserver's ValidateEndpointIP does (k8s_ip_refused()).
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
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "source/decode_int.h"

/*
 * The fields the API defines at each level svcproxy reads (those svcproxy
 * ignores included, so that `kubectl get -o yaml` output gives no
 * warning); any other key is an unknown-field warning (dy_check_fields()).
 */
static const char *const f_slice[] = {"apiVersion", "kind",  "metadata", "addressType",
                                      "endpoints",  "ports", NULL};
static const char *const f_endpoint[] = {"addresses", "conditions",         "hostname",
                                         "targetRef", "nodeName",           "zone",
                                         "hints",     "deprecatedTopology", NULL};
static const char *const f_conditions[] = {"ready", "serving", "terminating", NULL};
static const char *const f_hints[] = {"forZones", "forNodes", NULL};
static const char *const f_for_zone[] = {"name", NULL};
static const char *const f_eps_port[] = {"name", "protocol", "appProtocol", "port", NULL};
static const char *const f_endpoints[] = {"apiVersion", "kind", "metadata", "subsets", NULL};
static const char *const f_subset[] = {"addresses", "notReadyAddresses", "ports", NULL};
static const char *const f_address[] = {"ip", "hostname", "nodeName", "targetRef", NULL};

/*
 * EndpointSlice ports (or v1 Endpoints subset ports, where port_required).
 * A null port is allowed in EndpointSlices: that entry is unusable (port 0).
 */
static void decode_eps_ports(struct dctx *c, struct ynode *seq, const char *parent,
                             bool port_required, struct eps_port **out, size_t *n_out)
{
	char path[PATH_LEN], fpath[PATH_LEN];
	struct dy_seen names = {0};
	struct ynode *n;
	size_t it = 0;
	size_t i = 0;
	const char *s;
	int r;

	*out = xcalloc(seq->len, sizeof(**out));
	while ((n = dy_item(seq, &it))) {
		struct eps_port *p = &(*out)[*n_out];

		dy_path_index(path, parent, i++);
		if (dy_node_map(c, n, path, &n) <= 0)
			continue;
		dy_check_fields(c, n, path, f_eps_port);
		(*n_out)++;
		r = dy_get_str(c, n, "name", path, &s);
		if (r > 0 && *s && !k8s_is_dns_label(s, false)) {
			dy_join(fpath, path, "name");
			dy_bad(
			    c, fpath,
			    "\"%s\" is not a valid port name (lowercase letters, digits and '-', "
			    "at most 63 characters)",
			    s);
		}
		p->name = xstrdup(r > 0 ? s : "");
		p->proto = dy_get_proto(c, n, path);
		if (dy_get_port(c, n, "port", path, 1, &p->port) == 0 && port_required) {
			dy_join(fpath, path, "port");
			dy_bad(c, fpath, "required value is missing");
		}
		if (dy_seen_add(&names, p->name, strlen(p->name), 0, i) >= 0) {
			dy_join(fpath, path, "name");
			dy_bad(c, fpath, "duplicate port name \"%s\"", p->name);
		}
	}
	dy_seen_free(&names);
}

/* endpoints[i].hints.forZones (hpath: endpoints[i].hints) */
static void decode_hint_zones(struct dctx *c, struct ynode *zones, const char *hpath,
                              struct endpoint *ep)
{
	char zpath[PATH_LEN];
	struct ynode *z;
	size_t it = 0;
	const char *s;
	size_t i = 0;
	int r;

	dy_join(zpath, hpath, "forZones");
	if (zones->len > 8)
		dy_bad(c, zpath, "at most 8 zones are allowed");
	ep->hint_zones = xcalloc(zones->len, sizeof(char *));
	while ((z = dy_item(zones, &it))) {
		dy_join(zpath, hpath, "forZones");
		dy_path_index(zpath, zpath, i++);
		if (dy_node_map(c, z, zpath, &z) <= 0)
			continue;
		dy_check_fields(c, z, zpath, f_for_zone);
		r = dy_get_str(c, z, "name", zpath, &s);
		if (r > 0) {
			ep->hint_zones[ep->n_hint_zones++] = xstrdup(s);
		} else if (r == 0) {
			dy_join(zpath, zpath, "name");
			dy_bad(c, zpath, "required value is missing");
		}
	}
}

static void decode_endpoint(struct dctx *c, struct ynode *n, const char *path, int family,
                            struct endpoint *ep)
{
	char fpath[PATH_LEN], hpath[PATH_LEN];
	struct ynode *addrs, *cond, *hints, *zones;
	size_t it = 0;
	size_t i = 0;
	const char *s;
	int r;

	dy_check_fields(c, n, path, f_endpoint);
	r = dy_get_seq(c, n, "addresses", path, &addrs);
	dy_join(fpath, path, "addresses");
	if (r == 0 || (r > 0 && addrs->len == 0)) {
		dy_bad(c, fpath, "at least one address is required");
	} else if (r > 0) {
		struct ynode *a;

		if (addrs->len > 100)
			dy_bad(c, fpath, "at most 100 addresses are allowed");
		while ((a = dy_item(addrs, &it))) {
			struct ipaddr ip;

			dy_path_index(hpath, fpath, i);
			r = dy_node_ip(c, a, hpath, family, K8S_IP_ENDPOINT, &ip);
			if (r == 0)
				dy_bad(c, hpath, "an IP address is required");
			else if (r > 0 && i == 0)
				ep->addr = ip;
			i++;
		}
	}

	ep->ready = true;
	dy_join(fpath, path, "conditions");
	if (dy_node_map(c, dy_get(c, n, "conditions"), fpath, &cond) > 0) {
		char cpath[PATH_LEN];
		bool serving_set;

		dy_check_fields(c, cond, fpath, f_conditions);
		dy_join(cpath, fpath, "ready");
		dy_node_bool(c, dy_get(c, cond, "ready"), cpath, &ep->ready);
		ep->serving = ep->ready;
		dy_join(cpath, fpath, "serving");
		serving_set = dy_node_bool(c, dy_get(c, cond, "serving"), cpath, &ep->serving) > 0;
		if (!serving_set)
			ep->serving = ep->ready;
		dy_join(cpath, fpath, "terminating");
		dy_node_bool(c, dy_get(c, cond, "terminating"), cpath, &ep->terminating);
	} else {
		ep->serving = ep->ready;
	}

	if (dy_get_str(c, n, "nodeName", path, &s) > 0)
		ep->node_name = xstrdup(s);
	if (dy_get_str(c, n, "zone", path, &s) > 0)
		ep->zone = xstrdup(s);

	dy_join(hpath, path, "hints");
	if (dy_get_map(c, n, "hints", path, &hints) > 0) {
		dy_check_fields(c, hints, hpath, f_hints);
		if (dy_get_seq(c, hints, "forZones", hpath, &zones) > 0)
			decode_hint_zones(c, zones, hpath, ep);
	}
}

/*
 * metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"]
 * (RFC 3339, as the EndpointSlice controller writes it) in unix seconds;
 * 0 when absent or unreadable: kube-proxy ignores a bad one too, it only
 * feeds a latency metric.
 */
static double slice_trigger_time(struct dctx *c, struct ynode *obj)
{
	struct ynode *ann = dy_get(c, dy_get(c, obj, "metadata"), "annotations");
	struct ynode *v = dy_get(c, ann, "endpoints.kubernetes.io/last-change-trigger-time");
	int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
	double frac = 0;
	const char *s, *p;
	struct tm tm = {0};
	size_t len;

	if (dy_vtype(v) != V_STR)
		return 0;
	s = dy_scalar0(c, v, &len);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return 0;
	p = s + n;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		p = end;
	}
	if (*p == '+' || *p == '-') {
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || strlen(p) != 6)
			return 0;
		if (*p == '-')
			oh = -oh, om = -om;
	} else if (strcmp(p, "Z")) {
		return 0;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (double)timegm(&tm) + frac - oh * 3600.0 - om * 60.0;
}

void decode_slice(struct dctx *c, struct ynode *obj)
{
	size_t len;
	struct endpoint_slice *e;
	struct ynode *seq, *n;
	const char *at, *svc;
	struct meta m;
	size_t it = 0;
	size_t i = 0;
	int r;

	/* FQDN slices carry names, not addresses: nothing to program */
	n = dy_get(c, obj, "addressType");
	if (dy_vtype(n) == V_STR && !strcmp(dy_scalar0(c, n, &len), "FQDN"))
		return;
	e = xcalloc(1, sizeof(*e));
	dy_get_meta(c, obj, true, k8s_is_dns_subdomain,
	            "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	dy_check_fields(c, obj, "", f_slice);
	e->trigger_time = slice_trigger_time(c, obj);
	r = dy_get_str(c, obj, "addressType", "", &at);
	if (r == 0)
		dy_bad(c, "addressType", "required value is missing (IPv4, IPv6 or FQDN)");
	else if (r > 0 && !strcmp(at, "IPv4"))
		e->family = AF_INET;
	else if (r > 0 && !strcmp(at, "IPv6"))
		e->family = AF_INET6;
	else if (r > 0)
		dy_bad(c, "addressType", "\"%s\" is not valid (IPv4, IPv6 or FQDN)", at);

	r = dy_get_label(c, &m, LABEL_SERVICE_NAME, &svc);
	if (r == 0 || (r > 0 && !*svc))
		dy_bad(c, "metadata.labels",
		       "label " LABEL_SERVICE_NAME " is required (the name of the Service this "
		       "slice belongs to)");
	else if (r > 0)
		e->service_name = xstrdup(svc);

	if (dy_get_seq(c, obj, "ports", "", &seq) > 0) {
		if (seq->len > 100)
			dy_bad(c, "ports", "at most 100 ports are allowed");
		decode_eps_ports(c, seq, "ports", false, &e->ports, &e->n_ports);
	}

	if (dy_get_seq(c, obj, "endpoints", "", &seq) > 0) {
		if (seq->len > 1000)
			dy_bad(c, "endpoints", "at most 1000 endpoints are allowed");
		e->endpoints = xcalloc(seq->len, sizeof(*e->endpoints));
		while ((n = dy_item(seq, &it))) {
			char path[PATH_LEN];

			dy_path_index(path, "endpoints", i++);
			if (dy_node_map(c, n, path, &n) <= 0)
				continue;
			decode_endpoint(c, n, path, e->family, &e->endpoints[e->n_endpoints++]);
		}
	}

	if (c->errors) {
		dy_reject(c, OBJ_SLICE);
		endpoint_slice_free(e);
		return;
	}
	e->origin = xstrdup(c->origin);
	e->ns = xstrdup(m.ns);
	e->name = xstrdup(m.name);
	model_add_slice(c->out, e);
}

/* --- v1 Endpoints ------------------------------------------------------------- */

/*
 * Read subsets[i].addresses or .notReadyAddresses into the slices being
 * built for the subset, one per family (slices[0] IPv4, slices[1] IPv6).
 */
static void decode_ep_addresses(struct dctx *c, struct ynode *subset, const char *parent,
                                const char *key, bool ready, struct endpoint_slice **slices)
{
	char path[PATH_LEN], fpath[PATH_LEN];
	struct ynode *seq, *n;
	size_t it = 0;
	size_t i = 0;
	const char *s;

	if (dy_get_seq(c, subset, key, parent, &seq) <= 0)
		return;
	dy_join(path, parent, key);
	while ((n = dy_item(seq, &it))) {
		struct endpoint_slice *e;
		struct endpoint *ep;
		struct ipaddr ip;
		int r;

		dy_path_index(fpath, path, i++);
		if (dy_node_map(c, n, fpath, &n) <= 0)
			continue;
		dy_check_fields(c, n, fpath, f_address);
		dy_join(fpath, fpath, "ip");
		r = dy_node_ip(c, dy_get(c, n, "ip"), fpath, 0, K8S_IP_ENDPOINT, &ip);
		if (r == 0)
			dy_bad(c, fpath, "required value is missing");
		if (r <= 0)
			continue;
		e = slices[ip.family == AF_INET6];
		e->endpoints = dy_grow(e->endpoints, &e->n_endpoints, sizeof(*e->endpoints));
		ep = &e->endpoints[e->n_endpoints - 1];
		ep->addr = ip;
		ep->ready = ep->serving = ready;
		dy_path_index(fpath, path, i - 1);
		if (dy_get_str(c, n, "nodeName", fpath, &s) > 0)
			ep->node_name = xstrdup(s);
	}
}

static void copy_ports(struct endpoint_slice *dst, const struct endpoint_slice *src)
{
	dst->ports = xcalloc(src->n_ports, sizeof(*dst->ports));
	for (size_t j = 0; j < src->n_ports; j++) {
		dst->ports[j] = src->ports[j];
		dst->ports[j].name = xstrdup(src->ports[j].name);
	}
	dst->n_ports = src->n_ports;
}

void decode_endpoints(struct dctx *c, struct ynode *obj)
{
	struct endpoint_slice *slices[2] = {NULL, NULL};
	struct model tmp = {0};
	struct ynode *subsets, *sub;
	struct meta m;
	size_t it = 0;
	size_t i = 0;

	dy_get_meta(c, obj, true, k8s_is_dns_subdomain,
	            "lowercase letters, digits, '-' and '.', at most 253 characters", &m);
	dy_check_fields(c, obj, "", f_endpoints);
	if (dy_get_seq(c, obj, "subsets", "", &subsets) <= 0)
		goto done;
	while ((sub = dy_item(subsets, &it))) {
		char path[PATH_LEN], ppath[PATH_LEN];
		struct ynode *ports;
		bool has_v4;

		dy_path_index(path, "subsets", i);
		if (dy_node_map(c, sub, path, &sub) <= 0) {
			i++;
			continue;
		}
		dy_check_fields(c, sub, path, f_subset);
		for (int f = 0; f < 2; f++) {
			slices[f] = xcalloc(1, sizeof(*slices[f]));
			slices[f]->family = f ? AF_INET6 : AF_INET;
			slices[f]->from_endpoints = true;
		}
		decode_ep_addresses(c, sub, path, "addresses", true, slices);
		decode_ep_addresses(c, sub, path, "notReadyAddresses", false, slices);
		dy_join(ppath, path, "ports");
		if (dy_get_seq(c, sub, "ports", path, &ports) > 0) {
			decode_eps_ports(c, ports, ppath, true, &slices[0]->ports,
			                 &slices[0]->n_ports);
			copy_ports(slices[1], slices[0]);
		}
		has_v4 = slices[0]->n_endpoints > 0;
		for (int f = 0; f < 2; f++) {
			struct endpoint_slice *e = slices[f];

			if (!e->n_endpoints || !m.name) {
				endpoint_slice_free(e);
			} else {
				const char *sfx = f && has_v4 ? "-ipv6" : "";

				if (asprintf(&e->name, "%s-subset%zu%s", m.name, i, sfx) < 0)
					die_oom();
				e->origin = xstrdup(c->origin);
				e->ns = xstrdup(m.ns);
				e->service_name = xstrdup(m.name);
				model_add_slice(&tmp, e);
			}
			slices[f] = NULL;
		}
		i++;
	}
done:
	if (c->errors) {
		dy_reject(c, OBJ_ENDPOINTS);
		model_free(&tmp);
		return;
	}
	for (i = 0; i < tmp.n_slices; i++)
		model_add_slice(c->out, tmp.slices[i]);
	model_free_view(&tmp);
}
