# shellcheck shell=bash
# Two-node e2e harness (issue 4): sources lib.sh and builds a small cluster of namespaces.
#
#                    "lan" namespace: bridge br0 (192.168.50.0/24, plain L2, no IP of its own)
#              +-----------------+-------------------+----------------------+
#              |                 |                   |                      |
#   node-a eth0 192.168.50.11    node-b eth0 192.168.50.12    client eth0 192.168.50.100/24
#   pods 10.244.1.0/24           pods 10.244.2.0/24                       + 192.168.50.101/24
#   gw 10.244.1.1 on every vpN   gw 10.244.2.1 on every vpN   routes 192.168.60.0/24 (external
#   route 10.244.2.0/24 via .12  route 10.244.1.0/24 via .11  and LoadBalancer IPs) via .11
#   svc0: route 10.96.0.0/16     svc0: route 10.96.0.0/16
#   svcproxy --hostname-override node-a / node-b, same manifest directory
#
# Pods are routed point-to-point exactly as in lib.sh (/32 per pod, default route to the
# node's gateway address), so every reply crosses its node's IP layer. The client is outside
# --cluster-cidr and has no route to the pod subnets: it can reach pods only through what
# svcproxy programs (NodePort, externalIPs, LoadBalancer IPs), never directly.
#
# Names: everything is in namespaces "sp<pid>-{lan,node-a,node-b,client,<pod>}", created here
# and deleted by the EXIT trap (cleanup_2node, then lib.sh's cleanup), even on failure. Nothing
# in the root namespace is touched. Use the WHO names with lib.sh's in_ns/http_get/udp_get:
# node-a, node-b, client, and the pod names given to add_pod2 (conventionally a1, a2 on node-a
# and b1, b2 on node-b).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LAN_NET=192.168.50
NODE_A_IP=$LAN_NET.11
NODE_B_IP=$LAN_NET.12
CLIENT_IP=$LAN_NET.100
CLIENT_IP2=$LAN_NET.101
EXT_NET=192.168.60.0/24 # externalIPs and LoadBalancer ingress IPs, routed by the client via node-a
declare -A NODE_GW=([node-a]=10.244.1.1 [node-b]=10.244.2.1)
declare -A NODE_IP=([node-a]=$NODE_A_IP [node-b]=$NODE_B_IP)
declare -A POD_NODE=()
declare -A NODE_NPODS=([node-a]=0 [node-b]=0)
declare -A SP2_PID=()
declare -A SP2_LOG=()
# lib.sh's dump_debug/cleanup look at $NODE: node-a is "the" node for them.
NODE="$PFX-node-a"

# ---------------------------------------------------------------- lifecycle

dump_debug()
{
	local n
	for n in node-a node-b; do
		if [[ -n "${SP2_LOG[$n]:-}" && -s "${SP2_LOG[$n]}" ]]; then
			echo "---- svcproxy log on $n (last 30 lines of ${SP2_LOG[$n]})" >&2
			tail -n 30 "${SP2_LOG[$n]}" >&2
		fi
	done
	for n in node-a node-b; do
		if ns_exists "$PFX-$n"; then
			echo "---- nft list table ip svcproxy ($n, first 80 lines)" >&2
			ip netns exec "$PFX-$n" nft list table ip svcproxy 2>&1 | head -n 80 >&2
		fi
	done
}

# Stops both svcproxies and runs `svcproxy cleanup` in both nodes, then hands over to lib.sh's
# cleanup (background processes, namespaces, work directory) with the original exit status.
cleanup_2node()
{
	local rc=$? n pid
	trap - EXIT INT TERM
	set +e
	for n in node-a node-b; do
		pid=${SP2_PID[$n]:-}
		[[ -n "$pid" ]] || continue
		kill -TERM "$pid" 2>/dev/null
	done
	for n in node-a node-b; do
		pid=${SP2_PID[$n]:-}
		[[ -n "$pid" ]] || continue
		for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for n in node-a node-b; do
		if ns_exists "$PFX-$n" && [[ -x "$SVCPROXY" ]]; then
			if [[ -n "$BPF_PIN" ]]; then
				nsenter --net="/run/netns/$PFX-$n" "$SVCPROXY" cleanup \
					--bpf-pin-path "${BPF_PIN2[$n]}" >/dev/null 2>&1
			else
				ip netns exec "$PFX-$n" "$SVCPROXY" cleanup >/dev/null 2>&1
			fi
		fi
	done
	(exit "$rc")
	cleanup
}

