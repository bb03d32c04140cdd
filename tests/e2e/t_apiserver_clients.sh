#!/usr/bin/env bash
# The test Kubernetes API server (tests/apiserver/) is faithful enough for the real clients:
# kubectl 1.32 (create -f, get -A -o json, get -w -o json, label, apply, delete, label
# selectors, --chunk-size pagination, client certificates, 401) and the official Python client
# (tests/apiserver/client_check.py: Watch().stream, discovery.v1, pagination, 410 after
# compaction, 401), plus the fault hooks seen through kubectl and curl. Everything runs inside
# a network namespace this test creates, the server on its loopback.
# e2e-api: n/a - it tests the test API server itself, with its own instance
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_apiserver.sh"
harness_init

KUBECTL=${KUBECTL:-/usr/bin/kubectl}
HAVE_KUBECTL=1
[[ -x "$KUBECTL" ]] || HAVE_KUBECTL=0
/usr/bin/python3 -c 'import kubernetes' 2>/dev/null ||
	fail "python3-kubernetes missing (scripts/install-deps.sh installs it)"

API_NS="$PFX-api"
new_ns "$API_NS"
start_apiserver "$API_NS" 127.0.0.1:6443 --bookmark-interval 1
export HOME="$WORK" # kubectl's discovery cache goes to $HOME/.kube/cache

k() { ip netns exec "$API_NS" "$KUBECTL" --kubeconfig "$KUBECONFIG_TOKEN" "$@"; }

cat >"$WORK/objects.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: a, namespace: default, labels: {app: a}}
spec:
  clusterIP: 10.96.0.50
  selector: {app: a}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: default, labels: {service.kubernetes.io/headless: ""}}
spec:
  clusterIP: None
  ports: [{port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: default}
spec:
  type: NodePort
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: a-1, namespace: default, labels: {kubernetes.io/service-name: a}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.11]
  conditions: {ready: true}
  nodeName: node-a
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: zone-1}}
EOF

# More Services for the pagination checks.
for i in 1 2 3 4 5; do
	printf -- '---\n{"apiVersion":"v1","kind":"Service","metadata":{"name":"p%d","namespace":"default"},"spec":{"ports":[{"port":80}]}}\n' "$i"
done >"$WORK/more.yaml"

