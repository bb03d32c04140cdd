#!/usr/bin/env bash
# --dataplane bpf specifics (issue 11), on top of the ClusterIP tests that run with bpf too:
#  - connect() is translated in the socket: the node keeps no NAT conntrack entry for a
#    pod -> ClusterIP connection, and getpeername() still returns the Service address (kept per
#    socket, in a slot of its own, not in the reverse-NAT LRU);
#  - unconnected UDP: the reply's source (recvfrom) is the Service address, not the pod's;
#  - traffic from outside the node (the "ext" client, outside the test's cgroup) still reaches
#    a NodePort through nftables, programmed alongside; a ClusterIP is no longer DNATed for it
#    (the table keeps only what enters the node: t_bpf_nft_scope);
#  - restart adoption under load: kill -9 and a restart while a pod connects in a loop,
#    zero failed connections (the pinned links keep the programs attached meanwhile), also
#    when a pinned map has another layout (replaced once filled, before the links move), and
#    over the pins of a version with one sp_services map for both families;
#  - a --cgroup-root that is no cgroup v2 directory is a clear error at start; so is a pin path
#    in use by another svcproxy (from another network namespace), which it leaves alone; the
#    programs of another svcproxy on the same cgroup are a warning; the DaemonSet's capabilities
#    suffice (deploy/bpf), one fewer is a clear error; a bpffs is mounted for the pins on an
#    empty directory only;
#  - show bpf and trace read the maps back, /metrics the programs' counters; svcproxy cleanup
#    removes the pins, which detaches the programs, and unmounts the bpffs it mounted (only);
#  - a Service of 20 endpoints (more than its map entry holds) spreads over them;
#  - sp_filter: a connect to a pod is not looked up; a Service in a /24 of its own, added
#    while running, is reached at once, and its /24 leaves the filter with it.
E2E_DATAPLANE=bpf
. "$(dirname "$0")/lib.sh"
SOCKPEER=${SOCKPEER:-$BUILD_DIR/tests/sockpeer}
harness_init
[[ -x "$SOCKPEER" ]] || fail "sockpeer not built: $SOCKPEER"
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-a pod-a-udp 5353 --udp
{
	simple_service web 10.96.0.70 80 8080 TCP 10.244.1.11
	echo "---"
	simple_service dns 10.96.0.71 53 5353 UDP 10.244.1.11
	echo "---"
	service_yaml np 10.96.0.72 80 8080 TCP type=NodePort nodePort=30070
	echo "---"
	slice_yaml np 8080 TCP 10.244.1.11
} | write_manifest services.yaml
# a --cgroup-root that is no cgroup v2 directory: a clear error, never a silent fallback
out=$(node_exec "$SVCPROXY" sync --manifests "$MANIFESTS" --dataplane bpf --cgroup-root "$WORK" \
	--bpf-pin-path "$BPF_PIN" 2>&1)
assert_eq 1 "$?" "svcproxy sync --cgroup-root $WORK: exit status"
assert_contains "$out" "is not a cgroup v2 directory" "svcproxy sync --cgroup-root $WORK"
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.70/ || fail "pod-b: http://10.96.0.70/ not answered within 5 s"

# ---- one pin path, one svcproxy: a second one given it from another network namespace (the
# instance lock is per namespace, pins are not) is refused, and moves no link to its cgroup
new_ns "$PFX-other"
other_exec() { nsenter --net="/run/netns/$PFX-other" "$@"; } # (bpf: nsenter, see lib.sh)
bpf_new_cgroup other OTHER_CG
out=$(other_exec "$SVCPROXY" sync --manifests "$MANIFESTS" \
	--dataplane bpf --cgroup-root "$OTHER_CG" --bpf-pin-path "$BPF_PIN" 2>&1)
assert_eq 1 "$?" "a second svcproxy given $BPF_PIN: exit status"
assert_contains "$out" "--bpf-pin-path $BPF_PIN is in use by another svcproxy (pid $SP_PID)" \
	"a second svcproxy given $BPF_PIN"
