#!/usr/bin/env bash
# One Service, two ports with the same number and nodePort: TCP 80 and UDP 80, nodePort 30090
# for both (-> a1's TCP 8080 and UDP 5353). Both protocols answer on both node addresses (and
# on the ClusterIP from a pod), and svcproxy holds both the TCP and the UDP port 30090.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1-tcp 8080 --tcp
start_podserver a1 a1-udp 5353 --udp
{
	service_yaml dual 10.96.1.50 type=NodePort ports=tcp:80:8080:TCP:30090,udp:80:5353:UDP:30090
	echo "---"
	slice_af_yaml dual-1 dual IPv4 tcp:8080,udp:5353:UDP TCP 10.244.1.11@node-a
} | write_manifest dual.yaml
start_svcproxy_both

wait_for 5 http_ok client "http://$NODE_A_IP:30090/" || fail "client -> tcp $NODE_A_IP:30090 not answered within 5 s"
wait_for 5 udp_ok client "$NODE_A_IP:30090" || fail "client -> udp $NODE_A_IP:30090 not answered within 5 s"
wait_for 5 http_ok client "http://$NODE_B_IP:30090/" || fail "client -> tcp $NODE_B_IP:30090 not answered within 5 s"
wait_for 5 udp_ok client "$NODE_B_IP:30090" || fail "client -> udp $NODE_B_IP:30090 not answered within 5 s"

declare -A MASQ=([node-a]=10.244.1.1 [node-b]=192.168.50.12)
for n in node-a node-b; do
	ip=${NODE_IP[$n]}
	for i in 1 2 3; do
		out=$(http_get client "http://$ip:30090/") || fail "client -> tcp $ip:30090: curl exit $?"
		assert_eq "a1-tcp ${MASQ[$n]}" "$out" "tcp $ip:30090 (try $i)"
		out=$(udp_get client "$ip:30090") || fail "client -> udp $ip:30090: udpclient exit $?"
		assert_eq "a1-udp ${MASQ[$n]}" "$out" "udp $ip:30090 (try $i)"
	done
	# Both protocols' port 30090 held by svcproxy in that node.
	assert_contains "$(in_ns "$n" ss -Hltnp 'sport = :30090')" '"svcproxy"' "$n: tcp :30090 held"
	assert_contains "$(in_ns "$n" ss -Hlunp 'sport = :30090')" '"svcproxy"' "$n: udp :30090 held"
done
out=$(http_get b2 http://10.96.1.50/) || fail "b2 -> tcp ClusterIP 10.96.1.50:80: curl exit $?"
assert_eq "a1-tcp 10.244.2.12" "$out" "b2 -> tcp ClusterIP:80"
out=$(udp_get b2 10.96.1.50:80) || fail "b2 -> udp ClusterIP 10.96.1.50:80: udpclient exit $?"
assert_eq "a1-udp 10.244.2.12" "$out" "b2 -> udp ClusterIP:80"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "TCP and UDP served on the same nodePort"
