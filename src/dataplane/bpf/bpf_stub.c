/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_stub.c - the bpf dataplane's API when svcproxy is built without it
 * (clang, bpftool or libbpf-dev missing at build time; meson warned).
 * --dataplane bpf then fails at start, saying why: never a silent fallback.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "dataplane/bpf/bpf_dp.h"

struct bpf_dp *bpf_dp_open(const struct bpf_dp_opts *o)
{
	log_err("bpf", "this svcproxy was built without the bpf dataplane (clang, bpftool and "
	               "libbpf-dev were missing at build time)");
	errno = ENOTSUP;
	return NULL;
}

void bpf_dp_close(struct bpf_dp *dp)
{
}

int bpf_dp_adopt(struct bpf_dp *dp)
{
	return -ENOTSUP;
}

int bpf_dp_sync(struct bpf_dp *dp, const struct desired *ds, size_t n,
                const struct ipaddr *np_addrs, size_t n_np_addrs, struct bpf_sync_stats *st)
{
	memset(st, 0, sizeof(*st));
	return -ENOTSUP;
}

int bpf_cleanup(const char *pin_path)
{
	return 0; /* nothing of ours can be pinned */
}

int bpf_stats_read(const char *pin_path, struct bpf_stats *st)
{
	memset(st, 0, sizeof(*st));
	return -ENOTSUP;
}

int bpf_show(const char *pin_path, FILE *f)
{
	return -ENOENT;
}

int bpf_trace(const char *pin_path, const struct ipaddr *addr, uint16_t port, uint8_t proto,
              FILE *f)
{
	return 0;
}

int bpf_cgroup2_mount(char *buf, size_t len)
{
	return -ENOTSUP;
}
