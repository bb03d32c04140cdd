#!/usr/bin/env bash
# The fault hooks of the test Kubernetes API server (tests/apiserver/README.md, "Fault
# hooks") do what they say, seen from a client (curl) on the server's side of a network
# namespace this test creates: dropped and reset watches, outage (refused, then back, changes
# made meanwhile visible), 503s, delays, truncated/cut/malformed/expired/giant watch events, a
# 20 MB object, compaction (410 for watches and continue tokens), revoked tokens, forbidden
# users, bookmarks, a Node being deleted, gzip.
# e2e-api: n/a - it tests the test API server itself, with its own instance
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_apiserver.sh"
harness_init

API_NS="$PFX-api"
new_ns "$API_NS"
start_apiserver "$API_NS" 127.0.0.1:6443 --bookmark-interval 1
URL=$(cat "$APISERVER_DIR/url")
TOKEN=$(cat "$APISERVER_DIR/token")

# c ARGS...: curl inside the namespace with the admin token; prints the body.
c() { ip netns exec "$API_NS" curl -sS --cacert "$APISERVER_DIR/ca.crt" -H "Authorization: Bearer $TOKEN" "$@"; }
# watch_bg FILE QUERY: a background curl watching services into FILE; its exit status goes to
# FILE.rc. Sets WPID (the waiting subshell) and CURL_PID.
watch_bg()
{
	(
		ip netns exec "$API_NS" curl -sS -N --cacert "$APISERVER_DIR/ca.crt" \
			-H "Authorization: Bearer $TOKEN" \
			"$URL/api/v1/namespaces/default/services?watch=true&$2" >"$1" 2>"$1.err" &
		echo $! >"$1.pid"
		wait $!
		echo $? >"$1.rc"
	) &
	WPID=$!
	BG_PIDS+=("$WPID")
	wait_for 5 grep -q . "$1" || fail "watch $2 produced nothing: $(cat "$1.err")"
	CURL_PID=$(cat "$1.pid")
}
svc_json() { printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"default"},"spec":{"ports":[{"port":80}]}}' "$1"; }

svc_json s0 | apictl apply - >/dev/null || fail "apiserver-ctl apply"

# ---- drop-watches: clean end (curl exit 0), --abort: reset (curl exit 18 or 56)
watch_bg "$WORK/w1" "timeoutSeconds=30"
assert_eq 1 "$(apictl status | jq .watches)" "open watches"
apictl drop-watches >/dev/null
wait "$WPID"
assert_eq 0 "$(cat "$WORK/w1.rc")" "curl status after drop-watches (clean end)"
watch_bg "$WORK/w2" "timeoutSeconds=30"
apictl drop-watches --abort >/dev/null
wait "$WPID"
rc=$(cat "$WORK/w2.rc")
[[ "$rc" == 18 || "$rc" == 56 ]] || fail "curl status after drop-watches --abort: $rc"
log "ok: drop-watches --abort: curl exit $rc ($(cat "$WORK/w2.err"))"


# ---- outage: open watch reset, new connections refused, back after, changes meanwhile kept
watch_bg "$WORK/w4" "timeoutSeconds=30"
apictl outage 2 >/dev/null
wait "$WPID"
assert_ne 0 "$(cat "$WORK/w4.rc")" "curl status of a watch cut by the outage"
c -m 2 -o /dev/null "$URL/version" 2>/dev/null
assert_eq 7 "$?" "curl during the outage (connection refused)"
svc_json during-outage | apictl apply - >/dev/null || fail "apiserver-ctl apply during the outage"
wait_for 5 c -f -o /dev/null "$URL/version" || fail "the server did not come back after the outage"
log "ok: the API answered again ${WAITED_MS} ms after the first retry"
assert_eq "during-outage s0" "$(c "$URL/api/v1/services" | jq -r '[.items[].metadata.name] | join(" ")')" \
	"services after the outage"

# ---- fail: the next 2 endpointslices requests get 503, services are untouched
apictl fail 2 --code 503 --match endpointslices >/dev/null
codes=""
for p in apis/discovery.k8s.io/v1/endpointslices api/v1/services apis/discovery.k8s.io/v1/endpointslices apis/discovery.k8s.io/v1/endpointslices; do
	codes+="$(c -o "$WORK/fail.json" -w '%{http_code}' "$URL/$p") "
done
assert_eq "503 200 503 200 " "$codes" "answers under 'fail 2 --code 503 --match endpointslices'"

