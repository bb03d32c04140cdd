#!/usr/bin/env bash
# Load is spread over the endpoints: 30 requests to a Service with 3 endpoints are all answered,
# and every endpoint answers at least once (P(false failure) = 3 * (2/3)^30 < 2e-5).
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 4
for p in pod-a pod-b pod-c; do
	start_podserver "$p" "$p" 8080 --tcp
done
simple_service spread 10.96.0.11 80 8080 TCP 10.244.1.11 10.244.1.12 10.244.1.13 |
	write_manifest spread.yaml
start_svcproxy
wait_for 5 http_ok pod-d http://10.96.0.11/ || fail "http://10.96.0.11/ not answered within 5 s"

declare -A seen=()
for i in $(seq 30); do
	out=$(http_get pod-d http://10.96.0.11/) || fail "request $i: curl exit $?"
	name=${out%% *}
	[[ "$name" == pod-[abc] ]] || fail "request $i: unexpected answer '$out'"
	seen[$name]=$((${seen[$name]:-0} + 1))
done
log "answers: pod-a=${seen[pod-a]:-0} pod-b=${seen[pod-b]:-0} pod-c=${seen[pod-c]:-0}"
for p in pod-a pod-b pod-c; do
	((${seen[$p]:-0} > 0)) || fail "$p never answered in 30 requests (a=${seen[pod-a]:-0} b=${seen[pod-b]:-0} c=${seen[pod-c]:-0})"
done
pass "30 requests spread over 3 endpoints"
