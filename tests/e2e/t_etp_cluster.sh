#!/usr/bin/env bash
# externalTrafficPolicy: Cluster (explicit) on a LoadBalancer Service with endpoints on both
# nodes: from the external client (either of its addresses), the NodePort on each node and the
# LB IP (via node-a) reach both endpoints, always masqueraded: the backend sees the receiving
# node's address on its path (its own pod: 10.244.X.1; the other node's pod: its lan address),
# never 192.168.50.100/.101.
. "$(dirname "$0")/lib2node.sh"
BPF_EXPECT_IDLE=1 # [bpf]: its clients are outside the nodes
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
{
	service_yaml etpc 10.96.5.20 80 8080 TCP type=LoadBalancer etp=Cluster nodePort=30083 \
		lbIP=192.168.60.12
	echo "---"
	slice2_yaml etpc 8080 TCP 10.244.1.11@node-a 10.244.2.11@node-b
} | write_manifest etpc.yaml
start_svcproxy_both

wait_for 5 http_ok client "http://$NODE_A_IP:30083/" || fail "client -> $NODE_A_IP:30083 not answered within 5 s"
wait_for 5 http_ok client "http://$NODE_B_IP:30083/" || fail "client -> $NODE_B_IP:30083 not answered within 5 s"
for src in "$CLIENT_IP" "$CLIENT_IP2"; do
	assert_answers_in 20 client "http://$NODE_A_IP:30083/" $'a1 10.244.1.1\nb1 192.168.50.11' --interface "$src"
	assert_answers_in 20 client "http://$NODE_B_IP:30083/" $'a1 192.168.50.12\nb1 10.244.2.1' --interface "$src"
	assert_answers_in 20 client http://192.168.60.12/ $'a1 10.244.1.1\nb1 192.168.50.11' --interface "$src"
done
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "externalTrafficPolicy Cluster: any endpoint, masqueraded"