kubectl_checks()
{
	# ---- kubectl: version, create -f (server-side field validation via /openapi/v3)
	out=$(k version -o json 2>&1) || fail "kubectl version: $out"
	assert_eq "v1.32.0-svcproxy-test" "$(jq -r .serverVersion.gitVersion <<<"$out")" \
		"kubectl version: server gitVersion"
	out=$(k create -f "$WORK/objects.yaml" 2>&1) || fail "kubectl create -f: $out"
	log "kubectl create -f objects.yaml: $(tr '\n' ' ' <<<"$out")"
	assert_contains "$out" "service/a created" "kubectl create -f"
	assert_contains "$out" "endpointslice.discovery.k8s.io/a-1 created" "kubectl create -f"
	assert_contains "$out" "node/node-a created" "kubectl create -f"
	legacy=$(apictl requests | jq '[.[] | select(.path | test("^/(api/v1|apis/discovery.k8s.io/v1)\\?"))] | length')
	assert_eq 0 "$legacy" "per-group-version discovery requests (kubectl used the aggregated /api, /apis)"

	# ---- get services -A -o json: real values, server-side defaults and allocations
	json=$(k get services -A -o json) || fail "kubectl get services -A -o json"
	assert_eq "a b c" "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$json")" "service names"
	assert_eq "10.96.0.50" "$(jq -r '.items[0].spec.clusterIP' <<<"$json")" "a's clusterIP"
	assert_eq "8080 TCP ClusterIP" \
		"$(jq -r '.items[0].spec | "\(.ports[0].targetPort) \(.ports[0].protocol) \(.type)"' <<<"$json")" \
		"a's defaults"
	assert_eq "None" "$(jq -r '.items[1].spec.clusterIP' <<<"$json")" "b is headless"
	c_ip=$(jq -r '.items[2].spec.clusterIP' <<<"$json")
	[[ "$c_ip" == 10.96.* ]] || fail "c got no cluster IP from 10.96.0.0/16: $c_ip"
	c_np=$(jq -r '.items[2].spec.ports[0].nodePort' <<<"$json")
	((c_np >= 30000 && c_np <= 32767)) || fail "c got no node port: $c_np"
	log "ok: c allocated clusterIP $c_ip nodePort $c_np"
	rvs=$(jq -r '[.items[].metadata.resourceVersion] | join(" ")' <<<"$json")
	[[ "$rvs" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] || fail "resourceVersions: $rvs"
	assert_eq 3 "$(jq -r '[.items[].metadata.uid] | unique | length' <<<"$json")" "distinct uids"
	out=$(k get endpointslices -A -o json | jq -r '.items[] | "\(.metadata.name) \(.endpoints[0].addresses[0])"')
	assert_eq "a-1 10.244.1.11" "$out" "kubectl get endpointslices"
	out=$(k get svc 2>&1)
	assert_contains "$out" "10.96.0.50" "kubectl get svc (Table)"
	log "kubectl get svc (server-side Table):"$'\n'"$out"

	# ---- label selectors
	out=$(k get svc -l '!service.kubernetes.io/headless' -o name | tr '\n' ' ')
	assert_eq "service/a service/c " "$out" "get -l '!service.kubernetes.io/headless'"
	out=$(k get svc -l 'app in (a,z)' -o name | tr '\n' ' ')
	assert_eq "service/a " "$out" "get -l 'app in (a,z)'"
	out=$(k get svc -l 'app!=a' -o name | tr '\n' ' ')
	assert_eq "service/b service/c " "$out" "get -l 'app!=a'"

	# ---- get -w -o json: a change made by another client appears
	k get svc a -w -o json --output-watch-events >"$WORK/watch.json" 2>"$WORK/watch.err" &
	wpid=$!
	BG_PIDS+=("$wpid")
	wait_for 10 grep -q '"ADDED"' "$WORK/watch.json" || fail "kubectl get -w: no initial ADDED: $(cat "$WORK/watch.err")"
	out=$(k label svc a tier=web 2>&1) || fail "kubectl label: $out"
	assert_eq "service/a labeled" "$out" "kubectl label"
	seen_mod() { jq -s -e 'map(select(.type == "MODIFIED" and .object.metadata.labels.tier == "web")) | length == 1' "$WORK/watch.json"; }
	wait_for 5 seen_mod || fail "kubectl get -w did not show the MODIFIED event: $(cat "$WORK/watch.json")"
	log "ok: kubectl get -w -o json saw MODIFIED with tier=web after ${WAITED_MS} ms"
	kill "$wpid" 2>/dev/null

	# ---- apply twice: the second is a strategic merge patch (ports merged by port number,
	# $patch: delete, $setElementOrder); generation follows the spec
	cat >"$WORK/d.yaml" <<-'EOF'
	apiVersion: v1
	kind: Service
	metadata: {name: d, namespace: other}
	spec:
	  ports: [{name: http, port: 80, targetPort: 8080}, {name: dns, port: 53, protocol: UDP}]
	EOF
	out=$(k apply -f "$WORK/d.yaml" 2>&1) || fail "kubectl apply: $out"
	assert_eq "service/d created" "$out" "first kubectl apply"
	sed -i 's/port: 80,/port: 81,/' "$WORK/d.yaml"
	out=$(k apply -f "$WORK/d.yaml" 2>&1) || fail "kubectl apply: $out"
	assert_eq "service/d configured" "$out" "second kubectl apply"
	out=$(k apply -f "$WORK/d.yaml" 2>&1) || fail "kubectl apply: $out"
	assert_eq "service/d unchanged" "$out" "third kubectl apply"
	assert_eq "81/TCP 53/UDP 2" \
		"$(k get svc -n other d -o jsonpath='{range .spec.ports[*]}{.port}/{.protocol} {end}{.metadata.generation}')" \
		"d after the second apply: ports, generation"
	# server-side apply: a port and a selector the manager no longer applies go
	out=$(k apply --server-side -f "$WORK/d.yaml" 2>&1) || fail "kubectl apply --server-side: $out"
	assert_eq "service/d serverside-applied" "$out" "kubectl apply --server-side"
	sed -i 's/port: 81,/port: 82,/; s/{name: dns, port: 53, protocol: UDP}//; s/, \]/]/' "$WORK/d.yaml"
	out=$(k apply --server-side -f "$WORK/d.yaml" 2>&1) || fail "kubectl apply --server-side: $out"
	assert_eq "82/TCP 3" \
		"$(k get svc -n other d -o jsonpath='{range .spec.ports[*]}{.port}/{.protocol} {end}{.metadata.generation}')" \
		"d after a server-side apply without port 53: ports, generation"
	out=$(k delete -f "$WORK/d.yaml" 2>&1) || fail "kubectl delete -f: $out"
	assert_eq 'service "d" deleted' "$out" "kubectl delete -f"

	# ---- pagination: --chunk-size=2 over 8 Services lists all of them in 4 pages
	apictl apply "$WORK/more.yaml" >/dev/null || fail "apiserver-ctl apply"
	apictl requests --clear >/dev/null
	out=$(k get svc --chunk-size=2 -o name | tr '\n' ' ')
	assert_eq "service/a service/b service/c service/p1 service/p2 service/p3 service/p4 service/p5 " \
		"$out" "get --chunk-size=2"
	pages=$(apictl requests | jq -r '[.[] | select(.path | test("/services\\?.*limit=2"))] | length')
	assert_eq 4 "$pages" "list requests with limit=2 (one per page, continue tokens)"
	conts=$(apictl requests | jq -r '[.[] | select(.path | test("continue="))] | length')
	assert_eq 3 "$conts" "list requests with a continue token"

	# ---- typed commands send protobuf bodies
	out=$(k create service nodeport pb --tcp=443:https --node-port=30443 2>&1) || fail "kubectl create service: $out"
	assert_eq "service/pb created" "$out" "kubectl create service nodeport (a protobuf body)"
	assert_eq "NodePort 443 https 30443 pb" \
		"$(k get svc pb -o jsonpath='{.spec.type} {.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.ports[0].nodePort} {.spec.selector.app}')" \
		"the Service decoded from protobuf"
	k delete svc pb >/dev/null || fail "kubectl delete svc pb"

	# ---- delete
	out=$(k delete svc c 2>&1) || fail "kubectl delete: $out"
	assert_eq 'service "c" deleted' "$out" "kubectl delete"
	out=$(k get svc c 2>&1) && fail "c still there: $out"
	assert_contains "$out" 'services "c" not found' "get after delete"

	# ---- client certificate, bad token, injected 500, pause
	out=$(ip netns exec "$API_NS" "$KUBECTL" --kubeconfig "$KUBECONFIG_CERT" get nodes -o name 2>&1)
	assert_eq "node/node-a" "$out" "kubectl with a client certificate"
	assert_eq "admin" "$(apictl requests | jq -r 'last.user')" "user from the certificate's CN"
	sed 's/"token": ".*"/"token": "wrong"/' "$KUBECONFIG_TOKEN" >"$WORK/bad-kubeconfig"
	out=$(ip netns exec "$API_NS" "$KUBECTL" --kubeconfig "$WORK/bad-kubeconfig" get svc 2>&1) &&
		fail "a wrong token was accepted: $out"
	assert_contains "$out" "Unauthorized" "kubectl with a wrong token"
	apictl fail 10 --code 500 --match /services >/dev/null
	out=$(k get svc a -o name --request-timeout=5s 2>&1) && fail "injected 500 not seen: $out"
	assert_contains "$out" "Internal error occurred: injected fault" "kubectl under 'fail 10 --code 500'"
	apictl reset >/dev/null
	apictl pause 2 >/dev/null
	start=$(now_ms)
	out=$(k get svc a -o name 2>&1) || fail "get after pause: $out"
	took=$(($(now_ms) - start))
	((took >= 1500)) || fail "pause 2 answered after only ${took} ms"
	log "ok: the request made during 'pause 2' was answered after ${took} ms"
}

