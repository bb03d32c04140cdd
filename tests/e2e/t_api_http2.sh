#!/usr/bin/env bash
# The API source over HTTP/2 (issue 8), as against a real kube-apiserver, which offers h2 by
# ALPN: svcproxy talks to tests/apiserver/h2front.py (HTTP/2 only, in front of the test API
# server). Its lists and its three watches (long-lived streams, open at once) arrive as h2
# streams and a client asking for HTTP/1.1 is refused, so no silent fallback happened;
# create/update/delete are followed within 1 s; watches ended cleanly (END_STREAM), by a
# reset (RST_STREAM) or by GOAWAY are resumed from their resourceVersion without a list;
# 500s, a backend outage (503s from the front) and the front itself down leave the ruleset
# untouched, and changes after them apply. kubectl -w through the front sees the same events,
# and a 12 MB Service arrives whole as one watch event (DATA frames within flow control windows).
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
simple_service base 10.96.0.1 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
start_apiserver "$NODE" 127.0.0.1:6443
api_sync
start_h2front "$NODE" 127.0.0.1:6444
KUBECONFIG_TOKEN=$KUBECONFIG_H2 # start_svcproxy's source: the front
start_svcproxy --min-sync-period 0 --hostname-override node1
wait_for 5 http_ok pod-b http://10.96.0.1/ || fail "base Service not answered within 5 s"

ruleset() { in_ns node nft -s list table ip svcproxy; }
in_kernel() { [[ "$(ruleset 2>/dev/null)" == *"$1 "* ]]; }
not_in_kernel() { ! in_kernel "$1"; }
front_log() { cat "$H2FRONT_LOG"; }
# front_count REGEX: lines of the front's log matching REGEX (grep -E)
front_count() { grep -cE -- "$1" "$H2FRONT_LOG"; }
watches_open() # N: every kind's watch seen since the front log's line N
{
	local k
	for k in /api/v1/services /apis/discovery.k8s.io/v1/endpointslices /api/v1/nodes; do
		tail -n +"$1" "$H2FRONT_LOG" | has_match -E "h2 GET $k\?watch=1&.*resourceVersion=[1-9].* -> 200" ||
			return 1
	done
}
no_lists_since() # N
{
	! tail -n +"$1" "$H2FRONT_LOG" | has_match -E 'h2 GET [^ ]*\?limit='
}

# ---- HTTP/2 it is: lists and three concurrent watches as h2 streams, no HTTP/1.1
wait_for 5 watches_open 1 || fail "not all three watches open over h2: $(front_log)"
for k in /api/v1/services /apis/discovery.k8s.io/v1/endpointslices /api/v1/nodes; do
	(($(front_count "h2 GET $k\?limit=500.* -> 200") >= 1)) || fail "no h2 list of $k: $(front_log)"
