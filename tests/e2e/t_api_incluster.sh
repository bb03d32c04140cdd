#!/usr/bin/env bash
# In-cluster credentials (issue 8), as in a DaemonSet Pod: no --kubeconfig, the server from
# KUBERNETES_SERVICE_HOST/PORT, the token and CA from /var/run/secrets/kubernetes.io/
# serviceaccount laid out as the kubelet projects them (token -> ..data/token, ..data -> a
# timestamped directory). The kubelet rotates the token by swapping ..data: svcproxy must use
# the new token once the old one is revoked. The mount exists only in a private mount
# namespace of svcproxy's own (tmpfs over /run there; /var/run is /run on Debian).
E2E_SOURCE=api
. "$(dirname "$0")/lib.sh"
harness_init
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service base 10.96.0.1 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
source_args "$NODE" 127.0.0.1:6443 # the test API server, holding the manifests

# the projected volume: token and ca.crt through ..data, as the kubelet writes them
SA="$WORK/serviceaccount"
mkdir -p "$SA/..2026_12_04_00_00_00.1"
cp "$APISERVER_DIR/token" "$APISERVER_DIR/ca.crt" "$SA/..2026_12_04_00_00_00.1/"
ln -s ..2026_12_04_00_00_00.1 "$SA/..data"
ln -s ..data/token "$SA/token"
ln -s ..data/ca.crt "$SA/ca.crt"

# not in a cluster and no source: a clear error
out=$(ip netns exec "$NODE" env -u KUBERNETES_SERVICE_HOST "$SVCPROXY" run 2>&1)
rc=$?
assert_eq 2 "$rc" "exit status of 'svcproxy run' with no source"
assert_contains "$out" "in-cluster" "the error says how to give a source"

# shellcheck disable=SC2016 # expanded by the inner shell
ip netns exec "$NODE" unshare -m --propagation private sh -c '
	mount -t tmpfs -o size=1m,mode=755 svcproxy-test /run &&
	mkdir -p /run/secrets/kubernetes.io/serviceaccount &&
	mount --bind "$1" /run/secrets/kubernetes.io/serviceaccount &&
	shift && exec "$@"' sh "$SA" \
	env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=6443 \
	"$SVCPROXY" run --hostname-override node1 --nodeport-addresses all \
	--cluster-cidr "$CLUSTER_CIDR" --min-sync-period 0 --healthz-bind-address "$HEALTHZ" \
	--metrics-bind-address "$METRICS" >>"$SP_LOG" 2>&1 &
SP_PID=$!
wait_for 10 http_ok pod-b http://10.96.0.1/ ||
	fail "in-cluster: base Service not answered within 10 s: $(tail -n 5 "$SP_LOG")"
log "ok: in-cluster credentials: listed and programmed in ${WAITED_MS} ms"
users=$(apictl requests | jq -r '[.[].user] | unique | join(",")')
assert_eq admin "$users" "users of svcproxy's requests before the rotation"

# the kubelet rotates: a new directory, ..data swapped atomically; then the old token dies
apictl token add rotated-sa-token system:serviceaccount:kube-system:svcproxy >/dev/null
old=$(cat "$APISERVER_DIR/token")
mkdir "$SA/..2026_12_04_01_00_00.2"
echo rotated-sa-token >"$SA/..2026_12_04_01_00_00.2/token"
cp "$APISERVER_DIR/ca.crt" "$SA/..2026_12_04_01_00_00.2/"
ln -s ..2026_12_04_01_00_00.2 "$SA/..data_tmp"
mv -T "$SA/..data_tmp" "$SA/..data"
rm -rf "$SA/..2026_12_04_00_00_00.1"
apictl token revoke "$old" >/dev/null
apictl requests --clear >/dev/null
apictl drop-watches >/dev/null # open watches outlive a revocation, as on a real server

simple_service rot 10.96.0.4 80 8080 TCP 10.244.1.11 | write_manifest rot.yaml
wait_for 20 http_ok pod-b http://10.96.0.4/ ||
	fail "after the token rotation, a new Service was not applied within 20 s: $(tail -n 5 "$SP_LOG")"
log "ok: rotated token used, change applied after ${WAITED_MS} ms"
reqs=$(apictl requests)
assert_eq 0 "$(jq '[.[] | select(.code == 401)] | length' <<<"$reqs")" "401 answers after the rotation"
assert_contains "$(jq -r '[.[].user] | unique | join(",")' <<<"$reqs")" \
	"system:serviceaccount:kube-system:svcproxy" "the user of the requests after the rotation"
http_ok pod-b http://10.96.0.1/ || fail "base Service broken after the rotation"
pass "in-cluster config: server from the environment, projected token and CA, rotation followed"
