#!/usr/bin/python3
"""The API source's benchmark rows (issue 8), against the test API server (tests/apiserver).

    sudo bench/api.py [--services 10000] [--endpoints 10] [--seconds 60] [--quick]
                      [--initial-only [--runs N]]

In a network namespace it creates (spba<pid>, deleted on exit), it starts the test API server
on 127.0.0.1:6443, stores N Services and N EndpointSlices (E ready endpoints each, the address
scheme of bench/gen-manifests), and runs `svcproxy run --kubeconfig -v` three ways:

  initial list   svcproxy started -> its initial sync committed (every page listed, decoded,
                 compiled and in the kernel); peak RSS (VmHWM) after it; the CPU time
                 svcproxy and the test server spent until then (on a busy machine a
                 steadier figure than the elapsed time)
  one update     one EndpointSlice changed through the API, 20 times: the watch event's
                 arrival (svcproxy's debug line) -> the sync line of its commit
  sustained      U updates/s for S seconds with --min-sync-period 1s: per event, arrival ->
                 the commit of the first sync after it (p50/p99/max), and the shortest gap
                 between two syncs (the loop is one thread: never two syncs in flight, and
                 --min-sync-period apart)

Times come from svcproxy's own log lines (millisecond timestamps). Prints one row per figure:
figure | measured | target | ok. Python 3 stdlib, root.
"""
import argparse
import datetime
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APISERVER = os.path.join(ROOT, "tests", "apiserver", "apiserver.py")
CLUSTERIP_BASE = int(ipaddress.IPv4Address("10.96.4.0"))
POD_BASE = int(ipaddress.IPv4Address("10.244.0.1"))
NS = f"spba{os.getpid()}"
PROCS = []


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def ctl(conn, path, body):
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"control {path}: {r.status} {data[:300]!r}")


def service(i):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{i}", "namespace": "bench"},
            "spec": {"clusterIP": str(ipaddress.IPv4Address(CLUSTERIP_BASE + i)),
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]}}


def slice_(i, e, shift=0):
    eps = [{"addresses": [str(ipaddress.IPv4Address(POD_BASE + i * e + j + shift))],
            "conditions": {"ready": True}, "nodeName": f"node-{j + 1}"} for j in range(e)]
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"svc-{i}-1", "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps}


TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z")


def ts(line):
    m = TS.match(line)
    if not m:
        return None
    d = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def lines(path):
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def wait_line(path, pattern, after=0, timeout=300):
    end = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < end:
        for ln in lines(path)[after:]:
            if rx.search(ln):
                return ln
        time.sleep(0.05)
    raise RuntimeError(f"no line /{pattern}/ in {path} within {timeout} s")


def start_svcproxy(args, kubeconfig, logf, min_sync):
    cmd = ["ip", "netns", "exec", NS, args.svcproxy, "run", "--kubeconfig", kubeconfig,
           "--hostname-override", "node1", "--cluster-cidr", "10.244.0.0/14",
           "--min-sync-period", min_sync, "--healthz-bind-address", "",
           "--metrics-bind-address", "", "-v"]
    out = open(logf, "a")
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    PROCS.append(p)
    return p, t0


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    PROCS.remove(p)


