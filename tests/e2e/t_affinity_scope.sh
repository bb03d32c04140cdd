#!/usr/bin/env bash
# sessionAffinity survives endpoint changes elsewhere: a client stuck to an endpoint of
# Service "sticky" stays stuck while another Service's endpoints come and go (and while
# sticky gains an endpoint); only the loss of its own endpoint moves it (t_affinity).
# Each change is made 3 times: forgetting the affinity would pick the same endpoint again
# by chance with probability (1/3)^3 at most.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 5
for p in pod-a pod-b pod-c; do start_podserver "$p" "$p" 8080 --tcp; done
manifest() # OTHER_ENDPOINTS... (for Service other); sticky keeps a, b, c (+ d when EXTRA=1)
{
	service_yaml sticky 10.96.0.36 80 8080 TCP affinity=ClientIP
	echo "---"
	slice_yaml sticky 8080 TCP 10.244.1.11 10.244.1.12 10.244.1.13 ${EXTRA:+10.244.1.14}
	echo "---"
	simple_service other 10.96.0.37 80 8080 TCP "$@"
}
manifest 10.244.1.11 | write_manifest svc.yaml
start_svcproxy
wait_for 5 http_ok pod-e http://10.96.0.36/ || fail "sticky 10.96.0.36 not answered within 5 s"

first=$(http_get pod-e http://10.96.0.36/ | awk '{print $1}')
log "pod-e is stuck to $first"
for round in 1 2 3; do
	if ((round % 2)); then
		manifest 10.244.1.11 10.244.1.12 | write_manifest svc.yaml
	else
		manifest 10.244.1.13 | write_manifest svc.yaml
	fi
	sleep 0.6 # a few min-sync-periods: the change is applied
	for i in 1 2 3 4 5; do
		got=$(http_get pod-e http://10.96.0.36/ | awk '{print $1}')
		assert_eq "$first" "$got" "round $round, connection $i: still stuck after Service other changed"
	done
done
# sticky itself gains an endpoint: its clients stay where they are
start_podserver pod-d pod-d 8080 --tcp
EXTRA=1 manifest 10.244.1.13 | write_manifest svc.yaml
wait_for 5 eval 'in_ns node "$SVCPROXY" show services | has_match "10.244.1.14:8080"' ||
	fail "sticky's new endpoint not programmed within 5 s"
for i in 1 2 3 4 5; do
	got=$(http_get pod-e http://10.96.0.36/ | awk '{print $1}')
	assert_eq "$first" "$got" "connection $i after sticky gained an endpoint"
done
pass "affinity is kept across endpoint changes of other Services and additions to its own"
