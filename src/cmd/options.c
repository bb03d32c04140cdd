/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.c - the settings that need the node, not just the command line:
 * NodePort 'primary' addresses, conntrack sysctls from --config, the
 * --config file watch, and the summary `svcproxy check --config` prints.
 * Contracts in cmd.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/kpconfig.h"
#include "common/log.h"
#include "common/mem.h"

/*
 * The source address the kernel would pick toward the default route of
 * family: connect() of a UDP socket to a documentation address (RFC 5737,
 * RFC 3849) does a route lookup and sends nothing. 0, or -errno (e.g.
 * -ENETUNREACH without a default route).
 */
static int default_route_source(int family, struct ipaddr *out)
{
	struct sockaddr_storage ss = {0}, local = {0};
	socklen_t len = sizeof(local);
	int fd, ret = 0;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(53);
		inet_pton(AF_INET, "192.0.2.1", &sin->sin_addr);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(53);
		inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
	}
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss,
	            family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) <
	        0 ||
	    getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	out->family = family;
	if (family == AF_INET)
		out->v4 = ((struct sockaddr_in *)&local)->sin_addr;
	else
		out->v6 = ((struct sockaddr_in6 *)&local)->sin6_addr;
	return 0;
}

void nodeport_resolve_primary(struct options *o)
{
	static const int fams[] = {AF_INET, AF_INET6};
	char found[2 * IPADDR_STRLEN + 8] = "";
	size_t had = o->n_nodeport_cidrs;

	o->nodeport_cidrs = xrealloc(o->nodeport_cidrs, (had + 2) * sizeof(struct cidr));
	for (size_t i = 0; i < 2; i++) {
		struct ipaddr a = {0};
		char buf[IPADDR_STRLEN];

		if (o->bind_address.family == fams[i])
			a = o->bind_address;
		else if (default_route_source(fams[i], &a) < 0)
			continue;
		o->nodeport_cidrs[o->n_nodeport_cidrs].addr = a;
		o->nodeport_cidrs[o->n_nodeport_cidrs++].prefix_len = fams[i] == AF_INET ? 32 : 128;
		snprintf(found + strlen(found), sizeof(found) - strlen(found), "%s%s",
		         *found ? ", " : "", ipaddr_str(&a, buf));
	}
	if (*found) {
		log_info("nodeport", "NodePorts on this node's primary IPs: %s (%s)", found,
		         o->bind_address.family ? "--bind-address"
		                                : "the source address of the default route");
	} else if (!had) {
		/* an empty list means "every address": keep 'primary' meaning none */
		cidr_parse("0.0.0.0/32", &o->nodeport_cidrs[o->n_nodeport_cidrs++]);
		log_warn("nodeport",
		         "no primary IP found (no default route, no --bind-address): NodePorts are "
		         "served on no address; set --bind-address or --nodeport-addresses");
	}
}

/* Write value to /proc/sys/net/netfilter/<name> unless it holds it already. */
static void ct_sysctl(const char *name, long long value)
{
	char path[128], cur[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	f = fopen(path, "re");
	if (f) {
		if (!fgets(cur, sizeof(cur), f))
			cur[0] = '\0';
		fclose(f);
		if (*cur && atoll(cur) == value)
			return;
	}
	f = fopen(path, "we");
	if (!f || fprintf(f, "%lld\n", value) < 0 || fclose(f) != 0) {
		log_warn("conntrack",
		         "cannot set %s to %lld: %s (as kube-proxy, svcproxy needs a "
		         "writable /proc/sys for conntrack settings)",
		         path, value, strerror(errno));
		return;
	}
	log_info("conntrack", "set %s to %lld", name, value);
}

void conntrack_apply_config(const struct kp_conntrack *ct)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	/* kube-proxy: max(maxPerCore * CPUs, min); 0 leaves the limit as is */
	if (ct->max_per_core > 0) {
		long long max = ct->max_per_core * (ncpu > 0 ? ncpu : 1);

		if (ct->min > max)
			max = ct->min;
		ct_sysctl("nf_conntrack_max", max);
	}
	if (ct->tcp_established > 0)
		ct_sysctl("nf_conntrack_tcp_timeout_established", (long long)ct->tcp_established);
	if (ct->tcp_close_wait > 0)
		ct_sysctl("nf_conntrack_tcp_timeout_close_wait", (long long)ct->tcp_close_wait);
	if (ct->tcp_be_liberal)
		ct_sysctl("nf_conntrack_tcp_be_liberal", 1);
	if (ct->udp > 0)
		ct_sysctl("nf_conntrack_udp_timeout", (long long)ct->udp);
	if (ct->udp_stream > 0)
		ct_sysctl("nf_conntrack_udp_timeout_stream", (long long)ct->udp_stream);
}