assert_eq 9 "$(bpftool cgroup show "$BPF_CGROUP" | grep -c ' sp_')" "programs on the test's cgroup after the refusal"
assert_eq 0 "$(bpftool cgroup show "$OTHER_CG" | grep -c ' sp_')" "programs on the other cgroup"
http_ok pod-b http://10.96.0.70/ || fail "pod-b: http://10.96.0.70/ after the refused second svcproxy"
# given a pin path of its own but the same cgroup, it runs, and says that the programs of the
# other (attached first, so running first) are there too; its cleanup detaches its own only
other_pin="$(dirname "$BPF_PIN")/other"
out=$(other_exec "$SVCPROXY" sync --manifests "$MANIFESTS" \
	--dataplane bpf --cgroup-root "$BPF_CGROUP" --bpf-pin-path "$other_pin" 2>&1) ||
	fail "a second svcproxy with pins of its own on the same cgroup: exit $?: $out"
assert_contains "$out" "also runs 1 sp_connect4 program not pinned under $other_pin" \
	"a second svcproxy on the same cgroup"
other_exec "$SVCPROXY" cleanup --bpf-pin-path "$other_pin" ||
	fail "svcproxy cleanup --bpf-pin-path $other_pin"
assert_eq 9 "$(bpftool cgroup show "$BPF_CGROUP" | grep -c ' sp_')" "programs on the test's cgroup after the other's cleanup"

# ---- the capabilities deploy/bpf/daemonset.yaml gives, a bpffs already mounted (a node's
# /sys/fs/bpf): enough to load, attach and pin; without CAP_PERFMON (or CAP_SYS_ADMIN) the
# verifier refuses the programs' map arithmetic, and the error names the capability
caps_pin="$(dirname "$BPF_PIN")/caps"
bpf_new_cgroup caps CAPS_CG
sync_with_caps()
{
	other_exec setpriv --inh-caps=-all --ambient-caps=-all \
		--bounding-set="-all,$1" -- "$SVCPROXY" sync --manifests "$MANIFESTS" \
		--dataplane bpf --cgroup-root "$CAPS_CG" --bpf-pin-path "$caps_pin" 2>&1
}
out=$(sync_with_caps +net_admin,+net_raw,+net_bind_service,+bpf)
assert_eq 1 "$?" "svcproxy sync without CAP_PERFMON: exit status"
assert_contains "$out" "needs CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN" "svcproxy sync without CAP_PERFMON"
out=$(sync_with_caps +net_admin,+net_raw,+net_bind_service,+bpf,+perfmon) ||
	fail "svcproxy sync with the DaemonSet's capabilities: exit $?: $out"
assert_eq 9 "$(bpftool cgroup show "$CAPS_CG" | grep -c ' sp_')" "programs attached with the DaemonSet's capabilities"
other_exec "$SVCPROXY" cleanup --bpf-pin-path "$caps_pin" ||
	fail "svcproxy cleanup --bpf-pin-path $caps_pin"
# a pin path whose parent is no bpffs gets one mounted there only if it is an empty directory (a
# bpffs on /sys/fs, from --bpf-pin-path /sys/fs/bpf, would hide every mount below it); the root
# of a bpffs is no pin path
mkdir "$WORK/full" && touch "$WORK/full/a-file"
out=$(other_exec "$SVCPROXY" sync --manifests "$MANIFESTS" \
	--dataplane bpf --cgroup-root "$CAPS_CG" --bpf-pin-path "$WORK/full/pins" 2>&1)
assert_eq 1 "$?" "--bpf-pin-path in a non-empty directory that is no bpffs: exit status"
assert_contains "$out" "no bpffs at $WORK/full, and it is no empty directory to mount one on" \
	"--bpf-pin-path in a non-empty directory that is no bpffs"
findmnt "$WORK/full" >/dev/null && fail "svcproxy mounted something on $WORK/full"
out=$(other_exec "$SVCPROXY" sync --manifests "$MANIFESTS" \
	--dataplane bpf --cgroup-root "$CAPS_CG" --bpf-pin-path "$(dirname "$BPF_PIN")" 2>&1)
assert_eq 1 "$?" "--bpf-pin-path the root of a bpffs: exit status"
assert_contains "$out" "is the root of a bpffs: give a directory in it" "--bpf-pin-path the root of a bpffs"

