#!/usr/bin/env python3
"""svcproxy benchmark suite (issue 3): measures every figure of the Targets table and prints
figure | measured | target | ratio | ok, plus bench/out/results.csv. See bench/README.md.

Needs root (it creates three network namespaces of its own, spb<pid>-client/-node/-pods, and
deletes them on exit, also on failure or Ctrl-C). Nothing in the root namespace is touched.

  bench/run.py            full run (10k x 10, 50k x 5, 100; about 2-4 minutes)
  bench/run.py --quick    smoke run (1k x 10, 5k x 5, 100; about 30 seconds)
"""
import argparse
import csv
import hashlib
import importlib.machinery
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

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
CHANGE_RE = re.compile(
    r"change sync: .*?(\d+) element changes.* in ([\d.]+) ms \(dataplane ([\d.]+) ms\)"
    r"(?:; ([\d.]+) ms after the change was seen)?")

started_pids = []  # every process we started (killed on exit)
namespaces = []  # every namespace we created (deleted on exit)
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

def connrate(what, groups, inflight, seconds, timeout_ms=3000, extra=()):
    """One bounded connrate run from the client. groups: [(label, path, targets)], path
    "node" or "ref"; several groups alternate every 100 ms within the run. Returns
    {label: key=value dict}."""
    cmd = ["ip", "netns", "exec", NS_CLIENT, args.connrate, "-c", str(inflight),
           "-d", str(seconds), "-t", str(timeout_ms), "--kv", *extra]
    for label, path, targets in groups:
        cmd += ["--group", f"{label},{PATHS[path][1]}", *targets]
    r = sh(*cmd, capture=True, timeout=seconds + 30)
    out = {}
    for line in r.stdout.splitlines():
        kv = dict(x.split("=", 1) for x in line.split())
        res = {k: (v if k == "group" else float(v)) for k, v in kv.items()}
        res["what"] = what
        res["path"] = next(p for lb, p, _ in groups if lb == res["group"])
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


def check_reachable(label, path, targets):
    r = connrate("reachability", [(label, path, targets)], 1, 2, extra=("-n", "20"))[label]
    if r["failures"] or r["conns"] < 20:
        raise RuntimeError(f"{label}: {int(r['failures'])} of 20 connections failed")


