#!/usr/bin/env bash
# ClusterIP from a pod, from another pod and from the node: 10.96.0.10:80 -> pod-a:8080.
# The backend sees the client pod's own address (no SNAT for pod -> ClusterIP), and
# `svcproxy show services` reads the Service back from the kernel (with --dataplane bpf from the
# socket programs' maps, which it prints after the table).
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.10 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml
start_svcproxy

wait_for 5 http_ok pod-b http://10.96.0.10/ || fail "pod-b: http://10.96.0.10/ not answered within 5 s"
for client in pod-b pod-c; do
	out=$(http_get "$client" http://10.96.0.10/) || fail "$client -> 10.96.0.10:80: curl exit $?"
	assert_eq "pod-a ${POD_IP[$client]}" "$out" "$client -> ClusterIP answer (backend sees the pod IP)"
done
out=$(http_get node http://10.96.0.10/) || fail "node -> 10.96.0.10:80: curl exit $?"
assert_eq "pod-a $GW" "$out" "node -> ClusterIP answer"

mapfile -t pin < <(pin_args)
out=$(in_ns node "$SVCPROXY" show services "${pin[@]}" 2>&1) || fail "svcproxy show services: exit $?: $out"
log "show services: $out"
assert_contains "$out" "10.96.0.10" "svcproxy show services"
pass "ClusterIP reachable from pods and the node"
