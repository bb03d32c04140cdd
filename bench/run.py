#!/usr/bin/env python3
"""svcproxy benchmark suite (issues 3 and 11): measures every figure of their Targets tables,
for the nft and the bpf dataplane side by side, and prints figure | dataplane | measured |
target | ratio | ok, plus bench/out/results.csv. See bench/README.md.

Needs root. It creates four network namespaces of its own (spb<pid>-client/-node/-ref/-pods),
and for the bpf dataplane three cgroup v2 children of its own cgroup (spb<pid>-plain/-node/-ref)
and a private bpffs at /tmp/spb<pid>-bpffs; all are removed on exit, also on failure or Ctrl-C.
Nothing in the root namespace is touched, and nothing is attached to the machine's root cgroup.

  bench/run.py                  full run, both dataplanes (10k x 10, 50k x 5, 100; ~6-8 min)
  bench/run.py --quick          smoke run (1k x 10, 5k x 5, 100; about a minute)
  bench/run.py --dataplane bpf  one dataplane only (nft, bpf or both)
"""
import argparse
import csv
import hashlib
import importlib.machinery
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import bpfenv  # bench/bpfenv.py: the bpf dataplane's cgroups and bpffs
from report import Report  # bench/report.py: the table

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(BENCH_DIR)
GEN = os.path.join(BENCH_DIR, "gen-manifests")

PFX = f"spb{os.getpid()}"
NS_CLIENT, NS_NODE, NS_REF, NS_PODS = (f"{PFX}-{x}" for x in ("client", "node", "ref", "pods"))
# Two parallel paths from the client to the pods: through "node" (svcproxy, or the iptables
# layout) and through "ref" (an identical node, usually with no rules: the physical limit).
# connrate picks the path with its source address, so runs on both paths can be interleaved
# and background load on the machine hits both alike.
PATHS = {
    #  name: (namespace, client addr, node addr client side, pods side subnet)
    "node": (NS_NODE, "172.31.0.2", "172.31.0.1", "172.30.0"),
    "ref": (NS_REF, "172.29.0.2", "172.29.0.1", "172.28.0"),
}
POD_CIDR = "10.244.0.0/14"
SERVICE_CIDR = "10.96.0.0/12"
CLUSTERIP_BASE = "10.96.4.0"  # gen-manifests: Service i has 10.96.4.0 + i
POD_BASE = "10.244.0.1"  # gen-manifests: endpoint j of Service i is 10.244.0.1 + i*E + j
SPARE_POD = "10.247.255.1"  # outside every generated Service; still answers (local /14)

genm = importlib.machinery.SourceFileLoader("gen_manifests", GEN).load_module()

INITIAL_RE = re.compile(
    r"initial sync: (\d+) services, \d+ service ports, (\d+) endpoints; (\d+) element changes"
    r".* in ([\d.]+) ms \(dataplane ([\d.]+) ms\)")
# A change is committed by a change sync, or by a periodic one when it falls due first
# (--sync-period 30s): either logs how long after the change was seen it committed it.
CHANGE_RE = re.compile(
    r"(?:change|periodic) sync: .*?(\d+) element changes.* in ([\d.]+) ms "
    r"\(dataplane ([\d.]+) ms\); ([\d.]+) ms after the change was seen")

# The bpf dataplane (bpfenv.py): svcproxy in node attaches its socket programs to cgroup
# "node", the one in ref (50k vs 100) to "ref"; maps and links are pinned under a private
# bpffs, which svcproxy mounts at its first start.
BPFFS = f"/tmp/{PFX}-bpffs"
BPF_PIN = {NS_NODE: f"{BPFFS}/node", NS_REF: f"{BPFFS}/ref"}

started_pids = []  # every process we started (killed on exit)
namespaces = []  # every namespace we created (deleted on exit)
cgroups = {}  # name -> path of every cgroup we created (removed on exit)
args = None
out_dir = None
raw_rows = []


def log(msg):
    print(f"# {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def sh(*cmd, check=True, capture=False, input=None, timeout=120):
    r = subprocess.run(cmd, check=False, text=True, input=input, timeout=timeout,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}"
                           + (f"\n{r.stderr}" if capture else ""))
    return r


def in_ns(ns, *cmd, **kw):
    return sh("ip", "netns", "exec", ns, *cmd, **kw)


# ------------------------------------------------------------------ topology

