#!/usr/bin/env bash
# Hostile files in the manifests directory (issue 9): a FIFO named *.yaml must not block the
# daemon (it did, for good, with /healthz still 200 and SIGTERM ignored), a 40 GB sparse file
# must not abort it (ENOMEM), and a file of NUL bytes (what a power loss leaves) must not remove
# its Services. Each is logged naming the file, and the last good objects stay programmed.
# e2e-api: n/a - hostile files in the manifests directory
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service web 10.96.0.40 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
simple_service api 10.96.0.41 80 8080 TCP 10.244.1.11 | write_manifest api.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.40/ || fail "web not answered within 5 s"

logged() { grep -qF -- "$1" "$SP_LOG"; }

# 1. A FIFO: skipped with a message; the loop goes on (a new Service is programmed).
mkfifo "$MANIFESTS/fifo.yaml" || fail "mkfifo"
wait_for 5 logged "fifo.yaml: a FIFO, not a regular file: skipped" ||
	fail "no log line names fifo.yaml as a FIFO"
simple_service new 10.96.0.42 80 8080 TCP 10.244.1.11 | write_manifest new.yaml
wait_for 5 http_ok pod-b http://10.96.0.42/ || fail "a Service added after the FIFO not programmed within 5 s"
log "ok: programmed after ${WAITED_MS} ms with a FIFO in the directory"
out=$(in_ns node curl -sS --max-time 2 "http://$HEALTHZ/healthz") || fail "/healthz: curl exit $?"
log "healthz: $out"

# 2. A 40 GB sparse file in place of web.yaml: refused by size, web stays programmed.
truncate -s 40G "$MANIFESTS/web.yaml" || fail "truncate"
wait_for 5 logged "web.yaml: 40.0 GiB is over the limit of 64.0 MiB per manifest file: not read (keeping its previous objects)" ||
	fail "no log line refuses the 40 GB web.yaml by size"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died on a 40 GB file"
http_ok pod-b http://10.96.0.40/ || fail "web's last good Service lost after its file grew to 40 GB"

# 3. api.yaml overwritten in place with NUL bytes (a power loss): refused, api stays.
head -c 4096 /dev/zero >"$MANIFESTS/api.yaml"
wait_for 5 logged "api.yaml:1:1: NUL byte" || fail "no log line refuses api.yaml's NUL bytes"
sleep 1
http_ok pod-b http://10.96.0.41/ || fail "api's Service removed after its file turned into NUL bytes"
show=$(in_ns node "$SVCPROXY" show services 2>&1) || fail "svcproxy show services: exit $?"
assert_contains "$show" "10.96.0.41" "api still programmed"

# 4. SIGTERM is still heard.
stop_svcproxy
assert_eq 0 "$SP_RC" "exit status after SIGTERM"
pass "FIFO, 40 GB file and NUL bytes: skipped with a message, last good objects kept"
