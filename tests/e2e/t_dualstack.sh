#!/usr/bin/env bash
# Dual-stack Service (issue 5): ds has ipFamilyPolicy RequireDualStack, ipFamilies
# [IPv4, IPv6], clusterIPs [10.96.0.60, fd00:10:96::60] and one EndpointSlice per family
# (pod-a and pod-b, the same pods, on dual-stack podservers). From pod-c both addresses answer,
# each backend sees pod-c's address of that family; an IPv4-only Service (10.96.0.61) works
# next to it. svcproxy keeps one table per family (`table ip svcproxy`, `table ip6 svcproxy`),
# `svcproxy show services` lists both addresses, and `svcproxy cleanup` removes both tables.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster_ds 3
start_podserver pod-a pod-a 8080 --tcp --bind=::
start_podserver pod-b pod-b 8080 --tcp --bind=::
{
	service_yaml ds 10.96.0.60 80 8080 TCP ipFamilyPolicy=RequireDualStack ipFamilies=IPv4,IPv6 \
		clusterIPs=10.96.0.60,fd00:10:96::60
	echo "---"
	slice_af_yaml ds-v4 ds IPv4 8080 TCP 10.244.1.11 10.244.1.12
	echo "---"
	slice_af_yaml ds-v6 ds IPv6 8080 TCP fd00:10:244:1::11 fd00:10:244:1::12
	echo "---"
	simple_service v4only 10.96.0.61 80 8080 TCP 10.244.1.11
} | write_manifest ds.yaml
CLUSTER_CIDR=$CLUSTER_CIDR_DS
start_svcproxy

for url in 'http://10.96.0.60/' 'http://[fd00:10:96::60]/'; do
	if [[ "$url" == *'['* ]]; then peer=fd00:10:244:1::13; else peer=10.244.1.13; fi
	wait_for 5 http_ok pod-c "$url" || fail "pod-c -> $url not answered within 5 s: curl says '$(http_get pod-c "$url" 2>&1)'"
	counts=$(count_answers 20 pod-c "$url" -g) || exit 1
	log "20 x pod-c -> $url: $(tr '\n' ';' <<<"$counts")"
	assert_eq "pod-a pod-b" "$(backends "$counts")" "backends answering 20 requests to $url"
	while read -r _ name seen; do
		assert_eq "$peer" "$seen" "client address seen by $name via $url"
	done <<<"$counts"
done
out=$(http_get pod-c http://10.96.0.61/) || fail "pod-c -> IPv4-only Service 10.96.0.61: curl exit $?"
assert_eq "pod-a 10.244.1.13" "$out" "pod-c -> IPv4-only Service next to the dual-stack one"

tables=$(in_ns node nft list tables 2>&1)
log "nft list tables: $(tr '\n' ';' <<<"$tables")"
assert_contains "$tables" "table ip svcproxy" "nft list tables in the node"
assert_contains "$tables" "table ip6 svcproxy" "nft list tables in the node"
mapfile -t pin < <(pin_args)
show=$(in_ns node "$SVCPROXY" show services "${pin[@]}" 2>&1) || fail "svcproxy show services: exit $?: $show"
log "show services:"$'\n'"$show"
assert_contains "$show" "10.96.0.60" "svcproxy show services"
assert_contains "$show" "fd00:10:96::60" "svcproxy show services"
for ep in 10.244.1.11 10.244.1.12 fd00:10:244:1::11 fd00:10:244:1::12; do
	assert_contains "$show" "$ep" "svcproxy show services (endpoint)"
done

stop_svcproxy
assert_eq 0 "$SP_RC" "svcproxy run exit status on SIGTERM"
out=$(in_ns node "$SVCPROXY" cleanup 2>&1) || fail "svcproxy cleanup: exit $?: $out"
tables=$(in_ns node nft list tables 2>&1)
assert_not_contains "$tables" "svcproxy" "nft list tables after svcproxy cleanup"
pass "dual-stack Service over IPv4 and IPv6; one table per family; cleanup removes both"
