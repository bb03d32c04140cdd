#!/usr/bin/env bash
# --config FILE: kube-proxy's KubeProxyConfiguration drives svcproxy as it drives kube-proxy.
# The file's values win over the flags that have a field (those are ignored with a warning,
# as kube-proxy ignores them), conntrack.* settings reach the node's sysctls, 'primary'
# NodePort addresses come from bindAddress, and `svcproxy check --config` validates a file:
# exit 0 and a summary, or exit 2 with file, line and field.
# e2e-api: n/a - with --config the file picks the source (--kubeconfig is ignored, as in kube-proxy); this one reads manifests
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 1
start_podserver pod-a pod-a 8080 --tcp
simple_service demo 10.96.0.80 80 8080 TCP 10.244.1.11 | write_manifest demo.yaml

cat >"$WORK/kp.yaml" <<EOF2
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
bindAddress: $GW
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10266
metricsBindAddress: 127.0.0.1:10259
nodePortAddresses: [primary]
nftables:
  minSyncPeriod: 100ms
  syncPeriod: 10s
conntrack:
  tcpEstablishedTimeout: 1234s
  maxPerCore: null
iptables:
  masqueradeBit: 14
noSuchField: 1
EOF2
out=$("$SVCPROXY" check --config "$WORK/kp.yaml" 2>&1)
assert_eq 0 "$?" "check --config kp.yaml exit status (output: $out)"
log "check --config: $out"
assert_contains "$out" "127.0.0.1:10266" "check --config summary shows healthzBindAddress"
assert_contains "$out" 'kp.yaml:17: unknown field "noSuchField"' "check --config warns on unknown fields"

printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nnftables:\n  syncPeriod: 30\n' >"$WORK/bad.yaml"
err=$("$SVCPROXY" check --config "$WORK/bad.yaml" 2>&1)
assert_eq 2 "$?" "check --config bad.yaml exit status"
assert_contains "$err" 'bad.yaml:3: mode: "ipvs" is not supported' "bad mode named with file and line"
assert_contains "$err" "bad.yaml:5: nftables.syncPeriod: expected a duration" "wrong type named with field path"

# --healthz-bind-address, --metrics-bind-address, --min-sync-period and --cluster-cidr (all
# given by start_svcproxy) are ignored: the file's addresses answer, the flags' do not.
start_svcproxy --config "$WORK/kp.yaml"
wait_for 5 http_ok node http://127.0.0.1:10266/healthz || fail "no /healthz on the config's address"
http_ok node "http://$HEALTHZ/healthz" && fail "/healthz answers on the ignored flag's address"
http_ok node http://127.0.0.1:10259/metrics || fail "no /metrics on the config's address"
assert_contains "$(cat "$SP_LOG")" "--healthz-bind-address is ignored because --config is given" \
	"log warns about a flag the file replaces"
assert_contains "$(cat "$SP_LOG")" "NodePorts on this node's primary IPs: $GW (--bind-address)" \
	"'primary' NodePort address from bindAddress"
wait_for 5 http_ok pod-a http://10.96.0.80/ || fail "ClusterIP 10.96.0.80 not answering"

est=$(in_ns node cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established)
assert_eq 1234 "$est" "conntrack.tcpEstablishedTimeout applied to the node's sysctl"

# kube-proxy exits when its config file changes (the DaemonSet restarts it): so does svcproxy,
# cleanly, leaving the rules in place.
echo "# edited" >>"$WORK/kp.yaml"
sp_exited() { ! kill -0 "$SP_PID" 2>/dev/null; }
wait_for 8 sp_exited || fail "svcproxy still running 8 s after its --config file changed"
wait "$SP_PID"
assert_eq 0 "$?" "exit status after the config file changed"
SP_PID=""
assert_contains "$(cat "$SP_LOG")" "kp.yaml changed: stopping" "log says why it stopped"
svcproxy_table_present >/dev/null 2>&1 || fail "rules gone after the config-change stop"
pass "KubeProxyConfiguration via --config"
