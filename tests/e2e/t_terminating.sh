#!/usr/bin/env bash
# Endpoint lifecycle (issue 5; kube-proxy's ProxyTerminatingEndpoints). Backends pod-a, pod-b,
# pod-c; client pod-d. Conditions are the EndpointSlice's ready/serving/terminating.
#   only-term   10.96.0.40  pod-a {ready: false, serving: true, terminating: true}
#               -> no ready endpoint: the serving-terminating one answers (20 of 20 pod-a)
#   mixed       10.96.0.41  pod-a ready; pod-b serving+terminating
#               -> ready endpoints first: 20 of 20 pod-a
#   all-term    10.96.0.43  pod-a and pod-b serving+terminating, pod-c terminating but not
#               serving -> exactly pod-a and pod-b over 30 connections
#   not-serving 10.96.0.42  pod-a {ready: false, serving: false, terminating: true}
#               -> no usable endpoint: refused (curl exit 7)
# Then only-term gets a ready endpoint pod-c: from then on only pod-c answers it.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 4
for p in pod-a pod-b pod-c; do start_podserver "$p" "$p" 8080 --tcp; done

# endpoint conditions, appended to an address (slice_af_yaml)
READY=/ready=true/serving=true/terminating=false
TERM=/ready=false/serving=true/terminating=true
GONE=/ready=false/serving=false/terminating=true
# svc_slice NAME CLUSTERIP EP...
svc_slice()
{
	service_yaml "$1" "$2" 80 8080 TCP && echo "---"
	slice_yaml "$1" 8080 TCP "${@:3}" && echo "---"
}
A=10.244.1.11 B=10.244.1.12 C=10.244.1.13
manifest() # only-term's endpoints
{
	svc_slice only-term 10.96.0.40 "$@"
	svc_slice mixed 10.96.0.41 "$A$READY" "$B$TERM"
	svc_slice not-serving 10.96.0.42 "$A$GONE"
	svc_slice all-term 10.96.0.43 "$A$TERM" "$B$TERM" "$C$GONE"
}
manifest "$A$TERM" | write_manifest terminating.yaml
start_svcproxy
wait_for 5 http_ok pod-d http://10.96.0.41/ || fail "mixed (10.96.0.41, one ready endpoint) not answered within 5 s"

# expect N URL "BACKENDS" WHY
expect()
{
	local counts
	wait_for 3 http_ok pod-d "$2" || fail "pod-d -> $2 ($4) not answered within 3 s: curl says '$(http_get pod-d "$2" 2>&1)'"
	counts=$(count_answers "$1" pod-d "$2") || exit 1
	log "$1 x pod-d -> $2: $(tr '\n' ';' <<<"$counts")"
	assert_eq "$3" "$(backends "$counts")" "backends of $1 connections to $2 ($4)"
}
expect 20 http://10.96.0.40/ "pod-a" "only a serving+terminating endpoint: it is used"
expect 20 http://10.96.0.41/ "pod-a" "a ready and a serving+terminating endpoint: only the ready one"
expect 30 http://10.96.0.43/ "pod-a pod-b" "two serving+terminating endpoints and a non-serving one"
r=$(CURL_TIMEOUT=2 http_get pod-d http://10.96.0.42/ 2>&1)
assert_eq 7 "$?" "pod-d -> 10.96.0.42 (only endpoint terminating and not serving) curl exit status (7 = refused; output: $r)"

manifest "$A$TERM" "$C$READY" | write_manifest terminating.yaml
only_c() { [[ "$(http_get pod-d http://10.96.0.40/)" == "pod-c "* ]]; }
wait_for 5 only_c || fail "only-term got a ready endpoint pod-c, but pod-c does not answer within 5 s"
expect 20 http://10.96.0.40/ "pod-c" "a ready endpoint appeared next to the terminating one"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "serving+terminating endpoints used only when no endpoint is ready; non-serving ones never"
