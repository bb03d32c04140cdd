#!/usr/bin/env bash
# sessionAffinity: ClientIP on ClusterIP Services (issue 5). Backends pod-a, pod-b, pod-c
# (3 endpoints each), clients pod-d and pod-e.
#   spread 10.96.0.30  no affinity (control): 30 new connections reach all three backends
#   sticky 10.96.0.31  ClientIP, default timeout (10800 s): 20 new connections from pod-d all
#                      reach one backend; so do 20 from pod-e. Its endpoint removed, pod-d is
#                      answered by another backend, and sticks to that one.
#   short  10.96.0.32  ClientIP, timeoutSeconds 2: 20 quick connections reach one backend;
#                      then 8 connections, each after 2.5 s without any, are balanced again:
#                      at least 2 distinct backends (all 8 on one: chance 3 x (1/3)^8 = 0.05%).
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 5
for p in pod-a pod-b pod-c; do start_podserver "$p" "$p" 8080 --tcp; done

manifest() # IPs of sticky's endpoints
{
	service_yaml spread 10.96.0.30 80 8080 TCP
	echo "---"
	slice_af_yaml spread-1 spread IPv4 8080 TCP 10.244.1.11 10.244.1.12 10.244.1.13
	echo "---"
	service_yaml sticky 10.96.0.31 80 8080 TCP affinity=ClientIP
	echo "---"
	slice_af_yaml sticky-1 sticky IPv4 8080 TCP "$@"
	echo "---"
	service_yaml short 10.96.0.32 80 8080 TCP affinity=ClientIP:2
	echo "---"
	slice_af_yaml short-1 short IPv4 8080 TCP 10.244.1.11 10.244.1.12 10.244.1.13
}
manifest 10.244.1.11 10.244.1.12 10.244.1.13 | write_manifest affinity.yaml
start_svcproxy
for ip in 10.96.0.30 10.96.0.31 10.96.0.32; do
	wait_for 5 http_ok pod-d "http://$ip/" || fail "pod-d -> http://$ip/ not answered within 5 s"
done

# N requests from WHO to URL; sets GOT to the distinct backends, logs the counts.
GOT=""
sample()
{
	local counts
	counts=$(count_answers "$1" "$2" "$3") || exit 1
	GOT=$(backends "$counts")
	log "$1 x $2 -> $3: $(tr '\n' ';' <<<"$counts")"
}

sample 30 pod-d http://10.96.0.30/
assert_eq "pod-a pod-b pod-c" "$GOT" "backends of 30 connections to spread (no affinity; control)"

sample 20 pod-d http://10.96.0.31/
[[ "$GOT" =~ ^pod-[abc]$ ]] || fail "sticky (ClientIP): 20 connections from pod-d should reach one backend, reached '$GOT'"
stuck=$GOT
log "ok: pod-d stuck to $stuck"
sample 20 pod-e http://10.96.0.31/
[[ "$GOT" =~ ^pod-[abc]$ ]] || fail "sticky (ClientIP): 20 connections from pod-e should reach one backend, reached '$GOT'"
sample 10 pod-d http://10.96.0.31/
assert_eq "$stuck" "$GOT" "pod-d's backend after pod-e's connections"

# The stuck endpoint goes away: pod-d must be served by one of the others, then stick there.
declare -A IP_OF=([pod-a]=10.244.1.11 [pod-b]=10.244.1.12 [pod-c]=10.244.1.13)
rest=()
for p in pod-a pod-b pod-c; do [[ $p == "$stuck" ]] || rest+=("${IP_OF[$p]}"); done
manifest "${rest[@]}" | write_manifest affinity.yaml
moved() { [[ "$(http_get pod-d http://10.96.0.31/ | awk '{ print $1 }')" != "$stuck" ]]; }
wait_for 5 moved || fail "sticky: endpoint $stuck removed, but pod-d still reaches it (or nothing) after 5 s"
sample 20 pod-d http://10.96.0.31/
[[ "$GOT" =~ ^pod-[abc]$ && "$GOT" != "$stuck" ]] ||
	fail "sticky: after $stuck was removed, 20 connections from pod-d should reach one other backend, reached '$GOT'"

# Short timeout: sticky within 2 s, balanced again after it.
sample 20 pod-d http://10.96.0.32/
[[ "$GOT" =~ ^pod-[abc]$ ]] || fail "short (ClientIP, timeoutSeconds 2): 20 quick connections should reach one backend, reached '$GOT'"
seen=()
for i in $(seq 8); do
	sleep 2.5
	out=$(http_get pod-d http://10.96.0.32/) || fail "short: connection $i after a 2.5 s pause: curl exit $?"
	seen+=("${out%% *}")
done
distinct=$(printf '%s\n' "${seen[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')
log "short: 8 connections, each after 2.5 s idle: ${seen[*]}"
[[ "$distinct" == *" "* ]] ||
	fail "short (timeoutSeconds 2): 8 connections each after 2.5 s idle all reached '$distinct'; expected at least 2 backends once the affinity has expired"
log "ok: after the timeout: {$distinct}"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "ClientIP affinity: sticky, per client, follows endpoint removal, expires after timeoutSeconds"
