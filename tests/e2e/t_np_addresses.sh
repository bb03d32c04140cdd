#!/usr/bin/env bash
# --nodeport-addresses (comma-separated CIDR list): node-a runs with 192.168.50.0/24 and also
# has 192.168.51.11/24 on its lan interface: the NodePort answers on 192.168.50.11, not on
# 192.168.51.11. node-b runs with "192.168.50.0/24,192.168.51.0/24" and answers on both of its
# addresses 192.168.50.12 and 192.168.51.12 (the list form).
. "$(dirname "$0")/lib2node.sh"
BPF_EXPECT_IDLE=1 # [bpf]: its clients are outside the nodes
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
add_lan_addr node-a 192.168.51.11/24
add_lan_addr node-b 192.168.51.12/24
add_lan_addr client 192.168.51.100/24
{
	service_yaml np-addr 10.96.1.20 80 8080 TCP type=NodePort nodePort=30080
	echo "---"
	slice2_yaml np-addr 8080 TCP 10.244.1.11@node-a
} | write_manifest np-addr.yaml
start_svcproxy2 node-a --nodeport-addresses 192.168.50.0/24
start_svcproxy2 node-b --nodeport-addresses 192.168.50.0/24,192.168.51.0/24

wait_for 5 http_ok client "http://$NODE_A_IP:30080/" || fail "client -> $NODE_A_IP:30080 not answered within 5 s"
out=$(http_get client "http://$NODE_A_IP:30080/") || fail "client -> $NODE_A_IP:30080: curl exit $?"
assert_eq "a1 10.244.1.1" "$out" "node-a 192.168.50.11:30080 (inside --nodeport-addresses)"
wait_for 5 http_ok client "http://$NODE_B_IP:30080/" || fail "client -> $NODE_B_IP:30080 not answered within 5 s"
out=$(http_get client "http://$NODE_B_IP:30080/") || fail "client -> $NODE_B_IP:30080: curl exit $?"
assert_eq "a1 192.168.50.12" "$out" "node-b 192.168.50.12:30080"
wait_for 5 http_ok client "http://192.168.51.12:30080/" || fail "client -> 192.168.51.12:30080 (second CIDR of node-b's list) not answered within 5 s"
out=$(http_get client "http://192.168.51.12:30080/") || fail "client -> 192.168.51.12:30080: curl exit $?"
assert_eq "a1 192.168.50.12" "$out" "node-b 192.168.51.12:30080 (second CIDR of the list)"

# Outside node-a's list: never answered by a pod (refused, reset or timeout; no body).
for i in 1 2 3; do
	r=$(curl_rc client "http://192.168.51.11:30080/")
	assert_ne 0 "${r%% *}" "client -> node-a 192.168.51.11:30080 (outside --nodeport-addresses), try $i: curl exit"
	assert_eq "" "${r#* }" "client -> node-a 192.168.51.11:30080, try $i: body"
done
# The restriction is about the destination address only: 192.168.50.11 still answers.
out=$(http_get client "http://$NODE_A_IP:30080/") || fail "client -> $NODE_A_IP:30080 again: curl exit $?"
assert_eq "a1 10.244.1.1" "$out" "node-a 192.168.50.11:30080 still answered"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "--nodeport-addresses restricts NodePort to the listed CIDRs"