# ---- delay
apictl delay 0.6 >/dev/null
t=$(c -o /dev/null -w '%{time_total}' "$URL/api/v1/nodes")
apictl delay 0 >/dev/null
awk -v t="$t" 'BEGIN { exit !(t >= 0.55) }' || fail "delay 0.6: answered in ${t}s"
log "ok: 'delay 0.6' answer took ${t}s"

# ---- watch faults
watch_bg "$WORK/wt" "timeoutSeconds=30"
apictl watch-fault truncate >/dev/null
wait "$WPID"
assert_eq 0 "$(cat "$WORK/wt.rc")" "curl status after a truncated event (stream ended cleanly)"
tail -c 200 "$WORK/wt" | tail -n 1 | jq -e . >/dev/null 2>&1 && fail "the last line is complete JSON"
assert_ne "" "$(tail -c 1 "$WORK/wt" | tr -d '\n')" "the truncated stream ends mid-line"

watch_bg "$WORK/wc" "timeoutSeconds=30"
apictl watch-fault cut >/dev/null
wait "$WPID"
assert_ne 0 "$(cat "$WORK/wc.rc")" "curl status after a cut event"

watch_bg "$WORK/wm" "timeoutSeconds=3"
apictl watch-fault malformed >/dev/null
sleep 0.3
svc_json after-malformed | apictl apply - >/dev/null
wait "$WPID"
bad=$(while IFS= read -r line; do jq -e . >/dev/null 2>&1 <<<"$line" || echo bad; done <"$WORK/wm" | wc -l)
assert_eq 1 "$bad" "lines that are not JSON after 'watch-fault malformed'"
assert_eq "ADDED after-malformed" "$(tail -n 1 "$WORK/wm" | jq -r '"\(.type) \(.object.metadata.name)"')" \
	"the stream went on after the malformed line"

watch_bg "$WORK/we" "timeoutSeconds=30"
apictl watch-fault expire >/dev/null
wait "$WPID"
assert_eq "ERROR Expired 410" "$(tail -n 1 "$WORK/we" | jq -r '"\(.type) \(.object.reason) \(.object.code)"')" \
	"last event after 'watch-fault expire'"

apictl watch-fault giant-line >/dev/null # no watch open: armed for the next one
watch_bg "$WORK/wg" "timeoutSeconds=2"
wait "$WPID"
long=$(awk 'length($0) > 20000000 { n++ } END { print n + 0 }' "$WORK/wg")
assert_eq 1 "$long" "lines over 20 MB after 'watch-fault giant-line' (armed for the next watch)"

# ---- a 20 MB object, through list, get and watch
rv=$(c "$URL/api/v1/services" | jq -r .metadata.resourceVersion)
apictl big-object --mb 20 --name big >/dev/null || fail "big-object"
size=$(c "$URL/api/v1/namespaces/default/services/big" | jq -r '.metadata.annotations["test.svcproxy/padding"] | length')
assert_eq $((20 << 20)) "$size" "padding of the big object (GET)"
c "$URL/api/v1/namespaces/default/services?watch=true&resourceVersion=$rv&timeoutSeconds=1" >"$WORK/wb"
assert_eq "ADDED big $((20 << 20))" \
	"$(jq -r '"\(.type) \(.object.metadata.name) \(.object.metadata.annotations["test.svcproxy/padding"] | length)"' "$WORK/wb")" \
	"the big object's watch event"
hdr=$(c -o /dev/null -D - -H 'Accept-Encoding: gzip' "$URL/api/v1/services" | tr -d '\r')
assert_contains "$hdr" "Content-Encoding: gzip" "a large list is gzipped for a client that accepts it"
apictl rm svc big >/dev/null

# ---- bookmarks: every --bookmark-interval (1 s), with the latest resourceVersion
c "$URL/api/v1/namespaces/default/services?watch=true&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=3" >"$WORK/wbm"
cur=$(c "$URL/api/v1/services" | jq -r .metadata.resourceVersion)
nbm=$(jq -r 'select(.type == "BOOKMARK") | .object.metadata.resourceVersion' "$WORK/wbm" | sort -u | tr '\n' ' ')
assert_eq "$cur " "$nbm" "bookmark resourceVersions"
n=$(grep -c BOOKMARK "$WORK/wbm")
((n >= 1 && n <= 4)) || fail "$n bookmarks in 3 s at 1 s intervals"
log "ok: $n bookmarks in 3 s"

