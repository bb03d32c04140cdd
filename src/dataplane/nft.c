/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nft.c - the nftables dataplane object and its sync engine (see nft.h).
 *
 * A sync renders the desired state into set elements (nft_render.c),
 * diffs them against what is programmed, and sends the differences, plus
 * the lb chains new verdicts need, as one batch (nft_nl.c): the kernel
 * applies it all or nothing. The table skeleton (nft_ruleset.c) is sent
 * only when the table is missing or has another layout.
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/mem.h"
#include "dataplane/nft_nl.h"
#include "dataplane/nft_read.h"
#include "dataplane/nft_ruleset.h"

struct nft_dp {
	struct nft_nl nl;
	struct nft_ruleset_cfg rc; /* family, options, and layout as the comment */
	char layout[256];          /* the table comment that identifies our layout */
	bool table_exists;         /* a table named svcproxy exists in the kernel */
	bool layout_ok;            /* ... and has our layout: no rebuild needed */
	struct nft_sets prog;      /* what is programmed */
	struct desired last;       /* what prog was rendered from, when have_last */
	bool have_last;
	bool affinity_dirty;     /* @affinity may hold clients of endpoints that left */
	struct nft_lb_chains lb; /* the lb chains that exist */
};

/* The ruleset configuration for o; comment is written into layout. -EINVAL: too long. */
static int ruleset_cfg(const struct nft_dp_opts *o, char *layout, size_t size,
                       struct nft_ruleset_cfg *rc)
{
	rc->family = o->family;
	rc->comment = layout;
	rc->o = (struct nft_layout_opts){
	    .scope = o->scope,
	    /* ENTERING: none until a sync or the table read back says which */
	    .paths = o->scope == NFT_SCOPE_ALL ? NFT_PATHS_ALL : 0,
	    .masquerade_all = o->masquerade_all,
	    .cluster_cidrs = o->cluster_cidrs,
	    .n_cluster_cidrs = o->n_cluster_cidrs,
	    .nodeport_cidrs = o->nodeport_cidrs,
	    .n_nodeport_cidrs = o->n_nodeport_cidrs,
	};
	return nft_layout_comment(layout, size, o->family, &rc->o);
}

struct nft_dp *nft_dp_open(const struct nft_dp_opts *o)
{
	struct nft_dp *dp = xcalloc(1, sizeof(*dp));
	int ret;

	nft_sets_init(&dp->prog, o->family);
	/* the table comment names the layout and the options baked into it */
	ret = ruleset_cfg(o, dp->layout, sizeof(dp->layout), &dp->rc);
	if (!ret)
		ret = nft_nl_open(&dp->nl, o->family);
	if (ret) {
		nft_sets_free(&dp->prog);
		free(dp);
		errno = -ret;
		return NULL;
	}
	return dp;
}

void nft_dp_close(struct nft_dp *dp)
{
	if (!dp)
		return;
	nft_nl_close(&dp->nl);
	nft_sets_free(&dp->prog);
	desired_free(&dp->last);
	nft_lb_chains_free(&dp->lb);
	free(dp);
}

int nft_dp_genid(struct nft_dp *dp, uint32_t *id)
{
	return nft_read_genid(&dp->nl, id);
}

/* ---- adopting what the kernel holds ------------------------------------ */

/*
 * Reference counts of the shared elements read back from the kernel: the
 * next sync is a full one (no last desired state), which recounts them in
 * what it renders; until then one user each.
 */
static void rebuild_refs(struct nft_sets *prog)
{
	static const enum nft_set_id shared[] = {SET_CLUSTER_IPS, SET_HAIRPIN};

	for (size_t s = 0; s < 2; s++) {
		struct bytemap *set = &prog->s[shared[s]], *r = nft_sets_refs(prog, shared[s]);
		uint32_t one = 1;

		for (size_t i = 0; i < set->n; i++)
			bytemap_put(r, bytemap_key(set, i), &one, NULL);
	}
}

/*
 * Take the paths of the table from comment when it is ours but for them
 * (scope entering: the paths follow the content). Then dp's layout is the
 * kernel's and the table is adopted as it is.
 */
