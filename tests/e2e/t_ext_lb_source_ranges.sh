#!/usr/bin/env bash
# LoadBalancer ingress IP with loadBalancerSourceRanges [192.168.50.100/32]: the client routes
# 192.168.60.0/24 via node-a. From 192.168.50.100 the LB IP 192.168.60.10:80 is served
# (masqueraded: a1 sees 10.244.1.1); from 192.168.50.101 it gets nothing: dropped, so curl
# times out (not refused). The source ranges apply to the LoadBalancer address only: the same
# Service's NodePort still answers 192.168.50.101.
. "$(dirname "$0")/lib2node.sh"
BPF_EXPECT_IDLE=1 # [bpf]: its clients are outside the nodes
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
{
	service_yaml lb 10.96.4.10 80 8080 TCP type=LoadBalancer sourceRanges=192.168.50.100/32 \
		nodePort=30081 lbIP=192.168.60.10
	echo "---"
	slice2_yaml lb 8080 TCP 10.244.1.11@node-a
} | write_manifest lb.yaml
start_svcproxy_both

wait_for 5 curl_from client http://192.168.60.10/ --interface "$CLIENT_IP" ||
	fail "client $CLIENT_IP -> LB 192.168.60.10:80 not answered within 5 s"
for i in 1 2 3; do
	out=$(curl_from client http://192.168.60.10/ --interface "$CLIENT_IP") ||
		fail "client $CLIENT_IP -> LB 192.168.60.10:80 (allowed source), try $i: curl exit $?"
	assert_eq "a1 10.244.1.1" "$out" "LB IP from allowed source $CLIENT_IP, try $i"
	r=$(curl_rc client http://192.168.60.10/ --interface "$CLIENT_IP2")
	assert_eq "28 " "$r" "LB IP from blocked source $CLIENT_IP2, try $i: '<curl exit> <body>' (28 = timed out: dropped)"
done
out=$(curl_from client "http://$NODE_A_IP:30081/" --interface "$CLIENT_IP2") ||
	fail "client $CLIENT_IP2 -> NodePort $NODE_A_IP:30081: curl exit $?"
assert_eq "a1 10.244.1.1" "$out" "NodePort from $CLIENT_IP2 (source ranges are for the LB IP only)"
out=$(curl_from client "http://$NODE_B_IP:30081/" --interface "$CLIENT_IP2") ||
	fail "client $CLIENT_IP2 -> NodePort $NODE_B_IP:30081: curl exit $?"
assert_eq "a1 192.168.50.12" "$out" "NodePort on node-b from $CLIENT_IP2"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "LoadBalancer IP enforces loadBalancerSourceRanges"
