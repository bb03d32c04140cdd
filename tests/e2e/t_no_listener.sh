#!/usr/bin/env bash
# The Service address is virtual: while http://10.96.0.60/ answers from a pod and from the node,
# no socket in the node listens on port 80 or is bound to 10.96.0.60, and the address is not
# assigned to any node interface.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.60 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.60/ || fail "http://10.96.0.60/ not answered within 5 s"
http_ok node http://10.96.0.60/ || fail "node -> http://10.96.0.60/ failed"

sockets=$(in_ns node ss -Hltnu)
log "node listening sockets:"$'\n'"$sockets"
port80=$(in_ns node ss -Hltnu 'sport = :80')
assert_eq "" "$port80" "node sockets listening on port 80"
assert_not_contains "$(in_ns node ss -Hantu)" "10.96.0.60" "node sockets bound to 10.96.0.60"
assert_not_contains "$(in_ns node ip -4 addr)" "10.96.0.60" "node interface addresses"
http_ok pod-b http://10.96.0.60/ || fail "http://10.96.0.60/ stopped answering"
pass "nothing listens on the ClusterIP"
