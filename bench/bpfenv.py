"""The bpf dataplane's environment for bench/run.py: cgroup v2 directories of its own, children
of the cgroup it runs in, and the directory of a private bpffs; made and removed here (see
bench/README.md, "The bpf dataplane in this topology")."""
import os
import signal
import subprocess
import sys
import time

# svcproxy in node attaches its socket programs to "node", the one in ref (50k vs 100) to
# "ref"; "plain" has nothing attached (the direct connections to compare with). Every connrate
# group has a leaf cgroup of its own (programs attached to a cgroup run for its descendants
# too), so connrate moves itself at every switch of groups (--cgroup) and whatever a move costs
# falls on every group alike.
CGROUP_TREE = ("plain", "plain/direct", "plain/node", "node", "node/svc", "node/direct", "ref",
               "ref/svc")


def cgroup2_home():
    """(the cgroup v2 directory this process is in, "") or (None, why not). The mount is the
    first cgroup2 line of /proc/self/mountinfo, as svcproxy finds it (bpf_cgroup2_mount);
    on this machine /sys/fs/cgroup/unified (hybrid mode)."""
    mnt = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, sep, post = line.partition(" - ")
            if sep and post.startswith("cgroup2 "):
                mnt = pre.split()[4]
                break
    if not mnt:
        return None, "no cgroup v2 mount in /proc/self/mountinfo"
    with open("/proc/self/cgroup") as f:
        own = next((x[3:].strip() for x in f if x.startswith("0::")), None)
    if own is None:
        return None, "no cgroup v2 line in /proc/self/cgroup"
    home = os.path.normpath(mnt + "/" + own)
    if not os.path.isdir(home):
        return None, f"our own cgroup {home} is not visible"
    return home, ""


def setup(home, pfx, bpffs):
    """The cgroups the bpf runs use, {name: path}: CGROUP_TREE under home (our own cgroup,
    never the hierarchy's root itself), named pfx-NAME; and bpffs, the empty directory
    svcproxy mounts its bpffs on. On failure it removes what it made, and raises."""
    made = {}
    try:
        for name in CGROUP_TREE:  # parents first; cleanup() removes them in reverse
            path = os.path.join(home, f"{pfx}-{name}")
            os.mkdir(path)
            made[name] = path
        os.mkdir(bpffs, 0o700)
    except OSError:
        cleanup(made, None, None)
        raise
    return made


def is_mountpoint(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def cleanup(cgroups, bpffs, log):
    """The bpffs (its pins hold the links that keep the programs attached; unmounting drops
    them), then the cgroups of setup() (any process still in one is ours); empties cgroups."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if bpffs and os.path.isdir(bpffs):
        if is_mountpoint(bpffs):
            subprocess.run(["umount", bpffs], capture_output=True)
        try:
            os.rmdir(bpffs)
        except OSError as e:
            log(f"could not remove {bpffs}: {e}")
    for path in reversed(list(cgroups.values())):
        for _ in range(50):
            try:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = f.read().split()
            except FileNotFoundError:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            log(f"could not remove cgroup {path}")
    cgroups.clear()
