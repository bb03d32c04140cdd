#!/usr/bin/env bash
# Self-healing syncs (issue 9): a failed transaction is followed by a read-back of the kernel and
# a full sync, with a backoff (1 s doubling up to --sync-period), whatever was pending.
#  - the table deleted by hand while a change is pending: the change's incremental sync fails
#    (ENOENT), the repair rebuilds the table; traffic to the old and the new Service is back
#    within a few seconds, long before the periodic reconcile (--sync-period 60s);
#  - an element deleted by hand: a UDP flow begun while it is missing is answered once SIGHUP
#    has repaired it;
#  - one family failing for good (an "owner" table ip6 svcproxy held by another netlink socket,
#    which the kernel lets no one else touch): the other family's changes are programmed and
#    its NodePorts held all the same, retries back off (1 s, 2 s, 4 s ...), and once the
#    obstacle is gone the next retry programs ip6 too;
#  - a failed initial sync does not end `run`: it is retried the same way;
#  - failures are counted in the metrics.
# e2e-api: n/a - the dataplane repairs itself whatever the source; the test restarts svcproxy twice
. "$(dirname "$0")/lib.sh"

# Ends the owner table's nft -i ($1, fed by fd 4) and waits until its table is gone, so that a
# late repair is told apart from an obstacle that outlived its release: closing fd 4 ends nft -i
# unless another process inherited the fifo, in which case nft -i is killed by its PID.
release_owner()
{
	exec 4>&-
	wait_for 3 eval "! kill -0 $1" || kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	wait_for 3 eval '! in_ns node nft list table ip6 svcproxy | has_match owner' ||
		fail "the owner table ip6 svcproxy outlived nft -i: $(in_ns node nft list table ip6 svcproxy 2>&1 | head -n 3)"
}
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
start_podserver pod-a pod-a 5353 --udp
simple_service dns 10.96.0.53 53 5353 UDP 10.244.1.11 | write_manifest dns.yaml
simple_service web 10.96.0.48 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy --sync-period 60s
wait_for 5 http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered"

# ---- the table deleted with a change pending
in_ns node nft delete table ip svcproxy || fail "could not delete table ip svcproxy"
simple_service new 10.96.0.49 80 8080 TCP 10.244.1.12 | write_manifest new.yaml
wait_for 6 http_ok pod-a http://10.96.0.49/ ||
	fail "the new Service 10.96.0.49 not answered within 6 s of deleting the table"
log "new Service answered ${WAITED_MS} ms after the table was deleted"
wait_for 2 http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not restored"

# ---- an element deleted by hand: a UDP flow begun meanwhile is answered after the repair
# Its datagrams find no backend and are rejected, so no conntrack entry of the flow survives to
# keep later datagrams from being DNATed once SIGHUP has repaired the element.
in_ns node nft delete element ip svcproxy backends '{ 10.96.0.53 . udp . 53 . 0x00000000 }' ||
	fail "could not delete the backends element by hand"
udp_stream_start pod-b "$WORK/udp.out" 10.96.0.53:53 --sport 40001 --count 40
sleep 1
udp_stream_first "$WORK/udp.out" 0 '^pod-a' >/dev/null &&
	fail "the UDP flow was answered while its backend element was missing"
t_hup=$(now_ms)
kill -HUP "$SP_PID"
wait_for 4 udp_stream_first "$WORK/udp.out" "$t_hup" '^pod-a' ||
	fail "the UDP flow begun while its element was missing is not answered after the repair: $(tr '\n' ';' <"$WORK/udp.out")"
log "UDP flow answered after the repair: $(udp_stream_first "$WORK/udp.out" "$t_hup" '^pod-a')"
grep -q "change sync failed" "$SP_LOG" || fail "the change sync did not fail (was the table deleted in time?)"
grep -q "repair sync:" "$SP_LOG" || fail "no repair sync logged"
log "$(grep 'repair sync:' "$SP_LOG" | tail -n 1)"