static void adopt_paths(struct nft_dp *dp, const char *comment)
{
	struct nft_layout_parsed lp;
	struct nft_layout_opts o = dp->rc.o;
	char layout[sizeof(dp->layout)];

	if (o.scope != NFT_SCOPE_ENTERING || nft_layout_parse(comment, &lp))
		return;
	o.paths = lp.paths;
	nft_layout_parsed_free(&lp);
	if (!nft_layout_comment(layout, sizeof(layout), dp->rc.family, &o) &&
	    !strcmp(layout, comment)) {
		dp->rc.o.paths = o.paths;
		memcpy(dp->layout, layout, sizeof(layout));
	}
}

/*
 * Set the paths the next sync builds (scope entering). A change of paths
 * is a change of layout: the table is rebuilt. 0, or -EINVAL when the
 * comment would not fit (it fitted with every path: cannot happen).
 */
static int want_paths(struct nft_dp *dp, unsigned paths)
{
	if (paths == dp->rc.o.paths)
		return 0;
	dp->rc.o.paths = paths;
	dp->layout_ok = false;
	return nft_layout_comment(dp->layout, sizeof(dp->layout), dp->rc.family, &dp->rc.o);
}

/* The table is absent or not ours to diff against: the next sync builds it anew. */
static void adopt_rebuild(struct nft_dp *dp, bool exists)
{
	nft_sets_free(&dp->prog);
	nft_lb_chains_free(&dp->lb);
	dp->table_exists = exists;
	dp->layout_ok = false;
}

int nft_dp_adopt(struct nft_dp *dp)
{
	struct nft_table_info ti;
	struct nft_lb_chains cc = {0};
	struct nft_sets got;
	int ret;

	/* whatever we remembered, the kernel's word counts now: the next sync is full */
	desired_free(&dp->last);
	dp->have_last = false;
	for (int tries = 0; tries < 5; tries++) {
		ret = nft_read_table(&dp->nl, &ti);
		if (ret)
			return ret;
		if (ti.found)
			adopt_paths(dp, ti.comment);
		if (!ti.found || strcmp(ti.comment, dp->layout)) {
			if (ti.found)
				log_info("nft",
				         "table %s %s has another layout (\"%s\"): it will be "
				         "replaced in one transaction",
				         dp->rc.family == AF_INET6 ? "ip6" : "ip", NFT_TABLE_NAME,
				         ti.comment);
			adopt_rebuild(dp, ti.found);
			return 0;
		}
		ret = nft_read_lb_chains(&dp->nl, &cc);
		if (!ret)
			ret = nft_read_all_sets(&dp->nl, &got);
		if (ret != -EINTR)
			break;
	}
	if (ret == -ENOENT) {
		/* a set of ours is missing: rebuild */
		nft_lb_chains_free(&cc);
		adopt_rebuild(dp, true);
		return 0;
	}
	if (ret) {
		nft_lb_chains_free(&cc);
		return ret;
	}
	nft_sets_free(&dp->prog);
	dp->prog = got;
	rebuild_refs(&dp->prog);
	nft_lb_chains_move(&dp->lb, &cc);
	dp->table_exists = true;
	dp->layout_ok = true;
	return 0;
}

/* ---- the batch of a sync ------------------------------------------------ */

/*
 * Append element i of s to the current element message (nft_txn_elems_start()
 * named the set and the operation). Deletions carry only the key (and key
 * end, for intervals).
 */