harness2_init()
{
	harness_init
	command -v socat >/dev/null || skip "socat not installed"
	command -v jq >/dev/null || skip "jq not installed"
	trap cleanup_2node EXIT
	if [[ "$E2E_DATAPLANE" == bpf ]]; then
		local n
		BPF_PINS=()
		for n in node-a node-b; do
			bpf_new_cgroup "$n" "BPF_CG2[$n]"
			BPF_PIN2[$n]="/tmp/$PFX-bpffs/$n"
			BPF_PINS+=("${BPF_PIN2[$n]}")
		done
	fi
}

# With the bpf dataplane each node has its own cgroup and pins: a node's processes and its
# pods' run in its cgroup; the client and the lan run in none.
declare -A BPF_CG2=() BPF_PIN2=()
bpf_cgroup_of()
{
	local n=$1
	[[ -n "${POD_NODE[$1]:-}" ]] && n=${POD_NODE[$1]}
	[[ -n "$BPF_CGROUP" ]] && echo "${BPF_CG2[$n]:-}"
}

# ---------------------------------------------------------------- topology

# setup_node2 NODE: a node namespace plugged into the lan bridge, forwarding on, its Service
# CIDR route (svc0, as in lib.sh) and no default route (nothing may leave our namespaces).
setup_node2()
{
	local n=$1 gw=${NODE_GW[$1]} ip=${NODE_IP[$1]} port
	port="l${n#node-}" # la / lb: the node's port on the lan bridge
	new_ns "$PFX-$n"
	in_ns "$n" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ||
		fail "$n sysctls"
	in_ns lan ip link add "$port" type veth peer name eth0 netns "$PFX-$n" || fail "veth $n <-> lan"
	in_ns lan ip link set "$port" master br0 || fail "$port on br0"
	in_ns lan ip link set "$port" up || fail "$port up"
	in_ns "$n" ip addr add "$ip/24" dev eth0 || fail "address on $n eth0"
	in_ns "$n" ip link set eth0 up || fail "$n eth0 up"
	in_ns "$n" ip link add svc0 type veth peer name svc0p || fail "$n veth svc0"
	in_ns "$n" ip addr add "$gw/32" dev svc0 || fail "$n address on svc0"
	in_ns "$n" ip link set svc0p up || fail "$n svc0p up"
	in_ns "$n" ip link set svc0 up || fail "$n svc0 up"
	in_ns "$n" ip route add "$SERVICE_CIDR" dev svc0 src "$gw" || fail "$n route $SERVICE_CIDR"
}

# add_pod2 NODE NAME IP: a pod on NODE (IP inside that node's /24), routed point-to-point.
add_pod2()
{
	local n=$1 name=$2 ip=$3 gw=${NODE_GW[$1]} ns host_if
	ns=$(ns_of "$name")
	NODE_NPODS[$n]=$((NODE_NPODS[$n] + 1))
	host_if="vp${NODE_NPODS[$n]}"
	new_ns "$ns"
	POD_IP[$name]=$ip
	POD_NODE[$name]=$n
	in_ns "$n" ip link add "$host_if" type veth peer name eth0 netns "$ns" || fail "veth for $name"
	in_ns "$n" ip addr add "$gw/32" dev "$host_if" || fail "gateway on $n $host_if"
	in_ns "$n" ip link set "$host_if" up || fail "$n $host_if up"
	in_ns "$n" ip route add "$ip/32" dev "$host_if" src "$gw" || fail "route to $name on $n"
	in_ns "$name" sysctl -qw net.ipv4.conf.all.accept_redirects=0 || fail "$name sysctls"
	in_ns "$name" ip addr add "$ip/32" dev eth0 || fail "address on $name"
	in_ns "$name" ip link set eth0 up || fail "$name eth0 up"
	in_ns "$name" ip route add "$gw" dev eth0 scope link || fail "$name gateway route"
	in_ns "$name" ip route add default via "$gw" dev eth0 || fail "$name default route"
}

