/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * privs.h - least privilege for the daemon once it is set up.
 *
 * svcproxy runs as root (or with capabilities) because netlink to
 * nf_tables and conntrack, and binding NodePorts, need CAP_NET_ADMIN,
 * CAP_NET_RAW and CAP_NET_BIND_SERVICE. It needs nothing else after its
 * set-up (lock, rlimits, dataplane sockets): privs_restrict() then
 *
 *  - keeps only those capabilities (plus the caller's extra ones) in the
 *    effective, permitted and bounding sets, clears inheritable and ambient;
 *  - sets PR_SET_NO_NEW_PRIVS (no exec can regain anything);
 *  - installs a seccomp allow-list of the system calls the daemon makes
 *    (files, sockets, netlink, epoll, timers, threads; bpf(2) only when
 *    asked for), on every thread (TSYNC). A call outside the list fails
 *    with EPERM rather than killing the process: svcproxy then logs the
 *    failure and keeps the rules it programmed serving, where a killed
 *    daemon would crash-loop.
 *
 * Call it before any thread starts, so every thread inherits the reduced
 * capabilities (they are per thread). Returns 0 or -errno (logged); on
 * error some restrictions may already be in place.
 */
#ifndef SVCPROXY_PRIVS_H
#define SVCPROXY_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

struct privs_opts {
	const int *extra_caps; /* CAP_* numbers kept besides the three */
	size_t n_extra_caps;
	bool allow_bpf; /* the bpf dataplane updates its maps with bpf(2) */
};

int privs_restrict(const struct privs_opts *o);

#endif
