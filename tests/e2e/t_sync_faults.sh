#!/usr/bin/env bash
# Netlink faults (issue 9), injected with the dataplane's test hook SVCPROXY_FAULT: the 1st, 2nd
# and 3rd transactions of the process fail with ENOBUFS, EEXIST and ENOENT (not sent: the
# kernel is unchanged, as after a real failure). svcproxy is restarted on its own table, so
# its initial sync adopts it without a transaction, and the first change is transaction 1.
# Each failure is followed by a repair (read back, full sync) 1, 2, then 4 s later; the fourth
# transaction goes through and the change is served, 7-8 s after it was made. The failures
# are counted in the metrics.
# e2e-api: n/a - the dataplane's faults, whatever the source; it restarts svcproxy
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service web 10.96.0.48 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy --sync-period 60s
wait_for 5 http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered"
stop_svcproxy

export SVCPROXY_FAULT="commit:ENOBUFS:1,commit:EEXIST:2,commit:ENOENT:3"
start_svcproxy --sync-period 60s
unset SVCPROXY_FAULT
grep 'initial sync' "$SP_LOG" | tail -n 1 | has_match "; 0 element changes" ||
	fail "the restart did not adopt its table without a transaction"
t0=$(now_ms)
simple_service new 10.96.0.49 80 8080 TCP 10.244.1.11 | write_manifest new.yaml
wait_for 15 http_ok pod-b http://10.96.0.49/ || fail "the change is not served 15 s after it was made"
took=$(($(now_ms) - t0))
log "the change is served after $took ms"
for e in "No buffer space available" "File exists" "No such file or directory"; do
	grep -q "SVCPROXY_FAULT injects $e" "$SP_LOG" || fail "no fault '$e' injected"
done
grep -q "failed 3 times in a row: .* in 4.0 s" "$SP_LOG" || fail "the retries did not back off to 4 s"
((took >= 6000)) || fail "served after $took ms: before the three retries' backoff (1+2+4 s)"
grep -q "repair sync:" "$SP_LOG" || fail "no repair sync logged"
http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered at the end"
errors=$(in_ns node curl -sS --max-time 2 "http://$METRICS/metrics" |
	awk '/^svcproxy_syncs_total\{result="error"\}/ { print $2 }')
assert_eq 3 "${errors:-}" 'svcproxy_syncs_total{result="error"}'
pass "ENOBUFS, EEXIST and ENOENT on commit: each repaired, with backoff, the change served"
