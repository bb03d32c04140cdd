/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cleanup.c - `svcproxy cleanup`: remove svcproxy's tables and pinned bpf objects.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cmd/cmd.h"
#include "dataplane/bpf/bpf_dp.h"
#include "dataplane/nft.h"

int cmd_cleanup(const struct options *o)
{
	static const int families[] = {AF_INET, AF_INET6};
	int status = bpf_cleanup(o->bpf_pin_path) ? EXIT_RUNTIME : EXIT_OK;

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		int ret = nft_cleanup(families[f]);

		if (ret) {
			fprintf(stderr, "svcproxy cleanup: cannot remove table %s %s: %s\n",
			        families[f] == AF_INET ? "ip" : "ip6", NFT_TABLE_NAME,
			        strerror(-ret));
			status = EXIT_RUNTIME;
		}
	}
	return status;
}
