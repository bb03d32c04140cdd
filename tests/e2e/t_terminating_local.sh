#!/usr/bin/env bash
# Terminating-endpoint fallback is decided separately for cluster and local traffic policy
# (issue 5; kube-proxy's CategorizeEndpoints). Two nodes; a1 on node-a is serving+terminating
# (not ready), b1 on node-b is ready.
#   etp  NodePort 30097 (10.96.7.20), externalTrafficPolicy: Local
#        - client -> node-a:30097: node-a has no ready local endpoint, so its local serving
#          terminating one is used: a1, with the client address preserved
#        - client -> node-b:30097: b1 (ready, local)
#        - pod a2 -> ClusterIP (cluster policy): a ready endpoint exists cluster-wide, so only
#          b1, never the terminating a1
#   itp  10.96.7.21, internalTrafficPolicy: Local
#        - a2 -> a1 (its node's only endpoint, terminating), b2 -> b1
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
{
	for s in etp:10.96.7.20 itp:10.96.7.21; do
		name=${s%%:*} cip=${s#*:}
		if [[ $name == etp ]]; then
			service_yaml etp "$cip" 80 8080 TCP type=NodePort etp=Local nodePort=30097
		else
			service_yaml itp "$cip" 80 8080 TCP itp=Local
		fi
		echo "---"
		slice2_yaml "$name" 8080 TCP 10.244.1.11@node-a/ready=false/serving=true/terminating=true \
			10.244.2.11@node-b/serving=true/terminating=false
		echo "---"
	done
} | write_manifest terminating.yaml
start_svcproxy_both

wait_for 5 http_ok client "http://$NODE_A_IP:30097/" ||
	fail "client -> node-a:30097 (ETP Local, only local endpoint terminating) not answered within 5 s: $(curl_rc client "http://$NODE_A_IP:30097/")"
assert_answers_in 20 client "http://$NODE_A_IP:30097/" "a1 $CLIENT_IP"
wait_for 5 http_ok client "http://$NODE_B_IP:30097/" || fail "client -> node-b:30097 not answered within 5 s"
assert_answers_in 20 client "http://$NODE_B_IP:30097/" "b1 $CLIENT_IP"
wait_for 5 http_ok a2 http://10.96.7.20/ || fail "a2 -> ClusterIP 10.96.7.20 not answered within 5 s"
assert_answers_in 20 a2 http://10.96.7.20/ "b1 10.244.1.12"
wait_for 5 http_ok a2 http://10.96.7.21/ ||
	fail "a2 -> 10.96.7.21 (ITP Local, only local endpoint terminating) not answered within 5 s: $(curl_rc a2 http://10.96.7.21/)"
assert_answers_in 20 a2 http://10.96.7.21/ "a1 10.244.1.12"
wait_for 5 http_ok b2 http://10.96.7.21/ || fail "b2 -> 10.96.7.21 not answered within 5 s"
assert_answers_in 20 b2 http://10.96.7.21/ "b1 10.244.2.12"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "terminating fallback decided per traffic policy: local uses the local terminating endpoint, cluster the ready one"