# ---- getpeername: the Service address; no DNAT conntrack entry on the node
out=$(in_ns pod-b "$SOCKPEER" tcp 10.96.0.70 80) || fail "sockpeer tcp 10.96.0.70 80: exit $?"
assert_eq "10.96.0.70:80" "$out" "getpeername() after connect() to the ClusterIP"
out=$(in_ns node "$SOCKPEER" tcp 10.96.0.70 80) || fail "node: sockpeer tcp 10.96.0.70 80: exit $?"
assert_eq "10.96.0.70:80" "$out" "getpeername() on the node"
in_ns pod-b curl -sS --max-time 2 --local-port 41070 http://10.96.0.70/ >/dev/null ||
	fail "pod-b -> 10.96.0.70 from port 41070"
ct=$(in_ns node conntrack -L -p tcp --orig-port-src 41070 2>/dev/null | tr '\n' ';')
log "conntrack of that connection: $ct"
assert_contains "$ct" "dst=10.244.1.11" "the connection went to the pod's address from the start"
assert_not_contains "$ct" "10.96.0.70" "no NAT conntrack entry for the ClusterIP"
# a connected socket keeps its Service in a slot of sp_conn_slots, never in the LRU (which
# evicts), and frees the slot when it goes (sock_release): three connections made and closed
# hold none
map_len() { bpftool -j map dump pinned "$BPF_PIN/$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
slots_held() {
	bpftool -j map dump pinned "$BPF_PIN/sp_conn_slots" |
		python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["formatted"]["value"]["cookie"]))'
}
n=$(map_len sp_revnat) || fail "bpftool map dump $BPF_PIN/sp_revnat"
assert_eq 0 "$n" "sp_revnat entries after TCP connects only"
n=$(slots_held) || fail "bpftool map dump $BPF_PIN/sp_conn_slots"
assert_eq 0 "$n" "sp_conn_slots slots held once the connections are closed"
# (the connection says when it is up: under load python's start and a dump of the 64k-slot
# array each take a good part of a second, so no fixed window is waited on)
in_ns pod-b python3 -c 'import os,socket,sys,time
s = socket.create_connection(("10.96.0.70", 80)); print("up", flush=True)
for _ in range(1200):
	if os.path.exists(sys.argv[1]): break
	time.sleep(0.05)' "$WORK/held.stop" >"$WORK/held.out" 2>&1 &
held=$!
BG_PIDS+=($held)
wait_for 10 grep -qx up "$WORK/held.out" || fail "the held connection to 10.96.0.70 did not come up: $(cat "$WORK/held.out")"
n=$(slots_held) || fail "bpftool map dump $BPF_PIN/sp_conn_slots"
assert_eq 1 "$n" "sp_conn_slots slots held by one open connection"
touch "$WORK/held.stop"
wait "$held" 2>/dev/null
wait_for 10 eval '[[ $(slots_held) == 0 ]]' || fail "the held connection's slot not freed 10 s after it closed"
n=$(slots_held) || fail "bpftool map dump $BPF_PIN/sp_conn_slots"
assert_eq 0 "$n" "sp_conn_slots slots held once the held connection is closed"

# ---- unconnected UDP: the reply comes from the Service address
out=$(in_ns pod-b "$SOCKPEER" udp 10.96.0.71 53) || fail "sockpeer udp 10.96.0.71 53: exit $?"
log "unconnected UDP: $out"
assert_eq "10.96.0.71:53" "${out%% *}" "recvfrom() source of the reply"
assert_contains "$out" "pod-a-udp" "the reply"

# ---- a Service of more endpoints than its entry holds (16): its slots in sp_slots
extra=()
for i in $(seq 101 119); do
	in_ns pod-a ip addr add "10.244.1.$i/32" dev eth0 || fail "address 10.244.1.$i on pod-a"
	in_ns node ip route add "10.244.1.$i/32" dev "${POD_IF[pod-a]}" src "$GW" ||
		fail "route to 10.244.1.$i"
	extra+=("10.244.1.$i")
