#!/usr/bin/env bash
# --dataplane bpf: nftables keeps only what enters the node from elsewhere (issue 11).
#  - TCP ClusterIP Services only: the node's `nft list ruleset` has table svcproxy but not one
#    base chain (no nat hook, no filter hook): every connect made on the node is the socket
#    programs'; and no ct or nat expression, so connection tracking stays off in the node;
#  - a NodePort and an externalIP Service added: the inbound hooks appear (nat prerouting and
#    postrouting, filter prerouting and input), no output hook, no ClusterIP in any set; the
#    external client (outside the test's cgroup) reaches both through nftables;
#  - a pod and the node (inside the cgroup) reach the NodePort on a node address and the
#    externalIP through the socket programs: the connection goes to the pod's address from the
#    start (no DNAT conntrack entry), getpeername() returns the address asked for, and
#    `svcproxy trace` names sp_connect4;
#  - 127.0.0.1:NodePort is not served (kube-proxy's nftables mode serves no localhost NodePort);
#  - kill -9 and a restart adopt the table unchanged;
#  - the NodePort and externalIP Services removed: the hooks are gone again.
E2E_DATAPLANE=bpf
. "$(dirname "$0")/lib.sh"
SOCKPEER=${SOCKPEER:-$BUILD_DIR/tests/sockpeer}
harness_init
[[ -x "$SOCKPEER" ]] || fail "sockpeer not built: $SOCKPEER"
command -v conntrack >/dev/null || skip "conntrack (conntrack-tools) not installed"
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
EXT_SVC_IP=192.168.60.50
NP=30081

ruleset() { in_ns node nft list ruleset 2>&1; }
no_hooks() { ! ruleset | has_match ' hook '; }

simple_service web 10.96.0.80 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.80/ || fail "pod-b -> 10.96.0.80 not answered within 5 s"

# ---- ClusterIPs only: a table without a single hook
rs=$(ruleset)
log "nft list ruleset with ClusterIPs only:"$'\n'"$(grep -E 'table|chain|hook' <<<"$rs")"
assert_contains "$rs" "table ip svcproxy" "the table (for show, trace and cleanup)"
assert_not_contains "$rs" " hook " "base chains with ClusterIP Services only"
assert_not_contains "$rs" "10.96.0.80" "the ClusterIP in nftables"
assert_contains "$(ruleset | grep -m1 'comment "svcproxy layout')" "scope entering; paths none" \
	"the table comment"
# nor a ct or nat expression in any chain: one would switch connection tracking on for the
# whole namespace (nf_ct_netns_get), and every packet the node forwards would pay for it
http_ok pod-b http://10.96.0.80/ || fail "pod-b -> 10.96.0.80"
http_ok pod-b http://10.244.1.11:8080/ || fail "pod-b -> pod-a direct"
assert_eq 0 "$(in_ns node conntrack -C 2>&1)" "conntrack entries in node (connection tracking off)"

# ---- a NodePort and an externalIP: the inbound path alone
{
	service_yaml np 10.96.0.81 80 8080 TCP type=NodePort nodePort=$NP
	echo "---"
	slice_yaml np 8080 TCP 10.244.1.11
	echo "---"
	service_yaml extip 10.96.0.82 80 8080 TCP externalIPs=$EXT_SVC_IP
	echo "---"
	slice_yaml extip 8080 TCP 10.244.1.11
} | write_manifest external.yaml
wait_for 5 http_ok ext "http://$EXT_NODE_IP:$NP/" || fail "ext -> NodePort $EXT_NODE_IP:$NP not answered within 5 s"
# (from the API the four objects may come in more than one sync: the externalIP's too)
wait_for 5 http_ok ext "http://$EXT_SVC_IP/" || fail "ext -> externalIP $EXT_SVC_IP not answered within 5 s"
rs=$(ruleset)
log "nft list ruleset with a NodePort and an externalIP:"$'\n'"$(grep -E 'table|chain|hook' <<<"$rs")"
for h in "type nat hook prerouting" "type nat hook postrouting" "type filter hook prerouting" \
	"type filter hook input"; do
	assert_contains "$rs" "$h" "the inbound path"
done
assert_not_contains "$rs" "hook output" "output hooks (the node's own connects are bpf's)"
assert_not_contains "$rs" "10.96.0.8" "ClusterIPs in nftables"
assert_not_contains "$rs" "vmap @cluster_ip_ports" "the ClusterIP dispatch"
out=$(http_get ext "http://$EXT_NODE_IP:$NP/") || fail "ext -> NodePort: curl exit $?"
assert_contains "$out" "pod-a" "ext -> NodePort $EXT_NODE_IP:$NP (nftables)"
out=$(http_get ext "http://$EXT_SVC_IP/") || fail "ext -> externalIP $EXT_SVC_IP: curl exit $?"
assert_contains "$out" "pod-a" "ext -> externalIP $EXT_SVC_IP (nftables)"

