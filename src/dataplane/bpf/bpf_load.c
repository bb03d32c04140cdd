/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bpf_load.c - load the socket programs, pin and adopt maps and links,
 * attach to the cgroup; cleanup. The Service content of the maps is
 * bpf_sync.c's.
 *
 * Restart without a gap: the links pinned by the last run keep its
 * programs attached while no daemon runs; a new run loads its programs
 * against the same (pinned, reused) maps and swaps them into the links
 * with BPF_LINK_UPDATE, which is atomic for the cgroup.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "common/mem.h"
#include "dataplane/bpf/bpf_int.h"
#include "sock.skel.h"

const char *const bpf_map_names[] = {
    "sp_services4", "sp_services6",  "sp_slots", "sp_affinity",   "sp_revnat",
    "sp_stats",     "sp_node_addrs", "sp_sock",  "sp_conn_slots", "sp_filter"};
#define N_MAPS (sizeof(bpf_map_names) / sizeof(bpf_map_names[0]))
const size_t bpf_n_maps = N_MAPS;

/*
 * Pins of maps earlier versions had and this one has not (sp_conns: a hash
 * before sp_conn_slots; sp_services: both families in one map before
 * sp_services4 and sp_services6). A restart over such a version's pins
 * adopts the rest and unpins these once its own programs run in the links:
 * the old programs were their last users. svcproxy cleanup removes them too.
 */
static const char *const legacy_map_names[] = {"sp_conns", "sp_services"};

/*
 * Over the pins of a version with one sp_services, these maps start anew
 * (replacing their pins once the first sync has filled them, as for a
 * layout change): the Service maps are new, and the Service ids that key
 * sp_slots and sp_affinity are that version's.
 */
static const char *const renewed_by_sp_services[] = {"sp_services4", "sp_services6", "sp_slots",
                                                     "sp_affinity"};
#define N_LEGACY (sizeof(legacy_map_names) / sizeof(legacy_map_names[0]))

/* Link pins: "link_" + the program's name. */
static const char *const prog_names[] = {
    "sp_connect4", "sp_connect6",     "sp_sendmsg4",     "sp_sendmsg6", "sp_recvmsg4",
    "sp_recvmsg6", "sp_getpeername4", "sp_getpeername6", "sp_release",
};
#define N_PROGS (sizeof(prog_names) / sizeof(prog_names[0]))

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * libbpf's messages into our log: warnings as warnings, its debug chatter
 * dropped. A verifier log can be long, and its reason for a refusal is at
 * its end: a long message keeps its first line and its last LOG_TAIL bytes.
 */
#define LOG_TAIL 1536
static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char *buf = NULL, *nl;
	int n;

	if (lvl == LIBBPF_DEBUG)
		return 0;
	n = vasprintf(&buf, fmt, ap);
	if (n < 0)
		return 0;
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	nl = strchr(buf, '\n');
	if (n > 2 * LOG_TAIL && nl)
		log_msg(LOG_LVL_WARN, "libbpf", "%.*s\n...\n%s", (int)(nl - buf), buf,
		        buf + n - LOG_TAIL);
	else
		log_msg(lvl == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "libbpf", "%s", buf);
	free(buf);
	return 0;
}

int bpf_cgroup2_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (ret && fgets(line, sizeof(line), f)) {
		char mnt[4096], *sep = strstr(line, " - ");

		/* id parent major:minor root mountpoint ... - fstype source options */
		if (!sep || strncmp(sep, " - cgroup2 ", 11) ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if (strlen(mnt) >= len)
			continue;
		strcpy(buf, mnt);
		ret = 0;
	}
	fclose(f);
	return ret;
}

/*
 * In a bpffs svcproxy mounted itself, a directory that says so: cleanup
 * unmounts that bpffs once nothing but this is left in it, and never one
 * mounted by anyone else (systemd's /sys/fs/bpf). (No '.' in it: bpffs
 * keeps such names for its own files, maps.debug and progs.debug.)
 */
#define MOUNTED_MARK "svcproxy_mounted"

/*
 * Whether dir is a directory with no entry but . and ..; in_bpffs: nor
 * but MOUNTED_MARK and bpffs's own files (a '.' in the name).
 */