done
simple_service big 10.96.0.73 80 8080 TCP 10.244.1.11 "${extra[@]}" | write_manifest big.yaml
wait_for 5 http_ok pod-b http://10.96.0.73/ || fail "pod-b: http://10.96.0.73/ not answered within 5 s"
show=$(node_exec "$SVCPROXY" show bpf --bpf-pin-path "$BPF_PIN" 2>&1) || fail "svcproxy show bpf: $show"
assert_contains "$show" "10.96.0.73:80/tcp  id" "svcproxy show bpf (20 endpoints)"
assert_contains "$show" "20 endpoints" "svcproxy show bpf (20 endpoints)"
assert_contains "$show" "slot 19 -> " "svcproxy show bpf (slot 19, in sp_slots)"
in_ns pod-b bash -c 'for p in $(seq 42001 42040); do
	curl -sS --max-time 2 --local-port $p -o /dev/null -w "%{http_code}\n" http://10.96.0.73/ || echo fail
	done' >"$WORK/big.out" 2>&1
assert_eq 40 "$(grep -cx 200 "$WORK/big.out")" "connections to 10.96.0.73 (20 endpoints) answered of 40"
# where they went: the node forwarded them to the pod addresses the programs picked
dsts=$(in_ns node conntrack -L -p tcp --dport 8080 2>/dev/null |
	awk '/sport=420[0-4][0-9] / { for (i = 1; i <= NF; i++) if ($i ~ /^dst=/) { print $i; break } }' | sort -u)
log "endpoints reached: $(tr '\n' ' ' <<<"$dsts")"
assert_contains "$dsts" "dst=10.244.1.1" "the connections' destinations"
(($(wc -l <<<"$dsts") >= 8)) || fail "40 connections over 20 endpoints reached only: $dsts"