static void put_elem(struct nft_txn *t, const struct bytemap *s, size_t i, enum nft_data_kind dk)
{
	bool add = t->elem_type == NFT_MSG_NEWSETELEM;
	const char *comment = bytemap_comment(s, i);
	struct nlmsghdr *nlh;
	struct nlattr *el;

	nlh = nft_txn_elem(t, &el);
	nft_put_value(nlh, NFTA_SET_ELEM_KEY, bytemap_key(s, i), s->klen);
	if (dk == D_RANGE_END)
		nft_put_value(nlh, NFTA_SET_ELEM_KEY_END, bytemap_data(s, i), s->dlen);
	if (add && dk == D_VERDICT) {
		struct nlattr *nest, *v;
		enum nft_lb_kind kind;
		char chain[32];
		uint32_t k;

		nft_lb_unpack(bytemap_data(s, i), &kind, &k);
		nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
		mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN,
		                  nft_lb_chain_name(kind, k, chain, sizeof(chain)));
		mnl_attr_nest_end(nlh, v);
		mnl_attr_nest_end(nlh, nest);
	} else if (add && dk == D_DEST) {
		nft_put_value(nlh, NFTA_SET_ELEM_DATA, bytemap_data(s, i), s->dlen);
	}
	if (add && comment) {
		/* libnftnl udata TLV: type NFTNL_UDATA_SET_ELEM_COMMENT, length, text */
		uint8_t ud[2 + 255];
		size_t len = strlen(comment);

		if (len > 254)
			len = 254;
		ud[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
		ud[1] = (uint8_t)(len + 1);
		memcpy(ud + 2, comment, len);
		ud[2 + len] = '\0';
		mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, len + 3, ud);
	}
	nft_txn_elem_end(t, el);
}

struct diff_ctx {
	struct nft_txn *t;
	enum nft_set_id id;
	uint16_t type;
	bool started;
	size_t calls;
};

static void diff_put(void *ctx, const struct bytemap *s, size_t i)
{
	struct diff_ctx *dc = ctx;

	if (!dc->started) {
		nft_txn_elems_start(dc->t, dc->type, NFT_TABLE_NAME, nft_set_name(dc->id));
		dc->started = true;
	}
	put_elem(dc->t, s, i, nft_set_spec(dc->id)->data);
	dc->calls++;
}

static void diff_ignore(void *ctx, const struct bytemap *s, size_t i)
{
	(void)ctx;
	(void)s;
	(void)i;
}

/* What one sync sends, and what it learns on the way. */
struct sync_plan {
	const struct nft_ruleset_cfg *rc;
	bool rebuild;                         /* the skeleton first (deleting the table) */
	bool table_exists;                    /* ... which exists */
	const struct nft_lb_chains *existing; /* lb chains already there (not if rebuild) */
	struct nft_lb_chains created;         /* lb chains this batch creates */
	bool affinity_stale;                  /* endpoints or affinity changed */
	size_t changes;                       /* elements deleted + added */
	size_t chains;                        /* lb chains created */
};

/* The lb chains that new verdict elements of want jump to. */
static void plan_lb_chains(struct nft_txn *t, struct sync_plan *p, const struct nft_sets *want)
{
	for (int id = 0; id < SET_COUNT; id++) {
		const struct bytemap *w = &want->s[id];

		if (nft_set_spec((enum nft_set_id)id)->data != D_VERDICT)
			continue;
		for (size_t i = 0; i < w->n; i++) {
			enum nft_lb_kind kind;
			uint32_t k;

			nft_lb_unpack(bytemap_data(w, i), &kind, &k);
			if ((!p->rebuild && nft_lb_chains_has(p->existing, kind, k)) ||
			    nft_lb_chains_has(&p->created, kind, k))
				continue;
			nft_lb_chains_mark(&p->created, kind, k);
			nft_ruleset_put_lb_chain(t, kind, k);
			p->chains++;
		}
	}
}

/*
 * Add to t what takes the table from have to want: the skeleton first
 * when rebuilding, the lb chains new verdicts need, then the element
 * deletions and additions, set by set (deletions first, so a changed
 * element is deleted then added).
 */
static void plan_put(struct nft_txn *t, struct sync_plan *p, const struct nft_sets *have,
                     const struct nft_sets *want)
{
	if (p->rebuild) {
		if (p->table_exists)
			nft_ruleset_put_del_table(t);
		nft_ruleset_put(t, p->rc);
	}
	plan_lb_chains(t, p, want);
	for (int pass = 0; pass < 2; pass++) {
		for (int id = 0; id < SET_COUNT; id++) {
			enum nft_data_kind dk = nft_set_spec((enum nft_set_id)id)->data;
			struct diff_ctx dc = {
			    .t = t,
			    .id = (enum nft_set_id)id,
			    .type = pass ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
			};

			bytemap_diff(&have->s[id], &want->s[id], pass ? diff_ignore : diff_put,
			             pass ? diff_put : diff_ignore, &dc);
			nft_txn_elems_flush(t);
			p->changes += dc.calls;
			if (!pass && dc.calls &&
			    (dk == D_DEST || id == SET_AFFINITY_SERVICES ||
			     id == SET_AFFINITY_NODEPORTS))
				p->affinity_stale = true;
		}
	}
}

