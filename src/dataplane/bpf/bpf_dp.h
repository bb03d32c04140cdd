/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_dp.h - the socket-level dataplane (--dataplane bpf): desired state in,
 * BPF map writes out. Same shape as the nft dataplane: open, adopt, sync,
 * close.
 *
 * Programs (sock.bpf.c) are attached to one cgroup v2 directory with BPF
 * links; links and maps are pinned under a bpffs directory (pin_path), so
 * they outlive the daemon: a restart, even after kill -9, adopts the maps
 * and swaps its own programs into the links atomically, with no moment in
 * which connects go untranslated. bpf_cleanup() unpins everything, which
 * detaches the programs.
 *
 * What it programs: every entry of TCP and UDP - ClusterIPs, externalIPs,
 * LoadBalancer IPs and NodePorts (on the node addresses given to the sync)
 * - for connects from processes in the cgroup: the node's and its pods'.
 * SCTP and packets entering the node from elsewhere stay with nftables,
 * whose table then holds only that (nft.h, NFT_SCOPE_ENTERING).
 */
#ifndef SVCPROXY_BPF_DP_H
#define SVCPROXY_BPF_DP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "compile/compile.h"

#define BPF_DEFAULT_PIN_PATH "/sys/fs/bpf/svcproxy"

struct bpf_dp_opts {
	const char *pin_path;    /* NULL: BPF_DEFAULT_PIN_PATH */
	const char *cgroup_root; /* NULL: the cgroup v2 mount (bpf_cgroup2_mount) */
};

struct bpf_sync_stats {
	size_t changes; /* map writes and deletions */
};

struct bpf_dp;

/*
 * Load the programs, adopt or create the pinned maps (mounting a bpffs at
 * the pin path's parent when there is none), attach to the cgroup or take
 * over the pinned links. Logs what failed, naming the object. NULL with
 * errno set.
 */
struct bpf_dp *bpf_dp_open(const struct bpf_dp_opts *o);
void bpf_dp_close(struct bpf_dp *dp);

/* Read the Services and slots the maps hold: the base of the next diff. 0 or -errno. */
int bpf_dp_adopt(struct bpf_dp *dp);

/*
 * Make the maps hold the entries of ds[0..n) (one desired state per
 * address family), NodePorts served on np_addrs[0..n_np_addrs) (the
 * node's addresses --nodeport-addresses allows, loopback excluded: the
 * caller's choice). Per Service: new slots first, the Service entry
 * (count) second, stale slots last. 0 or -errno; after an error the next
 * sync re-adopts from the maps first.
 */
int bpf_dp_sync(struct bpf_dp *dp, const struct desired *ds, size_t n,
                const struct ipaddr *np_addrs, size_t n_np_addrs, struct bpf_sync_stats *st);

/* Unpin every link and map under pin_path (NULL: default); 0 also when nothing is there. */
int bpf_cleanup(const char *pin_path);

/* What the socket programs did, summed over CPUs (sp_stats). */
struct bpf_stats {
	uint64_t connects;  /* connects (TCP, connected UDP) sent to an endpoint */
	uint64_t datagrams; /* unconnected UDP datagrams sent to an endpoint */
	uint64_t refused;   /* connects and sends failed: no endpoint, or none allowed here */
	uint64_t affinity;  /* endpoints chosen by sessionAffinity */
	uint64_t restored;  /* replies and peer names given the Service address back */
};

/* The counters pinned under pin_path (NULL: default) into *st: 0, or -errno. */
int bpf_stats_read(const char *pin_path, struct bpf_stats *st);

/* Print what the pinned maps hold (svcproxy show). -ENOENT when nothing is pinned. */
int bpf_show(const char *pin_path, FILE *f);

/*
 * svcproxy trace: what the socket programs do with a connect to addr:port/proto from a
 * process in their cgroup, printed to f. 1 when a Service entry decides it, 0 when the
 * programs leave it alone (or nothing is pinned), -errno.
 */
int bpf_trace(const char *pin_path, const struct ipaddr *addr, uint16_t port, uint8_t proto,
              FILE *f);

/* The first cgroup2 mount point of /proc/self/mountinfo into buf; -ENOENT when none. */
int bpf_cgroup2_mount(char *buf, size_t len);

#endif
