/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_manifest.c - libFuzzer target for the manifest decoder.
 *
 * Manifests are untrusted input (anyone who can write the directory), so
 * every byte sequence must decode or be rejected without a crash, a leak
 * or undefined behaviour. Input that starts like JSON gets a .json name,
 * so both of libfyaml's input modes are exercised.
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

	manifest_decode_buffer(origin, (const char *)data, size, NULL, &m, &d, &rej);
	model_free(&m);
	diag_clear(&d);
	decode_rejects_clear(&rej);
	return 0;
}
