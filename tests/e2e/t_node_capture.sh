#!/usr/bin/env bash
# What the node already has is not taken over by a Service (issue 9):
#  - a NodePort that a process of the node listens on is not captured: the process keeps
#    answering on it, svcproxy says so in its log and in `check`; a free NodePort next to it
#    is served as usual;
#  - a Service whose ClusterIP is the node's own address is refused (it would capture every
#    port of the node: a node process on port 2222 stays reachable), named in the log and in
#    `check` (exit 2).
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 1
start_podserver pod-a pod-a 8080 --tcp
start_podserver node node-process 30095 --tcp # listens on every node address
start_podserver node sshd-like 2222 --tcp
np_service()
{
	service_yaml "$1" "$2" 80 8080 TCP type=NodePort nodePort="$3"
	echo "---"
	slice_yaml "$1" 8080 TCP 10.244.1.11
}
{
	np_service taken 10.96.0.95 30095
	echo ---
	np_service free 10.96.0.96 30096
} | write_manifest np.yaml
simple_service mine "$EXT_NODE_IP" 80 8080 TCP 10.244.1.11 | write_manifest node-ip.yaml
start_svcproxy

wait_for 5 http_ok ext "http://$EXT_NODE_IP:30096/" || fail "the free NodePort 30096 is not served"
out=$(http_get ext "http://$EXT_NODE_IP:30096/") || fail "NodePort 30096: curl exit $?"
assert_contains "$out" "pod-a" "the free NodePort reaches the pod"
out=$(http_get ext "http://$EXT_NODE_IP:30095/") || fail "NodePort 30095: curl exit $?"
assert_contains "$out" "node-process" "the node process keeps its port 30095"
wait_for 5 grep -q "nodePort 30095/tcp: a process on this node listens on it; not captured" "$SP_LOG" ||
	fail "the log does not say NodePort 30095 is left to the node process"

out=$(http_get ext "http://$EXT_NODE_IP:2222/") || fail "node port 2222 not reachable with a Service on the node address: curl exit $?"
assert_contains "$out" "sshd-like" "the node's own port 2222"
grep -q "Service default/mine: spec.clusterIPs\[0\]: $EXT_NODE_IP is an address of this node; the Service is refused" "$SP_LOG" ||
	fail "the log does not name the refused ClusterIP"

out=$(in_ns node "$SVCPROXY" check --manifests "$MANIFESTS" 2>&1)
rc=$?
log "check: $out"
assert_eq 2 "$rc" "check's exit status with a ClusterIP on a node address"
assert_contains "$out" "is an address of this node" "check names the refused ClusterIP"
assert_contains "$out" "nodePort 30095/tcp: a process on this node listens on it" "check names the port left to the node"
pass "node addresses and listening ports are left to the node"
