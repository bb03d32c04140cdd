#!/usr/bin/env bash
# IPv6 single-stack ClusterIP (issue 5): Service v6 (ipFamilies [IPv6], clusterIP
# fd00:10:96::10, port 80 -> 8080) with an IPv6 EndpointSlice (pod-a, pod-b). From pod-c over
# IPv6 every request is answered, by both backends over 20 requests, and the backend sees pod-c's
# own IPv6 address (no SNAT inside --cluster-cidr); the node reaches it too. An IPv6 Service
# without endpoints (fd00:10:96::11) is refused at once, as IPv4 ones are. The rules live in
# `table ip6 svcproxy`, and `svcproxy show services` lists the IPv6 Service.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster_ds 3
start_podserver pod-a pod-a 8080 --tcp --bind=::
start_podserver pod-b pod-b 8080 --tcp --bind=::
{
	service_yaml v6 fd00:10:96::10 80 8080 TCP ipFamilyPolicy=SingleStack ipFamilies=IPv6 \
		clusterIPs=fd00:10:96::10
	echo "---"
	slice_af_yaml v6-1 v6 IPv6 8080 TCP fd00:10:244:1::11 fd00:10:244:1::12
	echo "---"
	service_yaml v6-empty fd00:10:96::11 80 8080 TCP ipFamilyPolicy=SingleStack ipFamilies=IPv6 \
		clusterIPs=fd00:10:96::11
} | write_manifest v6.yaml
CLUSTER_CIDR=$CLUSTER_CIDR_DS
start_svcproxy

url='http://[fd00:10:96::10]/'
wait_for 5 http_ok pod-c "$url" || fail "pod-c -> $url not answered within 5 s: curl says '$(http_get pod-c "$url" 2>&1)'"
counts=$(count_answers 20 pod-c "$url" -g) || exit 1
log "20 x pod-c -> $url: $(tr '\n' ';' <<<"$counts")"
assert_eq "pod-a pod-b" "$(backends "$counts")" "backends answering 20 requests to $url"
while read -r _ name peer; do
	assert_eq "fd00:10:244:1::13" "$peer" "client address seen by $name (pod-c's IPv6 address, not SNATed)"
done <<<"$counts"
out=$(http_get node "$url") || fail "node -> $url: curl exit $?"
[[ "$out" == "pod-a $GW6" || "$out" == "pod-b $GW6" ]] ||
	fail "node -> $url: expected 'pod-a $GW6' or 'pod-b $GW6', got '$out'"
log "ok: node -> $url: '$out'"

# No endpoints: refused (curl exit 7), not black-holed. No time bound here, unlike IPv4's
# t_no_endpoints: Linux TCP acts on an ICMPv6 port unreachable only at the first SYN
# retransmit (~1 s); a plain nft `reject` in a test namespace without svcproxy does the same.
r=$(CURL_TIMEOUT=2 http_get pod-c 'http://[fd00:10:96::11]/' 2>&1)
assert_eq 7 "$?" "pod-c -> http://[fd00:10:96::11]/ (IPv6 Service without endpoints) curl exit status (7 = refused; output: $r)"

tables=$(in_ns node nft list tables 2>&1)
assert_contains "$tables" "table ip6 svcproxy" "nft list tables in the node"
rules=$(in_ns node nft list table ip6 svcproxy 2>&1) || fail "nft list table ip6 svcproxy: $rules"
assert_contains "$rules" "fd00:10:96::10" "table ip6 svcproxy"
show=$(in_ns node "$SVCPROXY" show services 2>&1) || fail "svcproxy show services: exit $?: $show"
log "show services:"$'\n'"$show"
assert_contains "$show" "fd00:10:96::10" "svcproxy show services"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "IPv6 ClusterIP reachable over IPv6, refused without endpoints"
