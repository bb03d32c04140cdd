#!/usr/bin/env bash
# Idle-connection floods against svcproxy's HTTP servers (issue 9) lock nothing out:
#  - 200 idle connections to /healthz on loopback (64 used to lock it out for 30 s): a probe
#    still gets 200 at once;
#  - 1000 idle connections from one external client to a healthCheckNodePort (they used to
#    exhaust the daemon's file descriptors, and then manifest reads failed): the daemon holds
#    at most the per-client cap of them, a probe from another address still gets its answer,
#    and a manifest change is still applied.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
{
	service_yaml lb 10.96.0.90 80 8080 TCP type=LoadBalancer etp=Local healthCheckNodePort=32000 \
		nodePort=30090
	echo "---"
	slice_yaml lb 8080 TCP 10.244.1.11@node
} | write_manifest lb.yaml
start_svcproxy --hostname-override node

# flood NS ADDR PORT N: N idle TCP connections held open until killed; prints its PID.
flood()
{
	in_ns "$1" /usr/bin/python3 -c '
import socket, sys, time
socks = []
for _ in range(int(sys.argv[3])):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
        socks.append(s)
    except OSError:
        s.close()
print(len(socks), flush=True)
time.sleep(120)
' "$2" "$3" "$4" >"$WORK/flood-$1-$3.out" 2>&1 &
	BG_PIDS+=($!)
	wait_for 20 test -s "$WORK/flood-$1-$3.out" || fail "flood of $2:$3 did not finish connecting"
	log "flood $2:$3 from $1: $(cat "$WORK/flood-$1-$3.out") connections open"
}
fds() { ls /proc/"$SP_PID"/fd | wc -l; }
wait_for 5 in_ns node curl -sf --max-time 1 "http://$EXT_NODE_IP:32000/" >/dev/null ||
	fail "healthCheckNodePort 32000 not serving"
log "svcproxy holds $(fds) file descriptors before the floods"

flood node 127.0.0.1 10256 200
out=$(in_ns node curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$HEALTHZ/healthz") ||
	fail "/healthz not answered within 2 s while 200 idle connections are open (curl: $out)"
assert_eq 200 "$out" "/healthz status under an idle-connection flood"

flood ext "$EXT_NODE_IP" 32000 1000
n=$(fds)
log "svcproxy holds $n file descriptors with 1200 idle connections at its doors"
((n < 400)) || fail "the flood took $n file descriptors of the daemon"
out=$(in_ns node curl -sS --max-time 2 -o /dev/null -w '%{http_code}' "http://$EXT_NODE_IP:32000/") ||
	fail "healthCheckNodePort not answered from another address during the flood (curl: $out)"
assert_eq 200 "$out" "health check from another address during the flood"

simple_service web 10.96.0.91 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
wait_for 5 http_ok pod-b http://10.96.0.91/ || fail "a manifest change was not applied during the flood"
kill -0 "$SP_PID" || fail "svcproxy died"
pass "idle-connection floods lock out neither /healthz nor health checks, nor the sources"
