/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * check.c - `svcproxy check`: validate manifests, touch nothing.
 */
#include <stdio.h>
#include <sys/socket.h>

#include "cmd/cmd.h"
#include "compile/compile.h"
#include "daemon/nodelocal.h"
#include "source/manifest.h"

int cmd_check(const struct options *o)
{
	static const int families[] = {AF_INET, AF_INET6};
	struct manifest_source *src = manifest_source_new(o->manifests, o->n_manifests);
	struct diag d = {0};
	struct model m = {0};
	struct desired ds = {0};
	struct node_local nl = {0};
	int problems;
	size_t n = 0, warnings;

	manifest_source_set_decode_opts(src, &o->decode);
	problems = manifest_source_load(src, &d);
	/* the node check runs on: its addresses and listeners (reading them needs no privilege) */
	node_local_read_addrs(&nl);
	node_local_read_listeners(&nl);
	if (problems >= 0 && manifest_source_model(src, &m, &d) == 0) {
		/*
		 * compile too: it reports address:port conflicts between Services and
		 * ClusterIPs that are this node's addresses; and what would capture a
		 * port a process of this node listens on
		 */
		for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
			struct compile_opts co = {
			    .hostname = "",
			    .family = families[f],
			    .node_addrs = nl.addrs,
			    .n_node_addrs = nl.n_addrs,
			};
			struct diag fd = {0};

			compile(&m, &co, &ds, f ? &fd : &d); /* conflicts show in both families */
			node_local_filter(&nl, &ds, &d);
			diag_clear(&fd);
			desired_free(&ds);
		}
		printf("%zu services, %zu endpoint slices, %zu nodes\n", m.n_services, m.n_slices,
		       m.n_nodes);
	}
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.msgs[i]);
	n = diag_errors(&d); /* warnings do not fail the check */
	warnings = d.n_warnings;
	diag_clear(&d);
	desired_free(&ds);
	model_free_view(&m);
	manifest_source_free(src);
	node_local_free(&nl);
	if (n)
		fprintf(stderr, "%zu problem%s found\n", n, n == 1 ? "" : "s");
	else if (warnings)
		fprintf(stderr, "%zu warning%s, no problem\n", warnings, warnings == 1 ? "" : "s");
	return n || problems ? EXIT_USAGE : EXIT_OK;
}
