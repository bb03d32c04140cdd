#!/usr/bin/env bash
# Chaos (issue 9): under a steady load of new connections to a Service that never changes
# ("steady", two endpoints), everything an unlucky operator or a hostile neighbour can do to
# svcproxy, one after the other:
#   1. `nft delete table ip svcproxy`
#   2. sets edited by hand: a bogus element added, another Service's element deleted, a set
#      flushed
#   3. the manifests directory swapped (mv dir old; mv new dir), with another Service changed
#   4. the health servers flooded with 300 idle connections each (/healthz on loopback and a
#      healthCheckNodePort from the external client): both still answer a probe
#   5. kill -9 of the daemon, and a restart
#   6. one more change after all that
# At the end the kernel holds exactly what the manifests say (`svcproxy show services` equals
# that of a fresh `svcproxy sync` of the same manifests in a namespace of its own), and not
# one connection to the steady Service failed.
#
# New connections that begin while the table is missing are not lost: their SYN is not
# NATed, and its retransmission (1 s later) is, once the repair (--sync-period 500ms) is in.
# e2e-api: n/a - it swaps the manifests directory
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-b pod-b 8080 --tcp
HC_PORT=32100

# churn_yaml N: the Service that changes: its endpoint alternates between pod-a and pod-b
churn_yaml()
{
	local ep=10.244.1.11
	(($1 % 2)) && ep=10.244.1.12
	simple_service churn 10.96.0.61 80 8080 TCP "$ep"
}

# local_yaml: a LoadBalancer Service with externalTrafficPolicy Local: a healthCheckNodePort
local_yaml()
{
	cat <<YAML
apiVersion: v1
kind: Service
metadata:
  name: local
  namespace: default
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.62
  externalTrafficPolicy: Local
  healthCheckNodePort: $HC_PORT
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
    nodePort: 30062
---
YAML
	slice_yaml local 8080 TCP "10.244.1.11@$(hostname | tr '[:upper:]' '[:lower:]')"
}

simple_service steady 10.96.0.60 80 8080 TCP 10.244.1.11 10.244.1.12 | write_manifest steady.yaml
churn_yaml 0 | write_manifest churn.yaml
local_yaml | write_manifest local.yaml
start_svcproxy --sync-period 500ms
wait_for 5 http_ok pod-c http://10.96.0.60/ || fail "steady 10.96.0.60 not answered"

