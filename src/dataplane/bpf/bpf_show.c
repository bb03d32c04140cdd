/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_show.c - what the pinned maps hold, read back for `svcproxy show`:
 * each Service entry with its slots, and the programs' counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/mem.h"
#include "dataplane/bpf/bpf_int.h"

static bool addr_zero(const __u32 *addr)
{
	return !(addr[0] | addr[1] | addr[2] | addr[3]);
}

/* addr:port; a NodePort entry's zero address as "*" (every address of sp_node_addrs). */
static void print_addr(FILE *f, int family, const __u32 *addr, __u16 port)
{
	char buf[INET6_ADDRSTRLEN];

	if (addr_zero(addr)) {
		fprintf(f, "*:%u", ntohs(port));
		return;
	}
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, buf, sizeof(buf));
	fprintf(f, family == 4 ? "%s:%u" : "[%s]:%u", buf, ntohs(port));
}

static int open_map(const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	int fd = bpf_obj_get(path);

	free(path);
	return fd;
}

/* The node addresses NodePort entries ("*:port") apply to. */
static void show_node_addrs(const char *dir, FILE *f)
{
	int fd = open_map(dir, "sp_node_addrs");
	struct sp_node_key k, next;
	void *prev = NULL;

	if (fd < 0)
		return;
	fputs("NodePorts (*:port) on:", f);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		char buf[INET6_ADDRSTRLEN];

		k = next;
		prev = &k;
		inet_ntop(k.family == 4 ? AF_INET : AF_INET6, k.addr, buf, sizeof(buf));
		fprintf(f, " %s", buf);
	}
	fputs(prev ? "\n" : " no address of this node (none that --nodeport-addresses allows)\n",
	      f);
	close(fd);
}

/* sp_filter's value, read back (malloc'ed: free it), or NULL when it cannot be. */
static struct sp_filter *filter_read(const char *dir)
{
	int fd = open_map(dir, "sp_filter");
	struct sp_filter *flt = xmalloc(sizeof(*flt));
	const __u32 zero = 0;

	if (fd < 0 || bpf_map_lookup_elem(fd, &zero, flt)) {
		free(flt);
		flt = NULL;
	}
	if (fd >= 0)
		close(fd);
	return flt;
}

/* How many of sp_filter's bits are set: the share of addresses whose connects are looked up. */
static void show_filter(const char *dir, FILE *f)
{
	struct sp_filter *flt = filter_read(dir);
	unsigned n[2] = {0, 0};

	if (!flt)
		return;
	for (__u32 bit = 0; bit < SP_FILTER_BITS; bit++)
		n[bit >= 65536] += (unsigned)sp_filter_test(flt, bit);
	fprintf(f,
	        "looked up (sp_filter): IPv4 %u of 65536 buckets, IPv6 %u of 65536 (Service /24s "
	        "and /64s, node addresses)\n",
	        n[0], n[1]);
	free(flt);
}

int bpf_stats_read(const char *pin_path, struct bpf_stats *st)
{
	uint64_t *const field[SP_STAT_COUNT] = {[SP_STAT_CONNECT] = &st->connects,
	                                        [SP_STAT_SENDMSG] = &st->datagrams,
	                                        [SP_STAT_REFUSED] = &st->refused,
	                                        [SP_STAT_AFFINITY] = &st->affinity,
	                                        [SP_STAT_REVNAT] = &st->restored};
	int fd = open_map(pin_path ? pin_path : BPF_DEFAULT_PIN_PATH, "sp_stats");
	int ncpu = libbpf_num_possible_cpus(), ret = 0;
	__u64 *v;

	memset(st, 0, sizeof(*st));
	if (fd < 0)
		return -ENOENT;
	if (ncpu <= 0) {
		close(fd);
		return -EINVAL;
	}
	v = xcalloc((size_t)ncpu, sizeof(*v));
	for (__u32 k = 0; k < SP_STAT_COUNT; k++) {
		if (bpf_map_lookup_elem(fd, &k, v)) {
			ret = -errno;
			break;
		}
		for (int c = 0; c < ncpu; c++)
			*field[k] += v[c];
	}
	free(v);
	close(fd);
	return ret;
}

static void show_stats(const char *dir, FILE *f)
{
	struct bpf_stats st;

	if (bpf_stats_read(dir, &st))
		return;
	fprintf(f, "  %-28s %llu\n", "connects translated", (unsigned long long)st.connects);
	fprintf(f, "  %-28s %llu\n", "datagrams translated", (unsigned long long)st.datagrams);
	fprintf(f, "  %-28s %llu\n", "refused/unreachable", (unsigned long long)st.refused);
	fprintf(f, "  %-28s %llu\n", "affinity hits", (unsigned long long)st.affinity);
	fprintf(f, "  %-28s %llu\n", "replies/peer names restored",
	        (unsigned long long)st.restored);
}

