/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kpcleanup.c - svcproxy cleanup --kube-proxy: remove what kube-proxy left
 * in the kernel, as its own `kube-proxy --cleanup` does (CleanupLeftovers
 * of pkg/proxy/iptables and pkg/proxy/nftables), after kube-proxy is gone.
 *
 *   what                                   how
 *   -------------------------------------  ---------------------------------
 *   nftables tables ip/ip6 kube-proxy      one DELTABLE each (libnftnl)
 *   iptables chains of kube-proxy, in      X-save -t TABLE, then one
 *   nat, filter and mangle, IPv4 and IPv6, X-restore --noflush per table:
 *   legacy and nft flavours                the jumps to them from built-in
 *                                          chains deleted, the chains
 *                                          flushed and deleted - atomic
 *
 * kube-proxy's chains: KUBE-SERVICES, KUBE-EXTERNAL-SERVICES,
 * KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-FORWARD, KUBE-PROXY-FIREWALL,
 * KUBE-PROXY-CANARY, KUBE-MARK-MASQ and the per-Service chains KUBE-SVC-*,
 * KUBE-SVL-*, KUBE-SEP-*, KUBE-FW-*, KUBE-EXT-*, KUBE-XLB-*. kubelet's
 * KUBE-FIREWALL, KUBE-MARK-DROP and KUBE-KUBELET-CANARY, and every other
 * chain, are left alone. A chain of kube-proxy still used by a chain that
 * is not (a CNI jumping to KUBE-MARK-MASQ) is kept, with a warning, since
 * deleting it would break that user.
 *
 * Legacy tables are read only when the kernel already has them in this
 * network namespace (/proc/net/ip{,6}_tables_names), so a node that never
 * used iptables-legacy gets no x_tables module loaded by this command.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "cmd/cmd.h"
#include "common/mem.h"

static const char *const own_chains[] = {
    "KUBE-SERVICES",     "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",  "KUBE-FORWARD",           "KUBE-PROXY-FIREWALL",
    "KUBE-PROXY-CANARY", "KUBE-MARK-MASQ",         "KUBE-LOAD-BALANCER",
};
static const char *const own_prefixes[] = {"KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-",
                                           "KUBE-FW-",  "KUBE-EXT-", "KUBE-XLB-"};
static const char *const builtin_chains[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                             "POSTROUTING"};

static bool in_list(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, l[i]))
			return true;
	return false;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool kube_proxy_chain(const char *c)
{
	for (size_t i = 0; i < N(own_prefixes); i++)
		if (!strncmp(c, own_prefixes[i], strlen(own_prefixes[i])))
			return true;
	return in_list(c, own_chains, N(own_chains));
}

/* The chains of one iptables-save table and its rules, as lines. */
struct saved {
	char **chains;
	size_t n_chains;
	char **rules; /* "-A CHAIN ..." */
	size_t n_rules;
	bool *keep; /* per chain: ours but used by a foreign chain */
};

static void saved_free(struct saved *s)
{
	for (size_t i = 0; i < s->n_chains; i++)
		free(s->chains[i]);
	for (size_t i = 0; i < s->n_rules; i++)
		free(s->rules[i]);
	free(s->chains);
	free(s->rules);
	free(s->keep);
	memset(s, 0, sizeof(*s));
}

/* Word i (0-based) of a rule line, quotes respected; NULL past the end. */
static const char *rule_word(const char *line, int i, char *buf, size_t len)
{
	const char *p = line;

	for (int w = 0;; w++) {
		size_t n = 0;
		bool q = false;

		while (*p == ' ')
			p++;
		if (!*p)
			return NULL;
		while (*p && (q || *p != ' ')) {
			if (*p == '"')
				q = !q;
			if (n + 1 < len)
				buf[n++] = *p;
			p++;
		}
		buf[n] = '\0';
		if (w == i)
			return buf;
	}
}

