/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * equal.c - whether two versions of an object are the same, field by
 * field: every field the model holds, except the origin and the
 * bookkeeping (gen, hash), which say where and when, not what.
 *
 * A source uses it to tell "rewritten with the same content" (nothing to
 * sync) from a real change.
 */
#include <stdbool.h>
#include <string.h>

#include "model/model.h"

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool ipaddrs_eq(const struct ipaddr *a, const struct ipaddr *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ipaddr_equal(&a[i], &b[i]))
			return false;
	return true;
}

bool service_equal(const struct service *a, const struct service *b)
{
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) || a->type != b->type ||
	    a->headless != b->headless || a->ignored != b->ignored ||
	    a->n_cluster_ips != b->n_cluster_ips || a->n_ports != b->n_ports ||
	    a->n_external_ips != b->n_external_ips || a->n_lb_ips != b->n_lb_ips ||
	    a->n_lb_source_ranges != b->n_lb_source_ranges || a->etp_local != b->etp_local ||
	    a->itp_local != b->itp_local || a->affinity_client_ip != b->affinity_client_ip ||
	    a->affinity_timeout != b->affinity_timeout ||
	    a->health_check_node_port != b->health_check_node_port ||
	    !str_eq(a->traffic_distribution, b->traffic_distribution))
		return false;
	if (!ipaddrs_eq(a->cluster_ips, b->cluster_ips, a->n_cluster_ips) ||
	    !ipaddrs_eq(a->external_ips, b->external_ips, a->n_external_ips) ||
	    !ipaddrs_eq(a->lb_ips, b->lb_ips, a->n_lb_ips))
		return false;
	for (size_t i = 0; i < a->n_lb_source_ranges; i++)
		if (!ipaddr_equal(&a->lb_source_ranges[i].addr, &b->lb_source_ranges[i].addr) ||
		    a->lb_source_ranges[i].prefix_len != b->lb_source_ranges[i].prefix_len)
			return false;
	for (size_t i = 0; i < a->n_ports; i++) {
		const struct svc_port *p = &a->ports[i], *q = &b->ports[i];

		if (!str_eq(p->name, q->name) || p->proto != q->proto || p->port != q->port ||
		    p->target_port != q->target_port ||
		    !str_eq(p->target_port_name, q->target_port_name) ||
		    p->node_port != q->node_port)
			return false;
	}
	return true;
}

static bool endpoint_eq(const struct endpoint *a, const struct endpoint *b)
{
	if (!ipaddr_equal(&a->addr, &b->addr) || a->ready != b->ready || a->serving != b->serving ||
	    a->terminating != b->terminating || !str_eq(a->node_name, b->node_name) ||
	    !str_eq(a->zone, b->zone) || a->n_hint_zones != b->n_hint_zones)
		return false;
	for (size_t i = 0; i < a->n_hint_zones; i++)
		if (!str_eq(a->hint_zones[i], b->hint_zones[i]))
			return false;
	return true;
}

bool endpoint_slice_equal(const struct endpoint_slice *a, const struct endpoint_slice *b)
{
	if (!str_eq(a->ns, b->ns) || !str_eq(a->name, b->name) ||
	    !str_eq(a->service_name, b->service_name) || a->family != b->family ||
	    a->from_endpoints != b->from_endpoints || a->trigger_time != b->trigger_time ||
	    a->n_ports != b->n_ports || a->n_endpoints != b->n_endpoints)
		return false;
	for (size_t i = 0; i < a->n_ports; i++)
		if (!str_eq(a->ports[i].name, b->ports[i].name) ||
		    a->ports[i].proto != b->ports[i].proto || a->ports[i].port != b->ports[i].port)
			return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!endpoint_eq(&a->endpoints[i], &b->endpoints[i]))
			return false;
	return true;
}

bool node_equal(const struct node *a, const struct node *b)
{
	return str_eq(a->name, b->name) && str_eq(a->zone, b->zone);
}