# setup_2node: lan bridge, node-a, node-b, inter-node pod routes, the client with two
# addresses, and pods a1 a2 (node-a: 10.244.1.11, .12) and b1 b2 (node-b: 10.244.2.11, .12).
setup_2node()
{
	new_ns "$PFX-lan"
	in_ns lan ip link add br0 type bridge || skip "cannot create a bridge in a namespace"
	in_ns lan ip link set br0 up || fail "br0 up"
	setup_node2 node-a
	setup_node2 node-b
	in_ns node-a ip route add 10.244.2.0/24 via "$NODE_B_IP" || fail "node-a route to node-b pods"
	in_ns node-b ip route add 10.244.1.0/24 via "$NODE_A_IP" || fail "node-b route to node-a pods"

	new_ns "$PFX-client"
	in_ns lan ip link add lc type veth peer name eth0 netns "$PFX-client" || fail "veth client <-> lan"
	in_ns lan ip link set lc master br0 || fail "lc on br0"
	in_ns lan ip link set lc up || fail "lc up"
	in_ns client ip addr add "$CLIENT_IP/24" dev eth0 || fail "client address $CLIENT_IP"
	in_ns client ip addr add "$CLIENT_IP2/24" dev eth0 || fail "client address $CLIENT_IP2"
	in_ns client ip link set eth0 up || fail "client eth0 up"
	in_ns client ip route add "$EXT_NET" via "$NODE_A_IP" || fail "client route $EXT_NET"

	add_pod2 node-a a1 10.244.1.11
	add_pod2 node-a a2 10.244.1.12
	add_pod2 node-b b1 10.244.2.11
	add_pod2 node-b b2 10.244.2.12
	# DAD is off for veths' IPv4, but ARP on a fresh bridge: wait until the lan carries traffic.
	wait_for 5 in_ns client ping -c1 -W1 "$NODE_A_IP" || fail "client cannot ping node-a"
	wait_for 5 in_ns client ping -c1 -W1 "$NODE_B_IP" || fail "client cannot ping node-b"
}

# add_lan_addr WHO CIDR: one more address on WHO's lan interface (eth0).
add_lan_addr() { in_ns "$1" ip addr add "$2" dev eth0 || fail "address $2 on $1"; }

# ---------------------------------------------------------------- svcproxy

svcproxy2_table() { in_ns "$1" nft list table ip svcproxy; }
svcproxy2_up_or_dead() { svcproxy2_table "$1" || ! kill -0 "${SP2_PID[$1]}"; }

# start_svcproxy2 NODE [EXTRA ARGS...]: `svcproxy run` in NODE with --hostname-override NODE,
# the shared manifest directory, log in $WORK/svcproxy-NODE.log; waits for its table.
start_svcproxy2()
{
	local n=$1 pid dp_args run
	shift
	SP2_LOG[$n]="$WORK/svcproxy-$n.log"
	source_args "$PFX-node-a" "$NODE_A_IP:6443"
	mapfile -t dp_args < <(dataplane_args "${BPF_CG2[$n]:-}" "${BPF_PIN2[$n]:-}")
	mapfile -t run < <(ns_runner "$PFX-$n")
	echo "==== svcproxy run on $n ${SOURCE_ARGS[*]} ${dp_args[*]} $* ($(date +%T.%N))" >>"${SP2_LOG[$n]}"
	"${run[@]}" "$SVCPROXY" run "${SOURCE_ARGS[@]}" --hostname-override "$n" \
		--cluster-cidr "$CLUSTER_CIDR" --healthz-bind-address "$HEALTHZ" \
		--metrics-bind-address "$METRICS" --min-sync-period 100ms "${dp_args[@]}" "$@" \
		>>"${SP2_LOG[$n]}" 2>&1 &
	pid=$!
	SP2_PID[$n]=$pid
	wait_for 10 svcproxy2_up_or_dead "$n"
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		local st=$?
		SP2_PID[$n]=""
		fail "svcproxy run on $n exited early (status $st)"
	fi
	svcproxy2_table "$n" >/dev/null 2>&1 || fail "svcproxy on $n did not create table ip svcproxy within 10 s"
	log "svcproxy on $n running (pid $pid) after ${WAITED_MS} ms"
}

