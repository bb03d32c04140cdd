#!/usr/bin/env bash
# Hot reload of the manifest directory (inotify), no restart: a new Service file becomes
# reachable within a few seconds; a port added to it works; a port removed stops working;
# with its EndpointSlice removed it is refused; the Service file deleted, it is gone from the
# kernel. A "base" Service keeps working throughout.
# e2e-api: n/a - inotify and file rewrites (the API source: t_api_watch)
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
start_podserver pod-a pod-a-alt 8081 --tcp
simple_service base 10.96.0.1 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.1/ || fail "base Service not answered within 5 s"
http_ok pod-b http://10.96.0.20/ && fail "10.96.0.20 answers before its Service exists"

base_ok() { http_ok pod-b http://10.96.0.1/ || fail "base Service 10.96.0.1 stopped answering ($1)"; }

# 1. A new file, written in place (as cp or an editor's save would).
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.11 >"$MANIFESTS/web.yaml"
wait_for 5 http_ok pod-b http://10.96.0.20/ || fail "new Service web not reachable within 5 s"
log "ok: new Service reachable after ${WAITED_MS} ms"
base_ok "after adding web"

# 2. Add a port (file replaced by rename).
two_ports()
{
	service_yaml web 10.96.0.20 ports=http:80:8080:TCP,alt:81:8081:TCP
	echo "---"
	slice_af_yaml web-1 web IPv4 http:8080,alt:8081 TCP 10.244.1.11
}
two_ports | write_manifest web.yaml
wait_for 5 http_ok pod-b http://10.96.0.20:81/ || fail "added port 81 not reachable within 5 s"
log "ok: added port reachable after ${WAITED_MS} ms"
out=$(http_get pod-b http://10.96.0.20:81/) || fail "10.96.0.20:81: curl exit $?"
assert_eq "pod-a-alt 10.244.1.12" "$out" "added port 81 -> 8081"
out=$(http_get pod-b http://10.96.0.20/) || fail "10.96.0.20:80 after adding a port: curl exit $?"
assert_eq "pod-a 10.244.1.12" "$out" "port 80 still -> 8080"

# 3. Remove the port again (back to one unnamed port).
simple_service web 10.96.0.20 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
wait_for 5 http_fails pod-b http://10.96.0.20:81/ || fail "removed port 81 still answers after 5 s"
log "ok: removed port unreachable after ${WAITED_MS} ms"
out=$(http_get pod-b http://10.96.0.20/) || fail "10.96.0.20:80 after removing port 81: curl exit $?"
assert_eq "pod-a 10.244.1.12" "$out" "port 80 after removing port 81"

# 4. Remove the endpoints: the Service stays, traffic is refused (ICMP port unreachable).
service_yaml web 10.96.0.20 80 8080 TCP | write_manifest web.yaml
wait_for 5 http_refused pod-b http://10.96.0.20/ || fail "Service without endpoints not refused within 5 s"
log "ok: refused after ${WAITED_MS} ms"

# 5. Delete the Service file: nothing about 10.96.0.20 stays programmed.
rm -f "$MANIFESTS/web.yaml"
gone()
{
	local out
	out=$(in_ns node "$SVCPROXY" show services 2>/dev/null) || return 1
	! grep -q '10\.96\.0\.20\b' <<<"$out"
}
wait_for 5 gone || fail "10.96.0.20 still in 'svcproxy show services' 5 s after its file was deleted"
out=$(in_ns node "$SVCPROXY" show services 2>&1) || fail "svcproxy show services: exit $?"
assert_contains "$out" "10.96.0.1" "show services after delete still has base"
http_fails pod-b http://10.96.0.20/ || fail "deleted Service 10.96.0.20 still answers"
base_ok "after deleting web"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy run died during the reloads"
pass "hot reload: add/remove a Service and a port"
