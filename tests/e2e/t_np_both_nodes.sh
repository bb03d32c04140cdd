#!/usr/bin/env bash
# NodePort (default externalTrafficPolicy: Cluster) from the external client via both node
# addresses, and via a second address of node-b's (NodePort is on every node address when
# --nodeport-addresses is not given). Endpoints on both nodes: each node spreads over both, and
# masquerades: the backend sees the address of the node that received the connection on the
# path to the pod (10.244.X.1 for its own pod, its lan address for the other node's pod),
# never the client's 192.168.50.100.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
add_lan_addr node-b 192.168.51.12/24
add_lan_addr client 192.168.51.100/24
{
	service_yaml np-web 10.96.1.10 80 8080 TCP type=NodePort nodePort=30080
	echo "---"
	slice2_yaml np-web 8080 TCP 10.244.1.11@node-a 10.244.2.11@node-b
} | write_manifest np-web.yaml
start_svcproxy_both

wait_for 5 http_ok client "http://$NODE_A_IP:30080/" || fail "client -> $NODE_A_IP:30080 not answered within 5 s"
wait_for 5 http_ok client "http://$NODE_B_IP:30080/" || fail "client -> $NODE_B_IP:30080 not answered within 5 s"
assert_answers_in 20 client "http://$NODE_A_IP:30080/" $'a1 10.244.1.1\nb1 192.168.50.11'
assert_answers_in 20 client "http://$NODE_B_IP:30080/" $'a1 192.168.50.12\nb1 10.244.2.1'
# A node's secondary address is a node address too (masquerade picks node-b's address on the
# subnet of the next hop towards a1, 192.168.50.12).
wait_for 5 http_ok client "http://192.168.51.12:30080/" || fail "client -> 192.168.51.12:30080 (node-b's second address) not answered within 5 s"
assert_answers_in 20 client "http://192.168.51.12:30080/" $'a1 192.168.50.12\nb1 10.244.2.1'
# The ClusterIP of a NodePort Service works as well, from a pod on either node (no SNAT).
assert_answers_in 20 a2 http://10.96.1.10/ $'a1 10.244.1.12\nb1 10.244.1.12'
assert_answers_in 20 b2 http://10.96.1.10/ $'a1 10.244.2.12\nb1 10.244.2.12'
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "NodePort answered on every node address of both nodes"
