#!/usr/bin/env bash
# Rules outlive the process, and `svcproxy cleanup` removes them: `sync` programs once and
# exits; `cleanup` leaves no svcproxy table (and never touches another table); cleanup twice is
# fine; `run` ended by SIGTERM exits 0 and leaves its rules serving traffic.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.50 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml
in_ns node nft add table ip keepme || fail "creating a foreign table"
in_ns node nft add chain ip keepme c || fail "creating a foreign chain"

source_args "$NODE" 127.0.0.1:6443
out=$(in_ns node "$SVCPROXY" sync "${SOURCE_ARGS[@]}" --cluster-cidr "$CLUSTER_CIDR" 2>&1)
assert_eq 0 "$?" "svcproxy sync exit status (output: $out)"
svcproxy_table_present >/dev/null 2>&1 || fail "no table ip svcproxy after sync"
out=$(http_get pod-b http://10.96.0.50/) || fail "after sync: curl exit $?"
assert_eq "pod-a 10.244.1.12" "$out" "ClusterIP after one-shot sync"

out=$(in_ns node "$SVCPROXY" cleanup 2>&1)
assert_eq 0 "$?" "svcproxy cleanup exit status (output: $out)"
tables=$(in_ns node nft list tables 2>&1)
log "tables after cleanup: $tables"
assert_not_contains "$tables" "svcproxy" "nft list tables after cleanup"
assert_contains "$tables" "table ip keepme" "foreign table survives cleanup"
in_ns node nft list chain ip keepme c >/dev/null 2>&1 || fail "foreign chain removed by cleanup"
http_fails pod-b http://10.96.0.50/ || fail "ClusterIP still answers after cleanup"
out=$(in_ns node "$SVCPROXY" cleanup 2>&1)
assert_eq 0 "$?" "second svcproxy cleanup exit status (output: $out)"

start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.50/ || fail "run: not answered within 5 s"
stop_svcproxy
run_rc=$SP_RC
svcproxy_table_present >/dev/null 2>&1 || fail "table ip svcproxy removed when run ended"
http_ok pod-b http://10.96.0.50/ || fail "ClusterIP stopped answering when run ended"
log "ok: rules stay in place after run ended"
out=$(in_ns node "$SVCPROXY" cleanup 2>&1)
assert_eq 0 "$?" "svcproxy cleanup after run exit status (output: $out)"
assert_not_contains "$(in_ns node nft list tables 2>&1)" "svcproxy" "nft list tables after cleanup"
# Last, so that a wrong status does not hide the results above.
assert_eq 0 "$run_rc" "svcproxy run exit status after SIGTERM (143 = killed by the signal)"
pass "sync, cleanup, rules outlive run"
