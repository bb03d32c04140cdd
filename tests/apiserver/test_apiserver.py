#!/usr/bin/python3
"""Unit tests of the test API server's logic (selectors, patches, store, watch rules, lists),
in process, no network. Run by meson's unit suite (tests/meson.build); the protocol as seen by
real clients is tested by tests/e2e/t_apiserver_clients.sh and t_apiserver_faults.sh."""

import argparse
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apiserver as A  # noqa: E402

SVC = A.BY_KIND[("v1", "Service")]
SLICE = A.BY_KIND[("discovery.k8s.io/v1", "EndpointSlice")]
NODE = A.BY_KIND[("v1", "Node")]


def svc(name, labels=None, **spec):
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def new_app(history=1000, paginate_rv0=False, cidrs="10.96.0.0/16"):
    args = argparse.Namespace(history=history, service_cidr=cidrs, first_rv=100,
                              paginate_rv0=paginate_rv0)
    return A.App(args)


def lister(app):
    h = A.ApiHandler.__new__(A.ApiHandler)
    h.app = app
    return h.list_objects


class Selectors(unittest.TestCase):
    def test_labels(self):
        cases = [("", {}, True), ("a", {"a": ""}, True), ("a", {}, False),
                 ("!a", {}, True), ("!a", {"a": "x"}, False), ("a=1", {"a": "1"}, True),
                 ("a==1", {"a": "2"}, False), ("a!=1", {}, True), ("a!=1", {"a": "1"}, False),
                 ("a in (1, 2)", {"a": "2"}, True), ("a in (1,2)", {}, False),
                 ("a notin (1,2)", {}, True), ("a notin (1,2)", {"a": "1"}, False),
                 ("!x,!y", {"z": "1"}, True), ("!x,!y", {"y": ""}, False),
                 ("a in (1,2),b", {"a": "1", "b": ""}, True)]
        for sel, labels, want in cases:
            self.assertEqual(A.parse_label_selector(sel)(labels), want, (sel, labels))

    def test_bad_label_selector(self):
        with self.assertRaises(A.ApiError) as e:
            A.parse_label_selector("a in 1")
        self.assertEqual(e.exception.code, 400)

    def test_fields(self):
        o = {"metadata": {"name": "n", "namespace": "ns"}, "spec": {"type": "NodePort"}}
        self.assertTrue(A.parse_field_selector("metadata.name=n", SVC)(o))
        self.assertFalse(A.parse_field_selector("metadata.name!=n", SVC)(o))
        self.assertTrue(A.parse_field_selector("metadata.namespace==ns,spec.type=NodePort",
                                               SVC)(o))
        with self.assertRaises(A.ApiError) as e:
            A.parse_field_selector("spec.selector=x", SVC)
        self.assertEqual(e.exception.code, 400)


