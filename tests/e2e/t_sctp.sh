#!/usr/bin/env bash
# SCTP Services are programmed like TCP/UDP (issue 5). This kernel cannot open SCTP sockets,
# so there is no traffic test: the rules read back from the kernel must carry the SCTP port.
# NodePort Service sctp: 10.96.0.70:9999/SCTP -> pod-a, pod-b :9999, nodePort 30099/SCTP.
# `svcproxy show services` lists the ClusterIP and the NodePort as /sctp with both endpoints,
# `nft list table ip svcproxy` has sctp elements for both, a TCP Service next to it still
# answers, and svcproxy keeps running (it cannot hold an SCTP NodePort socket here, and that
# must not be fatal). `svcproxy check` accepts the manifest.
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 3
start_podserver pod-a pod-a 8080 --tcp
{
	simple_service web 10.96.0.71 80 8080 TCP 10.244.1.11
	echo "---"
	service_yaml sctp 10.96.0.70 type=NodePort ports=assoc:9999:9999:SCTP:30099
	echo "---"
	slice_af_yaml sctp-1 sctp IPv4 assoc:9999 SCTP 10.244.1.11 10.244.1.12
} | write_manifest sctp.yaml
out=$("$SVCPROXY" check --manifests "$MANIFESTS" 2>&1) || fail "svcproxy check rejected the SCTP manifest: $out"
start_svcproxy
wait_for 5 http_ok pod-c http://10.96.0.71/ || fail "TCP Service 10.96.0.71 next to the SCTP one not answered within 5 s"

# show services: "default/sctp  10.96.0.70:9999/sctp  10.244.1.11:9999 10.244.1.12:9999" and
# the NodePort row "*:30099/sctp (nodePort) ...". Lines are matched field by field, not by
# layout, so column widths do not matter.
svc_listed() { in_ns node "$SVCPROXY" show services 2>/dev/null | has_match '10\.96\.0\.70:9999/sctp'; }
wait_for 5 svc_listed || fail "10.96.0.70:9999/sctp not in 'svcproxy show services' within 5 s: $(in_ns node "$SVCPROXY" show services 2>&1)"
show=$(in_ns node "$SVCPROXY" show services 2>&1) || fail "svcproxy show services: exit $?: $show"
log "show services:"$'\n'"$show"
line=$(grep '10\.96\.0\.70:9999/sctp' <<<"$show")
assert_contains "$line" "10.244.1.11:9999" "show services: SCTP ClusterIP row"
assert_contains "$line" "10.244.1.12:9999" "show services: SCTP ClusterIP row"
line=$(grep ':30099/sctp' <<<"$show") || fail "no ':30099/sctp' (SCTP NodePort) row in 'svcproxy show services': $show"
assert_contains "$line" "10.244.1.11:9999" "show services: SCTP NodePort row"
assert_contains "$line" "10.244.1.12:9999" "show services: SCTP NodePort row"
assert_contains "$(grep '10\.96\.0\.71:80/' <<<"$show")" "/tcp" "show services: the TCP Service stays /tcp"

# The ruleset: an element with the ClusterIP and sctp, and one with sctp and the NodePort.
rules=$(in_ns node nft list table ip svcproxy 2>&1) || fail "nft list table ip svcproxy: $rules"
grep -E '10\.96\.0\.70 .*sctp|sctp.*10\.96\.0\.70' <<<"$rules" >/dev/null ||
	fail "no element with 10.96.0.70 and sctp in 'nft list table ip svcproxy': $(grep -n 'sctp\|10\.96\.0\.70' <<<"$rules" | head -n 20)"
grep -E 'sctp .*30099' <<<"$rules" >/dev/null ||
	fail "no element with sctp and 30099 in 'nft list table ip svcproxy': $(grep -n 'sctp\|30099' <<<"$rules" | head -n 20)"
log "ok: sctp elements: $(grep -E 'sctp' <<<"$rules" | tr -s '\t ' ' ' | tr '\n' ';')"

http_ok pod-c http://10.96.0.71/ || fail "TCP Service 10.96.0.71 stopped answering"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died with an SCTP NodePort Service"
pass "SCTP ClusterIP and NodePort programmed and read back"
