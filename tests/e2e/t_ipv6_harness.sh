#!/usr/bin/env bash
# The issue-5 harness parts, without svcproxy: IPv6 pod-to-pod over the node (setup_cluster_ds),
# podserver on a dual-stack socket (--bind ::) answering both families and printing the peer
# in its own family, udpclient over IPv6, udpclient's stream mode (one source port for every
# datagram, one timestamped line each, "refused" when nothing listens), stop_pod, and the
# socat echo server keeping a connection open across several round trips.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster_ds 3
start_podserver pod-a pod-a 8080 5353 --bind=::
start_echo pod-b 9000

# IPv6 TCP and UDP pod -> pod (routed by the node), IPv4 on the same dual-stack socket.
wait_for 5 http_ok pod-c 'http://[fd00:10:244:1::11]:8080/' || fail "pod-c -> [fd00:10:244:1::11]:8080 not answered within 5 s"
out=$(http_get pod-c 'http://[fd00:10:244:1::11]:8080/') || fail "pod-c -> pod-a over IPv6: curl exit $?"
assert_eq "pod-a fd00:10:244:1::13" "$out" "pod-c -> pod-a over IPv6 (peer printed as IPv6)"
out=$(http_get pod-c 'http://10.244.1.11:8080/') || fail "pod-c -> pod-a over IPv4: curl exit $?"
assert_eq "pod-a 10.244.1.13" "$out" "pod-c -> pod-a over IPv4 on the dual-stack socket (not ::ffff:)"
out=$(udp_get pod-c '[fd00:10:244:1::11]:5353') || fail "pod-c -> udp [fd00:10:244:1::11]:5353: udpclient exit $?"
assert_eq "pod-a fd00:10:244:1::13" "$out" "udp pod-c -> pod-a over IPv6"
out=$(udp_get pod-c 'fd00:10:244:1::11:5353') || fail "udpclient with an unbracketed IPv6 address: exit $?"
assert_eq "pod-a fd00:10:244:1::13" "$out" "udp, unbracketed IPv6 ADDR:PORT"
out=$(http_get node 'http://[fd00:10:244:1::11]:8080/') || fail "node -> pod-a over IPv6: curl exit $?"
assert_eq "pod-a $GW6" "$out" "node -> pod-a over IPv6 (source $GW6)"

# Stream mode: 5 datagrams from fixed source port 40123, every one answered.
out=$(in_ns pod-c "$UDPCLIENT" --sport 40123 --count 5 --interval-ms 100 10.244.1.11:5353) ||
	fail "udpclient stream: exit $?: $out"
log "stream: $(tr '\n' ';' <<<"$out")"
assert_eq 5 "$(grep -c ' pod-a 10.244.1.13$' <<<"$out")" "stream replies 'pod-a 10.244.1.13' out of 5"
# Nothing on 5354: every datagram is "refused", and the stream still sends all of them.
out=$(in_ns pod-c "$UDPCLIENT" --sport 40124 --count 4 --interval-ms 100 10.244.1.11:5354)
assert_eq 1 "$?" "udpclient stream exit status when nothing answered"
assert_eq 4 "$(grep -c ' refused$' <<<"$out")" "stream lines 'refused' out of 4 to a closed port (got: $(tr '\n' ';' <<<"$out"))"

# udp_stream_start / udp_stream_first, then stop_pod: replies stop.
s="$WORK/stream.out"
t0=$(now_ms)
udp_stream_start pod-c "$s" 10.244.1.11:5353 --sport 40125
wait_for 3 udp_stream_first "$s" "$t0" '^pod-a ' || fail "stream to pod-a: no reply within 3 s: $(cat "$s")"
stop_pod pod-a
[[ -z "$(ip netns pids "$(ns_of pod-a)")" ]] || fail "stop_pod pod-a left processes behind"
t1=$(now_ms)
sleep 1
wait_for 3 udp_stream_first "$s" "$((t1 + 500))" '^(-|refused)$' || fail "stream still answered after stop_pod: $(tail -n 5 "$s")"
log "ok: stream after stop_pod: $(udp_stream_first "$s" "$((t1 + 500))" '^(-|refused)$')"

# The echo server keeps one connection for several round trips (socat client via a FIFO).
fifo="$WORK/echo.in"
mkfifo "$fifo"
in_ns pod-c socat -t 30 - 'TCP:[fd00:10:244:1::12]:9000' <"$fifo" >"$WORK/echo.out" 2>&1 &
BG_PIDS+=($!)
exec 3>"$fifo"
echo one >&3
wait_for 3 grep -qx one "$WORK/echo.out" || fail "echo round trip 1: got '$(cat "$WORK/echo.out")'"
echo two >&3
wait_for 3 grep -qx two "$WORK/echo.out" || fail "echo round trip 2: got '$(cat "$WORK/echo.out")'"
exec 3>&-
pass "IPv6 pods, dual-stack podserver, udpclient stream mode, echo server"