class Patches(unittest.TestCase):
    def test_merge_patch_rfc7386(self):
        self.assertEqual(A.merge_patch({"a": "b", "c": {"d": "e", "f": "g"}},
                                       {"a": "z", "c": {"f": None}}),
                         {"a": "z", "c": {"d": "e"}})
        self.assertEqual(A.merge_patch({"a": [1, 2]}, {"a": [3]}), {"a": [3]})

    def test_strategic_ports_by_port(self):
        cur = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 53, "name": "dns"}]},
               "metadata": {"finalizers": ["a"]}}
        patch = {"spec": {"$setElementOrder/ports": [{"port": 53}, {"port": 81}],
                          "ports": [{"port": 81, "name": "http"},
                                    {"port": 80, "$patch": "delete"}]},
                 "metadata": {"finalizers": ["b"]}}
        out = A.strategic_merge_patch(cur, patch)
        self.assertEqual(out["spec"]["ports"], [{"port": 53, "name": "dns"},
                                                {"port": 81, "name": "http"}])
        self.assertEqual(out["metadata"]["finalizers"], ["a", "b"])
        self.assertEqual(cur["spec"]["ports"][0], {"port": 80, "name": "http"})  # untouched

    def test_strategic_atomic_lists_replace(self):
        out = A.strategic_merge_patch({"endpoints": [{"addresses": ["1.1.1.1"]}]},
                                      {"endpoints": [{"addresses": ["2.2.2.2"]}]})
        self.assertEqual(out["endpoints"], [{"addresses": ["2.2.2.2"]}])

    def test_json_patch(self):
        doc = {"metadata": {"labels": {"a": "1"}}, "l": [1, 2]}
        out = A.json_patch(doc, [{"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
                                 {"op": "remove", "path": "/metadata/labels/a"},
                                 {"op": "add", "path": "/l/-", "value": 3},
                                 {"op": "replace", "path": "/l/0", "value": 0},
                                 {"op": "test", "path": "/l/1", "value": 2}])
        self.assertEqual(out, {"metadata": {"labels": {"b/c": "2"}}, "l": [0, 2, 3]})
        with self.assertRaises(A.ApiError):
            A.json_patch(doc, [{"op": "replace", "path": "/nope", "value": 1}])


class StoreWrites(unittest.TestCase):
    def setUp(self):
        self.app = new_app()
        self.st, self.w = self.app.store, self.app.writes

    def test_create_defaults_and_allocation(self):
        a = self.w.create(SVC, "default", svc("a", clusterIP="10.96.0.10"))
        b = self.w.create(SVC, "default", svc("b", type="NodePort"))
        self.assertEqual(a["metadata"]["resourceVersion"], "101")
        self.assertEqual(b["spec"]["clusterIP"], "10.96.0.11")  # .10 is taken
        self.assertEqual(b["spec"]["ports"][0]["nodePort"], 30000)
        self.assertEqual(b["spec"]["ports"][0]["targetPort"], 80)
        self.assertEqual(b["spec"]["externalTrafficPolicy"], "Cluster")
        self.assertEqual(b["metadata"]["generation"], 1)
        with self.assertRaises(A.ApiError) as e:
            self.w.create(SVC, "default", svc("a"))
        self.assertEqual((e.exception.code, e.exception.reason), (409, "AlreadyExists"))

    def test_update_rules(self):
        self.w.create(SVC, "default", svc("a", type="NodePort"))
        cur = self.st.get(SVC, "default", "a")
        same = self.w.update(SVC, "default", "a", svc("a", type="NodePort"))
        self.assertIs(same, cur)  # no-op: no new version
        self.assertEqual(self.st.rv, 101)
        up = self.w.update(SVC, "default", "a", svc("a", type="NodePort", ports=[
            {"port": 80}, {"port": 90}]))
        self.assertEqual(up["spec"]["ports"][0]["nodePort"], cur["spec"]["ports"][0][
            "nodePort"])  # kept
        self.assertEqual(up["metadata"]["generation"], 2)
        self.assertEqual(up["metadata"]["uid"], cur["metadata"]["uid"])
        stale = svc("a")
        stale["metadata"]["resourceVersion"] = "101"
        with self.assertRaises(A.ApiError) as e:
            self.w.update(SVC, "default", "a", stale)
        self.assertEqual((e.exception.code, e.exception.reason), (409, "Conflict"))
        with self.assertRaises(A.ApiError) as e:
            self.w.update(SVC, "default", "a", svc("a", clusterIP="10.96.9.9"))
        self.assertEqual(e.exception.code, 422)
        ci = self.w.update(SVC, "default", "a", svc("a", type="ClusterIP"))
        self.assertNotIn("nodePort", ci["spec"]["ports"][0])

    def test_managed_fields(self):
        self.w.create(SVC, "default", svc("a", {"x": "1"}), manager="kubectl-create")
        self.w.patch(SVC, "default", "a", "application/merge-patch+json",
                     {"metadata": {"labels": {"x": "2"}}}, manager="kubectl-label")
        self.w.patch(SVC, "default", "a", "application/merge-patch+json",
                     {"metadata": {"labels": {"x": "2"}}}, manager="other")  # no-op
        mf = self.st.get(SVC, "default", "a")["metadata"]["managedFields"]
        self.assertEqual([e["manager"] for e in mf], ["kubectl-create", "kubectl-label"])
        self.assertEqual(mf[1]["fieldsV1"]["f:spec"]["f:ports"],
                         {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {},
                                                             "f:protocol": {},
                                                             "f:targetPort": {}}})
        self.assertEqual(self.st.rv, 102)

    def test_status_only_through_status(self):
        self.w.create(SVC, "default", svc("a"))
        body = svc("a")
        body["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
        self.w.update(SVC, "default", "a", body)
        self.assertEqual(self.st.get(SVC, "default", "a")["status"], {"loadBalancer": {}})
        self.w.update(SVC, "default", "a", body, sub="status")
        self.assertEqual(self.st.get(SVC, "default", "a")["status"], body["status"])

    def test_patch_does_not_touch_stored_objects(self):
        self.w.create(SVC, "default", svc("a"))
        before = A.jcopy(self.st.get(SVC, "default", "a"))
        self.w.patch(SVC, "default", "a", "application/merge-patch+json",
                     {"metadata": {"labels": {"x": "y"}}})
        self.assertEqual(self.st.history[0].obj, before)
        self.w.patch(SVC, "default", "a", "application/merge-patch+json",
                     {"metadata": {"labels": {"x": "z"}}})
        self.assertEqual(self.st.get(SVC, "default", "a")["metadata"]["labels"], {"x": "z"})

    def test_finalizers_delay_deletion(self):
        n = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n",
                                                             "finalizers": ["f"]}}
        self.w.create(NODE, None, n)
        marked = self.w.delete(NODE, None, "n")
        self.assertIn("deletionTimestamp", marked["metadata"])
        self.assertEqual(self.st.history[-1].type, "MODIFIED")
        self.w.patch(NODE, None, "n", "application/merge-patch+json",
                     {"metadata": {"finalizers": None}})
        self.assertEqual(self.st.history[-1].type, "DELETED")
        with self.assertRaises(A.ApiError):
            self.st.get(NODE, None, "n")

    def test_history_rollback_and_compaction(self):
        for n in "abc":
            self.w.create(SVC, "default", svc(n))  # rv 101..103
        self.w.delete(SVC, "default", "b")  # 104
        self.w.patch(SVC, "default", "a", "application/merge-patch+json",
                     {"metadata": {"labels": {"x": "1"}}})  # 105
        at102 = self.st.state_at(SVC, 102)
        self.assertEqual(sorted(k[1] for k in at102), ["a", "b"])
        self.assertEqual(at102[("default", "a")]["metadata"]["resourceVersion"], "101")
        self.assertEqual([e.rv for e in self.st.events_since(103)], [104, 105])
        self.assertEqual(self.st.compact(), 105)
        with self.assertRaises(A.ApiError) as e:
            self.st.events_since(104)
        self.assertEqual((e.exception.code, e.exception.reason), (410, "Expired"))
        self.assertEqual(self.st.events_since(105), [])

    def test_history_limit_compacts(self):
        app = new_app(history=2)
        for n in "abcd":
            app.writes.create(SVC, "default", svc(n))  # 101..104
        self.assertEqual(app.store.compacted, 102)
        with self.assertRaises(A.ApiError):
            app.store.events_since(101)


