#!/usr/bin/env bash
# First endpoint of a UDP Service (issue 5; upstream kubernetes issues 48370, 125467): UDP
# Service 10.96.0.81:53 has no endpoints; a client keeps sending to it from ONE source port
# (udpclient stream: one datagram per 200 ms, sport 40001) and gets nothing back ("refused"
# or no reply). Then pod-b (already serving 5353) becomes its endpoint. Any conntrack entry
# that cached the "no endpoint" verdict for this flow must not keep the client away: the first
# reply from pod-b must be for a datagram sent at most 2 s after the EndpointSlice appeared.
# Also for a second client from the node itself (its own datagrams pass nat output), and for
# a third (pod-a, sport 40003) sending to 10.96.0.83:53 before any Service has that address:
# its datagrams are routed towards svc0 and lost, and the flow's conntrack entry is
# confirmed without DNAT; when Service late (10.96.0.83 -> pod-b) appears, with its endpoint,
# it must be answered within 2 s too (kube-proxy clears the entries of a UDP Service IP that
# goes from no endpoints, or no Service, to some).
. "$(dirname "$0")/lib.sh"
harness_init
command -v conntrack >/dev/null || skip "conntrack (conntrack-tools) not installed"
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 5353 --udp
{
	simple_service control 10.96.0.82 80 8080 TCP 10.244.1.11
	echo "---"
	service_yaml dns 10.96.0.81 53 5353 UDP
} | write_manifest dns.yaml
start_svcproxy
wait_for 5 http_ok pod-c http://10.96.0.82/ || fail "control Service 10.96.0.82 not answered within 5 s"

flows() { in_ns node conntrack -L -p udp 2>/dev/null | grep 'dst=10\.96\.0\.8[13] ' | tr '\n' ';'; }
s="$WORK/stream-pod.out" n="$WORK/stream-node.out" l="$WORK/stream-late.out"
t0=$(now_ms)
udp_stream_start pod-c "$s" 10.96.0.81:53 --sport 40001
udp_stream_start node "$n" 10.96.0.81:53 --sport 40002
udp_stream_start pod-a "$l" 10.96.0.83:53 --sport 40003
sleep 1.5
# 7 or so datagrams each, none answered by a backend.
for f in "$s" "$n" "$l"; do
	sent=$(awk -v t="$t0" '$1 >= t' "$f" | wc -l)
	((sent >= 5)) || fail "stream $f: only $sent datagrams sent in 1.5 s"
	udp_stream_first "$f" "$t0" '^pod-' >/dev/null && fail "answered before the Service had an endpoint: $(tr '\n' ';' <"$f")"
done
log "before: pod-c stream: $(tail -n 3 "$s" | tr '\n' ';') node stream: $(tail -n 3 "$n" | tr '\n' ';') pod-a stream: $(tail -n 3 "$l" | tr '\n' ';')"
log "conntrack before: $(flows)"

{
	simple_service control 10.96.0.82 80 8080 TCP 10.244.1.11
	echo "---"
	simple_service dns 10.96.0.81 53 5353 UDP 10.244.1.12
	echo "---"
	simple_service late 10.96.0.83 53 5353 UDP 10.244.1.12
} | write_manifest dns.yaml
t_change=$(now_ms) # the file is renamed into place, or (t_x[api]) the API write returned
log "EndpointSlice of dns with pod-b, and Service late with pod-b, written at $t_change"
for who in pod-c node pod-a; do
	case $who in
	pod-c) f=$s expect="pod-b 10.244.1.13" ;;
	node) f=$n expect="pod-b $GW" ;;
	pod-a) f=$l expect="pod-b 10.244.1.11" ;;
	esac
	if ! wait_for 5 udp_stream_first "$f" "$t_change" '^pod-b '; then
		log "conntrack after: $(flows)"
		fail "$who: no reply from pod-b within 5 s of its first endpoint; stream since then: $(awk -v t="$t_change" '$1 >= t' "$f" | tr '\n' ';')"
	fi
	first=$(udp_stream_first "$f" "$t_change" '^pod-b ')
	ms=$(( ${first%% *} - t_change ))
	log "$who stream since the change: $(awk -v t="$t_change" '$1 >= t' "$f" | head -n 15 | tr '\n' ';')"
	assert_eq "$expect" "${first#* }" "$who: first reply from the new endpoint"
	((ms <= 2000)) || fail "$who: first endpoint answered only a datagram sent $ms ms after it appeared (must be <= 2000 ms)"
	log "ok: $who reached the first endpoint $ms ms after it appeared"
done
log "conntrack after: $(flows)"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "first endpoint of a UDP Service answers a fixed-port client at once"
