#!/usr/bin/env bash
# sessionAffinity: ClientIP for NodePort traffic (issue 5), two nodes. Service aff (NodePort
# 30095, clusterIP 10.96.7.10, ClientIP with timeoutSeconds 2) has endpoints a1, a2 (node-a)
# and b1 (node-b); Service noaff (NodePort 30096) has the same endpoints, no affinity.
# The external client (not in --cluster-cidr, so masqueraded: the key is its own address,
# taken before SNAT):
#   - noaff: 30 connections to node-a:30096 reach all three endpoints (control)
#   - aff: 20 connections from 192.168.50.100 to node-a:30095 reach one endpoint; 20 from
#     192.168.50.101 reach one endpoint; 20 to node-b:30095 reach one endpoint
#   - aff: after the 2 s timeout, 8 connections each after 2.5 s idle reach >= 2 endpoints
# And pod b2 -> ClusterIP 10.96.7.10: 20 connections, one endpoint.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
for p in a1 a2 b1; do start_podserver "$p" "$p" 8080 --tcp; done
{
	for s in aff:30095:10.96.7.10 noaff:30096:10.96.7.11; do
		IFS=: read -r name np cip <<<"$s"
		aff=""
		[[ $name == aff ]] && aff=affinity=ClientIP:2
		service_yaml "$name" "$cip" 80 8080 TCP type=NodePort nodePort="$np" $aff
		echo "---"
		slice2_yaml "$name" 8080 TCP 10.244.1.11@node-a 10.244.1.12@node-a 10.244.2.11@node-b
		echo "---"
	done
} | write_manifest affinity.yaml
start_svcproxy_both
for url in "http://$NODE_A_IP:30095/" "http://$NODE_A_IP:30096/" "http://$NODE_B_IP:30095/"; do
	wait_for 5 http_ok client "$url" || fail "client -> $url not answered within 5 s"
done

GOT=""
sample() # N WHO URL [curl options]
{
	local counts
	counts=$(count_answers "$@") || exit 1
	GOT=$(backends "$counts")
	log "$1 x $2 -> $3 ${*:4}: $(tr '\n' ';' <<<"$counts")"
}
one_backend() # WHAT
{
	[[ "$GOT" =~ ^(a1|a2|b1)$ ]] || fail "$1: expected every connection on one endpoint, reached '$GOT'"
	log "ok: $1: all on $GOT"
}

sample 30 client "http://$NODE_A_IP:30096/"
assert_eq "a1 a2 b1" "$GOT" "endpoints of 30 connections to noaff's NodePort (control)"
sample 20 client "http://$NODE_A_IP:30095/" --interface "$CLIENT_IP"
one_backend "20 x $CLIENT_IP -> node-a:30095"
sample 20 client "http://$NODE_A_IP:30095/" --interface "$CLIENT_IP2"
one_backend "20 x $CLIENT_IP2 -> node-a:30095"
sample 20 client "http://$NODE_B_IP:30095/" --interface "$CLIENT_IP"
one_backend "20 x $CLIENT_IP -> node-b:30095"
sample 20 b2 http://10.96.7.10/
one_backend "20 x b2 -> ClusterIP 10.96.7.10"

seen=()
for i in $(seq 8); do
	sleep 2.5
	out=$(curl_from client "http://$NODE_A_IP:30095/" --interface "$CLIENT_IP") ||
		fail "node-a:30095, connection $i after a 2.5 s pause: curl exit $?"
	seen+=("${out%% *}")
done
distinct=$(printf '%s\n' "${seen[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')
log "8 connections to node-a:30095, each after 2.5 s idle: ${seen[*]}"
[[ "$distinct" == *" "* ]] ||
	fail "timeoutSeconds 2: 8 NodePort connections each after 2.5 s idle all reached '$distinct'; expected at least 2 endpoints once the affinity has expired"
log "ok: after the timeout: {$distinct}"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "ClientIP affinity for NodePort and ClusterIP traffic, expiring after timeoutSeconds"
