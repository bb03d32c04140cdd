#!/usr/bin/env bash
# The API source follows the cluster (issue 8): a Service created, updated and deleted through
# the test API server is in the kernel within 1 s; a watch the server drops (cleanly or by a
# reset) is resumed from its resourceVersion, without listing again; after a compaction the
# source lists again and converges, including a Service deleted while it was disconnected;
# an invalid object is reported and its last good version kept; this node's Node being
# deleted turns /healthz to 503 (the rules stay).
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
simple_service base 10.96.0.1 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
start_svcproxy --min-sync-period 0 --hostname-override node1
wait_for 5 http_ok pod-b http://10.96.0.1/ || fail "base Service not answered within 5 s"

in_kernel() { [[ "$(in_ns node nft list table ip svcproxy 2>/dev/null)" == *"$1 "* ]]; }
not_in_kernel() { ! in_kernel "$1"; }
answer_is() { [[ "$(http_get pod-b "$1" 2>/dev/null)" == "$2 "* ]]; }

# ---- create, update, delete: each in the kernel within 1 s of the API write
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
wait_for 1 in_kernel 10.96.0.20 || fail "created Service not in the kernel within 1 s"
log "ok: created Service in the kernel ${WAITED_MS} ms after the API write returned"
wait_for 5 http_ok pod-b http://10.96.0.20/ || fail "created Service does not answer"

slice_yaml web 8080 TCP 10.244.1.12 | write_manifest web-slice.yaml
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.12 | write_manifest web.yaml
wait_for 1 answer_is http://10.96.0.20/ pod-b || fail "updated endpoints not followed within 1 s"
log "ok: endpoint update followed within ${WAITED_MS} ms"
remove_manifest web-slice.yaml

remove_manifest web.yaml
wait_for 1 not_in_kernel 10.96.0.20 || fail "deleted Service still in the kernel after 1 s"
log "ok: deleted Service gone from the kernel after ${WAITED_MS} ms"

# ---- an invalid object is reported as in a manifest, and its last good version stays
simple_service bad 10.96.0.22 80 8080 TCP 10.244.1.11 | write_manifest bad.yaml
wait_for 5 in_kernel 10.96.0.22 || fail "Service 'bad' (still valid) not programmed"
simple_service bad 10.96.0.22 70000 8080 TCP 10.244.1.11 | write_manifest bad.yaml
wait_for 5 grep -q "api: Service default/bad: spec.ports\[0\].port: 70000 is not a valid port" "$SP_LOG" ||
	fail "the invalid update is not reported with object and field"
http_ok pod-b http://10.96.0.22/ || fail "the last good version of 'bad' stopped answering"
simple_service bad 10.96.0.22 81 8080 TCP 10.244.1.11 | write_manifest bad.yaml
wait_for 5 in_kernel "10.96.0.22 . tcp . 81" || fail "the fixed Service 'bad' not programmed"
log "ok: invalid update reported, last good version kept, the fix applied"
remove_manifest bad.yaml

# ---- dropped watches are resumed from their resourceVersion: no new list
for mode in "" --abort; do
	apictl requests --clear >/dev/null
	apictl drop-watches $mode >/dev/null
	simple_service web2 10.96.0.21 80 8080 TCP 10.244.1.11 | write_manifest web2.yaml
	wait_for 10 in_kernel 10.96.0.21 || fail "watch dropped ($mode): new Service not applied within 10 s"
	log "ok: watch dropped (${mode:-clean end}): a change after it applied in ${WAITED_MS} ms"
	reqs=$(apictl requests)
	lists=$(jq -r '[.[] | select(.method == "GET" and (.path | test("limit=")))] | length' <<<"$reqs")
	rewatch=$(jq -r '[.[] | select(.method == "WATCH" and (.path | test("/services\\?.*resourceVersion=[1-9]")))] | length' <<<"$reqs")
	assert_eq 0 "$lists" "lists after a dropped watch ($mode)"
	((rewatch >= 1)) || fail "no services watch resumed from a resourceVersion: $reqs"
	remove_manifest web2.yaml
	wait_for 5 not_in_kernel 10.96.0.21 || fail "web2 not deleted"
done
assert_contains "$(cat "$SP_LOG")" "watch services:" "svcproxy log names the dropped watch"

# ---- compaction while disconnected: list again, deletions included
simple_service gone 10.96.0.30 80 8080 TCP 10.244.1.11 | write_manifest gone.yaml
wait_for 5 in_kernel 10.96.0.30 || fail "Service 'gone' not programmed"
apictl outage 3 >/dev/null
rm -f "$MANIFESTS/gone.yaml"
apictl sync "$MANIFESTS" >/dev/null || fail "sync during the outage"
apictl compact >/dev/null
in_kernel 10.96.0.30 || fail "'gone' left the kernel during the outage (nothing to tell it yet)"
wait_for 40 not_in_kernel 10.96.0.30 || fail "after compaction, the Service deleted meanwhile is still programmed"
log "ok: relisted after compaction, deletion applied ${WAITED_MS} ms after the outage began"
assert_contains "$(cat "$SP_LOG")" "listing again" "svcproxy log says why it lists again"
http_ok pod-b http://10.96.0.1/ || fail "base Service broken after the relist"

# ---- this node's Node: its deletion is noticed
node_yaml node1 topology.kubernetes.io/zone=zone-a | write_manifest node.yaml
healthz_code() { in_ns node curl -s -o /dev/null -w '%{http_code}' "http://$HEALTHZ/healthz"; }
healthz_503() { [[ "$(healthz_code)" == 503 ]]; }
wait_for 5 test "$(healthz_code)" = 200 || fail "/healthz not 200 with an eligible Node: $(healthz_code)"
apictl mark-deleting node node1 >/dev/null || fail "mark-deleting node1"
wait_for 5 healthz_503 || fail "/healthz not 503 while the Node is being deleted"
log "ok: /healthz 503 ${WAITED_MS} ms after the Node got its deletionTimestamp"
assert_contains "$(in_ns node curl -s "http://$HEALTHZ/healthz")" '"nodeEligible":false' "/healthz body"
assert_contains "$(cat "$SP_LOG")" "Node node1 is deleted, being deleted or drained" "svcproxy log"
http_ok pod-b http://10.96.0.1/ || fail "Services stopped answering when the Node is being deleted"
pass "create/update/delete within 1 s, watches resumed, relist after compaction converges"
