#!/usr/bin/env bash
# spec.externalIPs: the client routes 192.168.60.0/24 via node-a; 192.168.60.20:80 is served by
# endpoints on both nodes, masqueraded (externalTrafficPolicy Cluster): a1 sees node-a's pod
# gateway 10.244.1.1, b1 sees node-a's lan address. Only the Service's port on that address is
# served (not :81), and not a neighbouring address. A pod (b2) reaching the external IP
# through its own node-b is served and masqueraded too, as kube-proxy does; with --dataplane bpf
# its connect is translated in the socket (as Cilium's): served, its own address kept.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
start_podserver a1 a1-81 8081 --tcp
{
	service_yaml ext 10.96.3.10 80 8080 TCP externalIPs=192.168.60.20
	echo "---"
	slice2_yaml ext 8080 TCP 10.244.1.11@node-a 10.244.2.11@node-b
} | write_manifest ext.yaml
start_svcproxy_both

wait_for 5 http_ok client http://192.168.60.20/ || fail "client -> 192.168.60.20:80 (externalIP via node-a) not answered within 5 s"
assert_answers_in 20 client http://192.168.60.20/ $'a1 10.244.1.1\nb1 192.168.50.11'
assert_answers_in 20 client http://192.168.60.20/ $'a1 10.244.1.1\nb1 192.168.50.11' --interface "$CLIENT_IP2"
for url in http://192.168.60.20:81/ http://192.168.60.21/ http://192.168.60.21:8080/; do
	r=$(curl_rc client "$url")
	assert_ne 0 "${r%% *}" "client -> $url (not an external IP:port of the Service): curl exit"
	assert_eq "" "${r#* }" "client -> $url: body"
done
if [[ "$E2E_DATAPLANE" == bpf ]]; then
	assert_answers_in 20 b2 http://192.168.60.20/ $'a1 10.244.2.12\nb1 10.244.2.12'
else
	assert_answers_in 20 b2 http://192.168.60.20/ $'a1 192.168.50.12\nb1 10.244.2.1'
fi
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "externalIP served via node-a"
