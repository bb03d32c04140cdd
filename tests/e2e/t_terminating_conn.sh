#!/usr/bin/env bash
# An established TCP connection is not cut by svcproxy when its endpoint turns terminating,
# is removed from the EndpointSlice, or the Service loses every endpoint (issue 5).
# Service echo 10.96.0.45:90 -> targetPort 9000. pod-a runs a TCP echo server (socat, the
# connection stays open), pod-b a podserver on 9000 (answers "pod-b ..." and closes).
# pod-c opens ONE connection through the ClusterIP while pod-a is the only endpoint and keeps
# it open (socat, fed through a FIFO), then after each change sends a line and must get it
# echoed back on that same connection:
#   1. pod-a ready                                       -> "one" echoed
#   2. pod-a serving+terminating, pod-b ready            -> new connections go to pod-b;
#                                                           "two" echoed by pod-a
#   3. pod-a removed from the slice (pod-b only)         -> "three" echoed
#   4. no endpoints at all                               -> new connections refused;
#                                                           "four" echoed
. "$(dirname "$0")/lib.sh"
harness_init
command -v socat >/dev/null || skip "socat not installed"
setup_cluster 3
start_echo pod-a 9000
start_podserver pod-b pod-b 9000 --tcp

manifest() # endpoints (slice_af_yaml's EPs), none for an empty slice
{
	service_yaml echo 10.96.0.45 90 9000 TCP
	echo "---"
	slice_yaml echo 9000 TCP "$@"
}
A=10.244.1.11 B=10.244.1.12
manifest "$A" | write_manifest echo.yaml
start_svcproxy
wait_for 5 eval 'in_ns pod-c socat -T 1 - TCP:10.96.0.45:90,connect-timeout=1 <<<probe | has_match -x probe' ||
	fail "echo Service 10.96.0.45:90 does not echo within 5 s"

# The long-lived connection: socat in pod-c, stdin from a FIFO we hold open on fd 3.
fifo="$WORK/conn.in" out="$WORK/conn.out"
mkfifo "$fifo"
in_ns pod-c socat -t 60 - TCP:10.96.0.45:90 <"$fifo" >"$out" 2>&1 &
conn_pid=$!
BG_PIDS+=("$conn_pid")
exec 3>"$fifo"
conn_port=""
round_trip() # WORD WHEN
{
	echo "$1" >&3
	wait_for 3 grep -qx "$1" "$out" ||
		fail "$2: '$1' not echoed on the open connection within 3 s (connection output: '$(tr '\n' ';' <"$out")'; client alive: $(kill -0 "$conn_pid" 2>/dev/null && echo yes || echo no); conntrack: $(in_ns node conntrack -L -p tcp --orig-port-src "${conn_port:-0}" 2>/dev/null)"
	log "ok: $2: '$1' echoed on the open connection"
}
round_trip one "pod-a ready"
# The client's source port, to follow the connection in conntrack.
conn_port=$(in_ns pod-c ss -Htn state established 'dport = :90' | awk '{ split($3, a, ":"); print a[2] }' | head -n 1)
log "connection from pod-c port $conn_port: $(in_ns node conntrack -L -p tcp --orig-port-src "$conn_port" 2>/dev/null)"

# 2. pod-a terminating, pod-b ready: new connections reach pod-b (so the change is applied).
manifest "$A/ready=false/serving=true/terminating=true" "$B" | write_manifest echo.yaml
new_to_b() { [[ "$(http_get pod-c http://10.96.0.45:90/)" == "pod-b "* ]]; }
wait_for 5 new_to_b || fail "pod-a terminating + pod-b ready: new connections do not reach pod-b within 5 s"
for i in 1 2 3 4 5; do new_to_b || fail "pod-a terminating: new connection $i not answered by pod-b"; done
round_trip two "pod-a terminating, pod-b ready"

# 3. pod-a removed from the EndpointSlice.
manifest "$B" | write_manifest echo.yaml
a_gone() { ! in_ns node "$SVCPROXY" show services 2>/dev/null | has_match '10\.244\.1\.11:9000'; }
wait_for 5 a_gone || fail "pod-a still in 'svcproxy show services' 5 s after its removal: $(in_ns node "$SVCPROXY" show services 2>&1)"
sleep 0.5
round_trip three "pod-a removed from the EndpointSlice"

# 4. No endpoints at all: new connections are refused, the established one carries on.
manifest | write_manifest echo.yaml
wait_for 5 http_refused pod-c http://10.96.0.45:90/ || fail "echo without endpoints: new connections not refused within 5 s"
round_trip four "no endpoints left (new connections refused)"

kill -0 "$conn_pid" 2>/dev/null || fail "the long-lived client exited"
assert_eq "one two three four" "$(tr '\n' ' ' <"$out" | sed 's/ $//')" "everything the open connection received"
exec 3>&-
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died"
pass "an open TCP connection survives its endpoint turning terminating, being removed, and the Service losing all endpoints"
