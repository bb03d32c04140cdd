#!/usr/bin/env bash
# The harness itself, without svcproxy: every pod, the node and the external client reach the
# pods' real servers directly (TCP and UDP), and backends see the true client address. If this
# fails, every other e2e failure is a harness problem, not an svcproxy one.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-a pod-a-udp 5353 --udp
start_podserver pod-b pod-b 8080 --tcp

out=$(http_get pod-b "http://10.244.1.11:8080/") || fail "pod-b -> pod-a:8080: curl failed"
assert_eq "pod-a 10.244.1.12" "$out" "pod-b -> pod-a direct"
out=$(http_get pod-a "http://10.244.1.12:8080/") || fail "pod-a -> pod-b:8080: curl failed"
assert_eq "pod-b 10.244.1.11" "$out" "pod-a -> pod-b direct"
out=$(http_get pod-a "http://10.244.1.11:8080/") || fail "pod-a -> itself: curl failed"
assert_eq "pod-a 10.244.1.11" "$out" "pod-a -> itself direct"
out=$(http_get node "http://10.244.1.11:8080/") || fail "node -> pod-a:8080: curl failed"
assert_eq "pod-a $GW" "$out" "node -> pod-a direct"
out=$(http_get ext "http://10.244.1.12:8080/") || fail "ext -> pod-b:8080: curl failed"
assert_eq "pod-b $EXT_IP" "$out" "external -> pod-b direct (routed, not NATed)"
out=$(udp_get pod-b 10.244.1.11:5353) || fail "pod-b -> pod-a udp: udpclient exit $?"
assert_eq "pod-a-udp 10.244.1.12" "$out" "pod-b -> pod-a udp direct"
out=$(udp_get pod-b 10.244.1.11:5353 --sport 40000) || fail "pod-b -> pod-a udp from port 40000: exit $?"
assert_eq "pod-a-udp 10.244.1.12" "$out" "pod-b -> pod-a udp direct from a fixed port"
udp_get pod-b 10.244.1.11:5354 2>/dev/null
assert_eq 3 "$?" "udpclient exit status for a closed UDP port (refused)"
# A raw (non-HTTP) TCP client gets the answer too.
out=$(printf 'hello\n' | in_ns pod-b timeout 3 socat -T1 - TCP4:10.244.1.11:8080) ||
	fail "raw tcp: socat failed"
assert_contains "$out" "pod-a 10.244.1.12" "raw tcp reply"
# Nothing listens on 8081: a closed port is refused (the test for "no endpoints" relies on
# curl reporting exit 7 for that).
CURL_TIMEOUT=1 http_get pod-b "http://10.244.1.11:8081/" 2>/dev/null
assert_eq 7 "$?" "curl exit status for a closed port"
# The Service CIDR has no route but to the node's dummy: without svcproxy, it goes nowhere.
http_fails pod-a "http://10.96.0.10/" || fail "10.96.0.10 answered without svcproxy"
pass "harness network works"
