#!/usr/bin/env bash
# Issue 3's state handling, end to end:
#  - restart adoption: svcproxy killed with SIGKILL and started again reads its table back,
#    finds it right and changes nothing (its initial sync reports 0 element changes), and an
#    open TCP connection through a ClusterIP carries on across the restart;
#  - drift repair: an element deleted by hand (nft delete element) is put back by the
#    periodic full reconcile (--sync-period) without any manifest change.
. "$(dirname "$0")/lib.sh"
harness_init
command -v socat >/dev/null || skip "socat not installed"
setup_cluster 3
start_echo pod-a 9000
start_podserver pod-b pod-b 8080 --tcp
{
	simple_service echo 10.96.0.47 90 9000 TCP 10.244.1.11
	echo "---"
	simple_service web 10.96.0.48 80 8080 TCP 10.244.1.12
} | write_manifest services.yaml
start_svcproxy --sync-period 2s
wait_for 5 eval 'in_ns pod-c socat -T 1 - TCP:10.96.0.47:90,connect-timeout=1 <<<probe | has_match -x probe' ||
	fail "echo Service 10.96.0.47:90 does not echo within 5 s"

# one long-lived connection through the ClusterIP
fifo="$WORK/conn.in" out="$WORK/conn.out"
mkfifo "$fifo"
in_ns pod-c socat -t 60 - TCP:10.96.0.47:90 <"$fifo" >"$out" 2>&1 &
BG_PIDS+=($!)
exec 3>"$fifo"
round_trip() # WORD WHEN
{
	echo "$1" >&3
	wait_for 3 grep -qx "$1" "$out" || fail "$2: '$1' not echoed on the open connection within 3 s"
	log "ok: $2: '$1' echoed on the open connection"
}
round_trip one "before the restart"

# ---- kill -9, start again: adoption, no rewrite, the connection lives on
kill -KILL "$SP_PID"
wait "$SP_PID" 2>/dev/null
SP_PID=""
lines_before=$(grep -c "initial sync" "$SP_LOG")
start_svcproxy --sync-period 2s
wait_for 5 eval '(( $(grep -c "initial sync" "$SP_LOG") > lines_before ))' || fail "no initial sync logged after the restart"
restart_line=$(grep "initial sync" "$SP_LOG" | tail -n 1)
log "$restart_line"
assert_contains "$restart_line" "; 0 element changes" "the restarted svcproxy adopts its table without rewriting it"
assert_not_contains "$restart_line" "table built" "the table is not rebuilt"
round_trip two "after kill -9 and restart"
http_ok pod-c http://10.96.0.48/ || fail "web 10.96.0.48 not answered after the restart"

# ---- drift: an element removed behind svcproxy's back comes back by itself
# svcproxy is stopped (SIGSTOP) while the element is deleted and its absence checked, so that
# no periodic reconcile can repair it before the check, however slow this machine is; after
# SIGCONT only the periodic reconcile (no manifest changed) can put it back.
sp_cont_fail() { kill -CONT "$SP_PID"; fail "$@"; }
repairs() { grep "periodic sync" "$SP_LOG" | grep -vc "; 0 element changes"; }
repairs_before=$(repairs)
kill -STOP "$SP_PID" || fail "could not stop svcproxy (pid $SP_PID)"
if [[ "$E2E_DATAPLANE" == bpf ]]; then # pod-c's connects are decided by the bpf map alone
	bpf_delete_service 10.96.0.48 80 tcp || sp_cont_fail "could not delete the bpf map entry by hand"
else
	in_ns node nft delete element ip svcproxy cluster_ip_ports '{ 10.96.0.48 . tcp . 80 }' ||
		sp_cont_fail "could not delete the element by hand"
fi
http_ok pod-c http://10.96.0.48/ && sp_cont_fail "web still answered after its element was deleted"
log "ok: web not answered while its element is deleted"
kill -CONT "$SP_PID" || fail "could not continue svcproxy (pid $SP_PID)"
wait_for 6 http_ok pod-c http://10.96.0.48/ || fail "the deleted element was not repaired within 6 s (--sync-period 2s)"
log "repaired after ${WAITED_MS} ms"
wait_for 3 eval '(( $(repairs) > repairs_before ))' ||
	fail "the repair was not made by a periodic reconcile: no periodic sync with element changes logged"
log "ok: $(grep "periodic sync" "$SP_LOG" | grep -v "; 0 element changes" | tail -n 1)"
round_trip three "after the repair"
exec 3>&-
pass "restart adopts without rewriting or cutting connections; drift is repaired"