# ---- ip6 blocked for good: IPv4 goes on
# an owner table lives as long as the netlink socket that made it (nft -i, fed by a fifo)
mkfifo "$WORK/nft.in"
in_ns node nft -i <"$WORK/nft.in" >"$WORK/nft.out" 2>&1 &
nft_pid=$!
BG_PIDS+=($nft_pid)
exec 4>"$WORK/nft.in"
in_ns node nft delete table ip6 svcproxy 2>/dev/null
echo 'add table ip6 svcproxy { flags owner; }' >&4
wait_for 3 eval 'in_ns node nft list table ip6 svcproxy | has_match owner' ||
	fail "could not create an owner table ip6 svcproxy: $(cat "$WORK/nft.out")"
fails_before=$(grep -c " sync failed after" "$SP_LOG")
{
	service_yaml np 10.96.0.50 80 8080 TCP type=NodePort nodePort=30080
	echo "---"
	service_yaml v6 fd00:10:96::50 80 8080 TCP ipFamilies=IPv6
	echo "---"
	slice_yaml np 8080 TCP 10.244.1.11
} | write_manifest np.yaml
# the IPv4 side is programmed and its NodePort held, though ip6 fails
wait_for 5 http_ok ext "http://$EXT_NODE_IP:30080/" || fail "NodePort 30080 not served while ip6 fails"
wait_for 3 tcp_listening node 30080 || fail "NodePort 30080 not held while ip6 fails"
log "NodePort 30080 served and held while table ip6 svcproxy is blocked"
sleep 6
failures=$(($(grep -c " sync failed after" "$SP_LOG") - fails_before))
((failures >= 3 && failures <= 5)) || fail "expected 3-5 failed syncs in ~7 s with backoff, got $failures"
grep -q "failed 3 times in a row: .* in 4.0 s" "$SP_LOG" ||
	fail "the retries do not back off (no '3 times in a row ... in 4.0 s'): $(grep 'in a row' "$SP_LOG" | tail -n 3)"
log "$failures failed syncs in ~7 s; $(grep 'in a row' "$SP_LOG" | tail -n 1)"
# release the table: the next retry programs ip6
release_owner "$nft_pid"
wait_for 20 eval 'in_ns node nft list table ip6 svcproxy | has_match service_ips' ||
	fail "table ip6 svcproxy not programmed after the obstacle went: $(in_ns node nft list table ip6 svcproxy 2>&1 | head -n 3 | tr "\n" " ")"
log "ip6 programmed ${WAITED_MS} ms after the obstacle went"
http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered at the end"

errors=$(in_ns node curl -sS --max-time 2 "http://$METRICS/metrics" |
	awk '/^svcproxy_syncs_total\{result="error"\}/ { print $2 }')
((${errors:-0} >= 4)) || fail "svcproxy_syncs_total{result=\"error\"} = '${errors}', expected >= 4"
log "svcproxy_syncs_total{result=\"error\"} = $errors"
# ---- the initial sync failing (ip6 blocked before the start): run carries on and retries
stop_svcproxy
mkfifo "$WORK/nft2.in"
in_ns node nft -i <"$WORK/nft2.in" >"$WORK/nft2.out" 2>&1 &
nft_pid=$!
BG_PIDS+=($nft_pid)
exec 4>"$WORK/nft2.in"
in_ns node nft delete table ip6 svcproxy
echo 'add table ip6 svcproxy { flags owner; }' >&4
wait_for 3 eval 'in_ns node nft list table ip6 svcproxy | has_match owner' ||
	fail "could not create an owner table ip6 svcproxy: $(cat "$WORK/nft2.out")"
start_svcproxy --sync-period 60s 4>&- # not inherited: closing it must end nft -i
sleep 1.5
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run exited after a failed initial sync"
grep -q "the initial sync failed" "$SP_LOG" || fail "the failed initial sync is not logged"
http_ok pod-b http://10.96.0.48/ || fail "web 10.96.0.48 not answered after a failed initial sync"
release_owner "$nft_pid"
wait_for 20 eval 'in_ns node nft list table ip6 svcproxy | has_match service_ips' ||
	fail "table ip6 svcproxy not programmed after the obstacle went: $(in_ns node nft list table ip6 svcproxy 2>&1 | head -n 3 | tr "\n" " ")"
log "a failed initial sync was retried: ip6 programmed ${WAITED_MS} ms after the obstacle went"

pass "failed syncs repair themselves with backoff; one family failing does not hold up the other"