/* Slot i of Service v: in its entry, or in sp_slots. 0, or -1 when it is not there. */
static int slot_read(int fd_slots, const struct sp_svc_val *v, __u32 i, struct sp_backend *b)
{
	struct sp_slot_key sk = {.svc_id = v->id, .slot = i};

	if (v->flags & SP_F_SLOTS)
		return bpf_map_lookup_elem(fd_slots, &sk, b) ? -1 : 0;
	if (i >= SP_INLINE)
		return -1;
	*b = v->inl[i];
	return 0;
}

/* The Service maps of a pin directory, open (-1: not there). */
struct svc_maps {
	int fd4, fd6, fd_slots;
};

static int svc_maps_open(const char *dir, struct svc_maps *m)
{
	m->fd4 = open_map(dir, "sp_services4");
	m->fd6 = open_map(dir, "sp_services6");
	m->fd_slots = open_map(dir, "sp_slots");
	if (m->fd4 >= 0 && m->fd6 >= 0 && m->fd_slots >= 0)
		return 0;
	return errno == ENOENT ? -ENOENT : -errno;
}

static void svc_maps_close(struct svc_maps *m)
{
	int fds[] = {m->fd4, m->fd6, m->fd_slots};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* The Service entry of k in its family's map, unpacked. 0, or -1 when there is none. */
static int svc_maps_lookup(const struct svc_maps *m, const struct sp_svc_key *k,
                           struct sp_svc_val *v)
{
	struct sp_svc4_key k4;
	struct sp_svc4_val v4;
	struct sp_svc_key same;

	if (k->family != 4)
		return bpf_map_lookup_elem(m->fd6, k, v) ? -1 : 0;
	sp_svc4_pack(k, NULL, &k4, NULL);
	if (bpf_map_lookup_elem(m->fd4, &k4, &v4))
		return -1;
	sp_svc4_unpack(&k4, &v4, &same, v);
	return 0;
}

/*
 * The key after prev (NULL: the first) of the Service maps, IPv4's then
 * IPv6's, in *next. 0, or -1 after the last.
 */
static int svc_maps_next(const struct svc_maps *m, const struct sp_svc_key *prev,
                         struct sp_svc_key *next)
{
	struct sp_svc4_key k4, n4;

	if (!prev || prev->family == 4) {
		if (prev)
			sp_svc4_pack(prev, NULL, &k4, NULL);
		if (bpf_map_get_next_key(m->fd4, prev ? &k4 : NULL, &n4) == 0) {
			sp_svc4_unpack(&n4, NULL, next, NULL);
			return 0;
		}
		prev = NULL; /* on to IPv6 */
	}
	return bpf_map_get_next_key(m->fd6, prev, next) ? -1 : 0;
}

int bpf_show(const char *pin_path, FILE *f)
{
	const char *dir = pin_path ? pin_path : BPF_DEFAULT_PIN_PATH;
	struct sp_svc_key k, next;
	struct svc_maps m;
	int ret = svc_maps_open(dir, &m);

	if (ret)
		goto out;
	fprintf(f, "bpf dataplane, maps pinned under %s (cgroup connect/sendmsg programs):\n", dir);
	for (const struct sp_svc_key *prev = NULL; svc_maps_next(&m, prev, &next) == 0; prev = &k) {
		struct sp_svc_val v;

		k = next;
		if (svc_maps_lookup(&m, &k, &v))
			continue;
		fputs("  ", f);
		print_addr(f, k.family, k.addr, k.port);
		fprintf(f, "/%s  id %u, %u endpoint%s%s", k.proto == IPPROTO_TCP ? "tcp" : "udp",
		        v.id, v.count, v.count == 1 ? "" : "s",
		        v.flags & SP_F_REJECT ? ", no endpoints: connect refused"
		        : !v.count            ? ", none allowed here: connect unreachable"
		                              : "");
		if (v.flags & SP_F_AFFINITY)
			fprintf(f, ", sessionAffinity ClientIP %us", v.affinity_timeout);
		fputc('\n', f);
		for (__u32 i = 0; i < v.count; i++) {
			struct sp_backend b;

			if (slot_read(m.fd_slots, &v, i, &b))
				continue;
			fprintf(f, "    slot %u -> ", i);
			print_addr(f, b.family, b.addr, b.port);
			fputc('\n', f);
		}
	}
	show_node_addrs(dir, f);
	show_filter(dir, f);
	fputs("counters:\n", f);
	show_stats(dir, f);
out:
	svc_maps_close(&m);
	return ret;
}

/* The cgroup id the pinned connect link is attached to; 0 when unknown. */
static unsigned long long pinned_cgroup(const char *dir, int family)
{
	char *path = xasprintf("%s/link_sp_connect%d", dir, family == AF_INET ? 4 : 6);
	struct bpf_link_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path);

	free(path);
	memset(&info, 0, sizeof(info));
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.cgroup.cgroup_id = 0;
	close(fd);
	return info.cgroup.cgroup_id;
}