if ((HAVE_KUBECTL)); then
	kubectl_checks
else
	log "kubectl not installed at $KUBECTL: its checks are skipped"
fi

# ---- raw protocol details seen by curl: 401 body, watch stream framing, 410 ERROR event
apictl sync "$WORK/objects.yaml" "$WORK/more.yaml" >/dev/null || fail "apiserver-ctl sync"
url=$(cat "$APISERVER_DIR/url")
tok=$(cat "$APISERVER_DIR/token")
acurl() { ip netns exec "$API_NS" curl -sS --cacert "$APISERVER_DIR/ca.crt" "$@"; }
out=$(acurl "$url/api/v1/services")
assert_eq "Failure Unauthorized 401" "$(jq -r '"\(.status) \(.reason) \(.code)"' <<<"$out")" "401 Status body"
rv=$(acurl -H "Authorization: Bearer $tok" "$url/api/v1/services" | jq -r .metadata.resourceVersion)
acurl -N -D "$WORK/watch.hdr" -H "Authorization: Bearer $tok" \
	"$url/api/v1/namespaces/default/services?watch=true&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=3" \
	>"$WORK/curl-watch.json" &
cpid=$!
sleep 0.5
apictl rm svc default/p1 >/dev/null
wait "$cpid"
assert_contains "$(tr -d '\r' <"$WORK/watch.hdr")" "Transfer-Encoding: chunked" "watch response header"
assert_eq "DELETED p1" "$(jq -r 'select(.type != "BOOKMARK") | "\(.type) \(.object.metadata.name)"' "$WORK/curl-watch.json")" \
	"curl watch: the deletion"
bms=$(jq -r 'select(.type == "BOOKMARK") | .object.metadata.resourceVersion' "$WORK/curl-watch.json")
assert_eq "$((rv + 1))" "$(tail -n 1 <<<"$bms")" "the last bookmark carries the latest resourceVersion"
assert_eq "$(sort -n <<<"$bms")" "$bms" "bookmark resourceVersions never go back"
apictl compact >/dev/null
out=$(acurl -H "Authorization: Bearer $tok" "$url/api/v1/services?watch=true&resourceVersion=$rv")
assert_eq "ERROR Expired 410" "$(jq -r '"\(.type) \(.object.reason) \(.object.code)"' <<<"$out")" \
	"watch from a compacted resourceVersion"

# ---- the official Python client
apictl sync "$WORK/objects.yaml" >/dev/null || fail "apiserver-ctl sync"
out=$(ip netns exec "$API_NS" /usr/bin/python3 "$ROOT_DIR/tests/apiserver/client_check.py" \
	"$KUBECONFIG_TOKEN" "$APISERVER_DIR" 2>&1) || fail "python client checks: $out"
log "python client:"$'\n'"$out"
assert_contains "$out" "all checks passed" "python client checks"

pass "kubectl and the Python client agree with the test API server"
