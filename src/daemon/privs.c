/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * privs.c - capabilities, no_new_privs and the seccomp allow-list (privs.h).
 */
#include "daemon/privs.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "common/log.h"
#include "common/mem.h"

static const cap_value_t kept_caps[] = {CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE};

static bool cap_kept(cap_value_t c, const struct privs_opts *o)
{
	for (size_t i = 0; i < sizeof(kept_caps) / sizeof(kept_caps[0]); i++)
		if (kept_caps[i] == c)
			return true;
	for (size_t i = 0; i < o->n_extra_caps; i++)
		if (o->extra_caps[i] == c)
			return true;
	return false;
}

/*
 * Drop every other capability from the bounding set first (that needs
 * CAP_SETPCAP, which goes next), then set effective = permitted = kept.
 */
static int caps_restrict(const struct privs_opts *o)
{
	cap_t caps, now;
	int ret = 0;

	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		if (cap_kept(c, o) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1 ||
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0 || errno == EINVAL)
			continue;
		if (errno == EPERM) {
			/*
			 * No CAP_SETPCAP, as in a container given only the three:
			 * whoever started us already chose the bounding set.
			 */
			log_debug("privs", "bounding set left as it is: no CAP_SETPCAP");
			break;
		}
		ret = -errno;
		log_err("privs", "cannot drop capability %d from the bounding set: %s", c,
		        strerror(errno));
		return ret;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	caps = cap_init(); /* all clear */
	now = cap_get_proc();
	if (!caps || !now)
		die_oom();
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		cap_flag_value_t have;

		/* keep what we hold: asking for a capability we lack fails */
		if (cap_kept(c, o) && cap_get_flag(now, c, CAP_PERMITTED, &have) == 0 &&
		    have == CAP_SET) {
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
			cap_set_flag(caps, CAP_PERMITTED, 1, &c, CAP_SET);
		}
	}
	if (cap_set_proc(caps) < 0) {
		ret = -errno;
		log_err("privs", "cannot drop capabilities: %s", strerror(errno));
	}
	cap_free(now);
	cap_free(caps);
	return ret;
}

/*
 * What the daemon calls, by concern. Read from its code and libraries
 * (glibc, libmnl, libnftnl, libnetfilter_conntrack, libmicrohttpd,
 * libyaml, libcurl with OpenSSL and the resolver) and checked by running
 * every end-to-end test with the filter in place.
 */
static const char *const allowed[] = {
    /* memory, threads, time, signals, process */
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "membarrier",
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "clone",
    "clone3",
    "set_tid_address",
    "exit",
    "exit_group",
    "getpid",
    "gettid",
    "getppid",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "restart_syscall",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "sched_yield",
    "sched_getaffinity",
    "getrandom",
    "uname",
    "sysinfo",
    "getrlimit",
    "prlimit64",
    "getrusage",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "capget",
    "prctl",
    "arch_prctl",
    /* files: manifests, credentials, /proc, the lock */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "open",
    "openat",
    "close",
    "close_range",
    "lseek",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "getcwd",
    "fcntl",
    "ioctl",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "umask",
    "fchmod",
    /* events: epoll, inotify, timers, signalfd, eventfd */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "signalfd4",
    "eventfd2",
    /* sockets: netlink, HTTP servers, held NodePorts, the API client */
    "socket",
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "shutdown",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
};

static int seccomp_restrict(const struct privs_opts *o)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; !ret && i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr != __NR_SCMP_ERROR) /* not every name exists on every architecture */
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	if (!ret && o->allow_bpf)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bpf), 0);
	if (!ret)
		ret = seccomp_load(ctx);
	if (ret)
		log_err("privs", "cannot install the seccomp filter: %s", strerror(-ret));
	seccomp_release(ctx);
	return ret;
}

int privs_restrict(const struct privs_opts *o)
{
	static const struct privs_opts none;
	int ret;

	if (!o)
		o = &none;
	ret = caps_restrict(o);
	if (ret)
		return ret;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		log_err("privs", "cannot set no_new_privs: %s", strerror(errno));
		return ret;
	}
	return seccomp_restrict(o);
}
