#!/usr/bin/env bash
# internalTrafficPolicy: Local across the two nodes.
# Service itp (10.96.6.10) has endpoints a1 on node-a and b1 on node-b: a pod on node-a (a2)
# only ever reaches a1, a pod on node-b (b2) only ever reaches b1 (sources kept: no SNAT).
# Service itp-a (10.96.6.11) has only a1 on node-a: a2 reaches it; b2 gets nothing, the
# packet is dropped (curl times out, exit 28), NOT rejected (that would be exit 7). With
# --dataplane bpf a connect cannot be dropped: it fails at once with EHOSTUNREACH (curl exit 7,
# "No route to host"), never ECONNREFUSED ("Connection refused" is for no endpoint at all).
# The external policy is not affected: the client reaches both endpoints via itp's NodePort.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
{
	service_yaml itp 10.96.6.10 80 8080 TCP type=NodePort itp=Local nodePort=30084
	echo "---"
	slice2_yaml itp 8080 TCP 10.244.1.11@node-a 10.244.2.11@node-b
	echo "---"
	service_yaml itp-a 10.96.6.11 80 8080 TCP itp=Local
	echo "---"
	slice2_yaml itp-a 8080 TCP 10.244.1.11@node-a
} | write_manifest itp.yaml
start_svcproxy_both

wait_for 5 http_ok a2 http://10.96.6.10/ || fail "a2 -> 10.96.6.10 not answered within 5 s"
wait_for 5 http_ok b2 http://10.96.6.10/ || fail "b2 -> 10.96.6.10 not answered within 5 s"
assert_answers_in 20 a2 http://10.96.6.10/ "a1 10.244.1.12"
assert_answers_in 20 b2 http://10.96.6.10/ "b1 10.244.2.12"
wait_for 5 http_ok a2 http://10.96.6.11/ || fail "a2 -> 10.96.6.11 not answered within 5 s"
assert_answers_in 10 a2 http://10.96.6.11/ "a1 10.244.1.12"
for i in 1 2 3; do
	r=$(curl_rc b2 http://10.96.6.11/)
	if [[ "$E2E_DATAPLANE" == bpf ]]; then
		assert_eq "7 " "$r" "b2 (node-b, no local endpoint) -> 10.96.6.11, try $i: '<curl exit> <body>' (bpf: the connect fails)"
		out=$(in_ns b2 "$BUILD_DIR/tests/sockpeer" tcp 10.96.6.11 80 2>&1)
		assert_contains "$out" "connect: No route to host" "b2 -> 10.96.6.11, try $i: connect()'s error"
	else
		assert_eq "28 " "$r" "b2 (node-b, no local endpoint) -> 10.96.6.11, try $i: '<curl exit> <body>' (28 = dropped, 7 would be rejected)"
	fi
done
assert_answers_in 20 client "http://$NODE_A_IP:30084/" $'a1 10.244.1.1\nb1 192.168.50.11'
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "internalTrafficPolicy Local: same-node endpoints only, dropped when none"