static void print_cidrs(const char *label, const struct cidr *c, size_t n, bool primary,
                        const char *none)
{
	char buf[CIDR_STRLEN];

	printf("  %-20s", label);
	if (primary)
		printf(" primary");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i || primary ? ", " : " ", cidr_str(&c[i], buf));
	if (!n && !primary)
		printf(" %s", none);
	putchar('\n');
}

int config_print(const struct options *o, const struct kpconfig *kc)
{
	printf("%s: a valid " KPCONFIG_KIND "; svcproxy takes from it:\n", o->config);
	printf("  %-20s %s\n", "kubeconfig",
	       kc->kubeconfig ? kc->kubeconfig : "(in-cluster, or --kubeconfig/--manifests)");
	printf("  %-20s %s\n", "hostnameOverride", o->hostname ? o->hostname : "(the host name)");
	printf("  %-20s %s\n", "healthzBindAddress", o->healthz_addr);
	printf("  %-20s %s\n", "metricsBindAddress", o->metrics_addr);
	print_cidrs("clusterCIDR", o->cluster_cidrs, o->n_cluster_cidrs, false, "(none)");
	print_cidrs("nodePortAddresses", o->nodeport_cidrs, o->n_nodeport_cidrs,
	            o->nodeport_primary, "(every local address)");
	printf("  %-20s %s\n", "masqueradeAll", o->masquerade_all ? "true" : "false");
	printf("  %-20s %gs\n", "syncPeriod", o->sync_period);
	printf("  %-20s %gs\n", "minSyncPeriod", o->min_sync_period);
	return EXIT_OK;
}

/* FNV-1a of the file's bytes; 0 when it cannot be read (then: no change). */
static uint64_t file_hash(const char *path)
{
	uint64_t h = 14695981039346656037ULL;
	unsigned char buf[4096];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	fclose(f);
	return h ? h : 1;
}

struct config_watch {
	char *path;
	uint64_t hash;
	pid_t main_tid;
};

/*
 * Every 2 s, compare the file with what was loaded. Polling, not inotify:
 * a ConfigMap volume replaces the file by swapping a symlinked directory,
 * which a watch on the file does not see reliably.
 */
static void *config_watch_thread(void *arg)
{
	struct config_watch *w = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the daemon's */
	for (;;) {
		uint64_t h;

		sleep(2);
		h = file_hash(w->path);
		if (h && h != w->hash) {
			log_info("config",
			         "%s changed: stopping so that the restart reads it (as "
			         "kube-proxy does)",
			         w->path);
			/* to the main thread, which reads SIGTERM from its signalfd
			 * (tgkill: the seccomp allow-list has no kill) */
			tgkill(getpid(), w->main_tid, SIGTERM);
			return NULL;
		}
	}
}

void config_watch_start(const char *path)
{
	struct config_watch *w = xcalloc(1, sizeof(*w));
	pthread_t t;

	w->path = xstrdup(path);
	w->hash = file_hash(path);
	w->main_tid = gettid();
	if (pthread_create(&t, NULL, config_watch_thread, w) != 0) {
		log_warn("config", "cannot watch %s for changes: %s", path, strerror(errno));
		free(w->path);
		free(w);
		return;
	}
	pthread_detach(t); /* lives as long as the process; w with it */
}