static bool dir_empty(const char *dir, bool in_bpffs)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = d != NULL;

	while (d && empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		        (in_bpffs && (strchr(e->d_name, '.') || !strcmp(e->d_name, MOUNTED_MARK)));
	if (d)
		closedir(d);
	return empty;
}

/* The directory holding pin_path (malloc'ed), or NULL when it names none but /. */
static char *pin_parent(const char *pin_path)
{
	char *parent = xstrdup(pin_path), *slash = strrchr(parent, '/');

	if (!slash || slash == parent) {
		free(parent);
		return NULL;
	}
	*slash = '\0';
	return parent;
}

static bool is_bpffs(const char *path)
{
	struct statfs sfs;

	return statfs(path, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC;
}

/*
 * A bpffs at the pin path's parent, and the pin directory. When the parent
 * is no bpffs, one is mounted there (as Cilium does: no pins that outlive
 * us otherwise), but only on an empty directory: a bpffs mounted on, say,
 * /sys/fs (--bpf-pin-path /sys/fs/bpf) would hide every mount below it.
 */
static int prepare_pin_dir(const char *pin_path)
{
	char *parent = pin_parent(pin_path);
	struct statfs sfs;
	int ret = 0;

	if (!parent) {
		log_err("bpf", "--bpf-pin-path %s: needs a parent directory for the bpffs",
		        pin_path);
		return -EINVAL;
	}
	if (statfs(parent, &sfs) < 0) {
		ret = -errno;
		log_err("bpf", "bpffs directory %s: %s", parent, strerror(errno));
	} else if (sfs.f_type == BPF_FS_MAGIC) {
		/* the pins go in it */
	} else if (is_bpffs(pin_path)) {
		log_err("bpf",
		        "--bpf-pin-path %s is the root of a bpffs: give a directory in it, "
		        "such as %s/svcproxy",
		        pin_path, pin_path);
		ret = -EINVAL;
	} else if (!dir_empty(parent, false)) {
		log_err("bpf",
		        "no bpffs at %s, and it is no empty directory to mount one on: mount a "
		        "bpffs there, or give a --bpf-pin-path in one (default %s)",
		        parent, BPF_DEFAULT_PIN_PATH);
		ret = -ENOTEMPTY;
	} else if (mount("bpffs", parent, "bpf", 0, "mode=0700") < 0) {
		ret = -errno;
		log_err("bpf", "no bpffs at %s, and mounting one failed: %s", parent,
		        strerror(errno));
	} else {
		char *mark = xasprintf("%s/" MOUNTED_MARK, parent);

		log_info("bpf", "mounted a bpffs at %s", parent);
		mkdir(mark, 0700); /* without it, cleanup leaves the mount: no harm */
		free(mark);
	}
	if (!ret && mkdir(pin_path, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_err("bpf", "cannot create pin directory %s: %s", pin_path, strerror(errno));
	}
	free(parent);
	return ret;
}

/* The pid holding a flock on fd's file, from /proc/locks; 0 when it cannot be told. */
static int flock_holder(int fd)
{
	unsigned maj, min;
	unsigned long ino;
	struct stat st;
	char line[256];
	int pid = 0, p;
	FILE *f;

	if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (!pid && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d: FLOCK %*s WRITE %d %x:%x:%lu", &p, &maj, &min, &ino) == 4 &&
		    maj == major(st.st_dev) && min == minor(st.st_dev) && ino == st.st_ino)
			pid = p;
	fclose(f);
	return pid;
}

/*
 * The pin directory, locked for as long as the dataplane is open (the lock
 * goes with the process, kill -9 included). The instance lock is per
 * network namespace, the pins are not: two svcproxy given one pin path from
 * two namespaces would write each other's Services into one set of maps and
 * move the links, the programs with them, to their own cgroup.
 */
static int lock_pin_dir(struct bpf_dp *dp)
{
	int fd = open(dp->pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), pid;
	char who[32];

	if (fd < 0) {
		int err = errno;

		log_err("bpf", "pin directory %s: %s", dp->pin_path, strerror(err));
		return -err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		dp->pin_fd = fd;
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		int err = errno;

		log_err("bpf", "cannot lock pin directory %s: %s", dp->pin_path, strerror(err));
		close(fd);
		return -err;
	}
	pid = flock_holder(fd);
	who[0] = '\0';
	if (pid > 0)
		snprintf(who, sizeof(who), " (pid %d)", pid);
	log_err("bpf",
	        "--bpf-pin-path %s is in use by another svcproxy%s: stop it first, or give each "
	        "svcproxy (one per network namespace) a pin path and a cgroup of its own",
	        dp->pin_path, who);
	close(fd);
	return -EBUSY;
}

/* The cgroup id a pinned link is attached to; 0 when it cannot be told. */
static uint64_t link_cgroup(int fd)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_CGROUP)
		return 0;
	return info.cgroup.cgroup_id;
}

