# shellcheck shell=bash
# End-to-end test harness: a one-node "cluster" built from network namespaces.
#
#                      +-------------------- node ($NODE) --------------------+
#   pod-a  eth0 ------ vp1  10.244.1.1/32 (gateway, same address on every vpN) |
#   10.244.1.11/32     vp2  ...                                                |
#   pod-b  eth0 ------ svc0 (veth to nowhere): route 10.96.0.0/16, so the     |
#   ...                node's own connects to ClusterIPs have a first route    |
#   ext    eth0 ------ ext0 192.168.77.1/24                                    |
#   192.168.77.2/24    ip_forward=1, svcproxy runs here                        |
#                      +-------------------------------------------------------+
#
# Pods are routed point-to-point (like the CNI "ptp" plugin / Calico): every pod has a /32 and
# a default route to the node, so pod-to-pod traffic, including the replies of a DNATed
# connection, always crosses the node's IP layer, where conntrack un-NATs it. (With a bridge,
# same-bridge replies would bypass the node's IP layer unless br_netfilter is loaded, and
# loading kernel modules is not something a test may do to its host.) Masqueraded traffic
# leaves towards pods from 10.244.1.1 ($GW), the node address a backend then sees.
#
# Everything lives in namespaces named "sp<pid>-*" that this process creates; nothing is
# created or changed in the root namespace. Call `harness_init` first: it installs the
# EXIT/INT/TERM trap that kills what we started and deletes what we created.
#
# A test exits 0 (pass), 1 (fail, via `fail`) or 77 (skip, via `skip`).
#
# E2E_DATAPLANE=bpf runs the same test against `--dataplane bpf` (run.sh: "t_x:bpf"):
# harness_init creates a cgroup v2 child of our own, $BPF_CGROUP ("sp<pid>-test"), and an empty
# directory for a private bpffs ($BPF_PIN's parent, which svcproxy mounts itself); svcproxy
# attaches there, never to the machine's root cgroup, and every process in_ns starts in the
# node or a pod joins $BPF_CGROUP, so the socket programs see exactly the test's clients. The
# external client ("ext") stays outside it: its traffic enters the node as a packet, like a
# real outside client's. svcproxy itself is started with nsenter --net rather than
# `ip netns exec`, whose private /sys hides the cgroup2 mount and whose mount namespace would
# take the bpffs (and the pinned links) with it when svcproxy exits.

set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$E2E_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
SVCPROXY=${SVCPROXY:-$BUILD_DIR/svcproxy}
PODSERVER=${PODSERVER:-$BUILD_DIR/tests/podserver}
UDPCLIENT=${UDPCLIENT:-$BUILD_DIR/tests/udpclient}

PFX="sp$$"
NODE="$PFX-node"
EXT="$PFX-ext"
GW=10.244.1.1
EXT_NODE_IP=192.168.77.1
EXT_IP=192.168.77.2
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
HEALTHZ=127.0.0.1:10256
METRICS=127.0.0.1:10249
E2E_DATAPLANE=${E2E_DATAPLANE:-nft}
BPF_CGROUP=""   # bpf: the test's cgroup v2 directory
BPF_CG_HOME=""  # bpf: the cgroup this shell came from, to go back to before removing ours
BPF_PIN=""      # bpf: svcproxy's --bpf-pin-path, inside our private bpffs

WORK=""
MANIFESTS=""
SP_LOG=""
SP_PID=""
NAMESPACES=()
BG_PIDS=()
declare -A POD_IP=()
declare -A POD_IF=()  # pod name -> its veth's name on the node side (vpN)
declare -A POD_IP6=() # pod name -> its IPv6 address, for pods given one by add_pod6
NPODS=0

log() { printf '# %s\n' "$*" >&2; }

# ---------------------------------------------------------------- results

