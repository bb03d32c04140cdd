#!/usr/bin/env bash
# t_udp_conntrack over IPv6 (issue 5: every feature for both families). UDP Service
# [fd00:10:96::80]:53 -> pod-a:5353 (IPv6 EndpointSlice); pod-c keeps sending from source port
# 40010; pod-a is deleted and the slice replaced by pod-b: the first reply from pod-b must be
# for a datagram sent at most 5 s after the change (the stale IPv6 conntrack entry removed).
. "$(dirname "$0")/lib.sh"
harness_init
command -v conntrack >/dev/null || skip "conntrack (conntrack-tools) not installed"
setup_cluster_ds 3
start_podserver pod-a pod-a 5353 --udp --bind=::
start_podserver pod-b pod-b 5353 --udp --bind=::
manifest()
{
	service_yaml dns6 fd00:10:96::80 53 5353 UDP ipFamilies=IPv6 clusterIPs=fd00:10:96::80
	echo "---"
	slice_af_yaml dns6-1 dns6 IPv6 5353 UDP "$1"
}
manifest fd00:10:244:1::11 | write_manifest dns6.yaml
CLUSTER_CIDR=$CLUSTER_CIDR_DS
start_svcproxy
dst='[fd00:10:96::80]:53'
wait_for 5 udp_ok pod-c "$dst" || fail "udp $dst not answered within 5 s"

flow() { in_ns node conntrack -L -f ipv6 -p udp --orig-port-src 40010 2>/dev/null | tr '\n' ';'; }
s="$WORK/stream.out"
t0=$(now_ms)
udp_stream_start pod-c "$s" "$dst" --sport 40010
wait_for 3 udp_stream_first "$s" "$t0" '^pod-a fd00:10:244:1::13$' ||
	fail "stream from sport 40010 not answered by pod-a within 3 s: $(tail -n 5 "$s" | tr '\n' ';')"
sleep 1
log "conntrack before: $(flow)"
[[ "$(flow)" == *"src=fd00:10:244:1::11 dst=fd00:10:244:1::13 sport=5353 dport=40010"* ]] ||
	fail "expected the conntrack entry for sport 40010 to be DNATed to fd00:10:244:1::11, got: $(flow)"

stop_pod pod-a
t_change=$(now_ms)
manifest fd00:10:244:1::12 | write_manifest dns6.yaml
log "pod-a stopped, EndpointSlice -> pod-b at $t_change"
if ! wait_for 7 udp_stream_first "$s" "$t_change" '^pod-b '; then
	log "conntrack after: $(flow)"
	fail "no reply from pod-b within 7 s of the EndpointSlice change; stream since then: $(awk -v t="$t_change" '$1 >= t' "$s" | tr '\n' ';')"
fi
first=$(udp_stream_first "$s" "$t_change" '^pod-b ')
ms=$((${first%% *} - t_change))
log "conntrack after: $(flow)"
assert_eq "pod-b fd00:10:244:1::13" "${first#* }" "first reply from the replacement"
((ms <= 5000)) || fail "the replacement pod-b answered only a datagram sent $ms ms after the EndpointSlice change (must be <= 5000 ms)"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "IPv6 UDP client with a fixed source port reaches the replacement endpoint within 5 s ($ms ms)"
