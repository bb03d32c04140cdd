#!/usr/bin/env bash
# The two-node harness itself, without svcproxy: pods reach pods on the other node (routed,
# not NATed, so the backend sees the real pod address), nodes reach each other's pods, the
# client reaches both node addresses from both of its addresses, and the client has no path
# to a pod or to 192.168.60.0/24 on its own (only svcproxy can give it one). If this fails,
# every t_np_/t_ext_/t_etp_/t_itp_ failure is a harness problem, not an svcproxy one.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver a2 a2-udp 5353 --udp
start_podserver b1 b1 8080 --tcp

out=$(http_get a2 http://10.244.1.11:8080/) || fail "a2 -> a1 (same node): curl exit $?"
assert_eq "a1 10.244.1.12" "$out" "a2 -> a1 same node"
out=$(http_get b2 http://10.244.1.11:8080/) || fail "b2 -> a1 (across nodes): curl exit $?"
assert_eq "a1 10.244.2.12" "$out" "b2 -> a1 across nodes (not NATed)"
out=$(http_get a2 http://10.244.2.11:8080/) || fail "a2 -> b1 (across nodes): curl exit $?"
assert_eq "b1 10.244.1.12" "$out" "a2 -> b1 across nodes (not NATed)"
out=$(udp_get b1 10.244.1.12:5353) || fail "b1 -> a2 udp across nodes: udpclient exit $?"
assert_eq "a2-udp 10.244.2.11" "$out" "b1 -> a2 udp across nodes"
out=$(http_get node-a http://10.244.2.11:8080/) || fail "node-a -> b1: curl exit $?"
assert_eq "b1 $NODE_A_IP" "$out" "node-a -> b1 (source: node-a's lan address)"
out=$(http_get node-b http://10.244.1.11:8080/) || fail "node-b -> a1: curl exit $?"
assert_eq "a1 $NODE_B_IP" "$out" "node-b -> a1"
out=$(http_get node-a http://10.244.1.11:8080/) || fail "node-a -> a1: curl exit $?"
assert_eq "a1 10.244.1.1" "$out" "node-a -> own pod a1 (source: the pod gateway address)"

# The client reaches both nodes from both of its addresses.
start_podserver node-a node-a-srv 9000 --tcp
start_podserver node-b node-b-srv 9000 --tcp
for src in "$CLIENT_IP" "$CLIENT_IP2"; do
	out=$(curl_from client "http://$NODE_A_IP:9000/" --interface "$src") || fail "client $src -> node-a: curl exit $?"
	assert_eq "node-a-srv $src" "$out" "client from $src -> node-a"
	out=$(curl_from client "http://$NODE_B_IP:9000/" --interface "$src") || fail "client $src -> node-b: curl exit $?"
	assert_eq "node-b-srv $src" "$out" "client from $src -> node-b"
done
# A second node address added to the lan interface is reachable once the client has one too.
add_lan_addr node-a 192.168.51.11/24
add_lan_addr client 192.168.51.100/24
wait_for 3 http_ok client http://192.168.51.11:9000/ || fail "client -> node-a 192.168.51.11: no answer"
out=$(http_get client http://192.168.51.11:9000/) || fail "client -> 192.168.51.11: curl exit $?"
assert_eq "node-a-srv 192.168.51.100" "$out" "client -> node-a's second address"

# Without svcproxy the client cannot reach pods or 192.168.60.0/24 (forwarded by node-a to
# nowhere) or ClusterIPs, and nodes/pods cannot reach ClusterIPs.
r=$(curl_rc client http://10.244.1.11:8080/)
assert_ne 0 "${r%% *}" "client -> pod a1 directly (no route): curl exit"
r=$(curl_rc client http://192.168.60.10/)
assert_ne 0 "${r%% *}" "client -> 192.168.60.10 without svcproxy: curl exit"
http_fails a1 http://10.96.0.10/ || fail "10.96.0.10 answered without svcproxy"
# Both nodes' loopback is separate from the pods': the podserver on node-a 9000 answers on
# 127.0.0.1 inside node-a only.
out=$(http_get node-a http://127.0.0.1:9000/) || fail "node-a -> 127.0.0.1:9000: curl exit $?"
assert_eq "node-a-srv 127.0.0.1" "$out" "node-a loopback"
pass "two-node harness network works"