# ---- compaction: watch from before it -> ERROR 410; continue token from before it -> 410
cont=$(c "$URL/api/v1/services?limit=1" | jq -r .metadata.continue)
svc_json s9 | apictl apply - >/dev/null
apictl compact >/dev/null
ev=$(c "$URL/api/v1/services?watch=true&resourceVersion=$rv")
assert_eq "ERROR Expired 410" "$(jq -r '"\(.type) \(.object.reason) \(.object.code)"' <<<"$ev")" \
	"watch from before the compaction"
apictl watch-410 http >/dev/null
out=$(c -w ' %{http_code}' "$URL/api/v1/services?watch=true&resourceVersion=$rv")
assert_eq "Expired 410 410" "$(jq -r '"\(.reason) \(.code)"' <<<"${out% *}") ${out##* }" \
	"watch from before the compaction under 'watch-410 http' (body, HTTP status)"
apictl watch-410 event >/dev/null
out=$(c -w ' %{http_code}' "$URL/api/v1/services?limit=1&continue=$cont")
assert_eq "Expired 410" "$(jq -r '"\(.reason) \(.code)"' <<<"${out% *}")" "continue token from before the compaction"
assert_eq 410 "${out##* }" "its HTTP status"

# ---- tokens and authorization
apictl token add t-bob bob >/dev/null
code=$(ip netns exec "$API_NS" curl -sS --cacert "$APISERVER_DIR/ca.crt" -H "Authorization: Bearer t-bob" -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")
assert_eq 200 "$code" "an added token"
assert_eq bob "$(apictl requests | jq -r 'last.user')" "its user"
apictl token revoke t-bob >/dev/null
code=$(ip netns exec "$API_NS" curl -sS --cacert "$APISERVER_DIR/ca.crt" -H "Authorization: Bearer t-bob" -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")
assert_eq 401 "$code" "a revoked token"
old=$TOKEN
apictl token rotate >/dev/null
TOKEN=$(cat "$APISERVER_DIR/token")
assert_ne "$old" "$TOKEN" "the token in DIR/token after 'token rotate'"
assert_eq 200 "$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")" "the rotated token"
code=$(ip netns exec "$API_NS" curl -sS --cacert "$APISERVER_DIR/ca.crt" -H "Authorization: Bearer $old" -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")
assert_eq 401 "$code" "the token before the rotation"
apictl forbid admin services >/dev/null
out=$(c "$URL/api/v1/namespaces/default/services")
assert_eq "Forbidden 403" "$(jq -r '"\(.reason) \(.code)"' <<<"$out")" "forbidden services"
assert_contains "$(jq -r .message <<<"$out")" 'User "admin" cannot list resource "services" in API group "" in the namespace "default"' "403 message"
assert_eq 200 "$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/nodes")" "nodes still allowed"
apictl reset >/dev/null
assert_eq 200 "$(c -o /dev/null -w '%{http_code}' "$URL/api/v1/services")" "services after reset"

# ---- a Node being deleted, seen by a kube-proxy-like watch of its own Node
printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a"}}' | apictl apply - >/dev/null
rv=$(c "$URL/api/v1/nodes?fieldSelector=metadata.name%3Dnode-a" | jq -r .metadata.resourceVersion)
printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-b"}}' | apictl apply - >/dev/null
apictl mark-deleting node node-a >/dev/null
c "$URL/api/v1/nodes?watch=true&fieldSelector=metadata.name%3Dnode-a&resourceVersion=$rv&timeoutSeconds=1" >"$WORK/wn"
assert_eq "MODIFIED node-a true" \
	"$(jq -r '"\(.type) \(.object.metadata.name) \(.object.metadata.deletionTimestamp != null)"' "$WORK/wn")" \
	"the node watch (fieldSelector) sees only node-a being deleted"

# ---- churn: RATE real EndpointSlice changes a second, each a watch event
printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"e-%s","namespace":"default"},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.%s"]}]}\n' 1 11 2 12 |
	apictl apply - >/dev/null || fail "apply slices"
rv=$(c "$URL/apis/discovery.k8s.io/v1/endpointslices" | jq -r .metadata.resourceVersion)
assert_eq 20 "$(apictl churn --rate 20 --seconds 1 --wait | jq .done)" "changes made by 'churn --rate 20 --seconds 1'"
c "$URL/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=$rv&timeoutSeconds=1" >"$WORK/wch"
assert_eq "20 10 20" "$(jq -s '"\(length) \([.[] | select(.object.endpoints[0].conditions.ready == false)] | length) \([.[] | select(.object.metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"] | test("^20..-..-..T..:..:..\\.[0-9]{9}Z$"))] | length)"' -r "$WORK/wch")" \
	"churn events: total, ready=false, stamped"

pass "every fault hook works as documented"
