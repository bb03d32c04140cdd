#!/usr/bin/env bash
# deploy/ parses as Kubernetes objects with the real kubectl (offline: `label --local` needs no
# API server, unlike `apply --dry-run=client`, which needs discovery), holds the objects the
# README promises, and the ConfigMap's KubeProxyConfiguration is accepted by `svcproxy check`;
# deploy/bpf/daemonset.yaml is the same DaemonSet with the bpf dataplane's flags, capabilities
# and host mounts, and nothing else.
# e2e-api: n/a - checks deploy/ files; no source
. "$(dirname "$0")/lib.sh"
harness_init
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
[[ -x "$KUBECTL" ]] || skip "kubectl not installed at $KUBECTL"
command -v python3 >/dev/null || skip "python3 not installed"
DEPLOY="$(dirname "$0")/../../deploy"
export KUBECONFIG=/dev/null HOME="$WORK"

names=$("$KUBECTL" label --local -f "$DEPLOY" svcproxy.test/parsed=yes -o name 2>&1)
assert_eq 0 "$?" "kubectl parses deploy/ (output: $names)"
log "deploy/: $(echo $names)"
for want in configmap/svcproxy daemonset.apps/svcproxy serviceaccount/svcproxy \
	clusterrole.rbac.authorization.k8s.io/svcproxy \
	clusterrolebinding.rbac.authorization.k8s.io/svcproxy; do
	assert_contains "$names" "$want" "deploy/ objects"
done

# The DaemonSet and ConfigMap say what the README says; the config passes svcproxy check.
python3 - "$DEPLOY" "$WORK" <<'PY' || fail "deploy/ content check failed"
import sys, glob, yaml
deploy, work = sys.argv[1], sys.argv[2]
objs = {}
for f in glob.glob(deploy + "/*.yaml"):
    for o in yaml.safe_load_all(open(f)):
        objs[(o["kind"], o["metadata"]["name"])] = o
ds = objs[("DaemonSet", "svcproxy")]["spec"]["template"]["spec"]
c = ds["containers"][0]
assert ds["hostNetwork"] is True
assert ds["priorityClassName"] == "system-node-critical"
assert {"operator": "Exists"} in ds["tolerations"]
sc = c["securityContext"]
assert sc["privileged"] is False
assert set(sc["capabilities"]["add"]) == {"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"}
assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
assert "--hostname-override=$(NODE_NAME)" in c["command"]
assert c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
cfgarg = [a for a in c["command"] if a.startswith("--config=")][0].split("=", 1)[1]
mount = [m for m in c["volumeMounts"] if cfgarg.startswith(m["mountPath"] + "/")][0]
vol = [v for v in ds["volumes"] if v["name"] == mount["name"]][0]
cm = objs[("ConfigMap", vol["configMap"]["name"])]
open(work + "/config.conf", "w").write(cm["data"][cfgarg.rsplit("/", 1)[1]])
rules = objs[("ClusterRole", "svcproxy")]["rules"]
verbs = {(g, r): set(x["verbs"]) for x in rules for g in x["apiGroups"] for r in x["resources"]}
assert {"list", "watch"} <= verbs[("", "services")]
assert {"list", "watch"} <= verbs[("discovery.k8s.io", "endpointslices")]
assert {"get", "list", "watch"} <= verbs[("", "nodes")]
assert {"create", "patch"} <= verbs[("", "events")]

# deploy/bpf/daemonset.yaml is that DaemonSet with --dataplane bpf and nothing else: its
# additions taken away, the two are equal (no drift between the copies). Its capabilities are
# the ones t_bpf_sock runs svcproxy with.
import copy
bpf = [o for o in yaml.safe_load_all(open(deploy + "/bpf/daemonset.yaml"))]
assert len(bpf) == 1 and bpf[0]["kind"] == "DaemonSet", bpf
bds = bpf[0]["spec"]["template"]["spec"]
bc = bds["containers"][0]
assert set(bc["securityContext"]["capabilities"]["add"]) == \
    {"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "BPF", "PERFMON"}
assert bc["securityContext"]["privileged"] is False
hostpath = {v["name"]: v["hostPath"]["path"] for v in bds["volumes"] if "hostPath" in v}
mounts = {m["name"]: m["mountPath"] for m in bc["volumeMounts"]}
assert hostpath == {"bpffs": "/sys/fs/bpf", "cgroup": "/sys/fs/cgroup"}, hostpath
added = ["--dataplane=bpf", "--cgroup-root=" + mounts["cgroup"],
         "--bpf-pin-path=" + mounts["bpffs"] + "/svcproxy"]
for a in added:
    assert a in bc["command"], (a, bc["command"])
strip = copy.deepcopy(bpf[0])
sc = strip["spec"]["template"]["spec"]
sc["containers"][0]["command"] = [a for a in bc["command"] if a not in added]
sc["containers"][0]["securityContext"]["capabilities"]["add"] = \
    [x for x in bc["securityContext"]["capabilities"]["add"] if x not in ("BPF", "PERFMON")]
sc["containers"][0]["volumeMounts"] = [m for m in bc["volumeMounts"] if m["name"] not in hostpath]
sc["volumes"] = [v for v in bds["volumes"] if v["name"] not in hostpath]
assert strip == objs[("DaemonSet", "svcproxy")], "deploy/bpf/daemonset.yaml drifted from deploy/daemonset.yaml"
PY
names=$("$KUBECTL" label --local -f "$DEPLOY/bpf/daemonset.yaml" svcproxy.test/parsed=yes -o name 2>&1)
assert_eq "daemonset.apps/svcproxy" "$names" "kubectl parses deploy/bpf/daemonset.yaml"
out=$("$SVCPROXY" check --config "$WORK/config.conf" 2>&1)
assert_eq 0 "$?" "svcproxy check --config on the ConfigMap's config.conf (output: $out)"
assert_not_contains "$out" "warning" "the ConfigMap's config has no field svcproxy ignores"
log "$out"
pass "deploy/ parses; its KubeProxyConfiguration is valid"
