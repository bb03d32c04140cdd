#!/usr/bin/env bash
# `make demo`: a ClusterIP Service, end to end, in network namespaces this script creates and
# removes (named sp<pid>-*; nothing is changed in the host's own namespace).
#
#   node    runs svcproxy, forwards between the pods (ip_forward=1 inside it)
#   pod-a   10.244.1.11, a real server on :8080
#   pod-b   10.244.1.12, a real server on :8080
#   client  10.244.1.13, runs curl
#
# examples/demo.yaml declares Service demo 10.96.0.10:80 -> targetPort 8080 with both pods as
# endpoints. The demo shows that nothing listens on 10.96.0.10:80, that curl from the client
# pod is answered by both pods, and what svcproxy programmed. Needs root; run `make build` first
# (make demo does).
set -uo pipefail
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
# The e2e harness builds the namespaces; its cleanup trap tears them down on any exit.
. "$DEMO_DIR/../tests/e2e/lib.sh"

if [[ -t 1 ]]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
indent() { sed 's/^/    /'; }
fail() # overrides the harness's: a demo explains and stops
{
	echo "demo: $*" >&2
	[[ -n "$SP_LOG" && -s "$SP_LOG" ]] && { echo "svcproxy log:" >&2; tail -n 20 "$SP_LOG" >&2; }
	exit 1
}

((EUID == 0)) || { echo "demo: needs root (it creates network namespaces and nftables rules)" >&2; exit 1; }
harness_init
MANIFESTS="$ROOT_DIR/examples/demo.yaml"

say "Building a one-node cluster out of network namespaces"
setup_node
add_pod pod-a 10.244.1.11
add_pod pod-b 10.244.1.12
add_pod client 10.244.1.13
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
cat <<TXT | indent
node    $NODE   (routes 10.244.1.0/24 to the pods, ip_forward=1)
pod-a   $(ns_of pod-a)  10.244.1.11, listening on :8080
pod-b   $(ns_of pod-b)  10.244.1.12, listening on :8080
client  $(ns_of client)  10.244.1.13
TXT

say "The Service, from examples/demo.yaml"
grep -v '^#' "$MANIFESTS" | sed -n '1,/^---/p' | grep -v '^---' | indent

say "Starting svcproxy in the node"
echo "ip netns exec $NODE svcproxy run --manifests examples/demo.yaml --cluster-cidr $CLUSTER_CIDR --min-sync-period 100ms" | indent
start_svcproxy
sed -n '2,$p' "$SP_LOG" | head -n 5 | indent

say "Nothing listens on 10.96.0.10:80: the listening TCP sockets in the node (ss -ltn)"
in_ns node ss -ltn | indent
if [[ -n "$(in_ns node ss -Hltn 'sport = :80')" ]]; then
	fail "something listens on port 80 in the node"
fi
if in_ns node ip -4 -o addr show | grep -qw 10.96.0.10; then
	fail "10.96.0.10 is assigned to an interface in the node"
fi
echo "(only svcproxy's own health and metrics servers on 127.0.0.1; no socket on port 80," | indent
echo " and 10.96.0.10 is not an address of any node interface: it exists only as nftables" | indent
echo " match data, shown below)" | indent

say "curl http://10.96.0.10/ from the client pod"
wait_for 5 http_ok client http://10.96.0.10/ || fail "http://10.96.0.10/ not answered within 5 s"
declare -A seen=()
i=0
while ((i < 6 || (${#seen[@]} < 2 && i < 20))); do
	i=$((i + 1))
	out=$(http_get client http://10.96.0.10/) || fail "request $i failed (curl exit $?)"
	seen[${out%% *}]=1
	printf '%2d: %s\n' "$i" "$out" | indent
done
((${#seen[@]} == 2)) || fail "only ${!seen[*]} answered in $i requests; both pods should"
echo "(answered by ${!seen[*]}; each saw the client's own address 10.244.1.13: no SNAT)" | indent

say "svcproxy show services (read back from the kernel)"
in_ns node "$SVCPROXY" show services 2>&1 | indent

say "svcproxy trace: where the client's packet to 10.96.0.10:80 goes, and why"
in_ns node "$SVCPROXY" trace 10.244.1.13 10.96.0.10:80 2>&1 | indent

say "nft list table ip svcproxy"
in_ns node nft list table ip svcproxy 2>&1 | indent

say "Tearing down (svcproxy stopped, svcproxy cleanup, namespaces deleted)"