def setup_topology():
    """client ==2 veths== node / ref ==2 veths== pods. The pods namespace answers on every
    address of 10.244.0.0/14 (a local route on lo). node and ref forward, route pods and
    Services to the pods veth; the client picks one by source address (policy routing)."""
    for ns in (NS_CLIENT, NS_NODE, NS_REF, NS_PODS):
        sh("ip", "netns", "add", ns)
        namespaces.append(ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
    nosrc = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"]
    in_ns(NS_CLIENT, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000", *nosrc)
    in_ns(NS_PODS, "sysctl", "-qw", "net.core.somaxconn=8192",
          "net.ipv4.tcp_max_syn_backlog=8192", *nosrc)
    in_ns(NS_PODS, "ip", "route", "add", "local", POD_CIDR, "dev", "lo")
    for k, (name, (ns, cip, nip, psub)) in enumerate(PATHS.items()):
        cif, pif = f"eth{k}", f"eth{k}"
        in_ns(ns, "ip", "link", "add", "c0", "type", "veth", "peer", "name", cif,
              "netns", NS_CLIENT)
        in_ns(ns, "ip", "link", "add", "p0", "type", "veth", "peer", "name", pif,
              "netns", NS_PODS)
        in_ns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
              "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
              *nosrc,
              # RST-closed connections linger 10 s in conntrack by default; at ~20k conn/s
              # that is 200k entries, near nf_conntrack_max. 2 s keeps the table small.
              "net.netfilter.nf_conntrack_tcp_timeout_close=2")
        in_ns(ns, "ip", "addr", "add", f"{nip}/24", "dev", "c0")
        in_ns(ns, "ip", "addr", "add", f"{psub}.1/24", "dev", "p0")
        in_ns(ns, "ip", "link", "set", "c0", "up")
        in_ns(ns, "ip", "link", "set", "p0", "up")
        in_ns(ns, "ip", "route", "add", POD_CIDR, "via", f"{psub}.2", "dev", "p0")
        in_ns(ns, "ip", "route", "add", SERVICE_CIDR, "via", f"{psub}.2", "dev", "p0")

        in_ns(NS_CLIENT, "ip", "addr", "add", f"{cip}/24", "dev", cif)
        in_ns(NS_CLIENT, "ip", "link", "set", cif, "up")
        table = str(100 + k)
        in_ns(NS_CLIENT, "ip", "route", "add", "default", "via", nip, "dev", cif,
              "table", table)
        in_ns(NS_CLIENT, "ip", "rule", "add", "from", cip, "table", table, "pref", table)

        in_ns(NS_PODS, "ip", "addr", "add", f"{psub}.2/24", "dev", pif)
        in_ns(NS_PODS, "ip", "link", "set", pif, "up")
        in_ns(NS_PODS, "ip", "route", "add", cip.rsplit(".", 1)[0] + ".0/24", "via",
              f"{psub}.1", "dev", pif)


def start_server():
    outf = open(os.path.join(out_dir, "server.log"), "w")
    p = subprocess.Popen(["ip", "netns", "exec", NS_PODS, args.connrate, "--serve",
                          "--port", "8080", "-d", "3600"], stdout=outf, stderr=outf)
    started_pids.append(p.pid)
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(os.path.join(out_dir, "server.log")) as f:
            if "ready" in f.read():
                return p
        time.sleep(0.02)
    raise RuntimeError("connrate --serve did not get ready")


def cleanup():
    for pid in reversed(started_pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    started_pids.clear()
    bpfenv.cleanup(cgroups, BPFFS, log)
    for ns in reversed(namespaces):
        # anything still inside one of our namespaces was started by us
        r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    namespaces.clear()


# ------------------------------------------------------------------ connrate

def client_cmd():
    """connrate in the client's network namespace. nsenter --net, not `ip netns exec`: that
    one mounts a private /sys, which hides the cgroup v2 mount connrate --cgroup writes to."""
    return ["nsenter", f"--net=/run/netns/{NS_CLIENT}", args.connrate]


def connrate(what, groups, inflight, seconds, timeout_ms=3000, extra=()):
    """One bounded connrate run from the client. groups: [(label, path, targets, cgroup)],
    path "node" or "ref", cgroup a path or None (all or none); several groups alternate every
    100 ms within the run. Returns {label: key=value dict}."""
    cmd = [*client_cmd(), "-c", str(inflight), "-d", str(seconds), "-t", str(timeout_ms),
           "--kv", *extra]
    for label, path, targets, cg in groups:
        cmd += ["--group", f"{label},{PATHS[path][1]}", *(["--cgroup", cg] if cg else []),
                *targets]
    r = sh(*cmd, capture=True, timeout=seconds + 30)
    out = {}
    for line in r.stdout.splitlines():
        kv = dict(x.split("=", 1) for x in line.split())
        res = {k: (v if k == "group" else float(v)) for k, v in kv.items()}
        res["what"] = what
        res["path"] = next(p for lb, p, _, _ in groups if lb == res["group"])
        raw_rows.append(res)
        out[res["group"]] = res
        log(f"connrate {what} [{res['group']}]: {res['conn_per_s']:.0f} conn/s, p50 "
            f"{res['p50_us']:.1f} us, p99 {res['p99_us']:.1f} us, {int(res['failures'])} "
            f"failures, {int(res['slow'])} slow")
    return out


def pod_targets(n, e):
    return [f"{POD_BASE}:8080/{n * e}"]


def svc_targets(n):
    return [f"{CLUSTERIP_BASE}:80/{n}"]


def check_reachable(label, path, targets, cg=None):
    r = connrate("reachability", [(label, path, targets, cg)], 1, 2, extra=("-n", "20"))[label]
    if r["failures"] or r["conns"] < 20:
        raise RuntimeError(f"{label}: {int(r['failures'])} of 20 connections failed")


def alt(what, variants, per_group_s, inflight):
    """variants: [(label, path, targets, cgroup)], alternating within one connrate run;
    returns {label: result}."""
    return connrate(what, variants, inflight, round(per_group_s * len(variants), 1))


# ------------------------------------------------------------------ svcproxy

class LogTail:
    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.buf = ""

    def lines(self):
        with open(self.path) as f:
            f.seek(self.pos)
            data = f.read()
            self.pos = f.tell()
        self.buf += data
        *done, self.buf = self.buf.split("\n")
        return done

    def wait_for(self, regex, timeout, proc=None):
        """First new line matching regex -> (match, monotonic time it was seen) or (None, t)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines():
                m = regex.search(line)
                if m:
                    return m, time.monotonic()
            now = time.monotonic()
            if now > deadline or (proc is not None and proc.poll() is not None):
                return None, now
            time.sleep(0.001)


def sp_runner(ns, dp):
    """The command prefix that runs svcproxy in ns. bpf: nsenter --net, like the e2e harness:
    `ip netns exec`'s private mount namespace would hide the cgroup v2 mount and take the
    bpffs svcproxy mounts (and the pinned links) with it when svcproxy exits."""
    if dp == "bpf":
        return ["nsenter", f"--net=/run/netns/{ns}"]
    return ["ip", "netns", "exec", ns]


def sp_dp_args(ns, dp):
    if dp != "bpf":
        return []
    cg = cgroups["node" if ns == NS_NODE else "ref"]
    return ["--dataplane", "bpf", "--cgroup-root", cg, "--bpf-pin-path", BPF_PIN[ns]]


class Svcproxy:
    def __init__(self, ns, manifests, tag, dp, extra=()):
        self.ns = ns
        self.dp = dp
        self.extra = list(extra)
        self.log_path = os.path.join(out_dir, f"svcproxy-{dp}-{tag}.log")
        self.manifests = manifests
        self.proc = None
        self.tail = None

    def start(self):
        logf = open(self.log_path, "a")
        logf.write(f"==== svcproxy run --manifests {self.manifests} ({time.strftime('%T')})\n")
        logf.flush()
        if self.tail is None:
            self.tail = LogTail(self.log_path)
            self.tail.lines()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [*sp_runner(self.ns, self.dp), args.svcproxy_bin, "run", "--manifests",
             self.manifests, "--min-sync-period", "0", "--sync-period", "30s",
             "--healthz-bind-address", "", "--metrics-bind-address", "",
             "--hostname-override", "node", *sp_dp_args(self.ns, self.dp), *self.extra],
            stdout=logf, stderr=logf)
        started_pids.append(self.proc.pid)
        return t0

    def wait_initial(self, t0, timeout):
        m, t1 = self.tail.wait_for(INITIAL_RE, timeout, self.proc)
        if not m:
            state = "exited" if self.proc.poll() is not None else "still running"
            raise RuntimeError(f"no initial sync line within {timeout} s (svcproxy {state}); "
                               f"see {self.log_path}")
        return {"wall_ms": (t1 - t0) * 1e3, "services": int(m.group(1)),
                "endpoints": int(m.group(2)), "changes": int(m.group(3)),
                "sync_ms": float(m.group(4)), "kernel_ms": float(m.group(5))}

    def status(self):
        """VmHWM / VmRSS in MB."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0]) / 1024
        return out

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        started_pids.remove(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.pid in started_pids:
            started_pids.remove(self.proc.pid)


def svcproxy_cleanup(ns, dp):
    """svcproxy cleanup in ns: its tables, and its pins in our private bpffs (never the
    default /sys/fs/bpf/svcproxy, which may be someone else's)."""
    sh(*sp_runner(ns, dp), args.svcproxy_bin, "cleanup", "--bpf-pin-path", BPF_PIN[ns],
       check=False, capture=True)
    r = in_ns(ns, "nft", "list", "tables", capture=True, check=False)
    if "svcproxy" in r.stdout:
        raise RuntimeError("svcproxy cleanup left its table behind: " + r.stdout.strip())
    if os.path.exists(BPF_PIN[ns]):
        raise RuntimeError(f"svcproxy cleanup left {BPF_PIN[ns]} behind: "
                           f"{os.listdir(BPF_PIN[ns])}")


def bpf_translated(ns):
    """The bpf programs' "connects translated" counter, summed over the CPUs."""
    r = sh("bpftool", "-j", "map", "dump", "pinned", f"{BPF_PIN[ns]}/sp_stats", capture=True)
    total = 0
    for ent in json.loads(r.stdout):
        key = ent.get("key")
        key = int(key[0], 0) if isinstance(key, list) else int(key)
        if key == 0:  # SP_STAT_CONNECT, src/dataplane/bpf/sock.h
            total += sum(int(v["value"]) if not isinstance(v["value"], list)
                         else int.from_bytes(bytes(int(b, 0) for b in v["value"]), "little")
                         for v in ent["values"])
    return total


def cold_start(ns, manifests, tag, timeout, dp, extra=()):
    """Start svcproxy on a node with no svcproxy table (nor pins); time until its initial
    sync line."""
    svcproxy_cleanup(ns, dp)
    sp = Svcproxy(ns, manifests, tag, dp, extra)
    t0 = sp.start()
    res = sp.wait_initial(t0, timeout)
    log(f"cold sync {dp} {tag}: {res['services']} services, {res['endpoints']} endpoints: "
        f"{res['wall_ms']:.0f} ms from start to the log line; logged {res['sync_ms']:.1f} ms "
        f"(dataplane {res['kernel_ms']:.1f} ms)")
    return sp, res


def endpoint_changes(sp, mdir, n, e, reps):
    """Rewrite svc-first.yaml (Service 0 alone) with endpoint 0 swapped between its own pod
    IP and SPARE_POD, one change at a time; from the daemon's log: how long after it saw the
    change the transaction was committed."""
    seen, wall, elems = [], [], []
    base = [genm.pod_ip(0, j, e) for j in range(e)]
    path = os.path.join(mdir, "svc-first.yaml")
    for k in range(reps):
        addrs = list(base)
        if k % 2 == 0:
            addrs[0] = SPARE_POD
        sp.tail.lines()
        t0 = time.monotonic()
        genm.write_atomic(path, genm.service_text(0, addrs))
        m, t1 = sp.tail.wait_for(CHANGE_RE, 10, sp.proc)
        if not m:
            raise RuntimeError(f"endpoint change {k + 1}: no change sync line within 10 s")
        elems.append(int(m.group(1)))
        seen.append(float(m.group(4)))
        wall.append((t1 - t0) * 1e3)
        time.sleep(0.1)
    log(f"endpoint change x{reps}: after-seen ms {seen}; file-write-to-log ms "
        f"{[round(x, 1) for x in wall]}; element changes {elems}")
    return seen, wall, elems


def bigfile_change(sp, mdir, reps):
    """The same, but the endpoint is in a 1000-Service file (svc-000001.yaml): the whole file
    is re-read. Informational."""
    path = os.path.join(mdir, "svc-000001.yaml")
    with open(path) as f:
        orig = f.read()
    needle = '["10.244.0.11"]'  # Service 1's first endpoint (E = 10)
    if needle not in orig:
        return None
    seen, wall = [], []
    for k in range(reps):
        text = orig.replace(needle, f'["{SPARE_POD}"]') if k % 2 == 0 else orig
        sp.tail.lines()
        t0 = time.monotonic()
        tmp = os.path.join(mdir, ".big.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
        m, t1 = sp.tail.wait_for(CHANGE_RE, 20, sp.proc)
        if not m:
            raise RuntimeError("big-file endpoint change: no change sync line within 20 s")
        seen.append(float(m.group(4)))
        wall.append((t1 - t0) * 1e3)
        time.sleep(0.1)
    if reps % 2:
        with open(tmp, "w") as f:
            f.write(orig)
        os.rename(tmp, path)
        sp.tail.wait_for(CHANGE_RE, 20, sp.proc)
    log(f"big-file endpoint change x{reps}: after-seen ms {seen}; file-write-to-log ms "
        f"{[round(x, 1) for x in wall]}")
    return seen, wall


def restart_test(sp, n, cg, seconds_before=1.5, seconds_after=1.5):
    """connrate (8 in flight, 3 s connect timeout; in cgroup cg unless None) against all
    ClusterIPs while the daemon is killed with SIGKILL and started again. Failed connections,
    and connections that took over 0.5 s (a lost SYN is retransmitted after 1 s), are
    counted."""
    rpath = os.path.join(out_dir, f"restart-connrate-{sp.dp}.log")
    rout = open(rpath, "w")
    cap = 90
    cr = subprocess.Popen([*client_cmd(), "-b", PATHS["node"][1], "-c", "8", "-d", str(cap),
                           "-t", "3000", "-i", "250", "--kv", *(["--cgroup", cg] if cg else []),
                           *svc_targets(n)], stdout=rout, stderr=rout)
    started_pids.append(cr.pid)
    try:
        time.sleep(seconds_before)
        sp.kill9()
        t0 = sp.start()
        res = sp.wait_initial(t0, 60)
        time.sleep(seconds_after)
    finally:
        cr.send_signal(signal.SIGINT)
        try:
            cr.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cr.kill()
            cr.wait()
        started_pids.remove(cr.pid)
        rout.close()
    with open(rpath) as f:
        text = f.read()
    last = [x for x in text.splitlines() if x.startswith("group=")]
    if not last:
        raise RuntimeError(f"restart: connrate printed no result: {text[-500:]}")
    kv = {k: (v if k == "group" else float(v))
          for k, v in (x.split("=", 1) for x in last[-1].split())}
    kv["what"] = f"{sp.dp} clusterip during kill -9 + restart"
    kv["path"] = "node"
    raw_rows.append(kv)
    res["failures"] = int(kv["failures"])
    res["slow"] = int(kv["slow"])
    res["conns"] = int(kv["conns"])
    log(f"restart: initial sync line {res['wall_ms']:.0f} ms after start (logged "
        f"{res['sync_ms']:.1f} ms, {res['changes']} element changes); connrate "
        f"{res['conns']} conns, {res['failures']} failures, {res['slow']} slow")
    return res


def iptables_load(ipt_file):
    """Load the kube-proxy iptables layout into the node (svcproxy's table removed first);
    returns the wall time of iptables-legacy-restore in ms."""
    svcproxy_cleanup(NS_NODE, "nft")
    with open(ipt_file) as f:
        rules = f.read()
    t0 = time.monotonic()
    in_ns(NS_NODE, "iptables-legacy-restore", input=rules, timeout=300)
    load_ms = (time.monotonic() - t0) * 1e3
    log(f"iptables-legacy-restore of {rules.count(chr(10))} lines: {load_ms:.0f} ms")
    return load_ms


def iptables_flush():
    for t in ("nat", "filter"):
        in_ns(NS_NODE, "iptables-legacy", "-t", t, "-F", check=False)
        in_ns(NS_NODE, "iptables-legacy", "-t", t, "-X", check=False)


# ------------------------------------------------------------------ phases

# Targets per dataplane: nft's are issue 3's, bpf's issue 11's (bench/README.md).
TARGETS = {
    "nft": {"cold10": 1000.0, "cold50": 5000.0, "change": 10.0, "restart": 2000.0,
            "rss": 50.0, "rate_empty": 0.90, "rate_same": None, "lat": 5.0, "rate50": 0.97},
    "bpf": {"cold10": 1000.0, "cold50": 5000.0, "change": 5.0, "restart": 1000.0,
            "rss": 50.0, "rate_empty": 0.98, "rate_same": 0.98, "lat": 1.0, "rate50": 0.98},
}


class Ctx:
    """What every phase needs: sizes, manifests, labels, durations."""

    def __init__(self, quick, work, seconds):
        self.N10, self.E10 = (1000, 10) if quick else (10000, 10)
        self.N50, self.E50 = (5000, 5) if quick else (50000, 5)
        self.N100, self.E100 = 100, 10
        self.rate_s = seconds or (2 if quick else 6)
        self.lat_s = self.rate_s / 2
        self.n_changes = 6 if quick else 10
        self.l10 = f"{self.N10 // 1000}k"
        self.l50 = f"{self.N50 // 1000}k"
        self.m10, self.m50, self.m100 = (os.path.join(work, x) for x in ("m10", "m50", "m100"))
        self.m10nn = os.path.join(work, "m10-no-node-name")
        self.ipt = os.path.join(work, "iptables.rules")
        self.P10, self.S10 = pod_targets(self.N10, self.E10), svc_targets(self.N10)


def cg_of(dp, name):
    """The cgroup of a connrate group: none with nft; with bpf a leaf of bpfenv.CGROUP_TREE, under
    "plain" (nothing attached), "node" or "ref" (svcproxy's programs attached there)."""
    return cgroups[name] if dp == "bpf" else None


def phase_noise(rep, c, dp):
    """A/A before anything is loaded: pod IPs through node vs through ref, both empty. With
    bpf the client moves between the cgroups at every switch, as in the bpf runs."""
    aa = alt(f"A/A {dp} both empty c=8",
             [("direct-ref", "ref", c.P10, cg_of(dp, "plain/direct")),
              ("direct-node", "node", c.P10, cg_of(dp, "node/direct"))],
             c.rate_s, 8)
    node, ref = aa["direct-node"]["conn_per_s"], aa["direct-ref"]["conn_per_s"]
    why = "; the client moves between two cgroups at every switch, nothing attached yet" \
        if dp == "bpf" else ""
    rep.add("noise floor (A/A): direct via node / via ref, both empty", dp, node / ref, "x", "",
            None, f"{node:.0f} vs {ref:.0f} conn/s; should be 1.0{why}")


def rate_figures(rep, c, dp, rate, lat, variants, translated):
    t = TARGETS[dp]
    (d_rate, c_rate, l_rate) = (rate[v[0]]["conn_per_s"] for v in variants[:3])
    (d_p50, c_p50, l_p50) = (lat[v[0]]["p50_us"] for v in variants[:3])
    (d_p99, c_p99, l_p99) = (lat[v[0]]["p99_us"] for v in variants[:3])
    tr = f"; the programs translated {translated} connects" if translated is not None else ""
    rep.add(f"conn rate ClusterIP / direct via an empty node at {c.l10}, 8 in flight", dp,
            c_rate / d_rate, "x", ">=", t["rate_empty"],
            f"{c_rate:.0f} vs {d_rate:.0f} conn/s (direct: an identical node without rules)")
    rep.add(f"conn rate ClusterIP / direct via the same node at {c.l10}, 8 in flight", dp,
            c_rate / l_rate, "x", ">=" if t["rate_same"] else "", t["rate_same"],
            f"{c_rate:.0f} vs {l_rate:.0f} conn/s (the same client to the pod IPs through the "
            f"svcproxy node){tr}")
    rep.add(f"added connect latency p50 vs direct via an empty node at {c.l10}, 1 in flight",
            dp, c_p50 - d_p50, "us", "<=", t["lat"], f"ClusterIP p50 {c_p50:.1f} us p99 "
            f"{c_p99:.1f} us; direct p50 {d_p50:.1f} us p99 {d_p99:.1f} us")
    rep.add("  same, vs direct via the same node", dp, c_p50 - l_p50, "us", "", None,
            f"direct (svcproxy node) p50 {l_p50:.1f} us p99 {l_p99:.1f} us")
    if len(variants) > 3:  # bpf: the programs' cost on a connect they leave alone
        n_rate, n_p50 = rate[variants[3][0]]["conn_per_s"], lat[variants[3][0]]["p50_us"]
        rep.add("  direct via the same node: in the programs' cgroup / outside it", dp,
                l_rate / n_rate, "x", "", None, f"{l_rate:.0f} vs {n_rate:.0f} conn/s, p50 "
                f"{l_p50:.1f} vs {n_p50:.1f} us (a connect the programs leave alone)",
                order=rep.fig_order["  same, vs direct via the same node"] + .5)


def phase_10k(rep, c, dp):
    """svcproxy (dp) at 10k x 10 on node, ref empty: cold sync, rates, latency, endpoint
    changes, RSS, kill -9 + restart."""
    t = TARGETS[dp]
    if dp == "nft":
        # issue 11: endpoints with no nodeName (EndpointSlices managed by hand for backends
        # outside the cluster, here outside --cluster-cidr): as fast as with nodeName
        sp, cold = cold_start(NS_NODE, c.m10nn, c.l10 + "-no-node-name", 120, dp,
                              ["--cluster-cidr", "10.240.0.0/16"])
        sp.stop()
        rep.add(f"cold full sync {c.l10}x{c.E10}, endpoints without nodeName outside the "
                "cluster CIDR", dp, cold["wall_ms"], "ms", "<=", t["cold10"],
                f"logged sync {cold['sync_ms']:.1f} ms, dataplane {cold['kernel_ms']:.1f} ms; "
                f"{cold['changes']} elem changes")
    sp, cold = cold_start(NS_NODE, c.m10, c.l10, 120, dp)
    rep.add(f"cold full sync {c.l10}x{c.E10}: start -> synced", dp, cold["wall_ms"], "ms", "<=",
            t["cold10"], f"logged sync {cold['sync_ms']:.1f} ms, dataplane "
            f"{cold['kernel_ms']:.1f} ms; {cold['services']} svc {cold['endpoints']} eps "
            f"{cold['changes']} elem changes")
    cg_svc = cg_of(dp, "node/svc")
    check_reachable("clusterip", "node", c.S10, cg_svc)
    variants = [("direct-empty", "ref", c.P10, cg_of(dp, "plain/direct")),
                (f"clusterip-{c.l10}", "node", c.S10, cg_svc),
                ("direct-svcnode", "node", c.P10, cg_of(dp, "node/direct"))]
    if dp == "bpf":  # the same path, from outside the programs' cgroup
        variants.append(("direct-svcnode-nocg", "node", c.P10, cg_of(dp, "plain/node")))
    tr0 = bpf_translated(NS_NODE) if dp == "bpf" else None
    rate = alt(f"svcproxy {dp} {c.l10} c=8", variants, c.rate_s, 8)
    lat = alt(f"svcproxy {dp} {c.l10} c=1", variants, c.lat_s, 1)
    translated = None
    if dp == "bpf":
        # proof that the ClusterIP connects were rewritten by the programs, not DNATed
        translated = bpf_translated(NS_NODE) - tr0
        cip = sum(int(r[variants[1][0]]["conns"]) for r in (rate, lat))
        if translated < cip:
            raise RuntimeError(f"bpf: the programs translated {translated} connects, but "
                               f"{cip} ClusterIP connections were made")
    rate_figures(rep, c, dp, rate, lat, variants, translated)

    seen, wall, elems = endpoint_changes(sp, c.m10, c.N10, c.E10, c.n_changes)
    rep.add(f"one endpoint changed at {c.l10}: seen -> committed (median of {len(seen)})", dp,
            statistics.median(seen), "ms", "<=", t["change"],
            f"max {max(seen):.1f} ms; file rename -> log line median "
            f"{statistics.median(wall):.1f} ms; {statistics.median(elems):.0f} elem changes "
            "per sync")
    if dp == "nft":
        big = bigfile_change(sp, c.m10, 4 if c.N10 >= 10000 else 3)
        if big:
            rep.add(f"  same, endpoint in a 1000-Service file (median of {len(big[0])})", dp,
                    statistics.median(big[0]), "ms", "", None, "file rename -> log line "
                    f"median {statistics.median(big[1]):.1f} ms (includes re-reading the file)")
    st = sp.status()
    restart = restart_test(sp, c.N10, cg_svc)
    sp.stop()
    svcproxy_cleanup(NS_NODE, dp)
    rep.add(f"restart (kill -9, start) at {c.l10}: start -> synced", dp, restart["wall_ms"],
            "ms", "<=", t["restart"], f"logged sync {restart['sync_ms']:.1f} ms, dataplane "
            f"{restart['kernel_ms']:.1f} ms, {restart['changes']} elem changes")
    rep.add(f"restart at {c.l10}: failed connections", dp, restart["failures"], "", "<=", 0,
            f"of {restart['conns']} connections (8 in flight, 3 s timeout); "
            f"{restart['slow']} took > 0.5 s")
    rep.add(f"peak RSS at {c.l10}x{c.E10} (VmHWM)", dp, st["VmHWM"], "MB", "<=", t["rss"],
            f"VmRSS {st['VmRSS']:.1f} MB after the initial sync and the change syncs")


def phase_50k(rep, c, dp):
    """svcproxy (dp) with 50k Services in node and with 100 in ref, one alternating run."""
    t = TARGETS[dp]
    sp50, cold50 = cold_start(NS_NODE, c.m50, c.l50, 300, dp)
    st50 = sp50.status()
    rep.add(f"cold full sync {c.l50}x{c.E50}: start -> synced", dp, cold50["wall_ms"], "ms",
            "<=", t["cold50"], f"logged sync {cold50['sync_ms']:.1f} ms, dataplane "
            f"{cold50['kernel_ms']:.1f} ms; VmHWM {st50['VmHWM']:.1f} MB",
            order=rep.fig_order.get(f"cold full sync {c.l10}x{c.E10}: start -> synced", 0) + .5)
    sp100, _ = cold_start(NS_REF, c.m100, "100", 60, dp)
    variants = [(f"clusterip-{c.l50}", "node", svc_targets(c.N50), cg_of(dp, "node/svc")),
                ("clusterip-100", "ref", svc_targets(c.N100), cg_of(dp, "ref/svc"))]
    for v in variants:
        check_reachable(*v)
    rate = alt(f"svcproxy {dp} {c.l50} vs 100 c=8", variants, c.rate_s, 8)
    r50, r100 = (rate[v[0]]["conn_per_s"] for v in variants)
    sp50.stop()
    sp100.stop()
    svcproxy_cleanup(NS_NODE, dp)
    svcproxy_cleanup(NS_REF, dp)
    rep.add(f"conn rate at {c.l50} vs at 100 Services, 8 in flight", dp, r50 / r100, "x", ">=",
            t["rate50"], f"{r50:.0f} vs {r100:.0f} conn/s (two identical nodes)")


def phase_iptables(rep, c, cold_ms):
    """(b) the upstream kube-proxy iptables layout at 10k on node; ref empty."""
    load_ms = iptables_load(c.ipt)
    try:
        check_reachable("iptables-clusterip", "node", c.S10)
        variants = [("direct-empty", "ref", c.P10, None),
                    (f"iptables-clusterip-{c.l10}", "node", c.S10, None)]
        rate = alt(f"iptables {c.l10} c=8", variants, c.rate_s, 8)
        lat = alt(f"iptables {c.l10} c=1", variants, c.lat_s, 1)
    finally:
        iptables_flush()
    bd_rate, i_rate = (rate[v[0]]["conn_per_s"] for v in variants)
    bd_p50, i_p50 = (lat[v[0]]["p50_us"] for v in variants)
    i_p99 = lat[variants[1][0]]["p99_us"]
    rep.add(f"(b) iptables layout {c.l10}x{c.E10}: iptables-legacy-restore", "iptables", load_ms,
            "ms", "", None, f"vs svcproxy nft cold sync {cold_ms:.0f} ms")
    rep.add(f"conn rate ClusterIP / direct via an empty node at {c.l10}, 8 in flight",
            "iptables", i_rate / bd_rate, "x", "", None, f"{i_rate:.0f} vs {bd_rate:.0f} conn/s")
    rep.add(f"added connect latency p50 vs direct via an empty node at {c.l10}, 1 in flight",
            "iptables", i_p50 - bd_p50, "us", "", None,
            f"p50 {i_p50:.1f} us p99 {i_p99:.1f} us; direct p50 {bd_p50:.1f} us")


# ------------------------------------------------------------------ main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1k x 10, 5k x 5")
    ap.add_argument("--dataplane", choices=("nft", "bpf", "both"), default="both",
                    help="which svcproxy dataplane(s) to measure (default both, side by side)")
    ap.add_argument("--svcproxy", default=os.path.join(ROOT_DIR, "build", "svcproxy"))
    ap.add_argument("--connrate", default=os.path.join(ROOT_DIR, "build", "bench", "connrate"))
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "out"))
    ap.add_argument("--seconds", type=float, help="connrate seconds per variant of a rate "
                    "figure (6; quick 2); latency figures get half")
    ap.add_argument("--no-iptables", action="store_true", help="skip the iptables layout")
    return ap.parse_args()


def binary_rev(work):
    """A private copy of svcproxy (others may rebuild build/svcproxy while this runs) and a
    description of what it is."""
    args.svcproxy_bin = os.path.join(work, "svcproxy")
    shutil.copy2(args.svcproxy, args.svcproxy_bin)
    rev = subprocess.run(["git", "-C", ROOT_DIR, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    with open(args.svcproxy_bin, "rb") as f:
        rev += " (binary sha256 " + hashlib.sha256(f.read()).hexdigest()[:12] + ", built " + \
            time.strftime("%H:%M", time.localtime(os.stat(args.svcproxy).st_mtime)) + ")"
    return rev


def run_all(rep, c, dps, have_ipt):
    log(f"generating manifests: {c.N10}x{c.E10}, {c.N50}x{c.E50}, {c.N100}x{c.E100}")
    sh(GEN, "-n", str(c.N10), "-e", str(c.E10), "-o", c.m10, "--separate-first",
       *(["--iptables", c.ipt] if have_ipt else []))
    sh(GEN, "-n", str(c.N10), "-e", str(c.E10), "-o", c.m10nn, "--no-node-name")
    sh(GEN, "-n", str(c.N50), "-e", str(c.E50), "-o", c.m50)
    sh(GEN, "-n", str(c.N100), "-e", str(c.E100), "-o", c.m100)
    setup_topology()
    start_server()
    log(f"namespaces {', '.join(namespaces)} up; server listening")
    check_reachable("direct-ref", "ref", c.P10)
    check_reachable("direct-node", "node", c.P10)
    for dp in dps:
        phase_noise(rep, c, dp)
    for dp in dps:
        phase_10k(rep, c, dp)
        phase_50k(rep, c, dp)
    if have_ipt:
        cold = next((r["measured"] for r in rep.rows if r["dp"] == "nft"
                     and r["figure"] == f"cold full sync {c.l10}x{c.E10}: start -> synced"),
                    None) or 0.0
        phase_iptables(rep, c, cold)


def write_raw():
    if not raw_rows:
        return
    keys = sorted({k for r in raw_rows for k in r if k not in ("what", "group")})
    with open(os.path.join(out_dir, "connrate-raw.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["what", "group"] + keys)
        for r in raw_rows:
            wr.writerow([r["what"], r.get("group", "")] + [r.get(k, "") for k in keys])


def main():
    global args, out_dir
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces, nftables, cgroups)")
    for b in (args.svcproxy, args.connrate):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} not built (run: ninja -C build)")
    have_ipt = shutil.which("iptables-legacy-restore") is not None and not args.no_iptables
    if not have_ipt and not args.no_iptables:
        log("iptables-legacy-restore not found (Debian package iptables): skipping layout (b)")
    dps = ["nft", "bpf"] if args.dataplane == "both" else [args.dataplane]
    rep = Report()
    cg_home = None
    if "bpf" in dps:
        cg_home, why = bpfenv.cgroup2_home()
        if not cg_home:
            rep.add(f"ERROR: bpf dataplane not measured: {why}", "bpf", None, "", "<=", None,
                    order=1e9)
            dps.remove("bpf")

    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith((".log", ".csv")):
            os.unlink(os.path.join(out_dir, f))
    work = tempfile.mkdtemp(prefix=f"{PFX}.")
    rev = binary_rev(work)

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    c = Ctx(args.quick, work, args.seconds)
    t_start = time.monotonic()
    load0 = open("/proc/loadavg").read().split()[0]
    try:
        if "bpf" in dps:
            cgroups.update(bpfenv.setup(cg_home, PFX, BPFFS))
        run_all(rep, c, dps, have_ipt)
    except KeyboardInterrupt:
        log("interrupted")
        raise
    except Exception as e:  # report what we have, then fail
        log(f"ERROR: {e}")
        rep.add(f"ERROR: {e}", "-", None, "", "<=", None, order=1e9)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
        write_raw()

    rep.write_csv(os.path.join(out_dir, "results.csv"))
    load1 = open("/proc/loadavg").read().split()[0]
    title = (f"svcproxy bench ({'quick' if args.quick else 'full'}, {'+'.join(dps)}), "
             f"svcproxy {rev}, {time.strftime('%Y-%m-%d %H:%M')}, "
             f"{time.monotonic() - t_start:.0f} s, {os.cpu_count()} CPUs, load average "
             f"{load0} at start, {load1} at end")
    rep.print(title)
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        rep.print(title, file=f)
    print(f"\nCSV: {os.path.join(out_dir, 'results.csv')}; connrate runs: "
          f"{os.path.join(out_dir, 'connrate-raw.csv')}; svcproxy logs: {out_dir}/svcproxy-*.log")
    return 1 if any(r["ok"] == "ERROR" for r in rep.rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        cleanup()
        sys.exit(130)
