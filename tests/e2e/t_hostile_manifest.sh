#!/usr/bin/env bash
# Hostile and broken manifests next to a good Service (issue 9): three clusterIPs (once a heap
# overflow), a "billion laughs" List of aliases (once 95 s and 8 GB), a file of NUL bytes (once
# "no objects"), an endpoint at 127.0.0.1, a ClusterIP of 0.0.0.0 and a nodePort of 80. The
# daemon stays up, logs each problem with file, object and field, the good Service keeps
# answering, and a Service whose endpoint turns hostile keeps its last good version.
# e2e-api: n/a - hostile manifest files (the API side: decode limits apply to API objects too, t_api_watch)
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service good 10.96.0.30 80 8080 TCP 10.244.1.11 | write_manifest good.yaml
simple_service loop 10.96.0.33 80 8080 TCP 10.244.1.11 | write_manifest loop.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.30/ || fail "good Service not answered within 5 s"
wait_for 5 http_ok pod-b http://10.96.0.33/ || fail "Service loop not answered within 5 s"

# The hostile files, written while the daemon runs.
{
	service_yaml cips 10.96.0.34 80 8080 TCP
	echo "  clusterIPs: [10.96.0.34, 'fd00:10:96::34', 10.96.0.35]"
} | write_manifest cips.yaml
{
	echo "apiVersion: v1"
	echo "kind: List"
	echo "items:"
	echo "- &l0 {apiVersion: v1, kind: Service, metadata: {name: lol}, spec: {ports: [{port: 80}]}}"
	for i in 1 2 3 4 5 6 7; do
		p="*l$((i - 1))"
		echo "- &l$i {apiVersion: v1, kind: List, items: [$p,$p,$p,$p,$p,$p,$p,$p,$p,$p]}"
	done
} | write_manifest laughs.yaml
head -c 4096 /dev/zero | write_manifest nul.yaml
simple_service zero 0.0.0.0 80 8080 TCP 10.244.1.11 | write_manifest zero.yaml
cat <<'Y' | write_manifest np80.yaml
apiVersion: v1
kind: Service
metadata: {name: np80}
spec:
  type: NodePort
  clusterIP: 10.96.0.36
  ports: [{port: 80, targetPort: 8080, nodePort: 80}]
Y
# loop.yaml's endpoint turns into the node's loopback: refused, its last good version stays.
simple_service loop 10.96.0.33 80 8080 TCP 127.0.0.1 | write_manifest loop.yaml

logged() { grep -F -- "$1" "$SP_LOG" | has_match -F -- "$2"; }
expect() # FILE TEXT: a log line names FILE and holds TEXT
{
	wait_for 5 logged "$1" "$2" || fail "no log line names $1 with: $2"
	log "reported: $(grep -F -- "$1" "$SP_LOG" | grep -F -- "$2" | head -n1)"
}
expect cips.yaml "Service default/cips: spec.clusterIPs: at most two addresses"
expect laughs.yaml "aliases expand to more than"
expect nul.yaml "nul.yaml:1:1: NUL byte"
expect zero.yaml "Service default/zero: spec.clusterIP: \"0.0.0.0\" may not be unspecified"
expect np80.yaml "Service default/np80: spec.ports[0].nodePort: 80 is not in the node port range"
expect loop.yaml "EndpointSlice default/loop-1: endpoints[0].addresses[0]: \"127.0.0.1\" may not be in the loopback range"

kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died on hostile manifests"
sleep 0.5
http_ok pod-b http://10.96.0.30/ || fail "good Service stopped answering"
out=$(http_get pod-b http://10.96.0.33/) || fail "last good 'loop' stopped answering: curl exit $?"
assert_eq "pod-a 10.244.1.12" "$out" "last good 'loop' endpoint kept"
shown=$(in_ns node "$SVCPROXY" show services)
assert_contains "$shown" 10.96.0.30 "show lists the good Service"
for gone in 10.96.0.34 10.96.0.36 0.0.0.0; do
	assert_not_contains "$shown" "$gone" "nothing programmed from the refused Services"
done

# The same through check: exit 2, every problem named.
rc=0
out=$("$SVCPROXY" check --manifests "$MANIFESTS" 2>&1) || rc=$?
assert_eq 2 "$rc" "check exit status"
for w in cips.yaml laughs.yaml nul.yaml zero.yaml np80.yaml loop.yaml; do
	assert_contains "$out" "$w" "check names $w"
done
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died"
pass "hostile manifests refused and logged, good Services unaffected"
