#!/usr/bin/env bash
# externalTrafficPolicy: Local on a LoadBalancer Service (nodePort 30082, healthCheckNodePort
# 32000, ingress IP 192.168.60.11 routed by the client via node-a).
# Phase 1, one endpoint a1 on node-a:
#   - client -> node-a:30082 and -> the LB IP: a1 answers and sees the real client address
#     (192.168.50.100, or .101 when the client uses that one): no SNAT;
#   - client -> node-b:30082: dropped (curl times out), node-b has no local endpoint;
#   - health check: node-a:32000 200, node-b:32000 503, kube-proxy's JSON body
#     {"service":{"namespace","name"},"localEndpoints":N,"serviceProxyHealthy":true} and header
#     X-Load-Balancing-Endpoint-Weight: N;
#   - pod- and node-originated traffic to node-b:30082 short-circuits to all endpoints (a pod's
#     source is kept, the node's own connection is masqueraded), as kube-proxy does.
# Phase 2, endpoints moved to b1 and b2 on node-b (hot reload): everything flips, and node-b
# reports localEndpoints 2 / weight 2.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver b1 b1 8080 --tcp
start_podserver b2 b2 8080 --tcp
etp_manifest()
{
	service_yaml etp 10.96.5.10 80 8080 TCP type=LoadBalancer etp=Local healthCheckNodePort=32000 \
		nodePort=30082 lbIP=192.168.60.11
	echo "---"
	slice2_yaml etp 8080 TCP "$@"
}
etp_manifest 10.244.1.11@node-a | write_manifest etp.yaml
start_svcproxy_both

# health NODE_IP: sets HC_CODE, HC_BODY (jq -cS), HC_WEIGHT, HC_CTYPE from NODE_IP:32000;
# returns non-zero (with HC_ERR set) when there is no HTTP answer or the body is not JSON.
health()
{
	local h="$WORK/hc.headers" b="$WORK/hc.body" rc
	rm -f "$h" "$b"
	HC_CODE="" HC_BODY="" HC_WEIGHT="" HC_CTYPE="" HC_ERR=""
	HC_CODE=$(in_ns client curl -sS --max-time 2 -D "$h" -o "$b" -w '%{http_code}' "http://$1:32000/" 2>&1)
	rc=$?
	if ((rc != 0)); then
		HC_ERR="curl exit $rc: $HC_CODE"
		HC_CODE=""
		return 1
	fi
	HC_WEIGHT=$(tr -d '\r' <"$h" | awk -F': *' 'tolower($1) == "x-load-balancing-endpoint-weight" { print $2 }')
	HC_CTYPE=$(tr -d '\r' <"$h" | awk -F': *' 'tolower($1) == "content-type" { print $2 }')
	if ! HC_BODY=$(jq -cS . "$b" 2>&1); then
		HC_ERR="body is not JSON: $(head -c 500 "$b")"
		return 1
	fi
}
# assert_health NODE_IP CODE N: the full kube-proxy answer for Service default/etp.
assert_health()
{
	health "$1" || fail "health check $1:32000: $HC_ERR"
	assert_eq "$2" "$HC_CODE" "health check $1:32000 status"
	assert_eq "{\"localEndpoints\":$3,\"service\":{\"name\":\"etp\",\"namespace\":\"default\"},\"serviceProxyHealthy\":true}" \
		"$HC_BODY" "health check $1:32000 JSON body"
	assert_eq "$3" "$HC_WEIGHT" "health check $1:32000 X-Load-Balancing-Endpoint-Weight"
	assert_contains "$HC_CTYPE" "application/json" "health check $1:32000 Content-Type"
}
# health_is NODE_IP CODE: for wait_for (the answer may follow the rules by a moment).
health_is() { health "$1" && [[ "$HC_CODE" == "$2" ]]; }
health_wait() # NODE_IP CODE WHEN
{
	wait_for 5 health_is "$1" "$2" ||
		fail "$3: health check $1:32000 not $2 within 5 s (last: status '${HC_CODE}' ${HC_ERR})"
}

# ---- phase 1: a1 on node-a
wait_for 5 http_ok client "http://$NODE_A_IP:30082/" || fail "client -> $NODE_A_IP:30082 not answered within 5 s"
assert_answers_in 5 client "http://$NODE_A_IP:30082/" "a1 $CLIENT_IP"
assert_answers_in 5 client "http://$NODE_A_IP:30082/" "a1 $CLIENT_IP2" --interface "$CLIENT_IP2"
assert_answers_in 5 client http://192.168.60.11/ "a1 $CLIENT_IP"
for i in 1 2; do
	r=$(curl_rc client "http://$NODE_B_IP:30082/")
	assert_eq "28 " "$r" "client -> node-b:30082 (no local endpoint), try $i: '<curl exit> <body>' (28 = dropped)"
done
health_wait "$NODE_A_IP" 200 "node-a (local endpoint)"
assert_health "$NODE_A_IP" 200 1
health_wait "$NODE_B_IP" 503 "node-b (no local endpoint)"
assert_health "$NODE_B_IP" 503 0
out=$(http_get b2 "http://$NODE_B_IP:30082/") || fail "pod b2 -> node-b:30082: curl exit $?"
assert_eq "a1 10.244.2.12" "$out" "pod b2 -> node-b:30082 short-circuits to a1 (pod source kept)"
out=$(http_get node-b "http://$NODE_B_IP:30082/") || fail "node-b -> its own :30082: curl exit $?"
assert_eq "a1 $NODE_B_IP" "$out" "node-b -> own NodePort short-circuits to a1 (masqueraded)"

# ---- phase 2: the endpoints move to b1, b2 on node-b
etp_manifest 10.244.2.11@node-b 10.244.2.12@node-b | write_manifest etp.yaml
wait_for 5 http_ok client "http://$NODE_B_IP:30082/" || fail "after the move: client -> $NODE_B_IP:30082 not answered within 5 s"
log "node-b answers $WAITED_MS ms after the move"
assert_answers_in 20 client "http://$NODE_B_IP:30082/" $"b1 $CLIENT_IP"$'\n'"b2 $CLIENT_IP"
wait_for 5 http_fails client "http://$NODE_A_IP:30082/" || fail "after the move: node-a:30082 still answers after 5 s"
r=$(curl_rc client "http://$NODE_A_IP:30082/")
assert_eq "28 " "$r" "after the move: client -> node-a:30082: '<curl exit> <body>' (28 = dropped)"
r=$(curl_rc client http://192.168.60.11/)
assert_eq "28 " "$r" "after the move: client -> LB IP via node-a: '<curl exit> <body>' (28 = dropped)"
health_wait "$NODE_B_IP" 200 "after the move, node-b"
assert_health "$NODE_B_IP" 200 2
health_wait "$NODE_A_IP" 503 "after the move, node-a"
assert_health "$NODE_A_IP" 503 0
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "externalTrafficPolicy Local: client IP kept, local endpoints only, health check"