# start_svcproxy_both [EXTRA ARGS...]: the same options on both nodes.
start_svcproxy_both()
{
	start_svcproxy2 node-a "$@"
	start_svcproxy2 node-b "$@"
}

# svcproxy2_alive NODE: fail unless that node's svcproxy still runs.
svcproxy2_alive() { kill -0 "${SP2_PID[$1]}" 2>/dev/null || fail "svcproxy on $1 died (see log)"; }

# ---------------------------------------------------------------- traffic

# curl_from WHO URL [curl options...]: like http_get, with extra curl options (e.g.
# --interface 192.168.50.101 to pick the client's source address). Body on stdout.
curl_from()
{
	local who=$1 url=$2
	shift 2
	in_ns "$who" curl -sS --max-time "${CURL_TIMEOUT:-2}" "$@" "$url"
}

# curl_rc WHO URL [curl options...]: curl with a 1 s limit; prints "<exit status> <body>".
# 0 = answered, 7 = refused/unreachable, 28 = timed out (dropped).
curl_rc()
{
	local out rc err="$WORK/curl_rc.err"
	out=$(CURL_TIMEOUT=${CURL_TIMEOUT:-1} curl_from "$@" 2>"$err")
	rc=$?
	((rc == 0)) || log "$1 -> $2${3:+ (${*:3})}: $(tr '\n' ' ' <"$err")"
	printf '%s %s' "$rc" "$out"
}

# collect_answers N WHO URL [curl options...]: N requests; prints each distinct answer once
# (sorted); fails if any request is not answered.
collect_answers()
{
	local n=$1 who=$2 url=$3 i out
	shift 3
	for ((i = 0; i < n; i++)); do
		out=$(curl_from "$who" "$url" "$@") || fail "$who -> $url (request $((i + 1))/$n): curl exit $?"
		printf '%s\n' "$out"
	done | sort -u
}

# assert_answers_in N WHO URL ALLOWED [curl options...]: N requests, every answer must be one
# of the newline-separated ALLOWED lines and every ALLOWED line must be seen at least once.
assert_answers_in()
{
	local n=$1 who=$2 url=$3 allowed=$4 got
	shift 4
	got=$(collect_answers "$n" "$who" "$url" "$@") || exit 1
	allowed=$(sort -u <<<"$allowed")
	[[ "$got" == "$allowed" ]] ||
		fail "$who -> $url x$n: expected exactly the answers {$(tr '\n' ';' <<<"$allowed")} got {$(tr '\n' ';' <<<"$got")}"
	log "ok: $who -> $url x$n answered by {$(tr '\n' ';' <<<"$got")}"
}

# try_bind WHO tcp|udp ADDR PORT: tries to bind (and for TCP listen on) ADDR:PORT with
# SO_REUSEADDR inside WHO's namespace (socat, held for 0.5 s, then killed by timeout); prints
# "bound", "EADDRINUSE", or "error: <socat's message>".
try_bind()
{
	local who=$1 proto=$2 addr=$3 port=$4 spec err rc
	case "$proto" in
	tcp) spec="TCP4-LISTEN:$port,bind=$addr,reuseaddr" ;;
	udp) spec="UDP4-RECV:$port,bind=$addr,reuseaddr" ;;
	*) fail "try_bind: protocol $proto" ;;
	esac
	err=$(in_ns "$who" timeout 0.5 socat -u "$spec" /dev/null 2>&1)
	rc=$?
	if ((rc == 124)); then
		echo bound
	elif [[ "$err" == *"Address already in use"* ]]; then
		echo EADDRINUSE
	else
		echo "error: rc $rc: $err"
	fi
}

# ---------------------------------------------------------------- manifests

# slice2_yaml SERVICE PORT PROTO IP@NODE[/KEY=VALUE...]...: slice_yaml, its endpoints carrying
# nodeName (e.g. 10.244.1.11@node-a); conditions, zone, hints as slice_af_yaml's.
slice2_yaml() { slice_yaml "$@"; }
