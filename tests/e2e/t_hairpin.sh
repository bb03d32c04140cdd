#!/usr/bin/env bash
# Hairpin: pod-a reaches itself through its Service (pod-a is the only endpoint). This only
# works if the node masquerades the connection, so pod-a sees the node's address as the
# client ($GW) and its replies come back through the node to be un-NATed. With --dataplane
# bpf the connect goes to pod-a's own address from the start: no NAT to undo, no masquerade,
# pod-a sees itself as the client.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service self 10.96.0.14 80 8080 TCP 10.244.1.11 | write_manifest self.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.14/ || fail "pod-b: http://10.96.0.14/ not answered within 5 s"

out=$(http_get pod-a http://10.96.0.14/) || fail "pod-a -> its own Service 10.96.0.14:80: curl exit $?"
if [[ "$E2E_DATAPLANE" == bpf ]]; then
	assert_eq "pod-a 10.244.1.11" "$out" "hairpin answer (bpf: pod-a connected to itself)"
else
	assert_eq "pod-a $GW" "$out" "hairpin answer (masqueraded to the node address)"
fi
for i in $(seq 5); do
	http_get pod-a http://10.96.0.14/ >/dev/null || fail "hairpin request $((i + 1)): curl exit $?"
done
pass "hairpin"
