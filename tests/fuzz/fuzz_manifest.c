/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_manifest.c - libFuzzer target for the manifest decoder.
 *
 * Manifests are untrusted input (anyone who can write the directory), so
 * every byte sequence must decode or be rejected without a crash, a leak
 * or undefined behaviour. Input that starts like JSON gets a .json name
 * (read as YAML all the same); inputs of odd length are decoded with
 * cluster settings (a node port range, an externalIP allow-list), so those
 * checks are exercised too.
 */
#include <stddef.h>
#include <stdint.h>

#include "source/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decode_rejects rej = {0};
	struct model m = {0};
	struct diag d = {0};
	const char *origin = size && (data[0] == '{' || data[0] == '[') ? "fuzz.json" : "fuzz.yaml";
	static struct cidr allow[2];
	static const struct decode_opts opts = {.node_port_min = 1,
	                                        .node_port_max = 40000,
	                                        .external_ip_cidrs = allow,
	                                        .n_external_ip_cidrs = 2};

	if (!allow[0].addr.family) {
		cidr_parse("10.0.0.0/8", &allow[0]);
		cidr_parse("fd00::/8", &allow[1]);
	}

	manifest_decode_buffer(origin, (const char *)data, size, size % 2 ? &opts : NULL, &m, &d,
	                       &rej);
	model_free(&m);
	diag_clear(&d);
	decode_rejects_clear(&rej);
	return 0;
}
