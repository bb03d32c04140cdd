#!/usr/bin/env bash
# A Service with no usable endpoint is rejected, not black-holed: curl fails with "Connection
# refused" (exit 7) within 1 s, from a pod and from the node. Both kinds of "no endpoint":
# no EndpointSlice at all, and a slice whose only endpoint is not ready (and not serving).
# A UDP Service without endpoints answers a datagram with ICMP port unreachable as well.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
{
	simple_service ok 10.96.0.16 80 8080 TCP 10.244.1.11
	echo "---"
	service_yaml empty 10.96.0.17 80 8080 TCP
	echo "---"
	service_yaml notready 10.96.0.18 80 8080 TCP
	echo "---"
	service_yaml emptyudp 10.96.0.19 53 5353 UDP
	echo "---"
	slice_yaml notready 8080 TCP 10.244.1.11/ready=false/serving=false/terminating=false
} | write_manifest services.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.16/ || fail "control Service 10.96.0.16 not answered within 5 s"

# refused WHO URL: curl must fail with ECONNREFUSED (exit 7) in under 1000 ms.
refused()
{
	local t0 ms rc err
	t0=$(now_ms)
	err=$(in_ns "$1" curl -sS -v --max-time 5 "$2" 2>&1 >/dev/null)
	rc=$?
	ms=$(($(now_ms) - t0))
	log "$1 -> $2: curl exit $rc after $ms ms"
	assert_eq 7 "$rc" "$1 -> $2 curl exit status (7 = could not connect)"
	assert_contains "$err" "Connection refused" "$1 -> $2 curl error"
	((ms < 1000)) || fail "$1 -> $2: refused only after $ms ms (must be < 1000 ms)"
}
# udp_refused WHO ADDR:PORT: the datagram is answered by ICMP port unreachable (udpclient 3).
udp_refused()
{
	local t0 ms rc
	t0=$(now_ms)
	udp_get "$1" "$2" --timeout-ms 5000 >/dev/null 2>&1
	rc=$?
	ms=$(($(now_ms) - t0))
	log "$1 -> udp $2: udpclient exit $rc after $ms ms"
	assert_eq 3 "$rc" "$1 -> udp $2 udpclient exit status (3 = refused, 1 = no answer)"
	((ms < 1000)) || fail "$1 -> udp $2: refused only after $ms ms (must be < 1000 ms)"
}
refused pod-b http://10.96.0.17/
refused node http://10.96.0.17/
refused pod-b http://10.96.0.18/
refused node http://10.96.0.18/
# (Only from a pod: for the node's own datagrams a reject in the output hook makes send() fail
# with EPERM before any ICMP arrives; that is the kernel's behaviour, kube-proxy's too.)
udp_refused pod-b 10.96.0.19:53
pass "no endpoints -> ECONNREFUSED at once"