/* The -j/-g target of a rule line, into buf; "" when none. */
static const char *rule_target(const char *line, char *buf, size_t len)
{
	char w[256];

	buf[0] = '\0';
	for (int i = 0; rule_word(line, i, w, sizeof(w)); i++)
		if ((!strcmp(w, "-j") || !strcmp(w, "-g")) && rule_word(line, i + 1, buf, len))
			return buf;
	return buf;
}

/* Run "TOOL-save -t TABLE" into s. 0, or -ENOENT when the tool or table is missing. */
static int save_table(const char *tool, const char *table, struct saved *s)
{
	char cmd[128], *line = NULL;
	size_t cap = 0, cc = 0, rc = 0;
	ssize_t n;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s-save -t %s 2>/dev/null", tool, table);
	p = popen(cmd, "re");
	if (!p)
		return -errno;
	while ((n = getline(&line, &cap, p)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == ':') {
			s->chains = xgrow(s->chains, &cc, s->n_chains + 1, sizeof(char *));
			s->chains[s->n_chains] = strndup(line + 1, strcspn(line + 1, " "));
			if (!s->chains[s->n_chains++])
				die_oom();
		} else if (!strncmp(line, "-A ", 3)) {
			s->rules = xgrow(s->rules, &rc, s->n_rules + 1, sizeof(char *));
			s->rules[s->n_rules++] = xstrdup(line);
		}
	}
	free(line);
	st = pclose(p);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -ENOENT;
	s->keep = xcalloc(s->n_chains + 1, sizeof(bool));
	return 0;
}

/* The chain a rule line belongs to, into buf. */
static const char *rule_chain(const char *line, char *buf, size_t len)
{
	return rule_word(line, 1, buf, len) ? buf : "";
}

/*
 * Write the restore script for s to f; *n_del gets the number of chains
 * deleted. Chains of ours used by foreign chains are kept (s->keep) and
 * reported.
 */
static void write_script(FILE *f, const char *tool, const char *table, struct saved *s,
                         size_t *n_del)
{
	char chain[256], target[256];

	for (size_t r = 0; r < s->n_rules; r++) {
		rule_chain(s->rules[r], chain, sizeof(chain));
		rule_target(s->rules[r], target, sizeof(target));
		if (kube_proxy_chain(chain) || !kube_proxy_chain(target) ||
		    in_list(chain, builtin_chains, N(builtin_chains)))
			continue;
		for (size_t c = 0; c < s->n_chains; c++)
			if (!strcmp(s->chains[c], target) && !s->keep[c]) {
				s->keep[c] = true;
				fprintf(stderr,
				        "svcproxy cleanup: %s -t %s: keeping %s: chain %s still "
				        "uses it\n",
				        tool, table, target, chain);
			}
	}
	fprintf(f, "*%s\n", table);
	for (size_t c = 0; c < s->n_chains; c++)
		if (kube_proxy_chain(s->chains[c]) && !s->keep[c])
			fprintf(f, ":%s - [0:0]\n", s->chains[c]); /* --noflush: flushes it */
	for (size_t r = 0; r < s->n_rules; r++) {
		rule_chain(s->rules[r], chain, sizeof(chain));
		rule_target(s->rules[r], target, sizeof(target));
		if (in_list(chain, builtin_chains, N(builtin_chains)) && kube_proxy_chain(target))
			for (size_t c = 0; c < s->n_chains; c++)
				if (!strcmp(s->chains[c], target) && !s->keep[c])
					fprintf(f, "-D%s\n", s->rules[r] + 2);
	}
	*n_del = 0;
	for (size_t c = 0; c < s->n_chains; c++)
		if (kube_proxy_chain(s->chains[c]) && !s->keep[c]) {
			fprintf(f, "-X %s\n", s->chains[c]);
			(*n_del)++;
		}
	fprintf(f, "COMMIT\n");
}

