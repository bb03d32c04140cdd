/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_nft_golden.c - the whole table, reviewable as text, with no kernel.
 *
 * For each case: manifests (tests/unit/golden/<case>.yaml) are decoded and
 * compiled, the table a first sync would send is built into a batch
 * buffer (nft_build_batch), parsed back with libnftnl and printed; the text
 * must equal tests/unit/golden/<case>.txt. After a deliberate layout
 * change, regenerate the dumps and review the diff:
 *
 *     GOLDEN_UPDATE=1 meson test -C build nft_golden
 *
 * Then, for every path of the case, `svcproxy trace`'s walk (trace_walk)
 * is run on the rendered sets, and the chains it names must be ones of the
 * ruleset, in the order a packet meets them: each reachable (by jump,
 * goto or a verdict map element) from a base chain no earlier in the hook
 * order than the previous hop's.
 *
 * The bpf_* cases are tables of scope NFT_SCOPE_ENTERING (beside the bpf
 * dataplane) for the same manifests: only what enters the node from
 * elsewhere, and no hook at all for TCP ClusterIPs alone.
 *
 * argv[1]: the golden directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmd/trace.h"
#include "common/mem.h"
#include "compile/compile.h"
#include "dataplane/nft.h"
#include "source/decode.h"

static const char *golden_dir;

struct path {
	const char *src, *dst;
	uint16_t port;
	uint8_t proto;
	bool from_node, to_node;
	const char *expect_last; /* the chain the walk must end in (NULL: any) */
};

struct golden_case {
	const char *name;
	const char *yaml; /* the manifests: <yaml>.yaml */
	enum nft_scope scope;
	int family;
	const char *cluster_cidrs, *nodeport_cidrs;
	bool masquerade_all;
	struct path paths[12];
};

static const struct golden_case cases[] = {
    {"clusterip",
     "clusterip",
     NFT_SCOPE_ALL,
     AF_INET,
     "10.244.0.0/16",
     NULL,
     false,
     {
         {"10.244.3.3", "10.96.0.10", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "10.96.0.10", 80, L4_TCP, false, false, "nat_postrouting"},
         {"10.244.1.11", "10.96.0.10", 80, L4_TCP, false, false, "nat_postrouting"},
         {"172.18.0.2", "10.96.0.10", 80, L4_TCP, true, false, "nat_postrouting"},
         {"10.244.3.3", "10.96.0.10", 81, L4_TCP, false, false, "cluster_ips_check"},
         {"10.244.3.3", "10.200.0.1", 80, L4_TCP, false, false, NULL},
     }},
    {"features",
     "features",
     NFT_SCOPE_ALL,
     AF_INET,
     "10.244.0.0/16",
     "192.168.0.0/16",
     false,
     {
         {"203.0.113.9", "192.168.60.11", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "192.168.60.11", 80, L4_TCP, false, false, "firewall_check"},
         {"10.244.3.3", "192.168.50.20", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "192.168.50.20", 80, L4_TCP, false, false, "nat_postrouting"},
         {"10.244.3.3", "10.96.1.10", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "192.168.1.5", 30080, L4_TCP, false, true, "nat_postrouting"},
         {"192.0.2.1", "192.168.1.5", 30053, L4_UDP, false, true, "nat_postrouting"},
         {"192.0.2.1", "127.0.0.1", 30053, L4_UDP, false, true, "nodeport_check"},
         {"10.244.3.3", "10.96.1.30", 80, L4_TCP, false, false, "endpoints_check"},
         {"192.168.1.5", "10.96.1.30", 80, L4_TCP, true, false, "endpoints_check_local"},
         {"10.244.3.3", "10.96.1.40", 443, L4_TCP, false, false, "endpoints_check"},
         {"192.168.1.5", "10.96.1.40", 443, L4_TCP, true, false, "endpoints_check_local"},
     }},
    {"ipv6",
     "ipv6",
     NFT_SCOPE_ALL,
     AF_INET6,
     "fd00:10:244::/48",
     NULL,
     true,
     {
         {"fd00:10:244:2::5", "fd00:10:96::10", 80, L4_TCP, false, false, "nat_postrouting"},
         {"2001:db8::1", "2001:db8::53", 30086, L4_TCP, false, true, "nat_postrouting"},
         {"2001:db8::1", "::1", 30086, L4_TCP, false, true, "nodeport_check"},
     }},
    /* TCP ClusterIPs only: a table with no hook; nothing of nftables on any path */
    {"bpf_clusterip",
     "clusterip",
     NFT_SCOPE_ENTERING,
     AF_INET,
     "10.244.0.0/16",
     NULL,
     false,
     {
         {"10.244.3.3", "10.96.0.10", 80, L4_TCP, false, false, NULL},
         {"192.0.2.1", "10.96.0.10", 80, L4_TCP, false, false, NULL},
         {"172.18.0.2", "10.96.0.10", 80, L4_TCP, true, false, NULL},
     }},
    /* the inbound path for external IPs, LoadBalancer IPs, NodePorts; no output hook */
    {"bpf_features",
     "features",
     NFT_SCOPE_ENTERING,
     AF_INET,
     "10.244.0.0/16",
     "192.168.0.0/16",
     false,
     {
         {"203.0.113.9", "192.168.60.11", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "192.168.60.11", 80, L4_TCP, false, false, "firewall_check"},
         {"192.0.2.1", "192.168.50.20", 80, L4_TCP, false, false, "nat_postrouting"},
         {"192.0.2.1", "192.168.1.5", 30080, L4_TCP, false, true, "nat_postrouting"},
         {"192.0.2.1", "127.0.0.1", 30053, L4_UDP, false, true, "nodeport_check"},
         {"10.244.3.3", "10.96.1.10", 80, L4_TCP, false, false, NULL},
         {"192.168.1.5", "10.96.1.30", 80, L4_TCP, true, false, NULL},
         {"192.168.1.5", "192.168.1.5", 30080, L4_TCP, true, true, NULL},
     }},
};

