/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * process.h - the daemon's process set-up, done before any thread starts.
 *
 *  - signals: SIGTERM, SIGINT and SIGHUP are blocked in the main thread
 *    before anything else, so every thread created later (the source's
 *    readers, the HTTP servers) inherits the mask and they are delivered
 *    only through the signalfd returned here, whatever the daemon is
 *    doing: a SIGTERM during the initial sync is read after it, and the
 *    daemon stops cleanly. SIGPIPE is ignored: a closed log pipe or HTTP
 *    peer turns into EPIPE on that write, not a dead daemon.
 *  - RLIMIT_NOFILE: the soft limit is raised to the hard one (each held
 *    nodePort takes two descriptors; 1,100 NodePorts exceed 1024).
 *  - one instance per network namespace (instance_lock).
 */
#ifndef SVCPROXY_PROCESS_H
#define SVCPROXY_PROCESS_H

#include <sys/types.h>

/*
 * Block SIGTERM, SIGINT and SIGHUP, ignore SIGPIPE, raise RLIMIT_NOFILE.
 * Returns a non-blocking signalfd for the three signals, or -errno.
 */
int process_setup(void);

/* The next signal waiting on the signalfd: its number, or 0 when none (or sigfd < 0). */
int process_next_signal(int sigfd);

/*
 * The lock that keeps two daemons from fighting over the same tables: a
 * listening unix socket bound to the abstract name "@svcproxy.lock/<table>".
 * Abstract names live in the network namespace, as the tables do, so
 * daemons in different namespaces (one per node, or per test) never
 * conflict, and the kernel releases the name when its holder dies, even
 * by SIGKILL: there is no stale lock to clean up. The socket is also the
 * owner's marker: `ss -xlp | grep svcproxy.lock` shows the process.
 *
 * Returns the socket, or -EADDRINUSE after logging which process holds
 * the lock (its pid and uid, from SO_PEERCRED), or another -errno.
 */
int instance_lock(void);

/*
 * Accept and close what is queued on the lock socket (another instance
 * asking who holds it); call when it is readable.
 */
void instance_lock_serve(int lockfd);

#endif