# Prints diagnostics (svcproxy log, its ruleset) to stderr; run.sh shows the tail on failure.
dump_debug()
{
	if [[ -n "$SP_LOG" && -s "$SP_LOG" ]]; then
		echo "---- svcproxy log (last 40 lines of $SP_LOG)" >&2
		tail -n 40 "$SP_LOG" >&2
	fi
	if ns_exists "$NODE"; then
		echo "---- nft list table ip svcproxy (node, first 100 lines)" >&2
		ip netns exec "$NODE" nft list table ip svcproxy 2>&1 | head -n 100 >&2
		if ((${#POD_IP6[@]} > 0)) && ip netns exec "$NODE" nft list table ip6 svcproxy >/dev/null 2>&1; then
			echo "---- nft list table ip6 svcproxy (node, first 100 lines)" >&2
			ip netns exec "$NODE" nft list table ip6 svcproxy 2>&1 | head -n 100 >&2
		fi
	fi
}

fail()
{
	echo "FAIL: $*" >&2
	dump_debug
	exit 1
}

skip()
{
	echo "SKIP: $*" >&2
	exit 77
}

pass()
{
	[[ -n "$BPF_PIN" && -z "$BPF_ASSERTED" ]] && bpf_assert_used
	echo "PASS: ${*:-ok}" >&2
	exit 0
}

assert_eq() # EXPECTED ACTUAL WHAT
{
	[[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
	log "ok: $3 = '$2'"
}

assert_ne() # UNEXPECTED ACTUAL WHAT
{
	[[ "$1" != "$2" ]] || fail "$3: did not expect '$2'"
	log "ok: $3 != '$1'"
}

assert_contains() # HAYSTACK NEEDLE WHAT
{
	[[ "$1" == *"$2"* ]] || fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 2000)"
	log "ok: $3 contains '$2'"
}

assert_not_contains() # HAYSTACK NEEDLE WHAT
{
	[[ "$1" != *"$2"* ]] || fail "$3: '$2' unexpectedly found in: $(printf '%s' "$1" | head -c 2000)"
	log "ok: $3 does not contain '$2'"
}

# ---------------------------------------------------------------- helpers

# now_ms: wall-clock milliseconds since the epoch (also the clock of udpclient's stream lines).
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_for SECONDS CMD...: runs CMD every 100 ms until it succeeds; 1 on timeout.
# Sets WAITED_MS to how long it took.
WAITED_MS=0
wait_for()
{
	local timeout_ms start
	timeout_ms=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }')
	shift
	start=$(now_ms)
	while :; do
		if "$@" >/dev/null 2>&1; then
			WAITED_MS=$(($(now_ms) - start))
			return 0
		fi
		WAITED_MS=$(($(now_ms) - start))
		((WAITED_MS < timeout_ms)) || return 1
		sleep 0.1
	done
}

# grep -q "$@" over the whole of stdin. The tests run under pipefail, and grep -q exits at the
# first match: a producer with more to write then dies of SIGPIPE and the pipeline fails,
# the match turning into a failure (or a negated test into a false pass). This reads all first.
has_match()
{
	local all
	all=$(cat)
	grep -q "$@" <<<"$all"
}

ns_exists() { [[ -n "$1" ]] && ip netns list 2>/dev/null | has_match -w -- "$1"; }

# Namespace of WHO: "node", "ext", or a pod name given to add_pod.
ns_of()
{
	case "$1" in
	node) echo "$NODE" ;;
	ext) echo "$EXT" ;;
	*) echo "$PFX-$1" ;;
	esac
}

# in_ns WHO CMD...: runs CMD inside WHO's network namespace (and, with the bpf dataplane, in
# WHO's node's cgroup, see bpf_cgroup_of).
in_ns()
{
	local ns cg
	ns=$(ns_of "$1")
	cg=$(bpf_cgroup_of "$1")
	shift
	if [[ -n "$cg" ]]; then
		# shellcheck disable=SC2016
		sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" ip netns exec "$ns" "$@"
		return
	fi
	ip netns exec "$ns" "$@"
}

# bpf_cgroup_of WHO: the cgroup WHO's processes run in with the bpf dataplane ("" for none:
# the nft dataplane, or the external client). lib2node.sh has one cgroup per node.
bpf_cgroup_of()
{
	[[ -n "$BPF_CGROUP" && "$1" != ext ]] && echo "$BPF_CGROUP"
}

# ns_runner NS: the command prefix (one word a line) that runs svcproxy in network namespace
# NS; see the header for why bpf uses nsenter. Use as an array, so that `&` gives the PID of
# svcproxy itself.
ns_runner()
{
	if [[ "$E2E_DATAPLANE" == bpf ]]; then
		printf '%s\n' nsenter --net="/run/netns/$1"
	else
		printf '%s\n' ip netns exec "$1"
	fi
}

# node_exec CMD...: runs CMD in the node's network namespace by ns_runner.
node_exec()
{
	local run
	mapfile -t run < <(ns_runner "$NODE")
	"${run[@]}" "$@"
}

# dataplane_args [CGROUP PIN]: svcproxy's dataplane options for this run (none for nft);
# default the test's cgroup and pin path.
dataplane_args()
{
	[[ "$E2E_DATAPLANE" == bpf ]] &&
		printf '%s\n' --dataplane bpf --cgroup-root "${1:-$BPF_CGROUP}" --bpf-pin-path "${2:-$BPF_PIN}"
}

# pin_args: svcproxy show's and trace's option naming this run's bpf pins (none for nft).
pin_args()
{
	[[ -n "$BPF_PIN" ]] && printf '%s\n' --bpf-pin-path "$BPF_PIN"
}

# ---------------------------------------------------------------- lifecycle