def cpu_s(pid):
    """User + system CPU seconds of process pid (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vmhwm_kb(p):
    # the svcproxy process is the child of `ip netns exec` (which execs it: same pid)
    with open(f"/proc/{p.pid}/status") as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    return -1


def events_and_syncs(path, start=0):
    ev, sy = [], []
    for ln in lines(path)[start:]:
        if "api: watch endpointslices: MODIFIED" in ln:
            ev.append(ts(ln))
        elif "sync: change sync:" in ln:
            sy.append(ts(ln))
    return ev, sy


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def updates(args, conn, kc, splog, rows, p):
    """The one-update and sustained rows; p: the svcproxy of the initial list, stopped."""
    n, e = args.services, args.endpoints
    # ---- one update, 20 times
    lat = []
    for k in range(20):
        start = len(lines(splog))
        ctl(conn, "/apply", {"objects": [slice_(0, e, shift=(k + 1) % 2)]})
        wait_line(splog, r"sync: change sync:", after=start, timeout=30)
        ev, sy = events_and_syncs(splog, start)
        if ev and sy:
            lat.append((sy[0] - ev[0]) * 1e3)
        time.sleep(0.1)
    rows.append(("one EndpointSlice update: event -> committed (median)",
                 pct(lat, 0.5), "ms", 10.0))
    rows.append(("  the same, max of 20", max(lat), "ms", None))
    stop(p)

    # ---- sustained rate with --min-sync-period 1s
    start = len(lines(splog))
    p, _ = start_svcproxy(args, kc, splog, "1s")
    wait_line(splog, r"sync: initial sync:", after=start)
    start = len(lines(splog))
    total = int(args.rate * args.seconds)
    t = time.time()
    for k in range(total):
        ctl(conn, "/apply", {"objects": [slice_(k % n, e, shift=(k // n + 1) % 2)]})
        delay = t + (k + 1) / args.rate - time.time()
        if delay > 0:
            time.sleep(delay)
    achieved = total / (time.time() - t)
    time.sleep(2.5)
    ev, sy = events_and_syncs(splog, start)
    lat = []
    for x in ev:
        later = [s for s in sy if s >= x]
        if later:
            lat.append((later[0] - x) * 1e3)
    gaps = [b - a for a, b in zip(sy, sy[1:])]
    rows.append((f"sustained {achieved:.0f} updates/s for {args.seconds:.0f} s: "
                 "event -> kernel p99", pct(lat, 0.99) / 1e3, "s", 1.1))
    rows.append(("  p50", pct(lat, 0.5) / 1e3, "s", None))
    rows.append((f"  events seen / sent, syncs", f"{len(ev)}/{total}, {len(sy)}", "", None))
    rows.append(("  shortest gap between two syncs (>= min-sync-period)",
                 min(gaps) if gaps else 0, "s", None))
    stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--rate", type=int, default=100, help="updates per second (sustained)")
    ap.add_argument("--seconds", type=float, default=60, help="sustained run length")
    ap.add_argument("--quick", action="store_true", help="1000 Services, 10 s sustained")
    ap.add_argument("--initial-only", action="store_true",
                    help="the initial list rows only (no update rows)")
    ap.add_argument("--runs", type=int, default=1,
                    help="initial lists measured (median shown), with --initial-only")
    ap.add_argument("--svcproxy", default=os.path.join(ROOT, "build", "svcproxy"))
    args = ap.parse_args()
    if args.quick:
        args.services, args.seconds = 1000, 10
    n, e = args.services, args.endpoints
    work = tempfile.mkdtemp(prefix="svcproxy-bench-api.")
    rows = []
    try:
        subprocess.run(["ip", "netns", "add", NS], check=True)
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        api = subprocess.Popen(["ip", "netns", "exec", NS, "/usr/bin/python3", APISERVER,
                                "--dir", work, "--listen", "127.0.0.1:6443",
                                "--bookmark-interval", "60"],
                               stdout=open(os.path.join(work, "apiserver.log"), "w"),
                               stderr=subprocess.STDOUT)
        PROCS.append(api)
        for _ in range(300):
            if os.path.exists(os.path.join(work, "ready")):
                break
            time.sleep(0.1)
        conn = Unix(os.path.join(work, "control.sock"))
        t = time.time()
        for lo in range(0, n, 1000):
            objs = [o for i in range(lo, min(n, lo + 1000)) for o in (service(i), slice_(i, e))]
            ctl(conn, "/apply", {"objects": objs})
        log(f"{n} Services + {n} EndpointSlices stored in {time.time() - t:.1f} s")
        kc = os.path.join(work, "kubeconfig")
        splog = os.path.join(work, "svcproxy.log")
        open(splog, "w").close()

        # ---- initial list
        runs = []
        for _ in range(args.runs if args.initial_only else 1):
            start = len(lines(splog))
            api_cpu = cpu_s(api.pid)
            p, t0 = start_svcproxy(args, kc, splog, "0")
            ln = wait_line(splog, r"sync: initial sync:", after=start)
            runs.append((ts(ln) - t0, vmhwm_kb(p) / 1024, cpu_s(p.pid), cpu_s(api.pid) - api_cpu))
            for x in lines(splog)[start:]:
                if "api: listed" in x:
                    log(x[25:])
            log(ln[25:])
            if args.initial_only:  # the next run starts from an empty kernel table again
                stop(p)
                subprocess.run(["ip", "netns", "exec", NS, args.svcproxy, "cleanup"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if len(runs) > 1:
            log("runs (s, MB, svcproxy CPU s, server CPU s): " +
                ", ".join(f"{a:.3f}/{b:.1f}/{c:.2f}/{d:.2f}" for a, b, c, d in runs))
        med = sorted(runs)[len(runs) // 2]
        rows.append((f"initial list {n}+{n} -> synced", med[0], "s", 2.0))
        rows.append(("  peak RSS after it", med[1], "MB", 60.0))
        rows.append(("  CPU until then: svcproxy", med[2], "s", None))
        rows.append(("  CPU until then: test API server", med[3], "s", None))

        if not args.initial_only:
            updates(args, conn, kc, splog, rows, p)
    finally:
        for p in PROCS:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["ip", "netns", "exec", NS, args.svcproxy, "cleanup"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
        if os.environ.get("BENCH_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    ok_all = True
    print(f"{'figure':72} | {'measured':>12} | target | ok")
    for fig, val, unit, target in rows:
        if isinstance(val, float):
            meas = f"{val:.3f} {unit}" if val < 10 else f"{val:.1f} {unit}"
        else:
            meas = f"{val} {unit}".strip()
        ok = "" if target is None else ("yes" if val <= target else "NO")
        ok_all &= ok != "NO"
        tgt = "" if target is None else f"<= {target:g} {unit}"
        print(f"{fig:72} | {meas:>12} | {tgt} | {ok}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