/*
 * Attach prog to the cgroup through the link pinned at path: the pinned
 * link when it is on this cgroup (its program swapped for ours, no gap),
 * else a new link, pinned.
 */
static int attach_one(struct bpf_program *prog, int cg_fd, uint64_t cg_id, const char *path)
{
	int fd = bpf_obj_get(path), prog_fd = bpf_program__fd(prog);

	if (fd >= 0 && link_cgroup(fd) == cg_id) {
		if (bpf_link_update(fd, prog_fd, NULL) == 0) {
			close(fd);
			return 0;
		}
		log_warn("bpf", "cannot update pinned link %s: %s; attaching anew", path,
		         strerror(errno));
	}
	if (fd >= 0) { /* another cgroup (or stale): the new link replaces it */
		close(fd);
		unlink(path);
	}
	fd = bpf_link_create(prog_fd, cg_fd, bpf_program__expected_attach_type(prog), NULL);
	if (fd < 0) {
		int err = errno;

		log_err("bpf", "cannot attach %s to the cgroup: %s%s", bpf_program__name(prog),
		        strerror(err),
		        err == EINVAL || err == EOPNOTSUPP
		            ? " (does this kernel have cgroup sock_addr hooks and BPF links?)"
		            : "");
		return -err;
	}
	if (bpf_obj_pin(fd, path) < 0) {
		int err = errno;

		log_err("bpf", "cannot pin link %s: %s", path, strerror(err));
		close(fd);
		return -err;
	}
	close(fd);
	return 0;
}

/* The cgroup the programs go to, open: 0, or -errno (logged) when it is no cgroup v2 directory. */
static int open_cgroup(struct bpf_dp *dp, const char *cgroup)
{
	struct statfs sfs;
	struct stat st;
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
		ret = -errno;
		log_err("bpf", "cgroup %s: %s", cgroup, strerror(errno));
	} else if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		ret = -ENOTDIR;
		log_err("bpf", "--cgroup-root %s is not a cgroup v2 directory", cgroup);
	}
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	dp->cg_fd = fd;
	dp->cg_id = (uint64_t)st.st_ino;
	return 0;
}

/*
 * Warn about connect4 programs of another svcproxy attached to our cgroup
 * itself: links pinned under another --bpf-pin-path (another instance, or
 * an earlier run's pins never cleaned up). Attached before ours, they run
 * first and translate with their own, stale, maps. (Programs attached to a
 * parent cgroup run after ours: a node's svcproxy over a nested one is fine.)
 */
static void warn_foreign(const struct bpf_dp *dp)
{
	struct bpf_prog_info info;
	uint32_t ids[64], cnt = 64, flags = 0, len = sizeof(info), ours, n = 0, first = 0;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_program__fd(dp->skel->progs.sp_connect4), &info, &len))
		return;
	ours = info.id;
	if (bpf_prog_query(dp->cg_fd, BPF_CGROUP_INET4_CONNECT, 0, &flags, ids, &cnt))
		return;
	for (uint32_t i = 0; i < cnt; i++) {
		int fd = ids[i] == ours ? -1 : bpf_prog_get_fd_by_id(ids[i]);

		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strcmp(info.name, "sp_connect4") && !n++)
			first = ids[i];
		if (fd >= 0)
			close(fd);
	}
	if (n)
		log_warn("bpf",
		         "cgroup %s also runs %u sp_connect4 program%s not pinned under %s "
		         "(prog id %u): another svcproxy's, or pins of an earlier run under "
		         "another --bpf-pin-path ('svcproxy cleanup --bpf-pin-path OLD' removes "
		         "them); attached first, they translate first, with their own maps",
		         dp->cgroup, n, n == 1 ? "" : "s", dp->pin_path, first);
}

