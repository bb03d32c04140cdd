/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conntrack.h - conntrack hygiene after a sync (libnetfilter_conntrack).
 *
 * UDP has no connection end, so a conntrack entry outlives the reason it
 * was made, and packets of the same 5-tuple keep following it: to an
 * endpoint that is gone, or, for a Service that had no endpoint (or did
 * not exist yet), to no DNAT at all. kube-proxy deletes those entries
 * after each sync (upstream issues 19029, 48370, 59368, 125467); so does
 * this, for one address family:
 *
 *  - an endpoint removed from a UDP entry: entries to that Service
 *    address that were DNATed to the endpoint;
 *  - a UDP entry that gets its first endpoint (or is new): entries to
 *    its address that were not DNATed.
 *
 * And after a sync that had to build the table anew (it was missing:
 * deleted by hand, or by an `nft flush ruleset`), the same for TCP and
 * SCTP: a connection attempted in the gap left an entry with no DNAT, and
 * its retransmitted SYN would follow it, not the rules, for minutes.
 *
 * An established TCP connection to a removed endpoint is not cut by
 * svcproxy.
 */
#ifndef SVCPROXY_CONNTRACK_H
#define SVCPROXY_CONNTRACK_H

#include <stdbool.h>

#include "compile/compile.h"

/*
 * Delete the conntrack entries made stale by going from old to cur (both
 * of one family; old may be empty); rebuilt: the table was built anew for
 * cur. Returns the number deleted, or -errno (nothing is left half done
 * that matters: a later sync retries).
 */
int conntrack_cleanup(const struct desired *old, const struct desired *cur, bool rebuilt);

#endif
