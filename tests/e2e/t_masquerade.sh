#!/usr/bin/env bash
# Masquerade rules: a client outside --cluster-cidr (192.168.77.2, routed via the node) reaches
# a ClusterIP and the backend sees the node's address, not the client's; a pod's connection is
# not masqueraded; with --masquerade-all it is.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service masq 10.96.0.15 80 8080 TCP 10.244.1.11 | write_manifest masq.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.15/ || fail "pod-b: http://10.96.0.15/ not answered within 5 s"

out=$(http_get ext http://10.96.0.15/) || fail "external $EXT_IP -> 10.96.0.15:80: curl exit $?"
assert_eq "pod-a $GW" "$out" "external client -> ClusterIP (masqueraded to the node address)"
out=$(http_get pod-b http://10.96.0.15/) || fail "pod-b -> 10.96.0.15:80: curl exit $?"
assert_eq "pod-a 10.244.1.12" "$out" "pod -> ClusterIP without --masquerade-all (not masqueraded)"

stop_svcproxy # (its exit status on SIGTERM is t_cleanup's business)
in_ns node "$SVCPROXY" cleanup || fail "svcproxy cleanup: exit $?"
start_svcproxy --masquerade-all
wait_for 5 http_ok pod-b http://10.96.0.15/ || fail "--masquerade-all: not answered within 5 s"
out=$(http_get pod-b http://10.96.0.15/) || fail "--masquerade-all: pod-b -> 10.96.0.15:80: curl exit $?"
assert_eq "pod-a $GW" "$out" "pod -> ClusterIP with --masquerade-all (masqueraded)"
out=$(http_get ext http://10.96.0.15/) || fail "--masquerade-all: external -> 10.96.0.15:80: curl exit $?"
assert_eq "pod-a $GW" "$out" "external client with --masquerade-all"
pass "masquerade for off-cluster clients and with --masquerade-all"
