#!/usr/bin/python3
"""Checks the test API server with the official Kubernetes Python client (python3-kubernetes).

    client_check.py KUBECONFIG APISERVER_DIR

Run by tests/e2e/t_apiserver_clients.sh after it created Services a, b (headless label), c,
EndpointSlice a-1 and Node node-a. Each check prints "ok: ..." with the values it saw; the
first mismatch raises (exit 1). Uses apiserver-ctl (next to this file) for compaction and
token revocation.
"""

import os
import subprocess
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apiserver-ctl")


def ok(what, value):
    print(f"ok: {what}: {value}", flush=True)


def expect(what, want, got):
    if want != got:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")
    ok(what, got)


def ctl(d, *args):
    subprocess.run(["/usr/bin/python3", CTL, "--dir", d, *args], check=True,
                   stdout=subprocess.DEVNULL)


def svc(name, labels=None, cluster_ip=None):
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1ServiceSpec(cluster_ip=cluster_ip,
                                  ports=[client.V1ServicePort(port=80, target_port=8080)]))


def check_list_and_watch(v1):
    """list, then Watch().stream from the list's resourceVersion sees our own writes."""
    lst = v1.list_service_for_all_namespaces()
    names = sorted(s.metadata.name for s in lst.items)
    expect("list_service_for_all_namespaces names", ["a", "b", "c"], names)
    rv = lst.metadata.resource_version

    def writes():
        time.sleep(0.5)
        v1.create_namespaced_service("default", svc("py1"))
        v1.patch_namespaced_service("py1", "default", {"metadata": {"labels": {"x": "y"}}})
        v1.delete_namespaced_service("py1", "default")

    t = threading.Thread(target=writes)
    t.start()
    seen, rvs = [], []
    w = watch.Watch()
    for ev in w.stream(v1.list_service_for_all_namespaces, resource_version=rv,
                       timeout_seconds=4):
        o = ev["object"]
        seen.append((ev["type"], o.metadata.name, (o.metadata.labels or {}).get("x")))
        rvs.append(int(o.metadata.resource_version))
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    expect("watch events", [("ADDED", "py1", None), ("MODIFIED", "py1", "y"),
                            ("DELETED", "py1", "y")], seen)
    expect("watch resourceVersions increase", sorted(rvs), rvs)
    return rv


def check_selector_watch(v1):
    """An object that starts to match the label selector arrives as ADDED, one that stops
    matching as DELETED (the watch cache's rule)."""
    rv = v1.list_service_for_all_namespaces(
        label_selector="!service.kubernetes.io/headless").metadata.resource_version

    def writes():
        time.sleep(0.5)
        v1.patch_namespaced_service("a", "default", {"metadata": {"labels": {
            "service.kubernetes.io/headless": ""}}})
        v1.patch_namespaced_service("a", "default", {"metadata": {"labels": {
            "service.kubernetes.io/headless": None}}})

    t = threading.Thread(target=writes)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(v1.list_service_for_all_namespaces, resource_version=rv,
                       label_selector="!service.kubernetes.io/headless", timeout_seconds=4):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    t.join()
    expect("selector watch: a leaves then re-enters", [("DELETED", "a"), ("ADDED", "a")], seen)


def check_pages(v1):
    names, token, pages, rvs = [], None, 0, set()
    while True:
        kw = {"limit": 2}
        if token:
            kw["_continue"] = token
        page = v1.list_namespaced_service("default", **kw)
        pages += 1
        names += [s.metadata.name for s in page.items]
        rvs.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
    expect("paged list (limit=2) names", ["a", "b", "c"], names)
    expect("paged list pages", 2, pages)
    expect("paged list: one resourceVersion for every page", 1, len(rvs))


def check_other_kinds(d1, v1):
    sl = d1.list_endpoint_slice_for_all_namespaces().items
    expect("discovery.v1 endpointslices",
           [("a-1", "IPv4", ["10.244.1.11"], "a")],
           [(s.metadata.name, s.address_type, [a for e in s.endpoints for a in e.addresses],
             s.metadata.labels["kubernetes.io/service-name"]) for s in sl])
    nodes = v1.list_node(field_selector="metadata.name=node-a").items
    expect("nodes by fieldSelector", [("node-a", "zone-1")],
           [(n.metadata.name, n.metadata.labels["topology.kubernetes.io/zone"])
            for n in nodes])
    expect("no node by another name", [],
           v1.list_node(field_selector="metadata.name=node-z").items)


def check_expired(v1, d):
    old = v1.list_service_for_all_namespaces(limit=1)
    v1.patch_namespaced_service("b", "default", {"metadata": {"labels": {"touched": "1"}}})
    ctl(d, "compact")
    try:
        for ev in watch.Watch().stream(v1.list_service_for_all_namespaces,
                                       resource_version=old.metadata.resource_version,
                                       timeout_seconds=3):
            raise AssertionError(f"watch from a compacted version gave {ev['type']}")
        raise AssertionError("watch from a compacted version ended without an error")
    except ApiException as e:
        expect("watch from a compacted resourceVersion: ApiException status", 410, e.status)
        ok("its reason", e.reason)
    try:
        v1.list_service_for_all_namespaces(limit=1, _continue=old.metadata._continue)
        raise AssertionError("a continue token older than the compaction was accepted")
    except ApiException as e:
        expect("continue after compaction: status", 410, e.status)


def check_unauthorized(v1, d):
    tok = open(os.path.join(d, "token")).read().strip()
    ctl(d, "token", "revoke", tok)
    try:
        v1.list_node()
        raise AssertionError("a revoked token was accepted")
    except ApiException as e:
        expect("revoked token: status", 401, e.status)
        expect("revoked token: reason", "Unauthorized", e.reason)
    finally:
        ctl(d, "token", "restore", tok)


def main():
    kubeconfig, d = sys.argv[1], sys.argv[2]
    config.load_kube_config(kubeconfig)
    v1 = client.CoreV1Api()
    d1 = client.DiscoveryV1Api()
    check_list_and_watch(v1)
    check_selector_watch(v1)
    check_pages(v1)
    check_other_kinds(d1, v1)
    check_expired(v1, d)
    check_unauthorized(v1, d)
    print("python client: all checks passed")


if __name__ == "__main__":
    main()