/* ---- the case's desired state ------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void cidrs(const char *list, struct cidr **out, size_t *n)
{
	const char *bad;

	*out = NULL;
	*n = 0;
	if (list)
		assert_int_equal(cidr_list_parse(list, out, n, &bad), 0);
}

struct loaded {
	struct model m;
	struct desired ds;
	struct nft_dp_opts o;
	struct cidr *cc, *nc;
};

static void load(const struct golden_case *gc, struct loaded *l)
{
	struct compile_opts co = {.hostname = "node-a", .family = gc->family};
	struct diag d = {0};
	char path[512], *yaml;
	size_t len;

	memset(l, 0, sizeof(*l));
	snprintf(path, sizeof(path), "%s/%s.yaml", golden_dir, gc->yaml);
	yaml = read_file(path, &len);
	assert_non_null(yaml);
	assert_int_equal(manifest_decode_buffer(path, yaml, len, NULL, &l->m, &d, NULL), 0);
	free(yaml);
	assert_int_equal(compile(&l->m, &co, &l->ds, &d), 0);
	assert_int_equal(d.n, 0);
	diag_clear(&d);
	cidrs(gc->cluster_cidrs, &l->cc, &l->o.n_cluster_cidrs);
	cidrs(gc->nodeport_cidrs, &l->nc, &l->o.n_nodeport_cidrs);
	l->o.family = gc->family;
	l->o.cluster_cidrs = l->cc;
	l->o.nodeport_cidrs = l->nc;
	l->o.masquerade_all = gc->masquerade_all;
	l->o.scope = gc->scope;
}

static void unload(struct loaded *l)
{
	desired_free(&l->ds);
	model_free(&l->m);
	free(l->cc);
	free(l->nc);
}

/* ---- the batch, printed ------------------------------------------------- */

/* The table comment (udata TLV: type, length, text), which libnftnl does not print. */
static void print_comment(FILE *f, const struct nftnl_table *t)
{
	uint32_t len = 0;
	const uint8_t *ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);

	if (ud && len > 2 && ud[1] + 2u <= len)
		fprintf(f, "  comment \"%.*s\"\n", (int)ud[1] - 1, (const char *)ud + 2);
}

/* What libnftnl's set line leaves out: types, lengths, flags. */
static void print_set_type(FILE *f, const struct nftnl_set *s)
{
	fprintf(f, "  id %u flags 0x%x key_type 0x%x key_len %u",
	        nftnl_set_get_u32(s, NFTNL_SET_ID), nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
	        nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE), nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (nftnl_set_is_set(s, NFTNL_SET_DATA_TYPE))
		fprintf(f, " data_type 0x%x data_len %u", nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE),
		        nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN));
	if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE))
		fprintf(f, " size %u", nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE));
	fputc('\n', f);
}