void nft_build_batch(const struct nft_dp_opts *o, const struct desired *ds, uint8_t **buf,
                     size_t *len)
{
	struct sync_plan p = {.rebuild = true};
	struct nft_ruleset_cfg rc;
	struct nft_sets want, empty;
	char layout[256];
	struct nft_txn t;
	struct nft_nl nl;
	const uint8_t *b;

	ruleset_cfg(o, layout, sizeof(layout), &rc);
	rc.o.paths = nft_scope_paths(o->scope, ds);
	nft_layout_comment(layout, sizeof(layout), o->family, &rc.o);
	p.rc = &rc;
	nft_nl_init_offline(&nl, o->family);
	nl.seq = 1; /* reproducible bytes */
	nft_render(o->scope, ds, &want);
	nft_sets_init(&empty, o->family);
	nft_txn_begin(&t, &nl);
	plan_put(&t, &p, &empty, &want);
	b = nft_txn_seal(&t, len);
	*buf = xmalloc(*len);
	memcpy(*buf, b, *len);
	nft_txn_free(&t);
	nft_lb_chains_free(&p.created);
	nft_sets_free(&want);
	nft_sets_free(&empty);
}

/*
 * One transaction taking the elements in have to those in want (the
 * skeleton first when the layout must be (re)built), with the lb chains
 * new verdicts need. Returns 0 or -errno; the kernel is unchanged on error.
 * On success the chains created are recorded in dp.
 */
static int sync_core(struct nft_dp *dp, const struct nft_sets *have, const struct nft_sets *want,
                     struct nft_sync_stats *st)
{
	struct sync_plan p = {
	    .rc = &dp->rc,
	    .rebuild = st->rebuilt,
	    .table_exists = dp->table_exists,
	    .existing = &dp->lb,
	};
	struct nft_txn t;
	int ret;

	nft_txn_begin(&t, &dp->nl);
	plan_put(&t, &p, have, want);
	st->changes = p.changes;
	st->chains = p.chains;
	ret = nft_txn_commit(&t);
	nft_txn_free(&t);
	if (!ret) {
		/* an endpoint left or moved, or affinity changed: check the recorded clients */
		dp->affinity_dirty |= p.affinity_stale && !st->rebuilt;
		if (st->rebuilt)
			nft_lb_chains_free(&dp->lb);
		for (int kind = 0; kind < LB_KINDS; kind++)
			for (uint32_t k = 0; k < p.created.n[kind]; k++)
				if (p.created.have[kind][k])
					nft_lb_chains_mark(&dp->lb, (enum nft_lb_kind)kind, k);
		dp->table_exists = true;
		dp->layout_ok = true;
	}
	nft_lb_chains_free(&p.created);
	return ret;
}

/* ---- sync ------------------------------------------------------------- */

/*
 * Keep every endpoint in the numgen slot it had where it can: an endpoint
 * added or removed then changes one or two map elements, not every slot
 * after it. want's slots (sorted order from nft_render) are reassigned in
 * place; which endpoints a Service has does not change.
 */