# ---- from outside: nftables serves the NodePort, not the ClusterIP
out=$(http_get ext "http://$EXT_NODE_IP:30070/") || fail "ext -> NodePort $EXT_NODE_IP:30070: curl exit $?"
assert_contains "$out" "pod-a" "ext -> NodePort (nftables, bpf selected)"
in_ns ext ip route add "$SERVICE_CIDR" via "$EXT_NODE_IP" || fail "ext route to $SERVICE_CIDR"
out=$(CURL_TIMEOUT=1 http_get ext http://10.96.0.70/ 2>&1) &&
	fail "ext -> ClusterIP 10.96.0.70 answered through the node: $out"
log "ok: ext -> ClusterIP 10.96.0.70 not served from outside with bpf: $out"

# ---- restart adoption under load: zero failed connections
load_out="$WORK/load.out"
in_ns pod-c bash -c 'for i in $(seq 60); do
	curl -s --max-time 2 -o /dev/null -w "%{http_code}\n" http://10.96.0.70/ || echo fail
	sleep 0.05; done' >"$load_out" 2>&1 &
load_pid=$!
BG_PIDS+=("$load_pid")
sleep 0.5
kill -KILL "$SP_PID"
wait "$SP_PID" 2>/dev/null
SP_PID=""
sleep 0.5 # no svcproxy at all meanwhile
# a pin an earlier version left (sp_conns, the hash before sp_conn_slots): removed at the start
bpftool map create "$BPF_PIN/sp_conns" type hash key 8 value 40 entries 16 name sp_conns ||
	fail "bpftool map create $BPF_PIN/sp_conns"
# and a map pinned with another layout (an upgrade that changed it): replaced, still no gap (the
# old programs keep their map until the new ones, with the new map filled, take the links)
rm -f "$BPF_PIN/sp_affinity"
bpftool map create "$BPF_PIN/sp_affinity" type hash key 4 value 4 entries 16 name sp_affinity ||
	fail "bpftool map create $BPF_PIN/sp_affinity"
start_svcproxy
wait "$load_pid"
log "load across kill -9 and restart: $(sort "$load_out" | uniq -c | tr -s ' \n' ' ')"
assert_eq 60 "$(grep -cx 200 "$load_out")" "connections answered of 60 across kill -9 and restart"
restart_line=$(grep "initial sync" "$SP_LOG" | tail -n 1)
assert_contains "$restart_line" "; 0 element changes" "the restart adopts maps and table unchanged"
[[ -e "$BPF_PIN/sp_conns" ]] && fail "$BPF_PIN/sp_conns (an earlier version's pin) still there"
assert_contains "$(cat "$SP_LOG")" "sp_conns, pinned by an earlier version" "the log"
assert_contains "$(cat "$SP_LOG")" "sp_affinity was pinned by an svcproxy with another layout" "the log"
aff=$(bpftool -j map show pinned "$BPF_PIN/sp_affinity" | python3 -c 'import json,sys; print(json.load(sys.stdin)["type"])') ||
	fail "bpftool map show pinned $BPF_PIN/sp_affinity"
assert_eq lru_hash "$aff" "the type of the map pinned as sp_affinity after the restart"

# ---- upgrade over the pins of a version with one sp_services map for both families: the
# Service maps (and sp_slots, sp_affinity, keyed by that version's Service ids) start anew, and
# the links move to the new programs once those maps are filled, still with no failed connection
in_ns pod-c bash -c 'for i in $(seq 60); do
	curl -s --max-time 2 -o /dev/null -w "%{http_code}\n" http://10.96.0.70/ || echo fail
	sleep 0.05; done' >"$load_out" 2>&1 &
load_pid=$!
BG_PIDS+=("$load_pid")
sleep 0.5
kill -KILL "$SP_PID"
wait "$SP_PID" 2>/dev/null
SP_PID=""
bpftool map create "$BPF_PIN/sp_services" type hash key 20 value 332 entries 16 name sp_services ||
	fail "bpftool map create $BPF_PIN/sp_services"
start_svcproxy
wait "$load_pid"
log "load across the upgrade: $(sort "$load_out" | uniq -c | tr -s ' \n' ' ')"
assert_eq 60 "$(grep -cx 200 "$load_out")" "connections answered of 60 across kill -9 and an upgrade"
[[ -e "$BPF_PIN/sp_services" ]] && fail "$BPF_PIN/sp_services (an earlier version's pin) still there"
assert_contains "$(cat "$SP_LOG")" "sp_services4 starts anew over the pins of an earlier svcproxy" "the log"
assert_contains "$(cat "$SP_LOG")" "sp_slots starts anew over the pins of an earlier svcproxy" "the log"
wait_for 5 http_ok pod-b http://10.96.0.73/ || fail "pod-b: http://10.96.0.73/ (slots in sp_slots) not answered after the upgrade"

# ---- show bpf reads the maps back
show=$(node_exec "$SVCPROXY" show bpf --bpf-pin-path "$BPF_PIN" 2>&1) || fail "svcproxy show bpf: $show"
log "show bpf:"$'\n'"$show"
assert_contains "$show" "10.96.0.70:80/tcp" "svcproxy show bpf"
assert_contains "$show" "slot 0 -> 10.244.1.11:8080" "svcproxy show bpf (slot)"
# /metrics reports the same counters
metrics=$(node_exec curl -sS --max-time 2 "http://$METRICS/metrics") || fail "GET /metrics: curl exit $?"
n=$(sed -n 's/^svcproxy_bpf_connects_translated_total \([0-9]*\)$/\1/p' <<<"$metrics")
[[ "$n" =~ ^[0-9]+$ ]] && ((n > 0)) || fail "/metrics: svcproxy_bpf_connects_translated_total is '$n', not > 0"
for m in datagrams_translated refused affinity_hits addresses_restored; do
	assert_contains "$metrics" "# TYPE svcproxy_bpf_${m}_total counter" "/metrics"
done
tr=$(node_exec "$SVCPROXY" trace 10.244.1.12 10.96.0.70:80 --bpf-pin-path "$BPF_PIN" 2>&1) ||
	fail "svcproxy trace: $tr"
log "trace:"$'\n'"$tr"
assert_contains "$tr" "sp_connect4 decides" "svcproxy trace names the program that decides"
assert_contains "$tr" "10.244.1.11:8080" "svcproxy trace (endpoint)"
bpf_assert_used

# ---- sp_filter: the addresses looked up follow the Services
fl_n() { node_exec "$SVCPROXY" show bpf --bpf-pin-path "$BPF_PIN" 2>&1 | sed -n 's/^looked up (sp_filter): IPv4 \([0-9]*\) of.*/\1/p'; }
n0=$(fl_n)
[[ "$n0" =~ ^[0-9]+$ && "$n0" -ge 1 ]] || fail "show bpf: no sp_filter line, or no IPv4 bit set: '$n0'"
tr=$(node_exec "$SVCPROXY" trace 10.244.1.12 10.244.1.11:8080 --bpf-pin-path "$BPF_PIN" 2>&1)
assert_contains "$tr" "left alone" "trace of pod -> pod: the programs leave it alone"
assert_not_contains "$tr" "the destination becomes" "trace of pod -> pod"
tr=$(node_exec "$SVCPROXY" trace 10.244.1.12 10.96.0.70:81 --bpf-pin-path "$BPF_PIN" 2>&1)
assert_contains "$tr" "no Service at this address and port in sp_services4: the connect is left alone" \
	"trace of a Service address, another port (looked up)"
tr=$(node_exec "$SVCPROXY" trace 10.244.1.12 10.100.5.5:80 --bpf-pin-path "$BPF_PIN" 2>&1)
assert_contains "$tr" "sp_filter: no Service address in this /24, and no address of this node: left alone without a lookup" \
	"trace of a connect to a /24 of no Service"
simple_service far 10.100.5.5 80 8080 TCP 10.244.1.11 | write_manifest far.yaml
wait_for 5 http_ok pod-b http://10.100.5.5/ || fail "pod-b: http://10.100.5.5/ (a new /24) not answered within 5 s"
out=$(in_ns pod-b "$SOCKPEER" tcp 10.100.5.5 80) || fail "sockpeer tcp 10.100.5.5 80: exit $?"
assert_eq "10.100.5.5:80" "$out" "getpeername() after connect() to a ClusterIP in a new /24"
assert_eq $((n0 + 1)) "$(fl_n)" "sp_filter's IPv4 bits with a Service in a new /24"
remove_manifest far.yaml
wait_for 5 eval '[[ $(fl_n) == "$n0" ]]' || fail "sp_filter: $(fl_n) IPv4 bits 5 s after the /24's only Service left, not $n0"

# ---- cleanup unpins everything: the programs are detached
stop_svcproxy
node_exec "$SVCPROXY" cleanup --bpf-pin-path "$BPF_PIN" || fail "svcproxy cleanup: exit $?"
[[ -e "$BPF_PIN" ]] && fail "$BPF_PIN still exists after svcproxy cleanup: $(ls "$BPF_PIN")"
# the bpffs svcproxy mounted for the pins goes with them (nothing else was left in it)
mountpoint -q "$(dirname "$BPF_PIN")" && fail "the bpffs svcproxy mounted at $(dirname "$BPF_PIN") is still mounted after cleanup"
out=$(in_ns pod-b "$SOCKPEER" tcp 10.96.0.70 80 2>&1) && fail "10.96.0.70 still connects after cleanup: $out"
log "after cleanup: $out"
# a bpffs svcproxy did not mount stays, emptied of its pins
mkdir "$WORK/ours" && mount -t bpf bpffs "$WORK/ours" || fail "cannot mount a bpffs at $WORK/ours"
node_exec "$SVCPROXY" sync --manifests "$MANIFESTS" --dataplane bpf --cgroup-root "$CAPS_CG" \
	--bpf-pin-path "$WORK/ours/pins" >/dev/null 2>&1
st=$?
node_exec "$SVCPROXY" cleanup --bpf-pin-path "$WORK/ours/pins"
mountpoint -q "$WORK/ours"
mounted=$?
left=$(ls -A "$WORK/ours" 2>&1 | grep -v '\.') # but bpffs's own maps.debug, progs.debug
umount "$WORK/ours"
assert_eq 0 "$st" "svcproxy sync with the pins in a bpffs of the test's: exit status"
assert_eq 0 "$mounted" "a bpffs svcproxy did not mount, after cleanup: mounted (0)"
assert_eq "" "$left" "what cleanup left in that bpffs"
pass "socket-level translation, Service address kept, outside NodePort traffic on nftables, restart without a gap"