/* Print one message of the batch as libnftnl reads it. */
static void print_msg(FILE *f, const struct nlmsghdr *nlh)
{
	char buf[1 << 16];

	buf[0] = '\0';
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE: {
		struct nftnl_table *t = nftnl_table_alloc();

		assert_int_equal(nftnl_table_nlmsg_parse(nlh, t), 0);
		nftnl_table_snprintf(buf, sizeof(buf), t, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(f, "table %s\n", buf);
		print_comment(f, t);
		nftnl_table_free(t);
		break;
	}
	case NFT_MSG_NEWCHAIN: {
		struct nftnl_chain *c = nftnl_chain_alloc();

		assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
		nftnl_chain_snprintf(buf, sizeof(buf), c, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(f, "chain %s\n", buf);
		nftnl_chain_free(c);
		break;
	}
	case NFT_MSG_NEWRULE: {
		struct nftnl_rule *r = nftnl_rule_alloc();

		assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
		nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(f, "rule %s\n", buf);
		nftnl_rule_free(r);
		break;
	}
	case NFT_MSG_NEWSET:
	case NFT_MSG_NEWSETELEM: {
		struct nftnl_set *s = nftnl_set_alloc();
		bool elems = NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWSETELEM;

		assert_int_equal(
		    elems ? nftnl_set_elems_nlmsg_parse(nlh, s) : nftnl_set_nlmsg_parse(nlh, s), 0);
		nftnl_set_snprintf(buf, sizeof(buf), s, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(f, "%s ", elems ? "elements" : "set");
		/* one element a line, for a readable diff */
		for (const char *p = buf; *p; p++) {
			if (*p == '\t' && !strncmp(p + 1, "element ", 8))
				fputs(p > buf && p[-1] == '\n' ? "  " : "\n  ", f);
			else
				fputc(*p, f);
		}
		fputc('\n', f);
		if (!elems)
			print_set_type(f, s);
		nftnl_set_free(s);
		break;
	}
	default:
		fprintf(f, "message type %u\n", nlh->nlmsg_type);
	}
}

/* The batch as text: one block per message, batch begin and end left out. */
static char *batch_text(const uint8_t *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int left = (int)len;
	char *text = NULL;
	size_t tlen = 0;
	FILE *f = open_memstream(&text, &tlen);

	assert_non_null(f);
	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN ||
		    nlh->nlmsg_type == NFNL_MSG_BATCH_END)
			continue;
		print_msg(f, nlh);
	}
	assert_int_equal(left, 0);
	fclose(f);
	return text;
}

static void check_golden(const char *name, const char *text)
{
	char path[512], *want;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s.txt", golden_dir, name);
	if (getenv("GOLDEN_UPDATE")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(text, f);
		fclose(f);
		fprintf(stderr, "golden: wrote %s\n", path);
		return;
	}
	want = read_file(path, &len);
	if (!want)
		fail_msg("%s is missing: run GOLDEN_UPDATE=1 meson test nft_golden", path);
	if (strcmp(want, text)) {
		char got[600];
		FILE *f;

		snprintf(got, sizeof(got), "%s.got", path);
		f = fopen(got, "w");
		if (f) {
			fputs(text, f);
			fclose(f);
		}
		fail_msg("the table differs from %s: diff it against %s; if the change is meant, "
		         "GOLDEN_UPDATE=1 regenerates the dumps",
		         path, got);
	}
	free(want);
}

/* ---- the chain graph of the batch --------------------------------------- */

#define MAX_CHAINS 128

struct graph {
	char *name[MAX_CHAINS];
	int pos[MAX_CHAINS]; /* base chains: packet order (hook, priority); others INT_MIN */
	bool edge[MAX_CHAINS][MAX_CHAINS];
	size_t n;
	/* verdict maps: which chains look them up, which chains their elements name */
	char *vmap_user[32][2];
	size_t n_vmap_user;
};

static int chain_index(struct graph *g, const char *name)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->name[i], name))
			return (int)i;
	return -1;
}

/* Where a base chain's hook comes in a packet's walk: prerouting/output, input, postrouting. */
static int hook_pos(uint32_t hook, int prio)
{
	int rank = hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_OUT ? 0
	           : hook == NF_INET_POST_ROUTING                           ? 2
	                                                                    : 1;
	return rank * 1000 + prio;
}

