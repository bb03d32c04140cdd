#!/usr/bin/env bash
# Stale UDP conntrack entries (issue 5; upstream kubernetes issues 19029, 59368): a client that
# keeps sending from ONE source port (udpclient stream: one datagram per 200 ms, sport 40000)
# to UDP Service 10.96.0.80:53 -> pod-a:5353. pod-a is deleted (its processes stopped) and the
# EndpointSlice replaced by pod-b. The node's conntrack entry for the client's flow still
# DNATs to pod-a and every datagram refreshes it, so without svcproxy deleting it the client
# stays black-holed for as long as it keeps sending. Expected: the first reply from pod-b for
# a datagram sent at most 5 s after the EndpointSlice changed. The conntrack entries of the
# flow before and after are logged.
. "$(dirname "$0")/lib.sh"
harness_init
command -v conntrack >/dev/null || skip "conntrack (conntrack-tools) not installed"
setup_cluster 3
start_podserver pod-a pod-a 5353 --udp
start_podserver pod-b pod-b 5353 --udp
simple_service dns 10.96.0.80 53 5353 UDP 10.244.1.11 | write_manifest dns.yaml
start_svcproxy
wait_for 5 udp_ok pod-c 10.96.0.80:53 || fail "udp 10.96.0.80:53 not answered within 5 s"

flow() { in_ns node conntrack -L -p udp --orig-port-src 40000 2>/dev/null | tr '\n' ';'; }
s="$WORK/stream.out"
t0=$(now_ms)
udp_stream_start pod-c "$s" 10.96.0.80:53 --sport 40000
wait_for 3 udp_stream_first "$s" "$t0" '^pod-a 10\.244\.1\.13$' ||
	fail "stream from sport 40000 not answered by pod-a within 3 s: $(tail -n 5 "$s" | tr '\n' ';')"
sleep 1 # a few more datagrams on the same entry
log "conntrack before: $(flow)"
[[ "$(flow)" == *"src=10.244.1.11 dst=10.244.1.13 sport=5353 dport=40000"* ]] ||
	fail "expected the conntrack entry for sport 40000 to be DNATed to 10.244.1.11 (reply src=10.244.1.11), got: $(flow)"

stop_pod pod-a
t_change=$(now_ms)
simple_service dns 10.96.0.80 53 5353 UDP 10.244.1.12 | write_manifest dns.yaml
log "pod-a stopped, EndpointSlice -> pod-b at $t_change"
if ! wait_for 7 udp_stream_first "$s" "$t_change" '^pod-b '; then
	log "conntrack after: $(flow)"
	fail "no reply from pod-b within 7 s of the EndpointSlice change; stream since then: $(awk -v t="$t_change" '$1 >= t' "$s" | tr '\n' ';')"
fi
first=$(udp_stream_first "$s" "$t_change" '^pod-b ')
ms=$(( ${first%% *} - t_change ))
log "conntrack after: $(flow)"
log "stream since the change: $(awk -v t="$t_change" '$1 >= t' "$s" | head -n 30 | tr '\n' ';')"
assert_eq "pod-b 10.244.1.13" "${first#* }" "first reply from the replacement (backend sees the client pod)"
((ms <= 5000)) || fail "the replacement pod-b answered only a datagram sent $ms ms after the EndpointSlice change (must be <= 5000 ms)"
log "ok: replacement reached $ms ms after the change"
# Once there, it stays there (same source port, new entry).
sleep 1
last=$(tail -n 3 "$s")
[[ "$(grep -c ' pod-b 10\.244\.1\.13$' <<<"$last")" == 3 ]] || fail "last 3 datagrams not all answered by pod-b: $(tr '\n' ';' <<<"$last")"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "UDP client with a fixed source port reaches the replacement endpoint within 5 s ($ms ms)"
