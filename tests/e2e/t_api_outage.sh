#!/usr/bin/env bash
# Outage safety of the API source (issue 8): while the API server is down for 10 s (connections
# refused and reset), hangs (pause) or answers 500, established Services keep answering and the
# ruleset does not change at all (`nft -s list table` before and after); changes made after
# recovery apply. A revoked token is logged as "401 Unauthorized: check the token in FILE"
# and never flushes anything, also when svcproxy restarts with it; a rotated token file is
# read again.
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service base 10.96.0.1 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
simple_service web 10.96.0.2 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy --min-sync-period 0
wait_for 5 http_ok pod-b http://10.96.0.1/ || fail "base Service not answered within 5 s"

ruleset() { in_ns node nft -s list table ip svcproxy; }
in_kernel() { [[ "$(ruleset 2>/dev/null)" == *"$1 "* ]]; }
not_in_kernel() { ! in_kernel "$1"; }
# serving SECONDS: every 0.5 s, both Services must answer
serving()
{
	local end=$(($(now_ms) + $1 * 1000)) n=0
	while (($(now_ms) < end)); do
		http_ok pod-b http://10.96.0.1/ || fail "base Service stopped answering ($2)"
		http_ok pod-b http://10.96.0.2/ || fail "web Service stopped answering ($2)"
		n=$((n + 1))
		sleep 0.5
	done
	log "ok: $n rounds of requests answered during $2"
}

# ---- 10 s outage: listener closed, connections reset
before=$(ruleset)
apictl outage 10 >/dev/null
serving 10 "the outage"
after=$(ruleset)
[[ "$before" == "$after" ]] || fail "the ruleset changed during the outage: $(diff <(echo "$before") <(echo "$after"))"
log "ok: ruleset unchanged through the outage"
assert_contains "$(cat "$SP_LOG")" "the programmed rules stay" "svcproxy log during the outage"
simple_service new 10.96.0.3 80 8080 TCP 10.244.1.11 | write_manifest new.yaml
wait_for 40 in_kernel 10.96.0.3 || fail "a change after the outage was not applied within 40 s"
log "ok: change after the outage applied after ${WAITED_MS} ms"
wait_for 5 http_ok pod-b http://10.96.0.3/ || fail "the Service created after the outage does not answer"

# ---- a hung server (pause) and 500s: nothing changes, then it catches up
before=$(ruleset)
apictl pause 5 >/dev/null
apictl drop-watches --abort >/dev/null
serving 5 "the pause"
apictl fail 6 --code 500 >/dev/null
apictl drop-watches --abort >/dev/null
serving 3 "the 500s"
[[ "$before" == "$(ruleset)" ]] || fail "the ruleset changed during pause/500s"
assert_contains "$(cat "$SP_LOG")" "HTTP 500" "svcproxy log names the 500"
remove_manifest new.yaml
wait_for 40 not_in_kernel 10.96.0.3 || fail "a deletion after the 500s was not applied within 40 s"
log "ok: deletion after the 500s applied after ${WAITED_MS} ms"

# ---- 401: a revoked token is named, and nothing is flushed
apictl reset >/dev/null
TOKEN=$(cat "$APISERVER_DIR/token")
apictl token revoke "$TOKEN" >/dev/null
apictl drop-watches --abort >/dev/null
wait_for 10 grep -q "401 Unauthorized: check the token of kubeconfig $KUBECONFIG_TOKEN" "$SP_LOG" ||
	fail "no clear 401 message in the log"
log "ok: $(grep -m1 "401 Unauthorized" "$SP_LOG" | sed 's/.*api: //')"
before=$(ruleset)
serving 2 "the 401s"
# a restart with the revoked token: not ready, so nothing programmed, nothing flushed
stop_svcproxy
ip netns exec "$NODE" "$SVCPROXY" run --kubeconfig "$KUBECONFIG_TOKEN" --cluster-cidr "$CLUSTER_CIDR" \
	--healthz-bind-address "$HEALTHZ" --metrics-bind-address "$METRICS" >>"$SP_LOG" 2>&1 &
SP_PID=$!
sleep 3
kill -0 "$SP_PID" || fail "svcproxy exited with a revoked token"
serving 2 "a restart with a revoked token"
[[ "$before" == "$(ruleset)" ]] || fail "the ruleset changed with a revoked token"
log "ok: ruleset unchanged with a revoked token, also across a restart"
stop_svcproxy

# ---- tokenFile: the new token is read when the file changes
apictl token add rotated-token-2 admin >/dev/null
ip netns exec "$NODE" "$SVCPROXY" run --kubeconfig "$APISERVER_DIR/kubeconfig-tokenfile" \
	--cluster-cidr "$CLUSTER_CIDR" --min-sync-period 0 --healthz-bind-address "$HEALTHZ" \
	--metrics-bind-address "$METRICS" >>"$SP_LOG" 2>&1 &
SP_PID=$!
wait_for 10 grep -q "check the token in $APISERVER_DIR/token" "$SP_LOG" ||
	fail "401 with a token file does not name the file"
echo rotated-token-2 >"$APISERVER_DIR/token.new" && mv "$APISERVER_DIR/token.new" "$APISERVER_DIR/token"
simple_service rot 10.96.0.4 80 8080 TCP 10.244.1.11 | write_manifest rot.yaml
wait_for 40 in_kernel 10.96.0.4 || fail "the rotated token was not picked up within 40 s"
log "ok: rotated token used, change applied after ${WAITED_MS} ms"
http_ok pod-b http://10.96.0.1/ || fail "base Service broken after the rotation"
pass "outage, pause, 500s and 401s change nothing; recovery applies changes; token rotation"