def alt(what, variants, per_group_s, inflight):
    """variants: [(label, path, targets)], alternating within one connrate run;
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


class Svcproxy:
    def __init__(self, ns, manifests, tag):
        self.ns = ns
        self.log_path = os.path.join(out_dir, f"svcproxy-{tag}.log")
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
            ["ip", "netns", "exec", self.ns, args.svcproxy_bin, "run", "--manifests",
             self.manifests, "--min-sync-period", "0", "--sync-period", "30s",
             "--healthz-bind-address", "", "--metrics-bind-address", "",
             "--hostname-override", "node"], stdout=logf, stderr=logf)
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


def svcproxy_cleanup(ns):
    in_ns(ns, args.svcproxy_bin, "cleanup", check=False)
    r = in_ns(ns, "nft", "list", "tables", capture=True, check=False)
    if "svcproxy" in r.stdout:
        raise RuntimeError("svcproxy cleanup left its table behind: " + r.stdout.strip())


def cold_start(ns, manifests, tag, timeout):
    """Start svcproxy on a node with no svcproxy table; time until its initial sync line."""
    svcproxy_cleanup(ns)
    sp = Svcproxy(ns, manifests, tag)
    t0 = sp.start()
    res = sp.wait_initial(t0, timeout)
    log(f"cold sync {tag}: {res['services']} services, {res['endpoints']} endpoints: "
        f"{res['wall_ms']:.0f} ms from start to the log line; logged {res['sync_ms']:.1f} ms "
        f"(dataplane {res['kernel_ms']:.1f} ms)")
    return sp, res


def endpoint_changes(sp, mdir, n, e, reps):
    """Rewrite svc-first.yaml (Service 0 alone) with endpoint 0 swapped between its own pod
    IP and SPARE_POD, one change at a time; the daemon logs how long after it saw the change
    the transaction was committed."""
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
        if m.group(4) is None:
            raise RuntimeError("change sync line without 'ms after the change was seen'")
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
        seen.append(float(m.group(4) or "nan"))
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


def restart_test(sp, n, seconds_before=1.5, seconds_after=1.5):
    """connrate (8 in flight, 3 s connect timeout) against all ClusterIPs while the daemon is
    killed with SIGKILL and started again. Failed connections, and connections that took
    over 0.5 s (a lost SYN is retransmitted after 1 s), are counted."""
    rpath = os.path.join(out_dir, "restart-connrate.log")
    rout = open(rpath, "w")
    cap = 90
    cr = subprocess.Popen(["ip", "netns", "exec", NS_CLIENT, args.connrate,
                           "-b", PATHS["node"][1], "-c", "8", "-d", str(cap), "-t", "3000",
                           "-i", "250", "--kv", *svc_targets(n)], stdout=rout, stderr=rout)
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
    kv["what"] = "clusterip during kill -9 + restart"
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
    svcproxy_cleanup(NS_NODE)
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


# ------------------------------------------------------------------ report

class Report:
    def __init__(self):
        self.rows = []

    def add(self, figure, measured, unit, op, target, notes="", order=None):
        """op: '<=' or '>=' or '' (informational). Rows print in `order` (default: as
        added)."""
        if measured is None:
            ratio, ok = None, "ERROR" if op else "-"
        elif op:
            ratio = measured / target if target else None
            ok = "yes" if (measured <= target if op == "<=" else measured >= target) else "NO"
        else:
            ratio, ok = None, "-"
        self.rows.append({"order": len(self.rows) + 1 if order is None else order,
                          "figure": figure, "measured": measured, "unit": unit, "op": op,
                          "target": target, "ratio": ratio, "ok": ok, "notes": notes})

    @staticmethod
    def fmt(v, unit=""):
        if v is None:
            return "n/a"
        if isinstance(v, float) and abs(v) < 10 and unit not in ("", "ms"):
            s = f"{v:.3f}" if unit == "x" else f"{v:.2f}"
        elif isinstance(v, float) and abs(v) < 100:
            s = f"{v:.1f}"
        else:
            s = f"{v:.0f}" if isinstance(v, float) else str(v)
        return f"{s} {unit}".strip() if unit and unit != "x" else s

    def sorted(self):
        return sorted(self.rows, key=lambda r: r["order"])

    def print(self, title, file=sys.stdout):
        hdr = ["figure", "measured", "target", "ratio", "ok?", "notes"]
        body = []
        for r in self.sorted():
            tgt = f"{r['op']} {self.fmt(r['target'], r['unit'])}" if r["op"] else "-"
            body.append([r["figure"], self.fmt(r["measured"], r["unit"]), tgt,
                         f"{r['ratio']:.3f}" if r["ratio"] is not None else "-", r["ok"],
                         r["notes"]])
        w = [max(len(hdr[i]), *(len(b[i]) for b in body)) for i in range(5)]
        print(f"\n{title}", file=file)
        print(" | ".join(h.ljust(w[i]) if i < 5 else h for i, h in enumerate(hdr)), file=file)
        print("-|-".join("-" * w[i] for i in range(5)) + "-|-" + "-" * 5, file=file)
        for b in body:
            print(" | ".join(c.ljust(w[i]) if i < 5 else c for i, c in enumerate(b)),
                  file=file)
        file.flush()

    def write_csv(self, path):
        with open(path, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["figure", "measured", "unit", "target_op", "target", "ratio", "ok",
                         "notes"])
            for r in self.sorted():
                wr.writerow([r["figure"], "" if r["measured"] is None else
                             round(r["measured"], 3), r["unit"], r["op"], r["target"],
                             "" if r["ratio"] is None else round(r["ratio"], 4), r["ok"],
                             r["notes"]])


# ------------------------------------------------------------------ main

def main():
    global args, out_dir
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1k x 10, 5k x 5")
    ap.add_argument("--svcproxy", default=os.path.join(ROOT_DIR, "build", "svcproxy"))
    ap.add_argument("--connrate", default=os.path.join(ROOT_DIR, "build", "bench", "connrate"))
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "out"))
    ap.add_argument("--seconds", type=float, help="connrate seconds per variant of a rate "
                    "figure (6; quick 2); latency figures get half")
    ap.add_argument("--no-iptables", action="store_true", help="skip the iptables layout")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces, nftables)")
    for b in (args.svcproxy, args.connrate):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} not built (run: ninja -C build)")
    have_ipt = shutil.which("iptables-legacy-restore") is not None and not args.no_iptables
    if not have_ipt and not args.no_iptables:
        log("iptables-legacy-restore not found (Debian package iptables): skipping layout (b)")

    q = args.quick
    N10, E10 = (1000, 10) if q else (10000, 10)
    N50, E50 = (5000, 5) if q else (50000, 5)
    N100, E100 = 100, 10
    rate_s = args.seconds or (2 if q else 6)
    lat_s = rate_s / 2
    n_changes = 6 if q else 10
    label10 = f"{N10 // 1000}k" if N10 >= 1000 else str(N10)
    label50 = f"{N50 // 1000}k"

    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith((".log", ".csv")):
            os.unlink(os.path.join(out_dir, f))
    work = tempfile.mkdtemp(prefix=f"{PFX}.")
    # a private copy: others may rebuild build/svcproxy while this runs
    args.svcproxy_bin = os.path.join(work, "svcproxy")
    shutil.copy2(args.svcproxy, args.svcproxy_bin)
    rev = subprocess.run(["git", "-C", ROOT_DIR, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    with open(args.svcproxy_bin, "rb") as f:
        rev += " (binary sha256 " + hashlib.sha256(f.read()).hexdigest()[:12] + ", built " + \
            time.strftime("%H:%M", time.localtime(os.stat(args.svcproxy).st_mtime)) + ")"

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    rep = Report()
    t_start = time.monotonic()
    load0 = open("/proc/loadavg").read().split()[0]
    try:
        m10, m50, m100 = (os.path.join(work, x) for x in ("m10", "m50", "m100"))
        ipt = os.path.join(work, "iptables.rules")
        log(f"generating manifests: {N10}x{E10}, {N50}x{E50}, {N100}x{E100}")
        sh(GEN, "-n", str(N10), "-e", str(E10), "-o", m10, "--separate-first",
           *(["--iptables", ipt] if have_ipt else []))
        sh(GEN, "-n", str(N50), "-e", str(E50), "-o", m50)
        sh(GEN, "-n", str(N100), "-e", str(E100), "-o", m100)

        setup_topology()
        start_server()
        log(f"namespaces {', '.join(namespaces)} up; server listening")

        P10, S10 = pod_targets(N10, E10), svc_targets(N10)
        # ---- svcproxy at 10k on node; ref stays empty
        check_reachable("direct-ref", "ref", P10)
        check_reachable("direct-node", "node", P10)
        aa = alt("A/A both empty c=8", [("direct-ref", "ref", P10),
                                        ("direct-node", "node", P10)], rate_s, 8)
        sp, cold10 = cold_start(NS_NODE, m10, label10, 120)
        rep.add(f"cold full sync {label10}x{E10}: start -> synced", cold10["wall_ms"], "ms",
                "<=", 1000.0, f"logged sync {cold10['sync_ms']:.1f} ms, dataplane "
                f"{cold10['kernel_ms']:.1f} ms; {cold10['services']} svc "
                f"{cold10['endpoints']} eps {cold10['changes']} elem changes")
        check_reachable("clusterip", "node", S10)
        variants = [("direct-empty", "ref", P10),
                    (f"clusterip-{label10}", "node", S10),
                    ("direct-svcnode", "node", P10)]
        rate = alt(f"svcproxy {label10} c=8", variants, rate_s, 8)
        lat = alt(f"svcproxy {label10} c=1", variants, lat_s, 1)
        d_rate, c_rate, l_rate = (rate[v[0]]["conn_per_s"] for v in variants)
        d_p50, c_p50, l_p50 = (lat[v[0]]["p50_us"] for v in variants)
        d_p99, c_p99, l_p99 = (lat[v[0]]["p99_us"] for v in variants)

        seen, wall, elems = endpoint_changes(sp, m10, N10, E10, n_changes)
        big = bigfile_change(sp, m10, 3 if q else 4)
        st10 = sp.status()
        restart = restart_test(sp, N10)
        sp.stop()
        svcproxy_cleanup(NS_NODE)

        rep.add(f"one endpoint changed at {label10}: seen -> committed (median of "
                f"{len(seen)})", statistics.median(seen), "ms", "<=", 10.0,
                f"max {max(seen):.1f} ms; file rename -> log line median "
                f"{statistics.median(wall):.1f} ms; {statistics.median(elems):.0f} elem "
                "changes per sync")
        if big:
            rep.add(f"  same, endpoint in a 1000-Service file (median of {len(big[0])})",
                    statistics.median(big[0]), "ms", "", None,
                    f"file rename -> log line median {statistics.median(big[1]):.1f} ms "
                    "(includes re-reading the file)")
        rep.add(f"restart (kill -9, start) at {label10}: start -> synced", restart["wall_ms"],
                "ms", "<=", 2000.0, f"logged sync {restart['sync_ms']:.1f} ms, dataplane "
                f"{restart['kernel_ms']:.1f} ms, {restart['changes']} elem changes")
        rep.add(f"restart at {label10}: failed connections", restart["failures"], "", "<=", 0,
                f"of {restart['conns']} connections (8 in flight, 3 s timeout); "
                f"{restart['slow']} took > 0.5 s")
        rep.add(f"peak RSS at {label10}x{E10} (VmHWM)", st10["VmHWM"], "MB", "<=", 50.0,
                f"VmRSS {st10['VmRSS']:.1f} MB after initial + {len(seen) + 4} change syncs")
        rep.add("  noise floor: direct via node / via ref, both empty (A/A)",
                aa["direct-node"]["conn_per_s"] / aa["direct-ref"]["conn_per_s"], "x", "", None,
                f"{aa['direct-node']['conn_per_s']:.0f} vs {aa['direct-ref']['conn_per_s']:.0f}"
                " conn/s; should be 1.0")
        rep.add(f"conn rate ClusterIP/direct at {label10}, 8 in flight", c_rate / d_rate, "x",
                ">=", 0.90, f"{c_rate:.0f} vs {d_rate:.0f} conn/s (direct: through an "
                "identical node without rules)")
        rep.add("  same, vs direct through the svcproxy node", c_rate / l_rate, "x", "", None,
                f"{c_rate:.0f} vs {l_rate:.0f} conn/s (both conntracked)")
        rep.add(f"added connect latency p50 at {label10}, 1 in flight", c_p50 - d_p50, "us",
                "<=", 5.0, f"ClusterIP p50 {c_p50:.1f} us p99 {c_p99:.1f} us; direct p50 "
                f"{d_p50:.1f} us p99 {d_p99:.1f} us")
        rep.add("  same, vs direct through the svcproxy node", c_p50 - l_p50, "us", "", None,
                f"direct (svcproxy node) p50 {l_p50:.1f} us p99 {l_p99:.1f} us")

        # ---- 50k on node, 100 on ref, interleaved
        sp50, cold50 = cold_start(NS_NODE, m50, label50, 300)
        st50 = sp50.status()
        rep.add(f"cold full sync {label50}x{E50}: start -> synced", cold50["wall_ms"], "ms",
                "<=", 5000.0, f"logged sync {cold50['sync_ms']:.1f} ms, dataplane "
                f"{cold50['kernel_ms']:.1f} ms; VmHWM {st50['VmHWM']:.1f} MB", order=1.5)
        sp100, _ = cold_start(NS_REF, m100, "100", 60)
        check_reachable(f"clusterip-{label50}", "node", svc_targets(N50))
        check_reachable("clusterip-100", "ref", svc_targets(N100))
        variants = [(f"clusterip-{label50}", "node", svc_targets(N50)),
                    ("clusterip-100", "ref", svc_targets(N100))]
        rate = alt(f"svcproxy {label50} vs 100 c=8", variants, rate_s, 8)
        r50, r100 = (rate[v[0]]["conn_per_s"] for v in variants)
        sp50.stop()
        sp100.stop()
        svcproxy_cleanup(NS_NODE)
        svcproxy_cleanup(NS_REF)
        rep.add(f"conn rate at {label50} vs at 100 Services, 8 in flight", r50 / r100, "x",
                ">=", 0.97, f"{r50:.0f} vs {r100:.0f} conn/s (two identical nodes)")

        # ---- (b) upstream kube-proxy iptables layout at 10k on node; ref empty
        if have_ipt:
            load_ms = iptables_load(ipt)
            try:
                check_reachable("iptables-clusterip", "node", S10)
                variants = [("direct-empty", "ref", P10),
                            (f"iptables-clusterip-{label10}", "node", S10)]
                rate = alt(f"iptables {label10} c=8", variants, rate_s, 8)
                lat = alt(f"iptables {label10} c=1", variants, lat_s, 1)
            finally:
                iptables_flush()
            bd_rate, i_rate = (rate[v[0]]["conn_per_s"] for v in variants)
            bd_p50, i_p50 = (lat[v[0]]["p50_us"] for v in variants)
            i_p99 = lat[variants[1][0]]["p99_us"]
            rep.add(f"(b) iptables layout {label10}x{E10}: iptables-legacy-restore", load_ms,
                    "ms", "", None, f"vs svcproxy cold sync {cold10['wall_ms']:.0f} ms")
            rep.add(f"(b) iptables layout: conn rate / direct at {label10}, 8 in flight",
                    i_rate / bd_rate, "x", "", None,
                    f"{i_rate:.0f} vs {bd_rate:.0f} conn/s (svcproxy: {c_rate / d_rate:.3f})")
            rep.add(f"(b) iptables layout: added connect latency p50 at {label10}",
                    i_p50 - bd_p50, "us", "", None,
                    f"p50 {i_p50:.1f} us p99 {i_p99:.1f} us; direct p50 {bd_p50:.1f} us")
    except KeyboardInterrupt:
        log("interrupted")
        raise
    except Exception as e:  # report what we have, then fail
        log(f"ERROR: {e}")
        rep.add(f"ERROR: {e}", None, "", "<=", None, order=1e9)
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
        if raw_rows:
            keys = sorted({k for r in raw_rows for k in r if k not in ("what", "group")})
            with open(os.path.join(out_dir, "connrate-raw.csv"), "w", newline="") as f:
                wr = csv.writer(f)
                wr.writerow(["what", "group"] + keys)
                for r in raw_rows:
                    wr.writerow([r["what"], r.get("group", "")] + [r.get(k, "") for k in keys])

    rep.write_csv(os.path.join(out_dir, "results.csv"))
    load1 = open("/proc/loadavg").read().split()[0]
    title = (f"svcproxy bench ({'quick' if q else 'full'}), svcproxy {rev}, "
             f"{time.strftime('%Y-%m-%d %H:%M')}, {time.monotonic() - t_start:.0f} s, "
             f"{os.cpu_count()} CPUs, load average {load0} at start, {load1} at end")
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