static int attach_all(struct bpf_dp *dp)
{
	struct bpf_program *progs[N_PROGS] = {
	    dp->skel->progs.sp_connect4,     dp->skel->progs.sp_connect6,
	    dp->skel->progs.sp_sendmsg4,     dp->skel->progs.sp_sendmsg6,
	    dp->skel->progs.sp_recvmsg4,     dp->skel->progs.sp_recvmsg6,
	    dp->skel->progs.sp_getpeername4, dp->skel->progs.sp_getpeername6,
	    dp->skel->progs.sp_release,
	};
	int ret = 0;

	for (size_t i = 0; i < N_PROGS && !ret; i++) {
		char *path = xasprintf("%s/link_%s", dp->pin_path, prog_names[i]);

		ret = attach_one(progs[i], dp->cg_fd, dp->cg_id, path);
		free(path);
	}
	if (!ret)
		warn_foreign(dp);
	return ret;
}

/*
 * Whether the map pinned at path (if any) has map's layout, as libbpf
 * requires to reuse it: type, key and value size, max entries, flags.
 */
static bool pin_compatible(const struct bpf_map *map, const char *path)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool ok;

	if (fd < 0) /* no pin (or none we can read: libbpf says why) */
		return true;
	memset(&info, 0, sizeof(info));
	ok = bpf_obj_get_info_by_fd(fd, &info, &len) != 0 ||
	     (info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
	      info.value_size == bpf_map__value_size(map) &&
	      info.max_entries == bpf_map__max_entries(map) &&
	      info.map_flags == bpf_map__map_flags(map));
	close(fd);
	return ok;
}

/* The skeleton's maps in bpf_map_names' order. */
static void skel_maps(const struct bpf_dp *dp, struct bpf_map *maps[])
{
	struct bpf_map *m[] = {dp->skel->maps.sp_services4,  dp->skel->maps.sp_services6,
	                       dp->skel->maps.sp_slots,      dp->skel->maps.sp_affinity,
	                       dp->skel->maps.sp_revnat,     dp->skel->maps.sp_stats,
	                       dp->skel->maps.sp_node_addrs, dp->skel->maps.sp_sock,
	                       dp->skel->maps.sp_conn_slots, dp->skel->maps.sp_filter};

	_Static_assert(sizeof(m) / sizeof(m[0]) == sizeof(bpf_map_names) / sizeof(bpf_map_names[0]),
	               "one map per name");
	memcpy(maps, m, sizeof(m));
}

/*
 * Every bit of sp_filter set, before our programs go into the links: every
 * address is looked up until the first sync writes the filter of the maps'
 * content (a filter of an earlier run may miss what this one adds first).
 */
static int filter_open(struct bpf_dp *dp)
{
	struct sp_filter *all = xmalloc(sizeof(*all));
	const uint32_t zero = 0;
	int ret = 0;

	memset(all, 0xff, sizeof(*all));
	if (bpf_map_update_elem(dp->fd_filter, &zero, all, BPF_ANY)) {
		ret = -errno;
		log_err("bpf", "cannot write map sp_filter: %s", strerror(errno));
	}
	free(all);
	return ret;
}

/* Whether map i must not take over its pin, though compatible: renewed_by_sp_services. */
static bool renewed(const struct bpf_dp *dp, size_t i)
{
	char *path = xasprintf("%s/sp_services", dp->pin_path);
	bool old = access(path, F_OK) == 0;

	free(path);
	for (size_t j = 0; old && j < sizeof(renewed_by_sp_services) / sizeof(char *); j++)
		if (!strcmp(bpf_map_names[i], renewed_by_sp_services[j]))
			return true;
	return false;
}

