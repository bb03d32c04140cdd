/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_kubeconfig.c - libFuzzer target for the kubeconfig reader.
 *
 * A kubeconfig is handed to svcproxy by whoever deploys it and is often
 * generated: every byte sequence must load or be rejected with a message,
 * without a crash, a leak or undefined behaviour. A success must leave a
 * config within the contract of kubeconfig.h. Inputs of odd length are
 * read with --master given too.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "source/kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A config all of whose pointers are NULL and sizes 0. */
static bool zeroed(const struct kube_config *c)
{
	static const struct kube_config zero;

	return !memcmp(c, &zero, sizeof(zero));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *master = size % 2 ? "https://master.example:6443/" : NULL;
	struct diag d = {0};
	struct kube_config c;
	char hint[300];
	int ret;

	ret = kube_config_parse("/etc/kubernetes/fuzz.conf", (const char *)data, size, master, &c,
	                        &d);
	if (ret == 0) {
		size_t n = strlen(c.server);

		if (strncmp(c.server, "https://", 8) || n <= 8 || c.server[n - 1] == '/' ||
		    !c.origin || d.n)
			abort();
		/* a client certificate goes with its key; at most one of file and data */
		if (!(c.cert_file || c.cert_data) != !(c.key_file || c.key_data) ||
		    (c.cert_file && c.cert_data) || (c.key_file && c.key_data) ||
		    (c.ca_file && c.ca_data) || (c.token && c.token_file))
			abort();
		if ((c.cert_file && c.cert_file[0] != '/') ||
		    (c.key_file && c.key_file[0] != '/') || (c.ca_file && c.ca_file[0] != '/') ||
		    (c.token_file && c.token_file[0] != '/'))
			abort(); /* relative names are the kubeconfig's directory's */
		if (!kube_config_cred_hint(&c, hint, sizeof(hint))[0])
			abort();
		kube_config_free(&c);
	} else if (!d.n || !zeroed(&c)) {
		abort(); /* every rejection says why, and leaves nothing behind */
	}
	diag_clear(&d);
	return 0;
}
