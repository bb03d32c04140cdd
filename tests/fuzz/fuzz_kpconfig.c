/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_kpconfig.c - libFuzzer target for the KubeProxyConfiguration decoder.
 *
 * The file comes from a ConfigMap anyone with edit rights in kube-system
 * can change: every byte sequence must decode or be rejected with a
 * message, without a crash, a leak or undefined behaviour. A success must
 * leave a config within the contract of kpconfig.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cmd/kpconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag errs = {0}, warns = {0};
	struct kpconfig c;
	int ret = kpconfig_decode("fuzz.yaml", (const char *)data, size, &c, &errs, &warns);

	if (ret == 0) {
		/* a valid config always has the defaults filled in */
		if (!c.healthz_addr || !c.metrics_addr || !(c.sync_period > 0) ||
		    c.min_sync_period < 0 || errs.n)
			abort();
		kpconfig_free(&c);
	} else if (!errs.n) {
		abort(); /* every rejection says why */
	}
	diag_clear(&errs);
	diag_clear(&warns);
	return 0;
}
