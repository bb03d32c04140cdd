#!/usr/bin/env bash
# Topology-aware routing (issue 5). The node is "node1" (--hostname-override) and a v1 Node
# manifest puts it in zone-a (label topology.kubernetes.io/zone). Backends pod-a, pod-b, pod-c;
# client pod-d.
#   hinted   10.96.0.50: a zone-a hinted zone-a, b and c zone-b hinted zone-b
#            -> every ready endpoint has a hint: only pod-a (20 of 20 requests)
#   partial  10.96.0.51: the same, but pod-c has no hints
#            -> hints ignored, all three endpoints answer (30 requests)
#   nozone   10.96.0.52: all hinted, but none for zone-a (zone-b, zone-c)
#            -> no endpoint for this zone: all three answer (upstream falls back)
#   close    10.96.0.53: trafficDistribution: PreferClose, endpoints carry a zone but no hints
#            (a zone-a, b zone-b, c zone-a) -> the zone-a ones only: exactly pod-a and pod-c
# Then the Node manifest moves node1 to zone-b: hinted is answered by pod-b and pod-c only.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 4
for p in pod-a pod-b pod-c; do start_podserver "$p" "$p" 8080 --tcp; done

# svc NAME CLUSTERIP [KEY=VALUE...]; slice NAME EP... (EPs as slice_af_yaml's)
svc() { service_yaml "$1" "$2" 80 8080 TCP "${@:3}" && echo "---"; }
slice() { slice_af_yaml "$1-1" "$1" IPv4 8080 TCP "${@:2}" && echo "---"; }
zone_yaml() { node_yaml node1 kubernetes.io/hostname=node1 topology.kubernetes.io/zone="$1"; }

A=10.244.1.11 B=10.244.1.12 C=10.244.1.13
zone_yaml zone-a | write_manifest node.yaml
{
	svc hinted 10.96.0.50
	slice hinted "$A/zone=zone-a/hints=zone-a" "$B/zone=zone-b/hints=zone-b" \
		"$C/zone=zone-b/hints=zone-b"
	svc partial 10.96.0.51
	slice partial "$A/zone=zone-a/hints=zone-a" "$B/zone=zone-b/hints=zone-b" "$C/zone=zone-b"
	svc nozone 10.96.0.52
	slice nozone "$A/zone=zone-b/hints=zone-b" "$B/zone=zone-b/hints=zone-b" \
		"$C/zone=zone-c/hints=zone-c"
	svc close 10.96.0.53 trafficDistribution=PreferClose
	slice close "$A/zone=zone-a" "$B/zone=zone-b" "$C/zone=zone-a"
} | write_manifest services.yaml
start_svcproxy --hostname-override node1

# expect_backends N URL "EXPECTED BACKENDS" WHY
expect_backends()
{
	local counts
	wait_for 5 http_ok pod-d "$2" || fail "pod-d -> $2 not answered within 5 s"
	counts=$(count_answers "$1" pod-d "$2") || exit 1
	log "$1 x pod-d -> $2: $(tr '\n' ';' <<<"$counts")"
	assert_eq "$3" "$(backends "$counts")" "backends answering $1 requests to $2 ($4)"
}
expect_backends 20 http://10.96.0.50/ "pod-a" "all endpoints hinted, one for zone-a"
expect_backends 30 http://10.96.0.51/ "pod-a pod-b pod-c" "one endpoint without hints: hints ignored"
expect_backends 30 http://10.96.0.52/ "pod-a pod-b pod-c" "no endpoint hinted for zone-a: all used"
expect_backends 30 http://10.96.0.53/ "pod-a pod-c" "PreferClose: the zone-a endpoints"

# The node changes zone: the hints for zone-b apply from now on.
zone_yaml zone-b | write_manifest node.yaml
only_zone_b()
{
	local c
	c=$(count_answers 10 pod-d http://10.96.0.50/) || return 1
	[[ "$(backends "$c")" != *pod-a* ]]
}
wait_for 5 only_zone_b || fail "node1 moved to zone-b, but 10.96.0.50 is still answered by pod-a after 5 s"
expect_backends 30 http://10.96.0.50/ "pod-b pod-c" "node now in zone-b: the zone-b hinted endpoints"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "topology hints and PreferClose honoured for this node's zone, ignored when incomplete"
