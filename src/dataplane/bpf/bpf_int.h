/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_int.h - what the loader (bpf_load.c) and the map sync (bpf_sync.c)
 * share: the dataplane object. Not for use outside src/dataplane/bpf.
 */
#ifndef SVCPROXY_BPF_INT_H
#define SVCPROXY_BPF_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/bytemap.h"
#include "compile/compile.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/bpf/sock.h"

/* What one Service entry of the maps holds, as we last wrote or read it. */
struct bpf_svc {
	struct sp_svc_key key; /* its id is this record's index in bpf_dp.svc */
	uint16_t count, flags; /* the entry's sp_svc_val, but for its inline slots */
	uint32_t affinity_timeout;
	struct sp_backend *slots; /* slots[0..n): inline in the entry, or in sp_slots */
	uint32_t n, cap;
	uint32_t mapped; /* slots 0..mapped-1 are in sp_slots (0 when inline) */
	uint32_t seen;   /* the sync epoch that last wanted it */
	bool used;
	bool dirty; /* the map's entry is not what the fields above say: rewrite it */
};

struct bpf_dp {
	struct sp_sock *skel;
	char *pin_path;
	int pin_fd;          /* open on pin_path, flock()ed while we run; or -1 */
	char *cgroup;        /* --cgroup-root, or the cgroup v2 mount */
	int cg_fd;           /* open on it, or -1 */
	uint64_t cg_id;      /* its inode: the cgroup id */
	uint32_t repin;      /* bit i: bpf_map_names[i] replaces a map of another layout */
	bool attach_pending; /* programs loaded, not yet in the links: bpf_dp_attach_pending() */
	int fd_services4, fd_services6, fd_slots, fd_affinity, fd_revnat, fd_node_addrs, fd_filter;
	/*
	 * sp_filter: filter_refs[bit] counts the keys of sp_services4/6 and
	 * sp_node_addrs under each bit (allocated on first use), filter is what
	 * the map should hold, filter_dirty that the map does not. A bit set is
	 * written before the entry needing it, a bit cleared at the end of the
	 * sync that deleted its last entry.
	 */
	uint32_t *filter_refs;
	struct sp_filter filter;
	bool filter_dirty;
	struct bytemap index;      /* sp_svc_key -> uint32_t id */
	struct bytemap node_addrs; /* sp_node_key: what sp_node_addrs holds */
	struct bpf_svc *svc;       /* by id */
	uint32_t n_svc;            /* ids below this were handed out */
	size_t cap_svc;
	uint32_t *free_ids;
	size_t n_free, cap_free;
	uint32_t epoch;
	bool need_adopt; /* our picture of the maps may be wrong: re-read before the next diff */
	/*
	 * The desired states the maps were last synced to, one per family, held
	 * (desired_copy) so that their entry objects stay alive: the next sync
	 * compares entries by label pointer and touches only those that differ.
	 * n_last 0: none (after an adopt or a failed sync), the next sync is full.
	 */
	struct desired *last;
	size_t n_last;
};

/* The names of the pinned maps, in bpffs under pin_path. */
extern const char *const bpf_map_names[];
extern const size_t bpf_n_maps;

void bpf_state_free(struct bpf_dp *dp);

/*
 * Put the loaded programs into the cgroup's links (pinned: swapped in
 * without a gap), once: at open, or, when maps of another layout were
 * found pinned, after the first sync has filled their replacements, which
 * then take their pins. 0 or -errno (logged); a failure is tried again at
 * the next sync.
 */
int bpf_dp_attach_pending(struct bpf_dp *dp);

/*
 * The new slot layout of a Service: of cur[0..n_cur), those in want stay in
 * their slot; a leaving one's slot goes to an endpoint of want not in cur,
 * else to the last slot's endpoint; the other arrivals are appended.
 * want[0..nw) is sorted by memcmp. out has room for n_cur + nw. Returns
 * the new count. One endpoint added, removed or replaced changes at most
 * two slots.
 */
uint32_t bpf_slots_arrange(const struct sp_backend *cur, uint32_t n_cur,
                           const struct sp_backend *want, uint32_t nw, struct sp_backend *out);

#endif
