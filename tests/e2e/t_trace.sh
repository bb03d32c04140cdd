#!/usr/bin/env bash
# svcproxy trace explains, from the live tables, what the kernel does with a new connection,
# and what it says matches what real traffic does: the endpoints it lists are those that
# answer, masquerade is announced for sources outside --cluster-cidr, a Service without
# endpoints is announced as rejected and curl is refused, a pod reaching itself is hairpin.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
{
	simple_service web 10.96.0.40 80 8080 TCP 10.244.1.11 10.244.1.12
	echo "---"
	service_yaml empty 10.96.0.41 80 8080 TCP
} | write_manifest services.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.40/ || fail "10.96.0.40 not answered within 5 s"

trace() { in_ns node "$SVCPROXY" trace "$@"; }

out=$(trace 10.244.1.12 10.96.0.40:80) || fail "trace exited $?"
log "$out"
assert_contains "$out" "Service default/web" "trace names the Service"
assert_contains "$out" "slot 0: 10.244.1.11:8080 (50.0%)" "trace lists endpoint 1"
assert_contains "$out" "slot 1: 10.244.1.12:8080 (50.0%)" "trace lists endpoint 2"
assert_contains "$out" "inside --cluster-cidr: not marked" "pod source is not masqueraded"
assert_contains "$out" "nothing listens on it" "the Service address is virtual"
# what it lists is what answers
seen=$(for i in $(seq 20); do http_get pod-b http://10.96.0.40/; done | awk '{print $1}' | sort -u | tr '\n' ' ')
assert_eq "pod-a pod-b " "$seen" "the endpoints that answer are the ones trace lists"

out=$(trace 10.244.1.11 10.96.0.40:80)
assert_contains "$out" "hairpin" "a pod that is an endpoint of the Service gets the hairpin note"

out=$(trace "$EXT_IP" 10.96.0.40:80)
assert_contains "$out" "outside --cluster-cidr: marked for masquerade" "external source"
assert_contains "$out" "masquerade (the source becomes the node's address" "postrouting masquerade"

out=$(trace 10.244.1.12 10.96.0.41:80)
assert_contains "$out" "Service default/empty has no ready endpoint" "no endpoint named"
assert_contains "$out" "REJECTED with ICMP port unreachable" "no endpoint: rejected"
rc=0
in_ns pod-b curl -s --max-time 3 http://10.96.0.41/ >/dev/null || rc=$?
assert_eq 7 "$rc" "and real traffic is refused (curl exit 7)"

out=$(trace 10.244.1.12 10.96.0.40:81)
assert_contains "$out" "not a port of this ClusterIP" "unknown port of a ClusterIP"

out=$(trace 10.244.1.12 10.200.0.1:80)
assert_contains "$out" "leaves the packet alone" "an address svcproxy does not know"

rc=0
trace 10.244.1.12 not-an-address:80 >/dev/null 2>&1 || rc=$?
assert_eq 2 "$rc" "a bad DST is bad usage (exit 2)"
pass