static void stabilize_slots(const struct nft_sets *have, struct nft_sets *want,
                            enum nft_set_id vmap, enum nft_set_id map)
{
	const struct bytemap *hv = &have->s[vmap], *hm = &have->s[map];
	struct bytemap *wv = &want->s[vmap], *wm = &want->s[map];
	uint32_t klen = wv->klen, dlen = wm->dlen;
	uint8_t key[NFT_MAX_KEY], *cur = NULL, *res = NULL;
	bool *used = NULL, *filled = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < wv->n; i++) {
		long hi = bytemap_find(hv, bytemap_key(wv, i));
		enum nft_lb_kind kind;
		uint32_t k_new, k_old;

		if (hi < 0)
			continue;
		nft_lb_unpack(bytemap_data(wv, i), &kind, &k_new);
		nft_lb_unpack(bytemap_data(hv, (size_t)hi), &kind, &k_old);
		if (k_new > cap) {
			cap = k_new;
			cur = xrealloc(cur, cap * dlen);
			res = xrealloc(res, cap * dlen);
			used = xrealloc(used, cap * sizeof(*used));
			filled = xrealloc(filled, cap * sizeof(*filled));
		}
		memcpy(key, bytemap_key(wv, i), klen);
		for (uint32_t slot = 0; slot < k_new; slot++) {
			long wi;

			memcpy(key + klen, &slot, 4);
			wi = bytemap_find(wm, key);
			if (wi < 0)
				goto next; /* not rendered by nft_render: leave it */
			memcpy(cur + slot * dlen, bytemap_data(wm, (size_t)wi), dlen);
			used[slot] = filled[slot] = false;
		}
		/* endpoints still present stay in their old slot when it still exists */
		for (uint32_t slot = 0; slot < k_old && slot < k_new; slot++) {
			long oi;

			memcpy(key + klen, &slot, 4);
			oi = bytemap_find(hm, key);
			if (oi < 0)
				continue;
			for (uint32_t j = 0; j < k_new; j++)
				if (!used[j] &&
				    !memcmp(cur + j * dlen, bytemap_data(hm, (size_t)oi), dlen)) {
					memcpy(res + slot * dlen, cur + j * dlen, dlen);
					used[j] = filled[slot] = true;
					break;
				}
		}
		/* the others fill the free slots in order */
		for (uint32_t slot = 0, j = 0; slot < k_new; slot++) {
			if (filled[slot])
				continue;
			while (used[j])
				j++;
			memcpy(res + slot * dlen, cur + j * dlen, dlen);
			used[j] = true;
		}
		for (uint32_t slot = 0; slot < k_new; slot++) {
			memcpy(key + klen, &slot, 4);
			bytemap_put(wm, key, res + slot * dlen, NULL);
		}
	next:;
	}
	free(cur);
	free(res);
	free(used);
	free(filled);
}

static void stabilize_all(const struct nft_sets *have, struct nft_sets *want)
{
	stabilize_slots(have, want, SET_CLUSTER_IP_PORTS, SET_BACKENDS);
	stabilize_slots(have, want, SET_SERVICE_IPS, SET_BACKENDS);
	stabilize_slots(have, want, SET_SERVICE_IPS_CLUSTER, SET_BACKENDS_CLUSTER);
	stabilize_slots(have, want, SET_NODEPORTS, SET_NP_BACKENDS);
	stabilize_slots(have, want, SET_NODEPORTS_CLUSTER, SET_NP_BACKENDS_CLUSTER);
}

/* Render everything and diff against what is programmed (or nothing). */
static int sync_full(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	struct nft_sets want, empty;
	int ret;

	nft_render(dp->rc.o.scope, ds, &want);
	nft_sets_init(&empty, dp->rc.family);
	st->rebuilt = !dp->layout_ok;
	if (!st->rebuilt)
		stabilize_all(&dp->prog, &want);
	ret = sync_core(dp, st->rebuilt ? &empty : &dp->prog, &want, st);
	nft_sets_free(&empty);
	if (ret) {
		nft_sets_free(&want);
		return ret;
	}
	nft_sets_free(&dp->prog);
	dp->prog = want;
	return 0;
}

/* Copy element i of src into dst (same layout). */
static void elem_copy(struct bytemap *dst, const struct bytemap *src, size_t i)
{
	bytemap_put(dst, bytemap_key(src, i), bytemap_data(src, i), bytemap_comment(src, i));
}

/* Render e into out when the table holds it (its scope). */
static void render_served(const struct nft_dp *dp, const struct entry *e, struct nft_sets *out)
{
	if (nft_scope_serves(dp->rc.o.scope, e))
		nft_render_entry(dp->rc.family, e, out);
}

/*
 * Only the entries that differ from the last sync: their old elements
 * (minus) and new ones (plus) give the keys this sync touches; the diff
 * runs on those keys alone, against what is programmed. Shared elements
 * (cluster_ips, hairpin) come and go with their reference counts.
 */
