/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * process.c - signals, resource limits and the instance lock (process.h).
 */
#include "daemon/process.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/nft.h"

#define LOCK_NAME "svcproxy.lock/" NFT_TABLE_NAME

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	if (setrlimit(RLIMIT_NOFILE, &(struct rlimit){rl.rlim_max, rl.rlim_max}) < 0) {
		log_warn("run", "cannot raise the open files limit from %llu to %llu: %s",
		         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
		         strerror(errno));
		return;
	}
	log_debug("run", "open files limit raised from %llu to %llu",
	          (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

int process_setup(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	raise_nofile();
	return fd;
}

int process_next_signal(int sigfd)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

static socklen_t lock_addr(struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* sun_path[0] = '\0': an abstract name, without a terminating NUL */
	memcpy(sa->sun_path + 1, LOCK_NAME, sizeof(LOCK_NAME) - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(LOCK_NAME) - 1);
}

/* Log who holds the lock: connect, and ask the kernel for the listener's credentials. */
static void log_holder(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct ucred cred = {0};
	socklen_t clen = sizeof(cred);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, len) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0 && cred.pid > 0)
		log_err("run",
		        "another svcproxy (pid %d, uid %u) already runs in this network namespace "
		        "(it holds @%s); stop it first: two would fight over table %s",
		        (int)cred.pid, (unsigned)cred.uid, LOCK_NAME, NFT_TABLE_NAME);
	else
		log_err("run",
		        "another svcproxy already runs in this network namespace (it holds @%s; "
		        "see ss -xlp); stop it first: two would fight over table %s",
		        LOCK_NAME, NFT_TABLE_NAME);
	if (fd >= 0)
		close(fd);
}

int instance_lock(void)
{
	struct sockaddr_un sa;
	socklen_t len = lock_addr(&sa);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) == 0 && listen(fd, 8) == 0)
		return fd;
	err = errno;
	close(fd);
	if (err == EADDRINUSE)
		log_holder(&sa, len);
	else
		log_err("run", "cannot take the instance lock @%s: %s", LOCK_NAME, strerror(err));
	return -err;
}

void instance_lock_serve(int lockfd)
{
	int fd;

	while ((fd = accept4(lockfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}
