#!/usr/bin/env bash
# Least privilege (issue 9): once set up, every thread of `svcproxy run` holds only
# CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE (effective, permitted and bounding
# sets), has no_new_privs set and runs under a seccomp filter; and with all that in place
# it still programs, serves health and metrics, and follows a change.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.80 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml
start_svcproxy

# CAP_NET_BIND_SERVICE (10), CAP_NET_ADMIN (12), CAP_NET_RAW (13)
want=0000000000003400
status_field() { awk -v f="$2:" '$1 == f { print $2 }' "$1"; }
threads=0
for task in /proc/"$SP_PID"/task/*; do
	st=$task/status
	[[ -r $st ]] || continue
	threads=$((threads + 1))
	assert_eq "$want" "$(status_field "$st" CapEff)" "CapEff of thread ${task##*/}"
	assert_eq "$want" "$(status_field "$st" CapPrm)" "CapPrm of thread ${task##*/}"
	assert_eq "$want" "$(status_field "$st" CapBnd)" "CapBnd of thread ${task##*/}"
	assert_eq 0000000000000000 "$(status_field "$st" CapInh)" "CapInh of thread ${task##*/}"
	assert_eq 1 "$(status_field "$st" NoNewPrivs)" "NoNewPrivs of thread ${task##*/}"
	assert_eq 2 "$(status_field "$st" Seccomp)" "Seccomp mode (2: filter) of thread ${task##*/}"
done
((threads >= 2)) || fail "expected the main thread and the HTTP servers' threads, saw $threads"
log "$threads threads, each with CapEff $want, no_new_privs and a seccomp filter"

# ...and it still does its job: traffic, health, metrics, a change followed.
wait_for 5 http_ok pod-b http://10.96.0.80/ || fail "ClusterIP not answered under the restrictions"
in_ns node curl -sf --max-time 2 "http://$HEALTHZ/healthz" >/dev/null || fail "/healthz not answered"
# (the body is read whole: grep -q stopping early would SIGPIPE curl under pipefail)
metrics=$(in_ns node curl -sf --max-time 2 "http://$METRICS/metrics") || fail "/metrics not answered"
assert_contains "$metrics" kubeproxy_sync_proxy_rules_duration_seconds "/metrics"
simple_service demo2 10.96.0.81 80 8080 TCP 10.244.1.11 | write_manifest demo2.yaml # (a cluster IP cannot change)
wait_for 5 http_ok pod-b http://10.96.0.81/ || fail "a change was not followed under the restrictions"
kill -0 "$SP_PID" || fail "svcproxy died"
pass "only the three network capabilities, no_new_privs, seccomp; and it still works"