static int load(struct bpf_dp *dp)
{
	struct bpf_map *maps[N_MAPS];
	int ret;

	skel_maps(dp, maps);
	for (size_t i = 0; i < bpf_n_maps; i++) {
		char *path = xasprintf("%s/%s", dp->pin_path, bpf_map_names[i]);

		if (renewed(dp, i)) {
			log_info("bpf",
			         "%s starts anew over the pins of an earlier svcproxy (one "
			         "sp_services map): pinned once the first sync has filled it",
			         path);
			dp->repin |= 1u << i;
			ret = 0;
		} else if (pin_compatible(maps[i], path)) {
			ret = bpf_map__set_pin_path(maps[i], path);
		} else {
			/* created unpinned; pinned in its place by bpf_dp_attach_pending() */
			log_warn("bpf",
			         "%s was pinned by an svcproxy with another layout of that map: a "
			         "new one replaces it once the first sync has filled it (what it "
			         "held, such as sessionAffinity, starts anew)",
			         path);
			dp->repin |= 1u << i;
			ret = 0;
		}
		free(path);
		if (ret)
			return ret;
	}
	/* reuses the pinned maps when they are compatible, creates and pins them otherwise */
	ret = sp_sock__load(dp->skel);
	if (ret) {
		log_err("bpf",
		        "cannot load the socket programs: %s (svcproxy needs CAP_BPF, CAP_PERFMON "
		        "or CAP_SYS_ADMIN (without either the verifier refuses their map "
		        "arithmetic, as a Spectre v1 guard) and CAP_NET_ADMIN, and a kernel with "
		        "cgroup sock_addr hooks and bpf_set_retval, Linux 5.18 or later; pins "
		        "that cannot be reused: svcproxy cleanup --bpf-pin-path %s)",
		        strerror(-ret), dp->pin_path);
		return ret;
	}
	dp->fd_services4 = bpf_map__fd(dp->skel->maps.sp_services4);
	dp->fd_services6 = bpf_map__fd(dp->skel->maps.sp_services6);
	dp->fd_slots = bpf_map__fd(dp->skel->maps.sp_slots);
	dp->fd_affinity = bpf_map__fd(dp->skel->maps.sp_affinity);
	dp->fd_revnat = bpf_map__fd(dp->skel->maps.sp_revnat);
	dp->fd_node_addrs = bpf_map__fd(dp->skel->maps.sp_node_addrs);
	dp->fd_filter = bpf_map__fd(dp->skel->maps.sp_filter);
	return filter_open(dp);
}

struct bpf_dp *bpf_dp_open(const struct bpf_dp_opts *o)
{
	struct bpf_dp *dp = xcalloc(1, sizeof(*dp));
	char cg[4096];
	const char *cgroup = o->cgroup_root;
	int ret;

	dp->cg_fd = -1;
	dp->pin_fd = -1;
	libbpf_set_print(libbpf_log);
	dp->pin_path = xstrdup(o->pin_path ? o->pin_path : BPF_DEFAULT_PIN_PATH);
	bytemap_init(&dp->index, sizeof(struct sp_svc_key), sizeof(uint32_t));
	bytemap_init(&dp->node_addrs, sizeof(struct sp_node_key), 0);
	dp->need_adopt = true;
	if (!cgroup) {
		ret = bpf_cgroup2_mount(cg, sizeof(cg));
		if (ret) {
			log_err("bpf", "no cgroup v2 mount found in /proc/self/mountinfo: the bpf "
			               "dataplane needs cgroup v2 (or give --cgroup-root PATH)");
			goto fail;
		}
		cgroup = cg;
	}
	ret = open_cgroup(dp, cgroup);
	if (!ret)
		ret = prepare_pin_dir(dp->pin_path);
	if (!ret)
		ret = lock_pin_dir(dp);
	if (ret)
		goto fail;
	dp->skel = sp_sock__open();
	if (!dp->skel) {
		ret = -errno;
		log_err("bpf", "cannot open the embedded BPF object: %s", strerror(errno));
		goto fail;
	}
	ret = load(dp);
	if (ret)
		goto fail;
	dp->cgroup = xstrdup(cgroup);
	dp->attach_pending = true;
	/*
	 * Maps of another layout: the links keep the old programs (and their
	 * maps) until the first sync has filled the new ones. Otherwise the
	 * programs go in now, onto the maps they share with the old ones.
	 */
	if (!dp->repin && (ret = bpf_dp_attach_pending(dp)) != 0)
		goto fail;
	return dp;
fail:
	bpf_dp_close(dp);
	errno = ret < 0 ? -ret : EINVAL;
	return NULL;
}

