#!/usr/bin/env bash
# Named targetPort on a two-port Service. Port "http" (80) has targetPort "web", which the
# EndpointSlices resolve per pod: 8080 on pod-a, 8081 on pod-b (two slices, as the EndpointSlice
# controller writes them when pods name different container ports "web"). Port "metrics" (9090)
# targets 9090. Every request must reach the right process on the right port of each pod.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a-web 8080 --tcp
start_podserver pod-a pod-a-metrics 9090 --tcp
start_podserver pod-b pod-b-web 8081 --tcp
start_podserver pod-b pod-b-metrics 9090 --tcp
{
	service_yaml named 10.96.0.12 ports=http:80:web:TCP,metrics:9090:9090:TCP
	echo "---"
	slice_af_yaml named-a named IPv4 http:8080,metrics:9090 TCP 10.244.1.11
	echo "---"
	slice_af_yaml named-b named IPv4 metrics:9090,http:8081 TCP 10.244.1.12
} | write_manifest named.yaml
start_svcproxy
wait_for 5 http_ok pod-c http://10.96.0.12/ || fail "http://10.96.0.12/ not answered within 5 s"

# check_port URL SUFFIX: 20 requests, all answered by *-SUFFIX, both pods seen.
check_port()
{
	local url=$1 suffix=$2 out i a=0 b=0
	for i in $(seq 20); do
		out=$(http_get pod-c "$url") || fail "$url request $i: curl exit $?"
		case "$out" in
		"pod-a-$suffix 10.244.1.13") a=$((a + 1)) ;;
		"pod-b-$suffix 10.244.1.13") b=$((b + 1)) ;;
		*) fail "$url request $i: answered '$out', expected pod-[ab]-$suffix" ;;
		esac
	done
	log "$url: pod-a-$suffix=$a pod-b-$suffix=$b"
	((a > 0 && b > 0)) || fail "$url: both pods should answer in 20 requests (a=$a b=$b)"
}
check_port http://10.96.0.12/ web
check_port http://10.96.0.12:9090/ metrics
pass "named targetPort resolved per EndpointSlice, both ports of a 2-port Service work"