/* Is table listed in /proc/net/ip{,6}_tables_names (legacy tables of this netns)? */
static bool legacy_has(bool v6, const char *table)
{
	FILE *f = fopen(v6 ? "/proc/net/ip6_tables_names" : "/proc/net/ip_tables_names", "re");
	char name[64];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(name, sizeof(name), f))
		found = !strncmp(name, table, strlen(table)) && name[strlen(table)] == '\n';
	fclose(f);
	return found;
}

/* One tool ("iptables-legacy", ...) and table. Returns 0 or -1 after a message. */
static int clean_table(const char *tool, const char *table)
{
	struct saved s = {0};
	char cmd[128];
	size_t n_del = 0;
	FILE *p;
	int st;

	if (strstr(tool, "legacy") && !legacy_has(tool[2] == '6', table))
		return 0;
	if (save_table(tool, table, &s) < 0) {
		saved_free(&s);
		return 0; /* no such tool or table: nothing of kube-proxy's there */
	}
	for (size_t c = 0; c < s.n_chains; c++)
		n_del += kube_proxy_chain(s.chains[c]);
	if (!n_del) {
		saved_free(&s);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "%s-restore --noflush", tool);
	p = popen(cmd, "we");
	if (!p) {
		fprintf(stderr, "svcproxy cleanup: %s: %s\n", cmd, strerror(errno));
		saved_free(&s);
		return -1;
	}
	write_script(p, tool, table, &s, &n_del);
	st = pclose(p);
	saved_free(&s);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "svcproxy cleanup: %s -t %s failed; kube-proxy's chains are left\n",
		        cmd, table);
		return -1;
	}
	printf("removed %zu kube-proxy chain%s from %s -t %s\n", n_del, n_del == 1 ? "" : "s", tool,
	       table);
	return 0;
}

/* Delete nftables table family/name in one batch. 0, -ENOENT when absent, or -errno. */
static int nft_delete_table(int family, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct mnl_nlmsg_batch *b;
	struct nftnl_table *t;
	uint32_t seq = (uint32_t)time(NULL), portid;
	struct nlmsghdr *nlh;
	ssize_t n;
	int ret = 0;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		mnl_socket_close(nl);
		return ret;
	}
	portid = mnl_socket_get_portid(nl);
	t = nftnl_table_alloc();
	if (!t)
		die_oom();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	nlh = nftnl_table_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_DELTABLE,
	                                  (uint16_t)family, NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(b);
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq + 1);
	mnl_nlmsg_batch_next(b);
	nftnl_table_free(t);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0)
		ret = -errno;
	while (!ret && (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, (size_t)n, 0, portid, NULL, NULL);
		if (ret <= 0)
			break; /* MNL_CB_STOP (0): the ACK; -1: errno set */
	}
	if (ret < 0)
		ret = -errno;
	mnl_nlmsg_batch_stop(b);
	mnl_socket_close(nl);
	return ret;
}

int cmd_cleanup_kube_proxy(void)
{
	static const char *const tools[] = {"iptables-legacy", "ip6tables-legacy", "iptables-nft",
	                                    "ip6tables-nft"};
	static const char *const tables[] = {"nat", "filter", "mangle"};
	int status = EXIT_OK;

	for (int f = 0; f < 2; f++) {
		int ret = nft_delete_table(f ? AF_INET6 : AF_INET, "kube-proxy");

		if (!ret)
			printf("removed nftables table %s kube-proxy\n", f ? "ip6" : "ip");
		else if (ret != -ENOENT) {
			fprintf(stderr, "svcproxy cleanup: cannot remove table %s kube-proxy: %s\n",
			        f ? "ip6" : "ip", strerror(-ret));
			status = EXIT_RUNTIME;
		}
	}
	for (size_t i = 0; i < N(tools); i++)
		for (size_t t = 0; t < N(tables); t++)
			if (clean_table(tools[i], tables[t]) < 0)
				status = EXIT_RUNTIME;
	return status;
}