cleanup()
{
	local rc=$? pid ns i
	trap - EXIT INT TERM
	set +e
	if [[ -n "$SP_PID" ]] && kill -0 "$SP_PID" 2>/dev/null; then
		kill -TERM "$SP_PID" 2>/dev/null
		for _ in $(seq 20); do kill -0 "$SP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SP_PID" 2>/dev/null
		wait "$SP_PID" 2>/dev/null
	fi
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if ns_exists "$NODE" && [[ -x "$SVCPROXY" ]]; then
		if [[ -n "$BPF_PIN" ]]; then
			node_exec "$SVCPROXY" cleanup --bpf-pin-path "$BPF_PIN" >/dev/null 2>&1
		else
			ip netns exec "$NODE" "$SVCPROXY" cleanup >/dev/null 2>&1
		fi
	fi
	for ((i = ${#NAMESPACES[@]} - 1; i >= 0; i--)); do
		ns=${NAMESPACES[i]}
		ns_exists "$ns" || continue
		# Anything still inside one of our namespaces was started by this test.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	bpf_teardown
	if [[ -n "$WORK" && -d "$WORK" ]]; then
		if ((rc != 0 && rc != 77)) && [[ -n "${E2E_KEEP_LOGS:-}" ]]; then
			echo "logs kept in $WORK" >&2
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}

# harness_init: checks prerequisites (skip if the host cannot run these tests at all; fail if
# the build is missing), creates the work directory and installs the cleanup trap.
harness_init()
{
	((EUID == 0)) || skip "needs root (network namespaces, nftables)"
	command -v ip >/dev/null || skip "iproute2 (ip) not installed"
	command -v curl >/dev/null || skip "curl not installed"
	[[ -x "$SVCPROXY" ]] || fail "svcproxy not built: $SVCPROXY (run make build)"
	[[ -x "$PODSERVER" ]] || fail "podserver not built: $PODSERVER (run make build)"
	[[ -x "$UDPCLIENT" ]] || fail "udpclient not built: $UDPCLIENT (run make build)"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$PFX.XXXXXX")
	MANIFESTS="$WORK/manifests"
	SP_LOG="$WORK/svcproxy.log"
	mkdir -p "$MANIFESTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[[ "$E2E_DATAPLANE" == bpf ]] && bpf_setup
	[[ "$E2E_DATAPLANE" == nft || "$E2E_DATAPLANE" == bpf ]] ||
		fail "E2E_DATAPLANE=$E2E_DATAPLANE: neither nft nor bpf"
}

# bpf_setup: the cgroup of the test's clients and the bpffs mount point (svcproxy mounts it).
bpf_setup()
{
	local mnt home
	command -v nsenter >/dev/null || skip "nsenter (util-linux) not installed"
	mnt=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
	[[ -n "$mnt" ]] || skip "no cgroup v2 mount: the bpf dataplane needs one"
	home=$(sed -n 's/^0::\(.*\)$/\1/p' /proc/self/cgroup)
	BPF_CG_HOME="$mnt${home%/}"
	[[ -d "$BPF_CG_HOME" ]] || skip "our cgroup $BPF_CG_HOME is not visible"
	mkdir "/tmp/$PFX-bpffs" || fail "cannot create /tmp/$PFX-bpffs"
	bpf_new_cgroup test BPF_CGROUP
	BPF_PIN="/tmp/$PFX-bpffs/svcproxy"
	BPF_PINS=("$BPF_PIN")
	log "bpf dataplane: cgroup $BPF_CGROUP, pins under $BPF_PIN"
}

# bpf_new_cgroup NAME VAR: creates the cgroup sp<pid>-NAME (a child of ours, never the root of
# the hierarchy) and sets VAR to its path; bpf_teardown removes it. (Not run in $(...): the
# list of cgroups to remove must be this shell's.)
BPF_CGROUPS=()
BPF_PINS=() # every --bpf-pin-path in use: bpf_assert_used sums their counters
bpf_new_cgroup()
{
	local cg="$BPF_CG_HOME/$PFX-$1"
	mkdir "$cg" || fail "cannot create cgroup $cg"
	BPF_CGROUPS+=("$cg")
	printf -v "$2" '%s' "$cg"
}

# bpf_assert_used: with the bpf dataplane, a passing test must have had its socket programs
# decide something (translate or refuse), or it proved nothing about them. pass() calls it
# unless the test did (before a cleanup, say).
# A test whose clients all sit outside the node, or whose connects the programs must leave alone
# (127.0.0.1:NodePort), sets BPF_EXPECT_IDLE=1: its [bpf] run proves that the table kept beside
# the socket programs serves that traffic, so the check is that every table is of that scope.
BPF_ASSERTED=""
BPF_EXPECT_IDLE=""
bpf_assert_used()
{
	local out n=0 pin ns
	if [[ -n "$BPF_EXPECT_IDLE" ]]; then
		for ns in "${NAMESPACES[@]}"; do
			out=$(ip netns exec "$ns" nft list table ip svcproxy 2>/dev/null) || continue
			assert_contains "$out" "scope entering" "table ip svcproxy in $ns beside the bpf dataplane"
			n=$((n + 1))
		done
		((n > 0)) || fail "no table ip svcproxy in any namespace of the test"
		BPF_ASSERTED=1
		return
	fi
	for pin in "${BPF_PINS[@]}"; do
		out=$(node_exec "$SVCPROXY" show bpf --bpf-pin-path "$pin" 2>&1) ||
			fail "svcproxy show bpf --bpf-pin-path $pin: $out"
		n=$((n + $(awk '/translated|refused/ { n += $NF } END { print n + 0 }' <<<"$out")))
		log "bpf counters ($pin): $(grep -A9 '^counters:' <<<"$out" | tr -s ' ' | tr '\n' ';')"
	done
	((n > 0)) || fail "the bpf programs translated or refused nothing: $out"
	BPF_ASSERTED=1
}

# bpf_delete_service ADDR PORT tcp|udp: deletes an IPv4 Service entry from the bpf dataplane's
# map behind svcproxy's back (drift tests). Key layout: src/dataplane/bpf/sock.h.
bpf_delete_service()
{
	local key
	key=$(printf '%s' "$1" | awk -F. '{ printf "%d %d %d %d", $1, $2, $3, $4 }')
	key+=" $(($2 >> 8)) $(($2 & 255)) $([[ $3 == udp ]] && echo 17 || echo 6) 0"
	# shellcheck disable=SC2086
	bpftool map delete pinned "$BPF_PIN/sp_services4" key $key
}

# bpf_teardown: our cgroup (once its processes are gone) and the bpffs, if any.
bpf_teardown()
{
	local pid cg
	for cg in "${BPF_CGROUPS[@]}"; do
		[[ -d "$cg" ]] || continue
		for pid in $(cat "$cg/cgroup.procs" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null # only processes this test started are in it
		done
		for _ in $(seq 30); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
		[[ -d "$cg" ]] && echo "could not remove cgroup $cg" >&2
	done
	if [[ -n "$BPF_PIN" ]]; then
		mountpoint -q "/tmp/$PFX-bpffs" && umount "/tmp/$PFX-bpffs"
		rmdir "/tmp/$PFX-bpffs" 2>/dev/null
	fi
}

new_ns()
{
	ip netns add "$1" || skip "cannot create network namespace $1 (no netns support?)"
	NAMESPACES+=("$1")
	ip netns exec "$1" ip link set lo up || fail "lo up in $1"
}

# setup_node: the node namespace, forwarding on, redirects off, a route for the Service CIDR.
setup_node()
{
	new_ns "$NODE"
	in_ns node sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ||
		fail "node sysctls"
	# No dummy driver everywhere (it may be a module we must not load): a veth pair whose
	# far end never answers ARP for a Service address stands in for a blackhole device.
	in_ns node ip link add svc0 type veth peer name svc0p || fail "veth svc0"
	in_ns node ip addr add "$GW/32" dev svc0 || fail "address on svc0"
	in_ns node ip link set svc0p up || fail "svc0p up"
	in_ns node ip link set svc0 up || fail "svc0 up"
	in_ns node ip route add "$SERVICE_CIDR" dev svc0 src "$GW" || fail "route $SERVICE_CIDR"
}

# add_pod NAME IP: a pod namespace with eth0 IP/32, default route via the node.
add_pod()
{
	local name=$1 ip=$2 ns host_if
	ns=$(ns_of "$name")
	NPODS=$((NPODS + 1))
	host_if="vp$NPODS"
	new_ns "$ns"
	POD_IP[$name]=$ip
	POD_IF[$name]=$host_if
	in_ns node ip link add "$host_if" type veth peer name eth0 netns "$ns" ||
		fail "veth for $name"
	in_ns node ip addr add "$GW/32" dev "$host_if" || fail "gateway on $host_if"
	in_ns node ip link set "$host_if" up || fail "$host_if up"
	in_ns node ip route add "$ip/32" dev "$host_if" src "$GW" || fail "route to $name"
	in_ns "$name" sysctl -qw net.ipv4.conf.all.accept_redirects=0 || fail "$name sysctls"
	in_ns "$name" ip addr add "$ip/32" dev eth0 || fail "address on $name"
	in_ns "$name" ip link set eth0 up || fail "$name eth0 up"
	in_ns "$name" ip route add "$GW" dev eth0 scope link || fail "$name gateway route"
	in_ns "$name" ip route add default via "$GW" dev eth0 || fail "$name default route"
}

# add_external: a client outside the cluster CIDR, reaching ClusterIPs through the node.
add_external()
{
	new_ns "$EXT"
	in_ns node ip link add ext0 type veth peer name eth0 netns "$EXT" || fail "veth for ext"
	in_ns node ip addr add "$EXT_NODE_IP/24" dev ext0 || fail "address on ext0"
	in_ns node ip link set ext0 up || fail "ext0 up"
	in_ns ext ip addr add "$EXT_IP/24" dev eth0 || fail "address on ext"
	in_ns ext ip link set eth0 up || fail "ext eth0 up"
	in_ns ext ip route add default via "$EXT_NODE_IP" || fail "ext default route"
}

# setup_cluster N: node + N pods pod-a.. (10.244.1.11..) + the external client.
setup_cluster()
{
	local names=(pod-a pod-b pod-c pod-d pod-e) i
	setup_node
	for ((i = 0; i < $1; i++)); do
		add_pod "${names[i]}" "10.244.1.$((11 + i))"
	done
	add_external
}

# start_podserver POD NAME PORT [PORT...] [--udp|--tcp]: runs podserver in POD, waits "ready".
PS_COUNT=0
start_podserver()
{
	local pod=$1 name=$2 out args=()
	shift 2
	for a in "$@"; do
		case "$a" in
		--*) args+=("$a") ;;
		*) args+=(--port "$a") ;;
		esac
	done
	PS_COUNT=$((PS_COUNT + 1))
	out="$WORK/podserver-$PS_COUNT-$name.out"
	in_ns "$pod" "$PODSERVER" --name "$name" "${args[@]}" >"$out" 2>&1 &
	BG_PIDS+=($!)
	wait_for 5 grep -qx ready "$out" || fail "podserver $name in $pod not ready: $(cat "$out")"
}

svcproxy_table_present() { in_ns node nft list table ip svcproxy; }
svcproxy_up_or_dead() { svcproxy_table_present || ! kill -0 "$SP_PID"; }

# start_svcproxy [EXTRA ARGS...]: `svcproxy run` in the node, log in $SP_LOG; waits until its
# table exists (the first sync is one transaction, so then everything in it is programmed).
start_svcproxy()
{
	local dp_args run
	source_args "$NODE" 127.0.0.1:6443
	mapfile -t dp_args < <(dataplane_args)
	mapfile -t run < <(ns_runner "$NODE")
	echo "==== svcproxy run ${SOURCE_ARGS[*]} ${dp_args[*]} $* ($(date +%T.%N))" >>"$SP_LOG"
	"${run[@]}" "$SVCPROXY" run "${SOURCE_ARGS[@]}" \
		--cluster-cidr "$CLUSTER_CIDR" --healthz-bind-address "$HEALTHZ" \
		--metrics-bind-address "$METRICS" --min-sync-period 100ms "${dp_args[@]}" "$@" \
		>>"$SP_LOG" 2>&1 &
	SP_PID=$!
	wait_for 10 svcproxy_up_or_dead
	if ! kill -0 "$SP_PID" 2>/dev/null; then
		wait "$SP_PID"
		fail "svcproxy run exited early (status $?)"
	fi
	svcproxy_table_present >/dev/null 2>&1 ||
		fail "svcproxy did not create table ip svcproxy within 10 s"
	kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run exited after its first sync"
	log "svcproxy running (pid $SP_PID), table present after ${WAITED_MS} ms"
}

# stop_svcproxy: SIGTERM, wait; sets SP_RC to its exit status.
SP_RC=""
stop_svcproxy()
{
	[[ -n "$SP_PID" ]] || return 0
	kill -TERM "$SP_PID" 2>/dev/null
	wait "$SP_PID"
	SP_RC=$?
	SP_PID=""
}

# ---------------------------------------------------------------- traffic

# http_get WHO URL: body on stdout, curl's stderr on stderr, curl's exit status.
http_get()
{
	in_ns "$1" curl -sS --max-time "${CURL_TIMEOUT:-2}" "$2"
}

# http_ok WHO URL: true when the request gets an answer (used with wait_for).
http_ok() { http_get "$@" >/dev/null 2>&1; }

# http_fails WHO URL: true when the request gets no answer within 1 s (used with wait_for).
http_fails() { ! CURL_TIMEOUT=1 http_get "$@" >/dev/null 2>&1; }

# http_refused WHO URL: true when curl fails with "connection refused" (exit 7).
http_refused()
{
	CURL_TIMEOUT=1 http_get "$@" >/dev/null 2>&1
	[[ $? -eq 7 ]]
}

# udp_get WHO ADDR:PORT [udpclient options]: one datagram (from a fresh source port unless
# --sport is given), the reply on stdout; exit 0 reply, 1 none within 1 s, 3 refused.
udp_get()
{
	local who=$1 dst=$2
	shift 2
	in_ns "$who" "$UDPCLIENT" "$@" "$dst"
}

udp_ok() { [[ -n "$(udp_get "$@" 2>/dev/null)" ]]; }

# ---------------------------------------------------------------- manifests

# Writers of the objects svcproxy reads, one YAML document each on stdout, no "---" around it
# (callers separate documents with `echo ---`). A test states its objects with these rather
# than with heredocs of its own; only tests of YAML handling itself write text by hand.

# yaml_list A,B,...: a YAML flow sequence of quoted strings: ["A", "B"]; "" gives [].
yaml_list()
{
	local out="" x
	local -a xs
	IFS=, read -ra xs <<<"$1"
	for x in "${xs[@]}"; do out+="${out:+, }\"$x\""; done
	echo "[$out]"
}

# service_yaml NAME CLUSTERIP [PORT TARGETPORT PROTO] [KEY=VALUE...]: a Service in namespace
# default with the one port PORT -> TARGETPORT/PROTO, or the ports of ports=. Keys:
#   type=ClusterIP|NodePort|LoadBalancer   spec.type (default ClusterIP)
#   nodePort=N                 the nodePort of the one port
#   ports=P,P...               P is NAME:PORT:TARGETPORT:PROTO[:NODEPORT]; NAME may be empty,
#                              TARGETPORT a number or a container port name
#   etp=POLICY  itp=POLICY     externalTrafficPolicy, internalTrafficPolicy
#   healthCheckNodePort=N      externalIPs=IP,...
#   sourceRanges=CIDR,...      loadBalancerSourceRanges
#   lbIP=IP                    status.loadBalancer.ingress[0].ip
#   affinity=ClientIP[:SECS]   sessionAffinity, with sessionAffinityConfig's timeoutSeconds
#   ipFamilies=F,...  ipFamilyPolicy=P  clusterIPs=IP,...  trafficDistribution=V
service_yaml()
{
	local name=$1 cip=$2 kv k v type=ClusterIP ports="" np="" lbip="" p pname pport target proto pnp
	local -a spec=() plist=()
	shift 2
	if (($# >= 3)) && [[ "$1" != *=* ]]; then
		ports=":$1:$2:$3"
		shift 3
	fi
	for kv in "$@"; do
		k=${kv%%=*} v=${kv#*=}
		case $k in
		type) type=$v ;;
		nodePort) np=$v ;;
		ports) ports=$v ;;
		etp) spec+=("externalTrafficPolicy: $v") ;;
		itp) spec+=("internalTrafficPolicy: $v") ;;
		healthCheckNodePort) spec+=("healthCheckNodePort: $v") ;;
		externalIPs) spec+=("externalIPs: $(yaml_list "$v")") ;;
		sourceRanges) spec+=("loadBalancerSourceRanges: $(yaml_list "$v")") ;;
		lbIP) lbip=$v ;;
		affinity)
			spec+=("sessionAffinity: ${v%%:*}")
			[[ "$v" == *:* ]] &&
				spec+=("sessionAffinityConfig:"$'\n'"    clientIP:"$'\n'"      timeoutSeconds: ${v#*:}")
			;;
		ipFamilies | clusterIPs) spec+=("$k: $(yaml_list "$v")") ;;
		ipFamilyPolicy | trafficDistribution) spec+=("$k: $v") ;;
		*) fail "service_yaml $name: unknown option '$kv'" ;;
		esac
	done
	[[ -n "$ports" ]] || fail "service_yaml $name: no ports"
	printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\n  namespace: default\n' "$name"
	printf 'spec:\n  type: %s\n  clusterIP: %s\n' "$type" "$cip"
	((${#spec[@]} == 0)) || printf '  %s\n' "${spec[@]}"
	echo "  ports:"
	IFS=, read -ra plist <<<"$ports"
	for p in "${plist[@]}"; do
		IFS=: read -r pname pport target proto pnp <<<"$p"
		[[ -n "$pname" ]] && printf '  - name: %s\n    port: %s\n' "$pname" "$pport" ||
			printf '  - port: %s\n' "$pport"
		printf '    targetPort: %s\n    protocol: %s\n' "$target" "$proto"
		pnp=${pnp:-$np}
		[[ -z "$pnp" ]] || printf '    nodePort: %s\n' "$pnp"
	done
	[[ -z "$lbip" ]] || printf 'status:\n  loadBalancer:\n    ingress:\n    - ip: %s\n' "$lbip"
}

# node_yaml NAME [LABEL=VALUE...]: a v1 Node with those labels.
node_yaml()
{
	local kv
	printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n' "$1"
	(($# > 1)) && echo "  labels:"
	for kv in "${@:2}"; do printf '    %s: %s\n' "${kv%%=*}" "${kv#*=}"; done
}

# slice_yaml SERVICE PORT PROTO EP...: the EndpointSlice SERVICE-1 of slice_af_yaml, IPv4.
slice_yaml() { slice_af_yaml "$1-1" "$1" IPv4 "$2" "$3" "${@:4}"; }

# slice_head SLICE SERVICE IPv4|IPv6 PORTS PROTO: an EndpointSlice up to "endpoints:"; the
# caller writes the endpoints. PORTS is one port number (an unnamed port) or a comma list of
# [NAME:]PORT[:PROTO] (PROTO defaults to the PROTO argument).
slice_head()
{
	local p pname pport proto
	local -a plist
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s\n' "$1"
	printf '  namespace: default\n  labels:\n    kubernetes.io/service-name: %s\n' "$2"
	printf 'addressType: %s\nports:\n' "$3"
	IFS=, read -ra plist <<<"$4"
	for p in "${plist[@]}"; do
		pname="" proto=$5
		[[ "${p%%:*}" =~ ^[0-9]+$ ]] || { pname=${p%%:*} p=${p#*:}; }
		pport=${p%%:*}
		[[ "$p" == *:* ]] && proto=${p#*:}
		[[ -n "$pname" ]] && printf -- '- name: %s\n  port: %s\n' "$pname" "$pport" ||
			printf -- '- port: %s\n' "$pport"
		printf '  protocol: %s\n' "$proto"
	done
	echo "endpoints:"
}

# slice_af_yaml SLICE SERVICE IPv4|IPv6 PORTS PROTO EP...: an EndpointSlice named SLICE of that
# address type (PORTS as for slice_head), one endpoint per EP, which is IP[@NODE][/KEY=VALUE...]:
#   @NODE                      nodeName
#   ready=B serving=B terminating=B   conditions (ready defaults to true; the others are
#                              written only when given)
#   zone=Z                     zone
#   hints=Z[+Z...]             hints.forZones
slice_af_yaml()
{
	local ep addr kv cond hints z
	local -a attrs zs
	slice_head "$@"
	shift 5
	if (($# == 0)); then
		echo "  []"
		return
	fi
	for ep in "$@"; do
		IFS=/ read -ra attrs <<<"$ep"
		addr=${attrs[0]}
		echo "- addresses: [\"${addr%@*}\"]"
		[[ "$addr" == *@* ]] && echo "  nodeName: ${addr#*@}"
		cond="ready: true" hints=""
		for kv in "${attrs[@]:1}"; do
			case ${kv%%=*} in
			ready) cond=${cond/ready: true/ready: ${kv#*=}} ;;
			serving | terminating) cond+=", ${kv%%=*}: ${kv#*=}" ;;
			zone) echo "  zone: ${kv#*=}" ;;
			hints)
				IFS=+ read -ra zs <<<"${kv#*=}"
				for z in "${zs[@]}"; do hints+="${hints:+, }{name: $z}"; done
				echo "  hints: {forZones: [$hints]}"
				;;
			*) fail "slice_af_yaml $1: endpoint $ep: unknown attribute '$kv'" ;;
			esac
		done
		echo "  conditions: {$cond}"
	done
}

# simple_service NAME CLUSTERIP PORT TARGETPORT PROTO IP...: Service + EndpointSlice, one doc.
simple_service()
{
	local name=$1 cip=$2 port=$3 tport=$4 proto=$5
	shift 5
	service_yaml "$name" "$cip" "$port" "$tport" "$proto"
	echo "---"
	slice_yaml "$name" "$tport" "$proto" "$@"
}

# write_manifest FILE: stdin to $MANIFESTS/FILE atomically (temp file + rename); in API mode
# the API server's objects are then made equal to the directory's.
write_manifest()
{
	local tmp="$MANIFESTS/.$1.tmp"
	cat >"$tmp" && mv -f "$tmp" "$MANIFESTS/$1" && api_sync
}

# remove_manifest FILE: deletes $MANIFESTS/FILE (in API mode: and its objects from the server).
remove_manifest()
{
	rm -f "$MANIFESTS/$1" && api_sync
}

# ---------------------------------------------------------------- the source: files or the API
#
# E2E_SOURCE=manifests (the default): svcproxy reads $MANIFESTS. E2E_SOURCE=api (run.sh's
# second pass, "t_x[api]"): the test API server (tests/apiserver) runs in the node namespace
# on 127.0.0.1:6443 (two nodes: on node-a's LAN address), is loaded with $MANIFESTS when
# svcproxy starts, and write_manifest/remove_manifest make its objects equal to the
# directory's (apiserver-ctl sync); svcproxy runs with --kubeconfig instead of --manifests
# (and --nodeport-addresses all, the manifests' default; a test's own flag comes after it).
# A test that cannot work that way says so on a line of its own:
#   # e2e-api: n/a - <why>
# and run.sh lists it as not applicable in API mode instead of running it.
# E2E_API_H2=1 (with E2E_SOURCES=api): svcproxy reaches the server through the HTTP/2 front
# (tests/apiserver/h2front.py) on port 6444 of the same address, as it would speak to a real
# kube-apiserver; apictl still talks to the server itself.

E2E_SOURCE=${E2E_SOURCE:-manifests}
. "$E2E_DIR/lib_apiserver.sh"

api_mode() { [[ "$E2E_SOURCE" == api ]]; }

# api_sync: in API mode, once the server runs, make its objects those of $MANIFESTS.
api_sync()
{
	local out
	[[ -n "$APISERVER_PID" ]] || return 0
	out=$(apictl sync "$MANIFESTS" 2>&1) || fail "apiserver-ctl sync $MANIFESTS: $out"
}

# source_args NS HOST:PORT: sets SOURCE_ARGS to the arguments naming svcproxy's source; in
# API mode starts the API server in NS on HOST:PORT first (once) and loads $MANIFESTS into it.
SOURCE_ARGS=()
source_args()
{
	if ! api_mode; then
		SOURCE_ARGS=(--manifests "$MANIFESTS")
		return
	fi
	if [[ -z "$APISERVER_PID" ]]; then
		start_apiserver "$1" "$2"
		# E2E_API_H2=1: svcproxy talks to it through the HTTP/2 front, on port 6444
		if [[ "${E2E_API_H2:-}" == 1 ]]; then
			start_h2front "$1" "${2%:*}:6444"
			KUBECONFIG_TOKEN=$KUBECONFIG_H2
		fi
	fi
	api_sync
	# with an API source NodePorts default to the node's primary IP (kube-proxy's nftables
	# default); the tests were written for the manifests' default, every address
	SOURCE_ARGS=(--kubeconfig "$KUBECONFIG_TOKEN" --nodeport-addresses all)
}

# ---------------------------------------------------------------- issue 5: IPv6, pods, streams
#
# IPv6 mirrors the IPv4 layout: the node has $GW6 on svc0 and on every pod's vpN, pods get a
# /128 (no DAD: `nodad`, so the address is usable at once) and a default route via $GW6, and
# the node routes each pod's /128 to its veth. IPv6 Service addresses come from
# $SERVICE_CIDR6 (routed to svc0, like $SERVICE_CIDR). Only sysctls inside our namespaces.
# For IPv6 or dual-stack tests start svcproxy with CLUSTER_CIDR="$CLUSTER_CIDR_DS".

GW6=fd00:10:244:1::1
SERVICE_CIDR6=fd00:10:96::/108
CLUSTER_CIDR6=fd00:10:244::/48
CLUSTER_CIDR_DS="$CLUSTER_CIDR,$CLUSTER_CIDR6"

# setup_node6: IPv6 forwarding in the node and the IPv6 Service route. After setup_node.
setup_node6()
{
	in_ns node sysctl -qw net.ipv6.conf.all.forwarding=1 \
		net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.default.accept_redirects=0 ||
		fail "node IPv6 sysctls"
	in_ns node ip -6 addr add "$GW6/128" dev svc0 nodad || fail "IPv6 address on svc0"
	in_ns node ip -6 route add "$SERVICE_CIDR6" dev svc0 src "$GW6" || fail "route $SERVICE_CIDR6"
}

# add_pod6 NAME IP6: gives pod NAME (made by add_pod) the IPv6 address IP6/128, routed like
# its IPv4 one. Call setup_node6 first.
add_pod6()
{
	local name=$1 ip6=$2 host_if=${POD_IF[$1]:-}
	[[ -n "$host_if" ]] || fail "add_pod6: no pod $name (add_pod first)"
	POD_IP6[$name]=$ip6
	in_ns node ip -6 addr add "$GW6/128" dev "$host_if" nodad || fail "IPv6 gateway on $host_if"
	in_ns node ip -6 route add "$ip6/128" dev "$host_if" src "$GW6" || fail "IPv6 route to $name"
	in_ns "$name" sysctl -qw net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.all.accept_ra=0 ||
		fail "$name IPv6 sysctls"
	in_ns "$name" ip -6 addr add "$ip6/128" dev eth0 nodad || fail "IPv6 address on $name"
	in_ns "$name" ip -6 route add "$GW6/128" dev eth0 || fail "$name IPv6 gateway route"
	in_ns "$name" ip -6 route add default via "$GW6" dev eth0 || fail "$name IPv6 default route"
}

# setup_cluster_ds N: setup_cluster N plus IPv6: pod-a.. also get fd00:10:244:1::11.. .
setup_cluster_ds()
{
	local names=(pod-a pod-b pod-c pod-d pod-e) i
	setup_cluster "$1"
	setup_node6
	for ((i = 0; i < $1; i++)); do
		add_pod6 "${names[i]}" "fd00:10:244:1::$((11 + i))"
	done
}

# stop_pod WHO: kills every process in WHO's namespace (all started by this test), as if the
# pod were deleted, and waits until they are gone (at most 2 s, then SIGKILL).
stop_pod()
{
	local ns pid
	ns=$(ns_of "$1")
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 20); do
		[[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]] && return 0
		sleep 0.1
	done
	for pid in $(ip netns pids "$ns" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null
	done
}

# tcp_listening WHO PORT: true when something in WHO listens on TCP PORT.
tcp_listening() { in_ns "$1" ss -Hltn "sport = :$2" | has_match .; }

# start_echo POD PORT: a TCP echo server (socat, dual-stack socket, one child per connection,
# each connection kept open as long as the client wants) in POD on PORT; waits until it listens.
start_echo()
{
	local pod=$1 port=$2 out
	command -v socat >/dev/null || skip "socat not installed"
	out="$WORK/echo-$pod-$port.out"
	in_ns "$pod" socat "TCP6-LISTEN:$port,fork,reuseaddr,ipv6only=0" EXEC:cat >"$out" 2>&1 &
	BG_PIDS+=($!)
	wait_for 5 tcp_listening "$pod" "$port" ||
		fail "echo server in $pod on port $port not listening: $(cat "$out")"
}

# udp_stream_start WHO OUT DST [udpclient options]: udpclient in stream mode in the
# background (default: 150 datagrams, one per 200 ms = 30 s, one socket, so one source port
# throughout), one "<epoch ms> <reply>|-|refused" line per datagram written to OUT.
udp_stream_start()
{
	local who=$1 out=$2 dst=$3
	shift 3
	in_ns "$who" "$UDPCLIENT" --count 150 --interval-ms 200 "$@" "$dst" >"$out" 2>&1 &
	BG_PIDS+=($!)
}

# udp_stream_first OUT SINCE_MS REGEX: prints the first line of OUT sent at or after SINCE_MS
# (epoch ms) whose reply matches the extended REGEX; status 1 if there is none (yet).
udp_stream_first()
{
	awk -v since="$2" -v pat="$3" '
		{ t = $1; r = $0; sub(/^[0-9]+ /, "", r) }
		t >= since && r ~ pat { print; found = 1; exit }
		END { exit !found }' "$1"
}

# count_answers N WHO URL [curl options...]: N requests; prints "<count> <answer>" per
# distinct answer, sorted by answer; fails if any request is not answered.
count_answers()
{
	local n=$1 who=$2 url=$3 i out
	shift 3
	for ((i = 0; i < n; i++)); do
		out=$(in_ns "$who" curl -sS --max-time "${CURL_TIMEOUT:-2}" "$@" "$url") ||
			fail "$who -> $url (request $((i + 1))/$n): curl exit $?"
		printf '%s\n' "$out"
	done | sort | uniq -c | sed 's/^ *//' | sort -k2
}

# backends COUNTS: the distinct backend names (the answer's first word) in count_answers'
# output, space-separated and sorted, e.g. "pod-a pod-c".
backends() { awk 'NF { print $2 }' <<<"$1" | sort -u | tr '\n' ' ' | sed 's/ $//'; }
