#!/usr/bin/env bash
# /healthz and /livez (kube-proxy semantics: 200 and JSON with lastUpdated while syncs are
# current) and /metrics (Prometheus text with kube-proxy's sync metrics) answer on the
# configured loopback addresses in the node.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 1
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.70 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml
t0=$(date +%s)
start_svcproxy
sp_started_ms=$(now_ms)

# get URL: sets CODE and BODY.
get()
{
	local out
	out=$(in_ns node curl -sS --max-time 2 -w '\n%{http_code}' "$1") || fail "GET $1: curl exit $?"
	CODE=${out##*$'\n'}
	BODY=${out%$'\n'*}
}
healthy() { get "$1"; [[ "$CODE" == 200 ]]; }

for path in healthz livez; do
	url="http://$HEALTHZ/$path"
	wait_for 5 healthy "$url" || { get "$url"; fail "GET $url: status $CODE, body: $BODY"; }
	get "$url"
	log "GET /$path: $CODE $BODY"
	printf '%s' "$BODY" | jq -e 'type == "object"' >/dev/null || fail "/$path body is not a JSON object: $BODY"
	lu=$(printf '%s' "$BODY" | jq -r '.lastUpdated // empty')
	[[ -n "$lu" ]] || fail "/$path JSON has no lastUpdated: $BODY"
	log "ok: /$path lastUpdated=$lu"
	# kube-proxy 1.33's body: healthy, per-family status, nodeEligible on /healthz only
	printf '%s' "$BODY" | jq -e '.healthy == true and .status.IPv4.healthy == true and .status.IPv6.healthy == true' >/dev/null ||
		fail "/$path body lacks kube-proxy's healthy/status fields: $BODY"
	if [[ $path == healthz ]]; then
		printf '%s' "$BODY" | jq -e '.nodeEligible == true' >/dev/null || fail "/healthz without nodeEligible: $BODY"
	else
		printf '%s' "$BODY" | jq -e 'has("nodeEligible") | not' >/dev/null || fail "/livez with nodeEligible: $BODY"
	fi
done

get "http://$METRICS/metrics"
assert_eq 200 "$CODE" "GET /metrics status"
# kube-proxy's names, with its ip_family label (one series per family)
for m in 'kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"}' \
	'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"}' \
	'kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} ' \
	'kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv4"} ' \
	'kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="0.25"}' \
	'kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family="IPv4"} 0' \
	'kubeproxy_sync_proxy_rules_endpoint_changes_pending ' \
	'kubeproxy_sync_proxy_rules_service_changes_pending ' \
	'kubeproxy_proxy_healthz_total{code="200"} ' \
	'kubeproxy_proxy_livez_total{code="200"} ' \
	'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}'; do
	assert_contains "$BODY" "$m" "/metrics"
done
# the initial sync is a full one
full=$(printf '%s\n' "$BODY" | awk '$1 == "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}" { print $2 }')
awk -v c="${full:-0}" 'BEGIN { exit !(c >= 1) }' || fail "no full sync counted: '$full'"
count=$(printf '%s\n' "$BODY" | awk '$1 == "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}" { print $2 }')
awk -v c="${count:-0}" 'BEGIN { exit !(c >= 1) }' ||
	fail "kubeproxy_sync_proxy_rules_duration_seconds_count is '$count', expected >= 1 after a sync"
ts=$(printf '%s\n' "$BODY" | awk '$1 == "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"}" { print $2 }')
awk -v ts="${ts:-0}" -v t0="$t0" 'BEGIN { exit !(ts + 0 >= t0 - 5 && ts + 0 <= t0 + 600) }' ||
	fail "kubeproxy_sync_proxy_rules_last_timestamp_seconds is '$ts', expected the unix time of the last sync (>= $t0)"
log "ok: last sync at $ts, $count syncs"

# Network programming latency: an EndpointSlice change whose
# endpoints.kubernetes.io/last-change-trigger-time is 2 s old is observed once synced.
# svcproxy ignores trigger times from before its own start (as kube-proxy does), and the
# annotation has whole seconds: "2 s ago" must fall at least a second after the start.
while (($(now_ms) < sp_started_ms + 3500)); do sleep 0.2; done
trigger=$(date -u -d '2 seconds ago' +%Y-%m-%dT%H:%M:%SZ)
{
	service_yaml demo 10.96.0.70 80 8080 TCP
	echo "---"
	slice_yaml demo 8080 TCP 10.244.1.11/serving=true |
		sed "s|^  labels:|  annotations:\n    endpoints.kubernetes.io/last-change-trigger-time: \"$trigger\"\n  labels:|"
} | write_manifest demo.yaml
np_count() {
	get "http://$METRICS/metrics"
	printf '%s\n' "$BODY" | awk '$1 == "kubeproxy_network_programming_duration_seconds_count{ip_family=\"IPv4\"}" { print $2 }'
}
np_observed() { [[ "$(np_count)" == 1 ]]; }
wait_for 5 np_observed || fail "network programming latency not observed: $(np_count)"
get "http://$METRICS/metrics"
assert_contains "$BODY" 'kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="0.5"} 0' "a 2 s old trigger is not under 0.5 s"
assert_contains "$BODY" 'kubeproxy_network_programming_duration_seconds_count{ip_family="IPv6"} 0' "an IPv4 slice is counted for IPv4 only"
log "ok: network programming latency observed for the annotated EndpointSlice"
pass "healthz, livez, metrics"