static int sync_incremental(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	const struct desired *old = &dp->last;
	struct nft_sets minus, plus, have, want;
	size_t i = 0, j = 0;
	int ret;

	nft_sets_init(&minus, dp->rc.family);
	nft_sets_init(&plus, dp->rc.family);
	while (i < old->n_entries || j < ds->n_entries) {
		int c = i == old->n_entries  ? 1
		        : j == ds->n_entries ? -1
		                             : entry_cmp(&old->entries[i], &ds->entries[j]);

		if (c == 0 && old->entries[i].label == ds->entries[j].label) {
			i++, j++; /* the very same entry object: unchanged */
			continue;
		}
		if (c <= 0)
			render_served(dp, &old->entries[i++], &minus);
		if (c >= 0)
			render_served(dp, &ds->entries[j++], &plus);
	}
	stabilize_all(&dp->prog, &plus);

	nft_sets_init(&have, dp->rc.family);
	nft_sets_init(&want, dp->rc.family);
	for (int id = 0; id < SET_COUNT; id++) {
		struct bytemap *pr = &dp->prog.s[id];
		struct bytemap *refs = nft_sets_refs(&dp->prog, (enum nft_set_id)id);

		for (int side = 0; side < 2; side++) {
			const struct bytemap *touched = side ? &plus.s[id] : &minus.s[id];

			for (size_t k = 0; k < touched->n; k++) {
				const uint8_t *key = bytemap_key(touched, k);
				long pi = bytemap_find(pr, key);

				if (pi >= 0)
					elem_copy(&have.s[id], pr, (size_t)pi);
				if (!refs) {
					if (side)
						elem_copy(&want.s[id], touched, k);
					continue;
				}
				/* a shared element stays while one entry still uses it */
				{
					uint32_t n =
					    nft_refs_get(refs, key) -
					    nft_refs_get(nft_sets_refs(&minus, (enum nft_set_id)id),
					                 key) +
					    nft_refs_get(nft_sets_refs(&plus, (enum nft_set_id)id),
					                 key);

					bytemap_put(nft_sets_refs(&want, (enum nft_set_id)id), key,
					            &n, NULL);
					if (n)
						bytemap_put(&want.s[id], key, NULL, NULL);
				}
			}
		}
	}

	st->rebuilt = false;
	ret = sync_core(dp, &have, &want, st);
	if (!ret) {
		/* the kernel now holds want on the touched keys */
		for (int id = 0; id < SET_COUNT; id++) {
			for (size_t k = 0; k < have.s[id].n; k++)
				if (bytemap_find(&want.s[id], bytemap_key(&have.s[id], k)) < 0)
					bytemap_del(&dp->prog.s[id], bytemap_key(&have.s[id], k));
			for (size_t k = 0; k < want.s[id].n; k++)
				elem_copy(&dp->prog.s[id], &want.s[id], k);
			if (nft_sets_refs(&want, (enum nft_set_id)id)) {
				struct bytemap *wr = nft_sets_refs(&want, (enum nft_set_id)id),
				               *pr = nft_sets_refs(&dp->prog, (enum nft_set_id)id);

				for (size_t k = 0; k < wr->n; k++) {
					uint32_t n;

					memcpy(&n, bytemap_data(wr, k), 4);
					if (n)
						elem_copy(pr, wr, k);
					else
						bytemap_del(pr, bytemap_key(wr, k));
				}
			}
		}
	}
	nft_sets_free(&minus);
	nft_sets_free(&plus);
	nft_sets_free(&have);
	nft_sets_free(&want);
	return ret;
}

/* Is the endpoint d (addr . port) in one of the slots of key's element of vmap? */
static bool slot_has(const struct nft_sets *p, enum nft_set_id vmap, const uint8_t *key,
                     const uint8_t *d)
{
	long vi = bytemap_find(&p->s[vmap], key);
	struct nft_slots it;

	if (vi < 0)
		return false;
	nft_slots_begin(&it, p, &p->s[vmap], (size_t)vi);
	for (uint32_t slot = 0; slot < it.k; slot++) {
		long bi = nft_slot(&it, slot);

		if (bi >= 0 && !memcmp(bytemap_data(it.map, (size_t)bi), d, it.map->dlen))
			return true;
	}
	return false;
}

