#!/usr/bin/env bash
# Process hygiene of `svcproxy run` (issue 9):
#  - one instance per network namespace: a second `run` (or a `sync`) in the same namespace exits
#    1 at once, naming the first one's pid, and the first carries on; one in another namespace
#    runs alongside; after kill -9 the lock is free again at once;
#  - every thread has SIGTERM/SIGINT/SIGHUP blocked and SIGPIPE ignored;
#  - SIGHUP: the daemon lives, re-reads its source and resyncs in full (an element deleted by
#    hand is back at once although --sync-period is 60s);
#  - a closed log pipe does not kill it: later changes are still programmed;
#  - the open files limit is raised to the hard limit: 1,100 NodePorts (2,200 held sockets)
#    under a soft limit of 1024 are all held;
#  - SIGTERM right after start (during the source load or the initial sync) stops it cleanly:
#    exit status 0, not killed by the signal.
# e2e-api: n/a - process set-up and the lock are the same whatever the source; it runs svcproxy with --manifests itself
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service web 10.96.0.48 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
ulimit -Sn 1024 # the soft limit most systems start daemons with; the hard one stays
start_svcproxy --sync-period 60s
wait_for 5 http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered"

# ---- one instance per network namespace
out=$(timeout 10 ip netns exec "$NODE" "$SVCPROXY" run --manifests "$MANIFESTS" \
	--healthz-bind-address "" --metrics-bind-address "" 2>&1)
rc=$?
assert_eq 1 "$rc" "exit status of a second 'svcproxy run' in the same namespace"
assert_contains "$out" "another svcproxy (pid $SP_PID," "the refusal names the running instance"
out=$(timeout 10 ip netns exec "$NODE" "$SVCPROXY" sync --manifests "$MANIFESTS" 2>&1)
assert_eq 1 "$?" "exit status of 'svcproxy sync' while 'run' runs"
kill -0 "$SP_PID" 2>/dev/null || fail "the first instance died"
new_ns "$PFX-other"
ip netns exec "$PFX-other" "$SVCPROXY" run --manifests "$MANIFESTS" --healthz-bind-address "" \
	--metrics-bind-address "" >"$WORK/other.log" 2>&1 &
other=$!
BG_PIDS+=($other)
wait_for 5 eval 'ip netns exec "$PFX-other" nft list table ip svcproxy' ||
	fail "an instance in another namespace did not start: $(cat "$WORK/other.log")"
sleep 0.5
kill -0 "$other" 2>/dev/null || fail "the instance in another namespace exited: $(cat "$WORK/other.log")"
kill -TERM "$other"
wait "$other"
assert_eq 0 "$?" "exit status of the other namespace's instance after SIGTERM"
log "an instance in another network namespace ran alongside"

# ---- signal dispositions of every thread
pid_status() { cat /proc/"$SP_PID"/task/*/status; }
sigmask_has() { (((0x$1 >> ($2 - 1)) & 1)); } # HEXMASK SIGNO
nthreads=0
while read -r blk; do
	nthreads=$((nthreads + 1))
	for sig in 1 2 15; do
		sigmask_has "$blk" $sig || fail "a thread of svcproxy has signal $sig unblocked (SigBlk $blk)"
	done
done < <(pid_status | awk '/^SigBlk:/ { print $2 }')
ign=$(awk '/^SigIgn:/ { print $2; exit }' /proc/"$SP_PID"/status)
sigmask_has "$ign" 13 || fail "SIGPIPE is not ignored (SigIgn $ign)"
log "SIGTERM/SIGINT/SIGHUP blocked in all $nthreads threads, SIGPIPE ignored"
limits=$(awk '/^Max open files/ { print $4, $5 }' /proc/"$SP_PID"/limits)
read -r soft hard <<<"$limits"
assert_eq "$hard" "$soft" "open files soft limit raised to the hard limit"

# ---- SIGHUP: full resync
in_ns node nft delete element ip svcproxy cluster_ip_ports '{ 10.96.0.48 . tcp . 80 }' ||
	fail "could not delete the element by hand"
http_ok pod-b http://10.96.0.48/ && fail "web still answered right after its element was deleted"
kill -HUP "$SP_PID"
wait_for 3 http_ok pod-b http://10.96.0.48/ || fail "SIGHUP did not repair the deleted element within 3 s"
kill -0 "$SP_PID" 2>/dev/null || fail "SIGHUP killed svcproxy"
grep -q "SIGHUP: re-reading the manifests source" "$SP_LOG" || fail "SIGHUP not logged"
log "SIGHUP: repaired after ${WAITED_MS} ms"

# ---- SIGTERM
stop_svcproxy
assert_eq 0 "$SP_RC" "exit status after SIGTERM"

# ---- a closed log pipe
mkfifo "$WORK/log.fifo"
head -c 1 <"$WORK/log.fifo" >/dev/null &
reader=$!
ip netns exec "$NODE" "$SVCPROXY" run --manifests "$MANIFESTS" --cluster-cidr "$CLUSTER_CIDR" \
	--min-sync-period 100ms >"$WORK/log.fifo" 2>&1 &
SP_PID=$!
wait "$reader" # the reader has gone: the pipe is closed
simple_service late 10.96.0.49 80 8080 TCP 10.244.1.11 | write_manifest late.yaml
wait_for 5 http_ok pod-b http://10.96.0.49/ || fail "a change after the log pipe closed was not programmed"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died when its log pipe closed"
log "a change after the log pipe closed was programmed"
stop_svcproxy
assert_eq 0 "$SP_RC" "exit status after SIGTERM (closed log pipe)"

# ---- 1,100 NodePorts under a soft limit of 1024
{
	for ((i = 0; i < 1100; i++)); do
		cat <<YAML
apiVersion: v1
kind: Service
metadata:
  name: np$i
  namespace: default
spec:
  type: NodePort
  clusterIP: 10.96.$((10 + i / 250)).$((i % 250 + 1))
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
    nodePort: $((30000 + i))
---
YAML
	done
} | write_manifest many.yaml
start_svcproxy --sync-period 60s
wait_for 10 eval '(( $(in_ns node ss -Hltn "sport >= :30000 and sport <= :31099" | wc -l) == 1100 ))' ||
	fail "not all 1100 NodePorts held: $(in_ns node ss -Hltn 'sport >= :30000 and sport <= :31099' | wc -l)"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died with 1100 NodePorts"
log "1100 NodePorts held under a soft limit of 1024"
stop_svcproxy

# ---- SIGTERM during start-up: a clean stop, never death by the signal
for ((try = 0; try < 3; try++)); do
	echo "==== svcproxy run, SIGTERM during start-up ($(date +%T.%N))" >>"$SP_LOG"
	ip netns exec "$NODE" "$SVCPROXY" run --manifests "$MANIFESTS" \
		--healthz-bind-address "" --metrics-bind-address "" >>"$SP_LOG" 2>&1 &
	pid=$!
	# once exec'd, main() has a few microseconds of option parsing before it blocks signals
	wait_for 2 eval '[[ "$(readlink /proc/$pid/exe)" == *svcproxy ]]'
	sleep 0.02
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	assert_eq 0 "$rc" "exit status of svcproxy given SIGTERM during start-up (try $try)"
done
grep -Eq "(during the initial sync|before the initial state was complete|Terminated): stopping" "$SP_LOG" ||
	fail "the stop during start-up was not logged"
log "$(grep -E 'stopping' "$SP_LOG" | tail -n 1)"
pass "one instance per namespace; signals, log pipe and open files limit handled"