static void graph_edge(struct graph *g, const char *from, const char *to)
{
	int a = chain_index(g, from), b = chain_index(g, to);

	assert_true(a >= 0);
	if (b < 0)
		fail_msg("chain %s jumps to %s, which the batch does not create", from, to);
	g->edge[a][b] = true;
}

static void graph_chain(struct graph *g, const struct nlmsghdr *nlh)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
	assert_true(g->n < MAX_CHAINS);
	g->name[g->n] = xstrdup(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	g->pos[g->n] = nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)
	                   ? hook_pos(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
	                              nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO))
	                   : -1000000;
	g->n++;
	nftnl_chain_free(c);
}

struct rule_walk {
	struct graph *g;
	const char *chain;
};

static int rule_expr_cb(struct nftnl_expr *e, void *data)
{
	struct rule_walk *w = data;
	const char *type = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (!strcmp(type, "immediate") && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN))
		graph_edge(w->g, w->chain, nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
	if (!strcmp(type, "lookup") && nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG) &&
	    nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG) == NFT_REG_VERDICT) {
		struct graph *g = w->g;

		assert_true(g->n_vmap_user < 32);
		g->vmap_user[g->n_vmap_user][0] = xstrdup(w->chain);
		g->vmap_user[g->n_vmap_user][1] =
		    xstrdup(nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
		g->n_vmap_user++;
	}
	return 0;
}

static void graph_rule(struct graph *g, const struct nlmsghdr *nlh)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct rule_walk w = {.g = g};

	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
	w.chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	nftnl_expr_foreach(r, rule_expr_cb, &w);
	nftnl_rule_free(r);
}

struct elem_walk {
	struct graph *g;
	const char *set;
};

static int elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct elem_walk *w = data;
	const char *target = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);

	for (size_t i = 0; target && i < w->g->n_vmap_user; i++)
		if (!strcmp(w->g->vmap_user[i][1], w->set))
			graph_edge(w->g, w->g->vmap_user[i][0], target);
	return 0;
}

static void graph_elems(struct graph *g, const struct nlmsghdr *nlh)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct elem_walk w = {.g = g};

	assert_int_equal(nftnl_set_elems_nlmsg_parse(nlh, s), 0);
	w.set = nftnl_set_get_str(s, NFTNL_SET_NAME);
	nftnl_set_elem_foreach(s, elem_cb, &w);
	nftnl_set_free(s);
}

static void graph_build(struct graph *g, const uint8_t *buf, size_t len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	int left = (int)len;

	memset(g, 0, sizeof(*g));
	/* chains and rules come before the elements in a batch */
	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN ||
		    nlh->nlmsg_type == NFNL_MSG_BATCH_END)
			continue;
		switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
		case NFT_MSG_NEWCHAIN:
			graph_chain(g, nlh);
			break;
		case NFT_MSG_NEWRULE:
			graph_rule(g, nlh);
			break;
		case NFT_MSG_NEWSETELEM:
			graph_elems(g, nlh);
			break;
		}
	}
}

static void graph_free(struct graph *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->name[i]);
	for (size_t i = 0; i < g->n_vmap_user; i++) {
		free(g->vmap_user[i][0]);
		free(g->vmap_user[i][1]);
	}
}

/* Is chain b reachable from chain a (or a itself)? */
static bool reaches(const struct graph *g, int a, int b)
{
	bool seen[MAX_CHAINS] = {false};
	int stack[MAX_CHAINS], sp = 0;

	stack[sp++] = a;
	seen[a] = true;
	while (sp) {
		int c = stack[--sp];

		if (c == b)
			return true;
		for (size_t d = 0; d < g->n; d++)
			if (g->edge[c][d] && !seen[d]) {
				seen[d] = true;
				stack[sp++] = (int)d;
			}
	}
	return false;
}

/* ---- trace's hops against the graph ------------------------------------- */

struct hops {
	char *chain[32];
	size_t n;
};

static void on_chain(void *ctx, const char *chain)
{
	struct hops *h = ctx;

	assert_true(h->n < 32);
	h->chain[h->n++] = xstrdup(chain);
}

/*
 * Each hop's chain must be reached from a base chain at or after the
 * previous hop's place in the packet's walk: the earliest such place is
 * taken, so a later hop can still come from the same base chain.
 */