done
(($(front_count "refused") == 0)) || fail "a client was refused (not h2): $(front_log)"
assert_contains "$(cat "$SP_LOG")" "api: https://127.0.0.1:6444 answers over HTTP/2" "svcproxy log"
code=$(in_ns node curl -s --http1.1 --cacert "$APISERVER_DIR/ca.crt" -o /dev/null -w '%{http_code}' \
	https://127.0.0.1:6444/version)
assert_eq 505 "$code" "HTTP/1.1 request to the front"
log "ok: lists and 3 concurrent watches over h2 ($(front_count 'ALPN h2$') h2 connections); HTTP/1.1 refused"

# ---- create, update, delete: each in the kernel within 1 s of the API write
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
wait_for 1 in_kernel 10.96.0.20 || fail "created Service not in the kernel within 1 s"
log "ok: created Service in the kernel ${WAITED_MS} ms after the API write returned"
wait_for 5 http_ok pod-b http://10.96.0.20/ || fail "created Service does not answer"
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.12 | write_manifest web.yaml
answer_is() { [[ "$(http_get pod-b "$1" 2>/dev/null)" == "$2 "* ]]; }
wait_for 1 answer_is http://10.96.0.20/ pod-b || fail "updated endpoints not followed within 1 s"
log "ok: endpoint update followed within ${WAITED_MS} ms"
remove_manifest web.yaml
wait_for 1 not_in_kernel 10.96.0.20 || fail "deleted Service still in the kernel after 1 s"
log "ok: deleted Service gone from the kernel after ${WAITED_MS} ms"

# ---- watches ended by END_STREAM, RST_STREAM and GOAWAY: resumed, no list
# how: "" (clean end), --abort (backend reset: RST_STREAM), goaway (then a clean end)
for how in "" --abort goaway; do
	mark=$(($(wc -l <"$H2FRONT_LOG") + 1))
	if [[ "$how" == goaway ]]; then
		kill -USR1 "$H2FRONT_PID"
		wait_for 5 grep -q "GOAWAY sent" "$H2FRONT_LOG" || fail "the front sent no GOAWAY"
		apictl drop-watches >/dev/null
	else
		apictl drop-watches $how >/dev/null
	fi
	simple_service web2 10.96.0.21 80 8080 TCP 10.244.1.11 | write_manifest web2.yaml
	wait_for 10 in_kernel 10.96.0.21 || fail "watches ended (${how:-END_STREAM}): change not applied"
	log "ok: watches ended (${how:-END_STREAM}): a change after it applied in ${WAITED_MS} ms"
	wait_for 10 watches_open "$mark" || fail "watches not resumed (${how:-END_STREAM}): $(front_log)"
	no_lists_since "$mark" || fail "svcproxy listed again after a dropped watch (${how:-END_STREAM})"
	if [[ "$how" == goaway ]]; then
		new=$(tail -n +"$mark" "$H2FRONT_LOG" | grep -c "ALPN h2$")
		((new >= 3)) || fail "after GOAWAY, $new new connections (3 watches): $(front_log)"
	fi
	remove_manifest web2.yaml
	wait_for 5 not_in_kernel 10.96.0.21 || fail "web2 not deleted"
done
(($(front_count 'backend connection lost .*: RST_STREAM') >= 3)) || fail "no RST_STREAM sent: $(front_log)"
log "ok: END_STREAM, RST_STREAM and GOAWAY: watches resumed from their resourceVersion"

# ---- 500s, a backend outage (the front answers 503) and the front down: nothing changes
before=$(ruleset)
apictl fail 6 --code 500 >/dev/null
apictl drop-watches --abort >/dev/null
wait_for 10 grep -q "HTTP 500" "$SP_LOG" || fail "svcproxy did not see the 500s"
apictl outage 6 >/dev/null
wait_for 10 grep -q "HTTP 503" "$SP_LOG" || fail "svcproxy did not see the front's 503s"
kill -TERM "$H2FRONT_PID"
wait "$H2FRONT_PID" 2>/dev/null
for _ in 1 2 3 4 5 6; do
	http_ok pod-b http://10.96.0.1/ || fail "base Service stopped answering with the front down"
	sleep 0.5
done
[[ "$before" == "$(ruleset)" ]] || fail "the ruleset changed during 500s/outage: $(diff <(echo "$before") <(ruleset))"
log "ok: 500s, 503s and the front down: ruleset unchanged, Services answering"
start_h2front "$NODE" 127.0.0.1:6444
simple_service new 10.96.0.3 80 8080 TCP 10.244.1.11 | write_manifest new.yaml
# The six 500s fall on whichever watches retry first: one watch can take three of them and back
# off 0.8, 1.6, 3.2 s ... up to 30 s (as client-go's reflector) before it is back: ~60 s at worst.
wait_for 90 in_kernel 10.96.0.3 || fail "a change after the outage was not applied within 90 s"
log "ok: change after the outage applied after ${WAITED_MS} ms"
# its EndpointSlice comes by the other watch, which may be at the cap too
wait_for 60 http_ok pod-b http://10.96.0.3/ || fail "the Service created after the outage does not answer within 60 s"
log "ok: and answers after ${WAITED_MS} ms more"

# ---- the real kubectl through the front (the front is faithful), and a 12 MB Service as
# one watch event: many DATA frames, through kubectl's 4 MiB stream window (flow control;
# kubectl refuses watch events over 16 MiB)
kube=""
if [[ -x /usr/bin/kubectl ]]; then
	kube=1
	mark=$(($(wc -l <"$H2FRONT_LOG") + 1))
	ip netns exec "$NODE" timeout 30 /usr/bin/kubectl --kubeconfig "$KUBECONFIG_H2" get services \
		-w -o json --output-watch-events >"$WORK/kubectl.out" 2>&1 &
	kpid=$!
	BG_PIDS+=("$kpid")
	kwatch() { tail -n +"$mark" "$H2FRONT_LOG" | has_match -E 'h2 GET /api/v1/namespaces/default/services\?.*watch=true.* -> 200'; }
	wait_for 15 kwatch || fail "kubectl's watch did not arrive over h2: $(cat "$WORK/kubectl.out")"
else
	log "kubectl part skipped: /usr/bin/kubectl not installed"
fi
simple_service kube 10.96.0.5 80 8080 TCP 10.244.1.11 | write_manifest kube.yaml
apictl big-object --mb 12 --name big --cluster-ip 10.96.0.9 >/dev/null || fail "big-object"
wait_for 5 in_kernel 10.96.0.5 || fail "Service kube not programmed"
wait_for 20 in_kernel 10.96.0.9 || fail "the 12 MB Service not programmed: $(tail -n 5 "$SP_LOG")"
log "ok: the 12 MB Service applied from the h2 watch"
if [[ -n "$kube" ]]; then
	kseen() # NAME MINLEN: kubectl saw NAME ADDED with a padding annotation of MINLEN or more
	{
		jq -e -s --arg n "$1" --argjson l "$2" 'any(.[]; .type == "ADDED" and
			.object.metadata.name == $n and
			((.object.metadata.annotations["test.svcproxy/padding"] // "") | length) >= $l)' \
			"$WORK/kubectl.out" >/dev/null 2>&1
	}
	wait_for 5 kseen kube 0 || fail "kubectl -w via the front did not see Service kube: $(head -c 500 "$WORK/kubectl.out")"
	wait_for 20 kseen big 12000000 || fail "kubectl -w via the front: no whole 12 MB Service"
	kill -TERM "$kpid" 2>/dev/null
	log "ok: kubectl get -w over h2 saw both ADDED events svcproxy applied, the 12 MB one whole"
fi
simple_service after 10.96.0.8 80 8080 TCP 10.244.1.11 | write_manifest after.yaml
wait_for 5 in_kernel 10.96.0.8 || fail "a change after the 12 MB event not applied within 5 s"
wait_for 5 not_in_kernel 10.96.0.9 || fail "the 12 MB Service, deleted, still programmed"
log "ok: the watch goes on after the 12 MB event (create, delete)"
pass "HTTP/2: lists, concurrent watches, END_STREAM/RST_STREAM/GOAWAY, 500s and outages"