# ---- from inside the cgroup: the socket programs translate NodePort and externalIP
lport=41080
for target in "pod-b $EXT_NODE_IP $NP" "node $GW $NP" "pod-b $EXT_SVC_IP 80" "node $EXT_SVC_IP 80"; do
	read -r who addr port <<<"$target"
	lport=$((lport + 1))
	out=$(in_ns "$who" curl -sS --max-time 2 --local-port "$lport" "http://$addr:$port/") ||
		fail "$who -> $addr:$port: curl exit $?"
	assert_contains "$out" "pod-a" "$who -> $addr:$port"
	ct=$(in_ns node conntrack -L -p tcp --orig-port-src "$lport" 2>/dev/null)
	log "conntrack of $who -> $addr:$port: $ct"
	# the original direction's destination: the pod's from the start, no DNAT of ours
	assert_eq "dst=10.244.1.11" "$(grep -o 'dst=[^ ]*' <<<"$ct" | head -n 1)" \
		"$who -> $addr:$port: conntrack's original destination"
	assert_not_contains "$ct" "dst=$addr sport=$lport" "$who -> $addr:$port: a DNAT conntrack entry"
	out=$(in_ns "$who" "$SOCKPEER" tcp "$addr" "$port") || fail "$who: sockpeer tcp $addr $port: exit $?"
	assert_eq "$addr:$port" "$out" "$who: getpeername() after connect() to $addr:$port"
done
tr=$(node_exec "$SVCPROXY" trace 10.244.1.12 "$EXT_NODE_IP:$NP" --bpf-pin-path "$BPF_PIN" 2>&1) ||
	fail "svcproxy trace: $tr"
log "trace 10.244.1.12 -> $EXT_NODE_IP:$NP:"$'\n'"$tr"
assert_contains "$tr" "sp_connect4 decides" "svcproxy trace names the program that decides"
assert_contains "$tr" "NodePort $NP/tcp" "svcproxy trace: the node address is a NodePort for bpf"
tr=$(node_exec "$SVCPROXY" trace "$GW" 10.96.0.80:80 --bpf-pin-path "$BPF_PIN" 2>&1) ||
	fail "svcproxy trace from the node: $tr"
log "trace $GW -> 10.96.0.80:80:"$'\n'"$tr"
assert_contains "$tr" "has no output hook" "svcproxy trace from the node: nftables stays out"
show=$(node_exec "$SVCPROXY" show bpf --bpf-pin-path "$BPF_PIN" 2>&1) || fail "svcproxy show bpf: $show"
log "show bpf:"$'\n'"$show"
assert_contains "$show" "*:$NP/tcp" "svcproxy show bpf: the NodePort entry"
assert_contains "$show" "$EXT_NODE_IP" "svcproxy show bpf: the node addresses NodePorts are served on"

# ---- no localhost NodePort, as kube-proxy's nftables mode
r=$(CURL_TIMEOUT=1 http_get node "http://127.0.0.1:$NP/" 2>&1) && fail "node -> 127.0.0.1:$NP answered: $r"
log "ok: node -> 127.0.0.1:$NP not served: $r"

# ---- restart: the table (and its paths) adopted as it is
kill -KILL "$SP_PID"
wait "$SP_PID" 2>/dev/null
SP_PID=""
lines_before=$(grep -c "initial sync" "$SP_LOG")
start_svcproxy
wait_for 5 eval '(( $(grep -c "initial sync" "$SP_LOG") > lines_before ))' || fail "no initial sync logged after the restart"
restart_line=$(grep "initial sync" "$SP_LOG" | tail -n 1)
log "$restart_line"
assert_contains "$restart_line" "; 0 element changes" "the restart adopts maps and table unchanged"
assert_not_contains "$restart_line" "table built" "the table is not rebuilt on restart"

# ---- the external entry points gone: so are the hooks
remove_manifest external.yaml
wait_for 5 no_hooks || fail "hooks still there 5 s after the NodePort and externalIP Services left: $(ruleset | grep hook)"
log "ok: no hook after ${WAITED_MS} ms"
out=$(http_get pod-b http://10.96.0.80/) || fail "pod-b -> 10.96.0.80 after: curl exit $?"
assert_contains "$out" "pod-a" "pod-b -> ClusterIP (bpf)"
pass "with bpf, nftables holds only the inbound path, and only while there is something to enter"
