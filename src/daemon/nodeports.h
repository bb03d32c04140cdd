/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nodeports.h - what makes a NodePort real on the node, besides the rules.
 *
 *  - held ports: a listening TCP socket and a bound UDP socket on every
 *    nodePort, as kube-proxy kept, so no other process can take the port
 *    and `ss -ltnp` / `ss -lunp` show svcproxy owns it. The rules DNAT the
 *    traffic before it could reach the socket, and reject what they do
 *    not DNAT, so the sockets never see a connection.
 *  - healthCheckNodePort servers for externalTrafficPolicy: Local
 *    Services, with kube-proxy's answer: 200 with local endpoints, 503
 *    without, JSON {"service":{"namespace","name"},"localEndpoints",
 *    "serviceProxyHealthy"} and X-Load-Balancing-Endpoint-Weight.
 *
 * Both follow the desired state after each successful sync.
 */
#ifndef SVCPROXY_NODEPORTS_H
#define SVCPROXY_NODEPORTS_H

#include "compile/compile.h"

struct nodeports;

struct nodeports *nodeports_new(void);
/* Hold exactly the nodePorts of ds[0..n) (one per address family) and serve their health checks. */
void nodeports_sync(struct nodeports *np, const struct desired *ds, size_t n);
void nodeports_free(struct nodeports *np);

#endif
