#!/usr/bin/env bash
# The API source asks for what kube-proxy asks for (issue 8): Services and EndpointSlices with
# the label selector !service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless
# (a Service another proxy owns, a headless Service's slice: not programmed; the label removed:
# programmed, the label added: removed), and only this node's Node (fieldSelector).
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp

# labelled SERVICE_LABELS SLICE_LABELS NAME IP: a Service and its slice with extra labels
labelled()
{
	service_yaml "$3" "$4" 80 8080 TCP | sed "s/^  namespace: default/  namespace: default\n  labels: {$1}/"
	echo "---"
	slice_yaml "$3" 8080 TCP 10.244.1.11 | sed "s/^    kubernetes.io\/service-name: $3/    kubernetes.io\/service-name: $3\n    $2/"
}
labelled "service.kubernetes.io/service-proxy-name: other-proxy" "x: y" other 10.96.0.10 | write_manifest other.yaml
labelled "a: b" "service.kubernetes.io/headless: ''" headless 10.96.0.11 | write_manifest headless.yaml
labelled "a: b" "x: y" plain 10.96.0.12 | write_manifest plain.yaml
start_svcproxy --min-sync-period 0 --hostname-override node1

in_kernel() { [[ "$(in_ns node nft -s list table ip svcproxy 2>/dev/null)" == *"$1 "* ]]; }
not_in_kernel() { ! in_kernel "$1"; }
wait_for 5 http_ok pod-b http://10.96.0.12/ || fail "the plain Service does not answer"
not_in_kernel 10.96.0.10 || fail "a Service labelled service-proxy-name is programmed"
http_refused pod-b http://10.96.0.11/ ||
	fail "a Service whose only slice is labelled headless is not refused (no endpoints)"
log "ok: service-proxy-name Service not programmed; headless-labelled slice ignored"

apictl drop-watches >/dev/null # a watch is logged when it ends
sleep 1
reqs=$(apictl requests)
for r in services endpointslices; do
	n=$(jq --arg r "$r" '[.[] | select(.path | test("/" + $r + "\\?.*labelSelector=%21service.kubernetes.io%2Fservice-proxy-name%2C%21service.kubernetes.io%2Fheadless"))] | length' <<<"$reqs")
	((n >= 2)) || fail "$r: list and watch with the label selector expected: $(jq -r '.[].path' <<<"$reqs")"
done
n=$(jq '[.[] | select(.path | test("/nodes\\?.*fieldSelector=metadata.name%3Dnode1"))] | length' <<<"$reqs")
((n >= 2)) || fail "nodes: list and watch of this node only expected: $(jq -r '.[].path' <<<"$reqs")"
log "ok: selectors in every list and watch"

# the labels change: objects start and stop matching
labelled "a: b" "x: y" other 10.96.0.10 | write_manifest other.yaml
labelled "a: b" "x: y" headless 10.96.0.11 | write_manifest headless.yaml
labelled "service.kubernetes.io/service-proxy-name: other-proxy" "x: y" plain 10.96.0.12 | write_manifest plain.yaml
wait_for 5 http_ok pod-b http://10.96.0.10/ || fail "label removed: Service not programmed within 5 s"
wait_for 5 http_ok pod-b http://10.96.0.11/ || fail "headless label removed: endpoints not used within 5 s"
wait_for 5 not_in_kernel 10.96.0.12 || fail "service-proxy-name label added: Service still programmed"
log "ok: label changes followed"
pass "label and field selectors as kube-proxy's"
