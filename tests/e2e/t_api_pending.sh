#!/usr/bin/env bash
# kube-proxy's *_changes_pending gauges from the API source (issue 8): with --min-sync-period
# 10s a change made right after a sync waits; meanwhile /metrics counts the EndpointSlice and
# Service events taken in but not yet programmed, and the sync that programs them resets both.
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy --min-sync-period 10s
wait_for 5 http_ok pod-c http://10.96.0.20/ || fail "the Service does not answer"

gauge() { in_ns node curl -sS --max-time 2 "http://$METRICS/metrics" | awk -v m="kubeproxy_sync_proxy_rules_$1_changes_pending" '$1 == m { print $2 }'; }
pending_eps() { [[ "$(gauge endpoint)" == 1 ]]; }
# one EndpointSlice change and one new Service (with its slice), within the 10 s window
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.12 | write_manifest web.yaml
simple_service api 10.96.0.21 80 8080 TCP 10.244.1.11 | write_manifest api.yaml
wait_for 5 test "$(gauge service)" = 1 || fail "service changes pending: $(gauge service), expected 1"
assert_eq 2 "$(gauge endpoint)" "endpoint changes pending (web's slice changed, api's added)"
wait_for 15 http_ok pod-c http://10.96.0.21/ || fail "the pending changes were not programmed"
wait_for 5 test "$(gauge endpoint)" = 0 || fail "endpoint changes pending after the sync: $(gauge endpoint)"
assert_eq 0 "$(gauge service)" "service changes pending after the sync"
pass "pending changes counted per kind and reset by the sync"
