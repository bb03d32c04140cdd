#!/usr/bin/env bash
# UDP Service 10.96.0.13:53 -> targetPort 5353 on two pods: every datagram is answered, both
# backends answer (each socat uses a new source port, so a new conntrack entry), the backend
# sees the client pod's address; the node reaches it too.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a 5353 --udp
start_podserver pod-b pod-b 5353 --udp
simple_service dns 10.96.0.13 53 5353 UDP 10.244.1.11 10.244.1.12 | write_manifest dns.yaml
start_svcproxy
wait_for 5 udp_ok pod-c 10.96.0.13:53 || fail "udp 10.96.0.13:53 not answered within 5 s"

a=0 b=0
for i in $(seq 20); do
	out=$(udp_get pod-c 10.96.0.13:53) || fail "datagram $i: udpclient exit $?"
	case "$out" in
	"pod-a 10.244.1.13") a=$((a + 1)) ;;
	"pod-b 10.244.1.13") b=$((b + 1)) ;;
	*) fail "datagram $i: reply '$out', expected 'pod-[ab] 10.244.1.13'" ;;
	esac
done
log "replies: pod-a=$a pod-b=$b"
((a > 0 && b > 0)) || fail "both UDP backends should answer in 20 datagrams (a=$a b=$b)"
out=$(udp_get node 10.96.0.13:53) || fail "node -> udp 10.96.0.13:53: udpclient exit $?"
[[ "$out" == "pod-a $GW" || "$out" == "pod-b $GW" ]] || fail "node -> udp 10.96.0.13:53: reply '$out'"
log "ok: node -> udp ClusterIP: '$out'"
pass "UDP ClusterIP Service"