/*
 * Forget the clients recorded in @affinity whose endpoint is no longer one
 * of their Service's, or whose Service has no affinity any more; the others
 * keep theirs (kube-proxy keeps affinity per endpoint). A transaction of its
 * own after the sync: for a moment a client may still go to an endpoint
 * that left, as with a connection already open. An element that expires
 * in between makes the deletion fail; it was going anyway.
 */
static void affinity_prune(struct nft_dp *dp)
{
	int fam = dp->rc.family;
	size_t al = nft_addr_len(fam);
	const struct nft_sets *p = &dp->prog;
	struct bytemap rec, doomed;
	struct nft_txn t;
	int ret;

	bytemap_init(&rec, nft_key_len(K_AAPT, fam), nft_data_len(SET_AFFINITY, fam));
	bytemap_init(&doomed, nft_key_len(K_AAPT, fam), 0);
	ret = nft_read_elems(&dp->nl, SET_AFFINITY, &rec);
	for (size_t i = 0; !ret && i < rec.n; i++) {
		const uint8_t *key = bytemap_key(&rec, i), *d = bytemap_data(&rec, i);
		const uint8_t *k3 = key + al, *k2 = key + 2 * al; /* service . proto . port */
		bool ok;

		if (bytemap_find(&p->s[SET_AFFINITY_SERVICES], k3) >= 0)
			ok = slot_has(p, SET_CLUSTER_IP_PORTS, k3, d) ||
			     slot_has(p, SET_SERVICE_IPS, k3, d) ||
			     slot_has(p, SET_SERVICE_IPS_CLUSTER, k3, d);
		else if (bytemap_find(&p->s[SET_AFFINITY_NODEPORTS], k2) >= 0)
			ok = slot_has(p, SET_NODEPORTS, k2, d) ||
			     slot_has(p, SET_NODEPORTS_CLUSTER, k2, d);
		else
			ok = false;
		if (!ok)
			bytemap_put(&doomed, key, NULL, NULL);
	}
	if (!ret && doomed.n) {
		nft_txn_begin(&t, &dp->nl);
		nft_txn_elems_start(&t, NFT_MSG_DELSETELEM, NFT_TABLE_NAME,
		                    nft_set_name(SET_AFFINITY));
		for (size_t i = 0; i < doomed.n; i++)
			put_elem(&t, &doomed, i, D_NONE);
		ret = nft_txn_commit(&t);
		nft_txn_free(&t);
		if (!ret)
			log_debug("nft", "affinity: forgot %zu client(s) of endpoints that left",
			          doomed.n);
	}
	if (ret)
		log_debug("nft", "affinity: pruning failed (%s); the entries expire by themselves",
		          strerror(-ret));
	dp->affinity_dirty = false;
	bytemap_free(&rec);
	bytemap_free(&doomed);
}

int nft_dp_sync(struct nft_dp *dp, const struct desired *ds, struct nft_sync_stats *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	ret = want_paths(dp, nft_scope_paths(dp->rc.o.scope, ds));
	if (ret)
		return ret;
	if (dp->layout_ok && dp->have_last && dp->last.family == ds->family)
		ret = sync_incremental(dp, ds, st);
	else
		ret = sync_full(dp, ds, st);
	if (ret)
		return ret;
	desired_free(&dp->last);
	desired_copy(&dp->last, ds);
	dp->have_last = true;
	if (dp->affinity_dirty)
		affinity_prune(dp);
	return 0;
}

int nft_cleanup(int family)
{
	struct nft_table_info ti;
	struct nft_txn t;
	struct nft_nl nl;
	int ret = nft_nl_open(&nl, family);

	if (ret)
		return ret;
	ret = nft_read_table(&nl, &ti);
	if (!ret && ti.found) {
		nft_txn_begin(&t, &nl);
		nft_ruleset_put_del_table(&t);
		ret = nft_txn_commit(&t);
		nft_txn_free(&t);
	}
	nft_nl_close(&nl);
	return ret;
}
