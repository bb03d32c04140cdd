#!/usr/bin/env bash
# The node really holds its NodePorts: while the Service exists, svcproxy owns a listening TCP
# socket on the TCP nodePort and a bound UDP socket on the UDP nodePort in each node's
# namespace (`ss -p` names svcproxy), and another process cannot bind them (EADDRINUSE, even
# with SO_REUSEADDR, on the wildcard or the node address). After the Service's file is
# deleted, the ports are free again on both nodes.
. "$(dirname "$0")/lib2node.sh"
harness2_init
setup_2node
start_podserver a1 a1 8080 --tcp
start_podserver a1 a1-udp 5353 --udp

# Sanity: the ports are free before svcproxy runs (our probe can bind them).
for n in node-a node-b; do
	assert_eq bound "$(try_bind "$n" tcp 0.0.0.0 30080)" "$n: bind tcp 0.0.0.0:30080 before svcproxy"
	assert_eq bound "$(try_bind "$n" udp 0.0.0.0 30053)" "$n: bind udp 0.0.0.0:30053 before svcproxy"
done

{
	service_yaml held 10.96.1.40 type=NodePort ports=http:80:8080:TCP:30080,dns:53:5353:UDP:30053
	echo "---"
	slice_af_yaml held-1 held IPv4 http:8080,dns:5353:UDP TCP 10.244.1.11@node-a
} | write_manifest held.yaml
start_svcproxy_both
wait_for 5 http_ok client "http://$NODE_A_IP:30080/" || fail "client -> $NODE_A_IP:30080 not answered within 5 s"
wait_for 5 udp_ok client "$NODE_B_IP:30053" || fail "client -> udp $NODE_B_IP:30053 not answered within 5 s"

tcp_held_by_svcproxy() { in_ns "$1" ss -Hltnp 'sport = :30080' | has_match '"svcproxy",pid='; }
udp_held_by_svcproxy() { in_ns "$1" ss -Hlunp 'sport = :30053' | has_match '"svcproxy",pid='; }
for n in node-a node-b; do
	# The socket may be opened just after the rules; give it the same few seconds.
	wait_for 5 tcp_held_by_svcproxy "$n" ||
		fail "$n: no TCP listener on :30080 owned by svcproxy; ss says: $(in_ns "$n" ss -Hltnp 'sport = :30080')"
	log "ok: $n: $(in_ns "$n" ss -Hltnp 'sport = :30080')"
	wait_for 5 udp_held_by_svcproxy "$n" ||
		fail "$n: no UDP socket on :30053 owned by svcproxy; ss says: $(in_ns "$n" ss -Hlunp 'sport = :30053')"
	log "ok: $n: $(in_ns "$n" ss -Hlunp 'sport = :30053')"
	pid=$(in_ns "$n" ss -Hltnp 'sport = :30080' | grep -o '"svcproxy",pid=[0-9]*' | head -n1 | cut -d= -f2)
	assert_eq "${SP2_PID[$n]}" "$pid" "$n: pid owning tcp :30080 is this node's svcproxy"
	assert_eq EADDRINUSE "$(try_bind "$n" tcp 0.0.0.0 30080)" "$n: second bind tcp 0.0.0.0:30080"
	assert_eq EADDRINUSE "$(try_bind "$n" tcp "${NODE_IP[$n]}" 30080)" "$n: second bind tcp ${NODE_IP[$n]}:30080"
	assert_eq EADDRINUSE "$(try_bind "$n" udp 0.0.0.0 30053)" "$n: second bind udp 0.0.0.0:30053"
	assert_eq EADDRINUSE "$(try_bind "$n" udp "${NODE_IP[$n]}" 30053)" "$n: second bind udp ${NODE_IP[$n]}:30053"
done
# Holding the port does not stop the NodePort from working.
out=$(http_get client "http://$NODE_A_IP:30080/") || fail "client -> $NODE_A_IP:30080 while held: curl exit $?"
assert_eq "a1 10.244.1.1" "$out" "NodePort tcp answered while the port is held"
out=$(udp_get client "$NODE_A_IP:30053") || fail "client -> udp $NODE_A_IP:30053 while held: exit $?"
assert_eq "a1-udp 10.244.1.1" "$out" "NodePort udp answered while the port is held"

# Delete the Service: the ports are released on both nodes.
remove_manifest held.yaml
tcp_free() { [[ "$(try_bind "$1" tcp 0.0.0.0 30080)" == bound ]]; }
udp_free() { [[ "$(try_bind "$1" udp 0.0.0.0 30053)" == bound ]]; }
for n in node-a node-b; do
	wait_for 5 tcp_free "$n" || fail "$n: tcp :30080 still held 5 s after the Service was deleted: $(in_ns "$n" ss -Hltnp 'sport = :30080')"
	log "ok: $n: tcp :30080 free after ${WAITED_MS} ms"
	wait_for 5 udp_free "$n" || fail "$n: udp :30053 still held 5 s after the Service was deleted: $(in_ns "$n" ss -Hlunp 'sport = :30053')"
	log "ok: $n: udp :30053 free after ${WAITED_MS} ms"
	assert_eq "" "$(in_ns "$n" ss -Hltnup 'sport = :30080 or sport = :30053')" "$n: sockets on :30080/:30053 after delete"
done
http_fails client "http://$NODE_A_IP:30080/" || fail "deleted NodePort $NODE_A_IP:30080 still answers"
svcproxy2_alive node-a
svcproxy2_alive node-b
pass "NodePorts held while the Service exists, released after delete"
