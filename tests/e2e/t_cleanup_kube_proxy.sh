#!/usr/bin/env bash
# svcproxy cleanup --kube-proxy removes what kube-proxy leaves on a node, inside a namespace
# this test creates: its nftables tables ip/ip6 kube-proxy and its KUBE-* iptables chains
# (legacy and nft flavours, IPv4 and IPv6) with the jumps to them, and nothing else: kubelet's
# KUBE-FIREWALL, a user's chain and a chain still used by a foreign chain all survive.
# e2e-api: n/a - svcproxy cleanup --kube-proxy reads no source
. "$(dirname "$0")/lib.sh"
harness_init
for t in iptables-legacy iptables-nft ip6tables-nft nft; do
	command -v "$t" >/dev/null || skip "$t not installed"
done
new_ns "$NODE"

# kube-proxy's nftables mode leftovers
in_ns node nft -f - <<'NFT' || fail "creating fake kube-proxy nft tables"
table ip kube-proxy {
	chain services { type nat hook prerouting priority dstnat; }
}
table ip6 kube-proxy {
	chain services { type nat hook prerouting priority dstnat; }
}
table ip keepme {
	chain c { }
}
NFT

# kube-proxy's iptables mode leftovers, in both flavours
fake_iptables()
{
	local ipt=$1
	in_ns node "$ipt" -t nat -N KUBE-SERVICES || fail "$ipt KUBE-SERVICES"
	in_ns node "$ipt" -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	in_ns node "$ipt" -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	in_ns node "$ipt" -t nat -N KUBE-SVC-ABCDEFGHIJKLMNOP
	in_ns node "$ipt" -t nat -N KUBE-SEP-ABCDEFGHIJKLMNOP
	in_ns node "$ipt" -t nat -A KUBE-SERVICES -p tcp --dport 80 -j KUBE-SVC-ABCDEFGHIJKLMNOP
	in_ns node "$ipt" -t nat -A KUBE-SVC-ABCDEFGHIJKLMNOP -j KUBE-SEP-ABCDEFGHIJKLMNOP
	in_ns node "$ipt" -t nat -N KUBE-POSTROUTING
	in_ns node "$ipt" -t nat -A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
	in_ns node "$ipt" -t nat -N KUBE-MARK-MASQ
	in_ns node "$ipt" -t filter -N KUBE-FORWARD
	in_ns node "$ipt" -t filter -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
	in_ns node "$ipt" -t filter -N KUBE-PROXY-CANARY
	in_ns node "$ipt" -t mangle -N KUBE-PROXY-CANARY
	# not kube-proxy's: kubelet's chain and a user's chain with a rule
	in_ns node "$ipt" -t filter -N KUBE-FIREWALL
	in_ns node "$ipt" -t filter -A INPUT -j KUBE-FIREWALL
	in_ns node "$ipt" -t filter -N MY-CHAIN
	in_ns node "$ipt" -t filter -A MY-CHAIN -p tcp --dport 22 -j ACCEPT
	in_ns node "$ipt" -t filter -A INPUT -j MY-CHAIN
}
fake_iptables iptables-legacy
fake_iptables iptables-nft
in_ns node ip6tables-nft -t nat -N KUBE-SERVICES || fail "ip6tables-nft KUBE-SERVICES"
in_ns node ip6tables-nft -t nat -A PREROUTING -j KUBE-SERVICES
# a foreign chain using kube-proxy's KUBE-MARK-MASQ: the chain must stay
in_ns node iptables-nft -t nat -N CNI-HOSTPORT
in_ns node iptables-nft -t nat -A CNI-HOSTPORT -j KUBE-MARK-MASQ

out=$(in_ns node "$SVCPROXY" cleanup --kube-proxy 2>&1)
assert_eq 0 "$?" "cleanup --kube-proxy exit status (output: $out)"
log "$out"

nft_out=$(in_ns node nft list tables)
assert_not_contains "$nft_out" "kube-proxy" "nft tables after cleanup"
assert_contains "$nft_out" "table ip keepme" "a foreign nft table survives"
for ipt in iptables-legacy iptables-nft; do
	saved=$(in_ns node "$ipt-save")
	for gone in KUBE-SERVICES KUBE-SVC-ABCDEFGHIJKLMNOP KUBE-SEP-ABCDEFGHIJKLMNOP \
		KUBE-POSTROUTING KUBE-FORWARD KUBE-PROXY-CANARY "kubernetes service portals"; do
		assert_not_contains "$saved" "$gone" "$ipt-save after cleanup"
	done
	assert_contains "$saved" ":MY-CHAIN" "$ipt: a non-KUBE chain survives"
	assert_contains "$saved" "-A MY-CHAIN -p tcp -m tcp --dport 22 -j ACCEPT" "$ipt: its rule survives"
	assert_contains "$saved" "-A INPUT -j MY-CHAIN" "$ipt: the jump to it survives"
	assert_contains "$saved" ":KUBE-FIREWALL" "$ipt: kubelet's KUBE-FIREWALL survives"
done
assert_not_contains "$(in_ns node iptables-legacy-save -t nat)" "KUBE-MARK-MASQ" "unused KUBE-MARK-MASQ removed"
assert_contains "$(in_ns node iptables-nft-save -t nat)" ":KUBE-MARK-MASQ" "KUBE-MARK-MASQ used by CNI-HOSTPORT kept"
assert_contains "$out" "keeping KUBE-MARK-MASQ: chain CNI-HOSTPORT still uses it" "the kept chain is reported"
assert_not_contains "$(in_ns node ip6tables-nft-save -t nat)" "KUBE-SERVICES" "ip6tables-nft after cleanup"

# a second run finds nothing and succeeds
out=$(in_ns node "$SVCPROXY" cleanup --kube-proxy 2>&1)
assert_eq 0 "$?" "second cleanup --kube-proxy exit status (output: $out)"
pass "cleanup --kube-proxy"