/* Whether sp_filter lets the programs look key up (yes when it cannot be read). */
static bool filter_has(const char *dir, const struct sp_svc_key *k)
{
	struct sp_filter *flt = filter_read(dir);
	bool has = !flt || sp_filter_lets(flt, k->addr, k->family);

	free(flt);
	return has;
}

int bpf_trace(const char *pin_path, const struct ipaddr *addr, uint16_t port, uint8_t proto,
              FILE *f)
{
	const char *dir = pin_path ? pin_path : BPF_DEFAULT_PIN_PATH;
	int v4 = addr->family == AF_INET, ret = 0;
	struct sp_svc_key k = {.port = htons(port), .proto = proto, .family = v4 ? 4 : 6};
	bool node = false;
	struct sp_svc_val v;
	struct svc_maps m;

	if (svc_maps_open(dir, &m))
		goto out;
	fprintf(f,
	        "bpf: from a process in the cgroup of svcproxy's socket programs (cgroup id %llu, "
	        "pins %s): ",
	        pinned_cgroup(dir, addr->family), dir);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
		fputs("the programs translate TCP and UDP only: the packets take the path below\n",
		      f);
		goto out;
	}
	if (proto == IPPROTO_UDP)
		fprintf(f, "sp_connect%d (connected UDP) or sp_sendmsg%d (each datagram)",
		        v4 ? 4 : 6, v4 ? 4 : 6);
	else
		fprintf(f, "sp_connect%d", v4 ? 4 : 6);
	fputs(" decides in the system call, before any packet:\n", f);
	memcpy(k.addr, addr->raw, v4 ? 4 : 16);
	if (!filter_has(dir, &k)) {
		fprintf(f,
		        "  sp_filter: no Service address in this %s, and no address of this node: "
		        "left alone without a lookup, the packets take the path below\n",
		        v4 ? "/24" : "/64");
		goto out;
	}
	if (svc_maps_lookup(&m, &k, &v)) {
		/* a node address: the NodePort entry, as the programs look it up */
		struct sp_node_key nk = {.family = k.family};
		int fd_nodes = open_map(dir, "sp_node_addrs");
		__u32 one;

		memcpy(nk.addr, k.addr, sizeof(nk.addr));
		memset(k.addr, 0, sizeof(k.addr));
		node = fd_nodes >= 0 && !bpf_map_lookup_elem(fd_nodes, &nk, &one) &&
		       !svc_maps_lookup(&m, &k, &v);
		if (fd_nodes >= 0)
			close(fd_nodes);
		if (!node) {
			fprintf(
			    f,
			    "  no Service at this address and port in sp_services%d: the connect "
			    "is left alone, the packets take the path below\n",
			    v4 ? 4 : 6);
			goto out;
		}
	}
	ret = 1;
	if (node)
		fprintf(f, "  an address of this node (sp_node_addrs): NodePort %u/%s\n", port,
		        proto == IPPROTO_UDP ? "udp" : "tcp");
	if (v.flags & SP_F_REJECT) {
		fprintf(f, "  no endpoint: the %s fails with ECONNREFUSED\n",
		        proto == IPPROTO_UDP ? "connect or send" : "connect");
		goto out;
	}
	if (!v.count) {
		fprintf(
		    f,
		    "  no endpoint allowed here (Local policy): the %s fails with EHOSTUNREACH\n",
		    proto == IPPROTO_UDP ? "connect or send" : "connect");
		goto out;
	}
	fprintf(f, "  the destination becomes one of %u endpoint%s (1/%u each%s), no NAT:\n",
	        v.count, v.count == 1 ? "" : "s", v.count,
	        v.flags & SP_F_AFFINITY ? "; the client's last one while sessionAffinity holds"
	                                : "");
	for (__u32 i = 0; i < v.count; i++) {
		struct sp_backend b;

		if (slot_read(m.fd_slots, &v, i, &b))
			continue;
		fputs("    ", f);
		print_addr(f, b.family, b.addr, b.port);
		fputc('\n', f);
	}
	fputs("  (a packet arriving from elsewhere takes the nftables path below)\n", f);
out:
	svc_maps_close(&m);
	return ret;
}