class Watch(unittest.TestCase):
    def test_selector_transitions(self):
        app = new_app()
        w = A.Watcher(SVC, "default", A.parse_label_selector("!headless"),
                      A.parse_field_selector("", SVC))
        app.store.watchers.add(w)
        wr = app.writes
        wr.create(SVC, "default", svc("a"))
        wr.create(SVC, "other", svc("o"))
        wr.patch(SVC, "default", "a", "application/merge-patch+json",
                 {"metadata": {"labels": {"headless": ""}}})
        wr.patch(SVC, "default", "a", "application/merge-patch+json",
                 {"metadata": {"labels": {"headless": None, "x": "1"}}})
        wr.patch(SVC, "default", "a", "application/merge-patch+json",
                 {"metadata": {"labels": {"x": "2"}}})
        wr.delete(SVC, "default", "a")
        got = [(t, o["metadata"]["name"], o["metadata"]["resourceVersion"]) for t, o, _ in w.q]
        self.assertEqual(got, [("ADDED", "a", "101"), ("DELETED", "a", "103"),
                               ("ADDED", "a", "104"), ("MODIFIED", "a", "105"),
                               ("DELETED", "a", "106")])


class Lists(unittest.TestCase):
    def setUp(self):
        self.app = new_app()
        for n in ["e", "a", "d", "b", "c"]:
            self.app.writes.create(SVC, "default", svc(n, {"k": n}))  # 101..105
        self.app.writes.create(SVC, "zz", svc("a"))  # 106
        self.list = lister(self.app)

    def test_pages_are_a_snapshot(self):
        items, rv, tok, rem = self.list(SVC, "default", {"limit": "2"})
        self.assertEqual(([o["metadata"]["name"] for o in items], rv, rem),
                         (["a", "b"], 106, 3))
        self.app.writes.delete(SVC, "default", "c")
        self.app.writes.create(SVC, "default", svc("bb"))
        items, rv2, tok, rem = self.list(SVC, "default", {"limit": "2", "continue": tok})
        self.assertEqual(([o["metadata"]["name"] for o in items], rv2), (["c", "d"], 106))
        items, _, tok, rem = self.list(SVC, "default", {"limit": "2", "continue": tok})
        self.assertEqual(([o["metadata"]["name"] for o in items], tok, rem), (["e"], "", None))

    def test_cached_order_and_texts_follow_changes(self):
        st = self.app.store
        names = lambda: [o["metadata"]["name"] for o in self.list(SVC, "default", {})[0]]
        self.assertEqual(names(), ["a", "b", "c", "d", "e"])
        self.app.writes.create(SVC, "default", svc("bb"))
        self.app.writes.delete(SVC, "default", "c")
        self.assertEqual(names(), ["a", "b", "bb", "d", "e"])
        cur = st.get(SVC, "default", "bb")
        text = st.list_item(SVC, ("default", "bb"), cur)
        self.assertEqual(json.loads(text), {k: v for k, v in cur.items()
                                            if k not in ("kind", "apiVersion")})
        self.app.writes.delete(SVC, "default", "bb")
        self.assertNotIn(("default", "bb"), st.item_text["services"])
        # an object no longer stored (a list at an older resourceVersion) is written anew
        self.assertEqual(json.loads(st.list_item(SVC, ("default", "bb"), cur)),
                         json.loads(text))

    def test_selectors_and_scope(self):
        items, *_ = self.list(SVC, None, {"labelSelector": "k in (a,e)"})
        self.assertEqual([(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items],
                         [("default", "a"), ("default", "e")])
        items, *_ = self.list(SVC, None, {"fieldSelector": "metadata.name=a"})
        self.assertEqual(len(items), 2)

    def test_resource_version_rules(self):
        items, rv, tok, _ = self.list(SVC, None, {"limit": "2", "resourceVersion": "0"})
        self.assertEqual((len(items), tok), (6, ""))  # the watch cache ignores limit
        items, rv, *_ = self.list(SVC, None, {"resourceVersion": "102",
                                              "resourceVersionMatch": "Exact"})
        self.assertEqual(([o["metadata"]["name"] for o in items], rv), (["a", "e"], 102))
        with self.assertRaises(A.ApiError) as e:
            self.list(SVC, None, {"resourceVersion": "999"})
        self.assertEqual(e.exception.code, 504)
        _, _, tok, _ = self.list(SVC, None, {"limit": "1"})
        self.app.writes.create(SVC, "default", svc("f"))
        self.app.store.compact()
        with self.assertRaises(A.ApiError) as e:
            self.list(SVC, None, {"limit": "1", "continue": tok})
        self.assertEqual((e.exception.code, e.exception.reason), (410, "Expired"))
        with self.assertRaises(A.ApiError) as e:
            self.list(SVC, None, {"resourceVersionMatch": "Exact"})
        self.assertEqual(e.exception.code, 400)


class Paths(unittest.TestCase):
    def test_parse(self):
        P = A.parse_resource_path
        self.assertEqual(P("/api/v1/services"), (SVC, None, None, None, False))
        self.assertEqual(P("/api/v1/namespaces/d/services/x/status"),
                         (SVC, "d", "x", "status", False))
        self.assertEqual(P("/apis/discovery.k8s.io/v1/watch/namespaces/d/endpointslices"),
                         (SLICE, "d", None, None, True))
        self.assertEqual(P("/api/v1/nodes/n"), (NODE, None, "n", None, False))
        for bad in ("/api/v1/namespaces/d/nodes", "/api/v1/services/x", "/api/v1/pods",
                    "/apis/discovery.k8s.io/v1/namespaces/d/endpointslices/x/status"):
            self.assertIsNone(P(bad), bad)


if __name__ == "__main__":
    unittest.main(verbosity=1)
