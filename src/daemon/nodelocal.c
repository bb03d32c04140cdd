/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nodelocal.c - the node's addresses and its processes' listening sockets
 * (nodelocal.h).
 */
#include "daemon/nodelocal.h"

#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mem.h"
#include "model/model.h"

int node_local_read_addrs(struct node_local *nl)
{
	struct ifaddrs *ifa, *i;
	struct ipaddr *v = NULL;
	size_t n = 0, cap = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		struct ipaddr a = {0};

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = AF_INET;
			a.v4 = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a.family = AF_INET6;
			a.v6 = ((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
		} else {
			continue;
		}
		v = xgrow(v, &cap, n + 1, sizeof(*v));
		v[n++] = a;
	}
	freeifaddrs(ifa);
	free(nl->addrs);
	nl->addrs = v;
	nl->n_addrs = n;
	return 0;
}

/* The inodes of this process's sockets, sorted. */
static size_t own_socket_inodes(unsigned long **out)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned long *v = NULL, ino;
	size_t n = 0, cap = 0;
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char link[64];
		ssize_t l = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);

		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		v = xgrow(v, &cap, n + 1, sizeof(*v));
		v[n++] = ino;
	}
	if (d)
		closedir(d);
	*out = v;
	return n;
}

struct diag_ctx {
	uint8_t proto;
	const unsigned long *own;
	size_t n_own;
	struct listener *v;
	size_t n, cap;
};

static int diag_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct diag_ctx *c = data;
	struct listener *l;

	for (size_t i = 0; i < c->n_own; i++)
		if (c->own[i] == m->idiag_inode)
			return MNL_CB_OK;
	c->v = xgrow(c->v, &c->cap, c->n + 1, sizeof(*c->v));
	l = &c->v[c->n++];
	memset(l, 0, sizeof(*l));
	l->proto = c->proto;
	l->port = ntohs(m->id.idiag_sport);
	l->addr.family = m->idiag_family;
	memcpy(l->addr.raw, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
	return MNL_CB_OK;
}

/* One sock_diag dump: sockets of family/proto in the given TCP states. */
static int dump(struct mnl_socket *nl, int family, uint8_t proto, uint32_t states,
                struct diag_ctx *c)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	uint32_t seq = (uint32_t)getpid() ^ proto ^ (uint32_t)family;
	ssize_t n;
	int ret = MNL_CB_OK;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = (uint8_t)family;
	req->sdiag_protocol = proto;
	req->idiag_states = states;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	c->proto = proto;
	while (ret > MNL_CB_STOP && (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0)
		ret = mnl_cb_run(buf, (size_t)n, seq, mnl_socket_get_portid(nl), diag_cb, c);
	return ret < 0 ? -errno : 0;
}

int node_local_read_listeners(struct node_local *nl)
{
	struct mnl_socket *sock = mnl_socket_open(NETLINK_SOCK_DIAG);
	struct diag_ctx c = {0};
	unsigned long *own = NULL;
	int ret = 0;

	if (!sock)
		return -errno;
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	c.n_own = own_socket_inodes(&own);
	c.own = own;
	for (int f = 0; f < 2 && !ret; f++) {
		int family = f ? AF_INET6 : AF_INET;

		ret = dump(sock, family, L4_TCP, 1u << TCP_LISTEN, &c);
		if (!ret) /* unconnected UDP sockets are in state TCP_CLOSE */
			ret = dump(sock, family, L4_UDP, 1u << TCP_CLOSE, &c);
	}
	if (!ret) {
		free(nl->listeners);
		nl->listeners = c.v;
		nl->n_listeners = c.n;
		c.v = NULL;
	}
out:
	free(c.v);
	free(own);
	mnl_socket_close(sock);
	return ret;
}

void node_local_free(struct node_local *nl)
{
	free(nl->addrs);
	free(nl->listeners);
	memset(nl, 0, sizeof(*nl));
}

bool node_local_has_addr(const struct node_local *nl, const struct ipaddr *a)
{
	for (size_t i = 0; i < nl->n_addrs; i++)
		if (ipaddr_equal(&nl->addrs[i], a))
			return true;
	return false;
}

static bool addr_is_loopback(const struct ipaddr *a)
{
	static const uint8_t lo6[16] = {[15] = 1};

	return a->family == AF_INET ? a->raw[0] == 127 : !memcmp(a->raw, lo6, 16);
}

size_t node_local_nodeport_addrs(const struct node_local *nl, const struct cidr *cidrs, size_t n,
                                 struct ipaddr **out)
{
	size_t k = 0;

	*out = NULL;
	for (size_t i = 0; i < nl->n_addrs; i++) {
		const struct ipaddr *a = &nl->addrs[i];
		bool in = n == 0;

		for (size_t c = 0; c < n && !in; c++)
			in = cidr_contains(&cidrs[c], a);
		if (!in || addr_is_loopback(a))
			continue;
		*out = xrealloc(*out, (k + 1) * sizeof(**out));
		(*out)[k++] = *a;
	}
	return k;
}

static bool addr_is_any(const struct ipaddr *a)
{
	static const uint8_t zero[16];

	return !memcmp(a->raw, zero, a->family == AF_INET ? 4 : 16);
}

/*
 * Does a process listen on proto/port at addr (NULL: on any address)? A
 * socket on every IPv6 address also takes IPv4 unless it is v6-only,
 * which sock_diag does not say: count it for both, the cautious answer.
 */
static bool listened(const struct node_local *nl, uint8_t proto, uint16_t port,
                     const struct ipaddr *addr)
{
	for (size_t i = 0; i < nl->n_listeners; i++) {
		const struct listener *l = &nl->listeners[i];

		if (l->proto != proto || l->port != port)
			continue;
		if (!addr || addr_is_any(&l->addr) || ipaddr_equal(&l->addr, addr))
			return true;
	}
	return false;
}

void node_local_filter(const struct node_local *nl, struct desired *ds, struct diag *d)
{
	size_t w = 0;

	for (size_t i = 0; i < ds->n_entries; i++) {
		const struct entry *e = &ds->entries[i];
		bool captures = false;
		char a[IPADDR_STRLEN];

		if (e->kind == ENTRY_NODE_PORT)
			captures = listened(nl, e->proto, e->port, NULL);
		else if (e->kind == ENTRY_EXTERNAL && node_local_has_addr(nl, &e->addr))
			captures = listened(nl, e->proto, e->port, &e->addr);
		if (!captures) {
			ds->entries[w++] = *e;
			continue;
		}
		if (e->kind == ENTRY_NODE_PORT)
			diag_warn(
			    d,
			    "Service %s: nodePort %u/%s: a process on this node listens on it; "
			    "not captured",
			    e->label, e->port, l4proto_name(e->proto));
		else
			diag_warn(d,
			          "Service %s: external IP %s port %u/%s: a process on this node "
			          "listens on it; not captured",
			          e->label, ipaddr_str(&e->addr, a), e->port,
			          l4proto_name(e->proto));
	}
	ds->n_entries = w;
}