# ---- the load: one new connection to steady every 100 ms, each result on a line
LOAD="$WORK/load.out"
in_ns pod-c bash -c 'while :; do
	out=$(curl -sS --max-time 5 http://10.96.0.60/ 2>&1)
	rc=$?
	echo "$(date +%s%N) $rc $out"
	sleep 0.1
done' >"$LOAD" 2>&1 &
BG_PIDS+=($!)
load_pid=$!
wait_for 5 grep -q ' 0 pod-' "$LOAD" || fail "the load gets no answer: $(head -n 3 "$LOAD")"
requests() { wc -l <"$LOAD"; }

# churn_is N: the churn Service answers from the endpoint of version N
churn_is()
{
	local want=pod-a
	(($1 % 2)) && want=pod-b
	[[ "$(CURL_TIMEOUT=1 http_get pod-c http://10.96.0.61/ 2>/dev/null)" == "$want "* ]]
}

# ---- 1. the table deleted
in_ns node nft delete table ip svcproxy || fail "could not delete table ip svcproxy"
wait_for 5 svcproxy_table_present || fail "table ip svcproxy not back within 5 s"
log "1. table deleted: back after ${WAITED_MS} ms"
# a connection attempted in the gap left a conntrack entry with no DNAT; the rebuilding sync
# deletes it, or its retransmitted SYN would follow it to nowhere (logged, not asserted: a
# connection falls in the gap or not)
log "   conntrack after the rebuild: $(grep 'stale conntrack' "$SP_LOG" | tail -n 1)"
sleep 1

# ---- 2. sets edited by hand
in_ns node nft add element ip svcproxy cluster_ip_ports '{ 10.96.0.99 . tcp . 80 : goto cip_1 }' ||
	fail "could not add a bogus element"
in_ns node nft delete element ip svcproxy cluster_ips '{ 10.96.0.61 }' ||
	fail "could not delete churn's cluster_ips element"
in_ns node nft flush set ip svcproxy hairpin || fail "could not flush set hairpin"
bogus_gone() { ! in_ns node nft list map ip svcproxy cluster_ip_ports | has_match 10.96.0.99; }
wait_for 5 bogus_gone || fail "the bogus element is still there after 5 s"
wait_for 5 churn_is 0 || fail "churn not repaired within 5 s"
log "2. hand edits repaired after ${WAITED_MS} ms"

# ---- 3. the manifests directory swapped, churn changed in the new one
NEW="$WORK/manifests.new"
mkdir "$NEW"
cp "$MANIFESTS"/*.yaml "$NEW"/
churn_yaml 1 >"$NEW/churn.yaml"
mv "$MANIFESTS" "$WORK/manifests.old" && mv "$NEW" "$MANIFESTS" || fail "directory swap"
wait_for 5 churn_is 1 || fail "the change in the swapped-in directory not applied within 5 s"
log "3. directory swapped: change applied after ${WAITED_MS} ms"
rm -rf "$WORK/manifests.old"

# ---- 4. the health servers flooded with idle connections, for 20 s
flood() # WHO HOST PORT N
{
	in_ns "$1" bash -c 'for ((i = 0; i < $3; i++)); do exec {fd}<>"/dev/tcp/$1/$2" || break; done
		sleep 20' _ "$2" "$3" "$4" >/dev/null 2>&1 &
	BG_PIDS+=($!)
}
flood node 127.0.0.1 10256 300
flood ext "$EXT_NODE_IP" "$HC_PORT" 300
# probe once the flood is in place (connected, idle), not while it is still building up
flooded() { (($(in_ns "$1" ss -Htn state established "dst $2" | wc -l) >= $3)); }
wait_for 10 flooded node 127.0.0.1:10256 256 || fail "the /healthz flood did not build up"
# (the server closes what exceeds its per-address limit)
wait_for 10 flooded ext "$EXT_NODE_IP:$HC_PORT" 32 || fail "the healthCheckNodePort flood did not build up"
code=$(in_ns node curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$HEALTHZ/healthz")
assert_eq 200 "$code" "/healthz status while flooded"
# probed from another address than the flood's, as a load balancer's probe would be
code=$(in_ns node curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$EXT_NODE_IP:$HC_PORT/")
assert_eq 200 "$code" "healthCheckNodePort status while flooded"
churn_yaml 2 | write_manifest churn.yaml
wait_for 5 churn_is 2 || fail "a change while flooded not applied within 5 s"
log "4. health servers flooded: still answering, change applied after ${WAITED_MS} ms"

# ---- 5. kill -9, restart
kill -KILL "$SP_PID"
wait "$SP_PID" 2>/dev/null
SP_PID=""
sleep 1
start_svcproxy --sync-period 500ms
log "5. killed and restarted: $(grep 'initial sync' "$SP_LOG" | tail -n 1)"

# ---- 6. one more change
churn_yaml 3 | write_manifest churn.yaml
wait_for 5 churn_is 3 || fail "a change after the restart not applied within 5 s"
log "6. change after the restart applied after ${WAITED_MS} ms"
sleep 2

# ---- the verdict
kill "$load_pid" 2>/dev/null
wait "$load_pid" 2>/dev/null
n=$(requests)
bad=$(awk '$2 != 0 || $3 !~ /^pod-/' "$LOAD")
((n >= 30)) || fail "only $n requests made by the load"
[[ -z "$bad" ]] || fail "$(wc -l <<<"$bad") of $n connections to the unchanged Service failed: $(head -n 5 <<<"$bad")"
log "all $n connections to the unchanged Service answered"

# the kernel equals the manifests: compare with a fresh sync of the same files
REF="$PFX-ref"
new_ns "$REF"
ip netns exec "$REF" "$SVCPROXY" sync --manifests "$MANIFESTS" --cluster-cidr "$CLUSTER_CIDR" \
	>"$WORK/ref.log" 2>&1 || fail "reference sync failed: $(cat "$WORK/ref.log")"
# one line per address; endpoints may sit in other slots after churn: compare them as sets
normalize() { while read -r line; do tr ' ' '\n' <<<"$line" | sort | tr '\n' ' '; echo; done | sort; }
want=$(ip netns exec "$REF" "$SVCPROXY" show services | normalize)
got=$(in_ns node "$SVCPROXY" show services | normalize)
[[ "$got" == "$want" ]] || fail "the kernel differs from the manifests:
$(diff <(echo "$want") <(echo "$got"))"
log "the kernel holds exactly the manifests: $(wc -l <<<"$got") addresses"
pass "chaos survived: no connection to the unchanged Service failed; the kernel equals the manifests"
