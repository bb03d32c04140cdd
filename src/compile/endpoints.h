/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * endpoints.h - which endpoints of a Service port may receive its traffic
 * (compile's internal step; kube-proxy's CategorizeEndpoints and topology).
 */
#ifndef SVCPROXY_COMPILE_ENDPOINTS_H
#define SVCPROXY_COMPILE_ENDPOINTS_H

#include "compile/compile.h"

/*
 * The backends of one Service port, as kube-proxy's CategorizeEndpoints
 * sorts them (each list sorted by address:port, duplicates merged):
 *  - all: ready endpoints, or when none is ready the serving+terminating
 *    ones: "does this Service have an endpoint at all" (reject or not);
 *  - cluster: what cluster traffic uses: the ready ones topology leaves,
 *    or the serving+terminating ones when none is ready;
 *  - local: this node's ready endpoints, or when it has none ready its
 *    serving+terminating ones (the fallback is per traffic policy).
 */
struct port_backends {
	struct backend *all, *cluster, *local;
	size_t n_all, n_cluster, n_local;
};

void port_backends_free(struct port_backends *pb);

/*
 * The backends of Service port sp among the Service's slices[0..n_slices),
 * for o->family and this node (o->hostname, zone: its topology zone or
 * NULL): gather every usable endpoint, merge duplicates, select the three
 * lists. *out is overwritten; free it with port_backends_free().
 */
void collect_backends(struct endpoint_slice *const *slices, size_t n_slices,
                      const struct service *svc, const struct svc_port *sp,
                      const struct compile_opts *o, const char *zone, struct port_backends *out);

#endif