int bpf_dp_attach_pending(struct bpf_dp *dp)
{
	struct bpf_map *maps[N_MAPS];
	int ret = 0;

	if (!dp->attach_pending)
		return 0;
	skel_maps(dp, maps);
	/* the replacements take the old maps' pins: the old programs still hold those maps */
	for (size_t i = 0; i < bpf_n_maps && !ret; i++) {
		char *path = xasprintf("%s/%s", dp->pin_path, bpf_map_names[i]);

		if (dp->repin & (1u << i)) {
			if (unlink(path) < 0 && errno != ENOENT)
				ret = -errno;
			else
				ret = bpf_map__pin(maps[i], path);
			if (ret)
				log_err("bpf", "cannot pin %s in place of the old map: %s", path,
				        strerror(-ret));
			else
				dp->repin &= ~(1u << i);
		}
		free(path);
	}
	if (!ret)
		ret = attach_all(dp);
	if (ret)
		return ret;
	dp->attach_pending = false;
	for (size_t i = 0; i < N_LEGACY; i++) {
		char *path = xasprintf("%s/%s", dp->pin_path, legacy_map_names[i]);

		if (unlink(path) == 0)
			log_info("bpf", "removed %s, pinned by an earlier version", path);
		free(path);
	}
	log_info("bpf", "socket programs attached to cgroup %s, pinned under %s", dp->cgroup,
	         dp->pin_path);
	return 0;
}

void bpf_dp_close(struct bpf_dp *dp)
{
	if (!dp)
		return;
	if (dp->cg_fd >= 0)
		close(dp->cg_fd);
	free(dp->cgroup);
	bpf_state_free(dp);
	bytemap_free(&dp->index);
	bytemap_free(&dp->node_addrs);
	sp_sock__destroy(dp->skel); /* the pins keep maps and links alive */
	if (dp->pin_fd >= 0)
		close(dp->pin_fd); /* the lock */
	free(dp->pin_path);
	free(dp);
}

/* Remove the pins dir/<prefix><name> of names[0..n); the status of the last failure kept. */
static void unpin_all(const char *dir, const char *prefix, const char *const *names, size_t n,
                      int *status)
{
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s%s", dir, prefix, names[i]);

		if (unlink(path) < 0 && errno != ENOENT) {
			*status = -errno;
			fprintf(stderr, "svcproxy cleanup: cannot remove %s: %s\n", path,
			        strerror(errno));
		}
		free(path);
	}
}

/*
 * The bpffs at pin_path's parent, unmounted if svcproxy mounted it
 * (MOUNTED_MARK) and nothing else is left in it: the mount goes as it came.
 */
static void unmount_ours(const char *pin_path)
{
	char *parent = pin_parent(pin_path), *mark;

	if (!parent)
		return;
	mark = xasprintf("%s/" MOUNTED_MARK, parent);
	/* the mark goes with the bpffs; if it is busy, both stay for a later cleanup */
	if (is_bpffs(parent) && access(mark, F_OK) == 0 && dir_empty(parent, true) &&
	    umount(parent) < 0)
		fprintf(stderr, "svcproxy cleanup: cannot unmount the bpffs at %s: %s\n", parent,
		        strerror(errno));
	free(mark);
	free(parent);
}

int bpf_cleanup(const char *pin_path)
{
	const char *dir = pin_path ? pin_path : BPF_DEFAULT_PIN_PATH;
	int status = 0;

	/* links first: unpinning the last reference detaches the program */
	unpin_all(dir, "link_", prog_names, N_PROGS, &status);
	unpin_all(dir, "", bpf_map_names, N_MAPS, &status);
	unpin_all(dir, "", legacy_map_names, N_LEGACY, &status);
	if (rmdir(dir) < 0 && errno != ENOENT && !status) {
		status = -errno;
		fprintf(stderr, "svcproxy cleanup: cannot remove %s: %s\n", dir, strerror(errno));
	}
	if (!status)
		unmount_ours(dir);
	return status;
}