static void check_order(const struct graph *g, const struct hops *h, const char *what)
{
	int pos = -1000000;

	for (size_t i = 0; i < h->n; i++) {
		int c = chain_index((struct graph *)g, h->chain[i]), best = 0;
		bool found = false;

		if (c < 0)
			fail_msg("%s: trace names chain %s, which the ruleset lacks", what,
			         h->chain[i]);
		for (size_t b = 0; b < g->n; b++) {
			if (g->pos[b] == -1000000 || g->pos[b] < pos || !reaches(g, (int)b, c))
				continue;
			if (!found || g->pos[b] < best)
				best = g->pos[b];
			found = true;
		}
		if (!found)
			fail_msg(
			    "%s: hop %zu (chain %s) comes after the packet has passed every base "
			    "chain that reaches it",
			    what, i + 1, h->chain[i]);
		pos = best;
	}
}

static void check_paths(const struct golden_case *gc, const struct loaded *l, const struct graph *g)
{
	struct nft_layout_opts lo = {
	    .scope = gc->scope,
	    .paths = nft_scope_paths(gc->scope, &l->ds),
	    .masquerade_all = l->o.masquerade_all,
	    .cluster_cidrs = l->o.cluster_cidrs,
	    .n_cluster_cidrs = l->o.n_cluster_cidrs,
	    .nodeport_cidrs = l->o.nodeport_cidrs,
	    .n_nodeport_cidrs = l->o.n_nodeport_cidrs,
	};

	for (size_t p = 0; p < sizeof(gc->paths) / sizeof(gc->paths[0]) && gc->paths[p].src; p++) {
		const struct path *pa = &gc->paths[p];
		struct trace t = {.proto = pa->proto, .port = pa->port};
		struct hops h = {0};
		char what[200];

		snprintf(what, sizeof(what), "%s: %s -> %s:%u%s", gc->name, pa->src, pa->dst,
		         pa->port, pa->from_node ? " (from the node)" : "");
		nft_render(gc->scope, &l->ds, &t.s);
		assert_int_equal(
		    nft_layout_comment(t.s.layout, sizeof(t.s.layout), gc->family, &lo), 0);
		assert_int_equal(ipaddr_parse(pa->src, &t.src), 0);
		assert_int_equal(ipaddr_parse(pa->dst, &t.dst), 0);
		t.from_node = pa->from_node;
		t.to_node = pa->to_node;
		t.out = fopen("/dev/null", "w");
		t.on_chain = on_chain;
		t.ctx = &h;
		assert_int_equal(trace_walk(&t), 0);
		fclose(t.out);
		check_order(g, &h, what);
		if (pa->expect_last) {
			if (!h.n || strcmp(h.chain[h.n - 1], pa->expect_last))
				fail_msg("%s: the walk ends in %s, not %s", what,
				         h.n ? h.chain[h.n - 1] : "no chain", pa->expect_last);
		} else {
			assert_int_equal(h.n, 0);
		}
		for (size_t i = 0; i < h.n; i++)
			free(h.chain[i]);
		nft_sets_free(&t.s);
	}
}

static void run_case(const struct golden_case *gc)
{
	struct loaded l;
	struct graph *g = xcalloc(1, sizeof(*g));
	uint8_t *buf;
	size_t len;
	char *text;

	load(gc, &l);
	nft_build_batch(&l.o, &l.ds, &buf, &len);
	text = batch_text(buf, len);
	check_golden(gc->name, text);
	graph_build(g, buf, len);
	check_paths(gc, &l, g);
	graph_free(g);
	free(g);
	free(text);
	free(buf);
	unload(&l);
}

static void test_clusterip(void **unused)
{
	run_case(&cases[0]);
}

static void test_features(void **unused)
{
	run_case(&cases[1]);
}

static void test_ipv6(void **unused)
{
	run_case(&cases[2]);
}

static void test_bpf_clusterip(void **unused)
{
	run_case(&cases[3]);
}

static void test_bpf_features(void **unused)
{
	run_case(&cases[4]);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clusterip),    cmocka_unit_test(test_features),
	    cmocka_unit_test(test_ipv6),         cmocka_unit_test(test_bpf_clusterip),
	    cmocka_unit_test(test_bpf_features),
	};

	golden_dir = argc > 1 ? argv[1] : "tests/unit/golden";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
