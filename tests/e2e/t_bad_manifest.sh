#!/usr/bin/env bash
# A bad manifest is reported in svcproxy's log (file, object, field) and does not stop the good
# Services from working. A file that turns bad later keeps its last good objects programmed;
# once fixed, its Service is programmed.
# e2e-api: n/a - about manifest files (the API source: t_api_watch, last good version)
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service good 10.96.0.30 80 8080 TCP 10.244.1.11 | write_manifest good.yaml
simple_service bad 10.96.0.31 70000 8080 TCP 10.244.1.11 | write_manifest bad.yaml
simple_service later 10.96.0.32 80 8080 TCP 10.244.1.11 | write_manifest later.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.30/ || fail "good Service not answered within 5 s"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run exited because of a bad manifest"

logged() { grep -F -- "$1" "$SP_LOG" | has_match -F -- "$2"; }
wait_for 3 logged bad.yaml 70000 || fail "no log line names bad.yaml and 70000"
line=$(grep -F bad.yaml "$SP_LOG" | grep -F 70000 | head -n1)
log "reported: $line"
assert_contains "$line" "default/bad" "error line names the object"
assert_contains "$line" "spec.ports[0].port" "error line names the field"
http_ok pod-b http://10.96.0.32/ || fail "Service 'later' not working"

# later.yaml turns bad: the error is logged and its last good Service keeps working.
simple_service later 10.96.0.32 80 99999 TCP 10.244.1.11 | write_manifest later.yaml
wait_for 5 logged later.yaml 99999 || fail "no log line names later.yaml and 99999"
line=$(grep -F later.yaml "$SP_LOG" | grep -F 99999 | head -n1)
log "reported: $line"
assert_contains "$line" "default/later" "error line names the object"
sleep 1
for i in $(seq 5); do
	out=$(http_get pod-b http://10.96.0.32/) || fail "last good 'later' stopped working after its file turned bad: curl exit $?"
done
assert_eq "pod-a 10.244.1.12" "$out" "last good 'later' still programmed"
http_ok pod-b http://10.96.0.30/ || fail "good Service stopped working"

# bad.yaml fixed: its Service is programmed.
simple_service bad 10.96.0.31 80 8080 TCP 10.244.1.11 | write_manifest bad.yaml
wait_for 5 http_ok pod-b http://10.96.0.31/ || fail "fixed bad.yaml not programmed within 5 s"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "bad manifests reported, good Services unaffected"
