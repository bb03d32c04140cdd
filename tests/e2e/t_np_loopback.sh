#!/usr/bin/env bash
# NodePort is never served on loopback (CVE-2020-8558): inside each node, 127.0.0.1:NODEPORT
# (and another 127/8 address) gets no answer from a pod, and svcproxy has not turned on
# route_localnet. The same NodePort answers the client on the node addresses meanwhile.
. "$(dirname "$0")/lib2node.sh"
BPF_EXPECT_IDLE=1 # [bpf]: 127.0.0.1:NodePort must stay untranslated
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
{
	service_yaml np-lo 10.96.1.30 80 8080 TCP type=NodePort nodePort=30080
	echo "---"
	slice2_yaml np-lo 8080 TCP 10.244.1.11@node-a 10.244.2.11@node-b
} | write_manifest np-lo.yaml
start_svcproxy_both
wait_for 5 http_ok client "http://$NODE_A_IP:30080/" || fail "client -> $NODE_A_IP:30080 not answered within 5 s"
wait_for 5 http_ok client "http://$NODE_B_IP:30080/" || fail "client -> $NODE_B_IP:30080 not answered within 5 s"

for n in node-a node-b; do
	for lo in 127.0.0.1 127.0.0.2; do
		r=$(curl_rc "$n" "http://$lo:30080/")
		assert_ne 0 "${r%% *}" "$n -> $lo:30080: curl exit"
		assert_eq "" "${r#* }" "$n -> $lo:30080: body (no pod may answer on loopback)"
	done
	for conf in all default lo eth0; do
		v=$(in_ns "$n" sysctl -n "net.ipv4.conf.$conf.route_localnet") || fail "$n: read route_localnet ($conf)"
		assert_eq 0 "$v" "$n net.ipv4.conf.$conf.route_localnet"
	done
done
# Still served on the node address after the loopback attempts.
assert_answers_in 20 client "http://$NODE_A_IP:30080/" $'a1 10.244.1.1\nb1 192.168.50.11'
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "NodePort not reachable via loopback"
