#!/usr/bin/env bash
# The manifests directory as operators and editors change it (issue 9): an editor's save
# (rename the old file away, then write the new one in two steps), the whole directory swapped
# (`mv dir old && mv new dir`), then a later edit in the new directory, and a read that fails
# (EMFILE: the daemon's open-file limit lowered with prlimit) then works again. No sync in
# between may program fewer Services than the manifests hold, the failure is logged once
# (not per retry) and the file is read once it can be.
# e2e-api: n/a - the file source itself: editor saves, directory swaps, EMFILE on file reads
. "$(dirname "$0")/lib.sh"
harness_init
setup_cluster 2
start_podserver pod-a pod-a 8080 --tcp
simple_service base 10.96.0.50 80 8080 TCP 10.244.1.11 | write_manifest base.yaml
simple_service web 10.96.0.51 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
start_svcproxy
wait_for 5 http_ok pod-b http://10.96.0.51/ || fail "web not answered within 5 s"

# The fewest Services any sync logged after line $1 of the log.
fewest_since()
{
	tail -n +"$1" "$SP_LOG" | sed -n 's/.* sync: \([0-9]*\) services.*/\1/p' | sort -n | head -n1
}
mark() { wc -l <"$SP_LOG"; }

# 1. An editor's save: web.yaml renamed to a backup, the new text written in two steps.
from=$(mark)
mv "$MANIFESTS/web.yaml" "$MANIFESTS/web.yaml~"
sleep 0.03
{
	service_yaml web 10.96.0.52 80 8080 TCP
	sleep 0.03
	echo "---"
	slice_yaml web 8080 TCP 10.244.1.11
} >"$MANIFESTS/web.yaml"
wait_for 5 http_ok pod-b http://10.96.0.52/ || fail "web's new address not programmed within 5 s"
sleep 0.5
assert_eq 2 "$(fewest_since "$from")" "fewest Services programmed during an editor's save"

# 2. The directory swapped: mv dir old && mv new dir.
new="$WORK/manifests.new"
mkdir "$new"
simple_service base 10.96.0.50 80 8080 TCP 10.244.1.11 >"$new/base.yaml"
simple_service web 10.96.0.52 80 8080 TCP 10.244.1.11 >"$new/web.yaml"
simple_service extra 10.96.0.53 80 8080 TCP 10.244.1.11 >"$new/extra.yaml"
from=$(mark)
mv "$MANIFESTS" "$WORK/manifests.old" && sleep 0.03 && mv "$new" "$MANIFESTS" || fail "swap"
wait_for 5 http_ok pod-b http://10.96.0.53/ || fail "the swapped-in directory's Service not programmed within 5 s"
sleep 0.5
tail -n +"$from" "$SP_LOG" | grep -E "sync:|manifests:" | sed 's/^/# /' >&2
fewest=$(fewest_since "$from")
((fewest >= 2)) || fail "a sync during the swap programmed only $fewest Services"
log "ok: fewest Services programmed during the swap: $fewest"
simple_service later 10.96.0.54 80 8080 TCP 10.244.1.11 | write_manifest later.yaml
wait_for 5 http_ok pod-b http://10.96.0.54/ || fail "a file added after the swap not seen within 5 s (watch lost)"
log "ok: the new directory is watched (${WAITED_MS} ms)"
rm -f "$WORK/manifests.old/base.yaml"
sleep 0.5
http_ok pod-b http://10.96.0.50/ || fail "a file deleted in the old directory removed a Service"

# 3. EMFILE: no file can be opened; the change waits, logged once, and is read afterwards.
lowest=0
while [[ -e /proc/$SP_PID/fd/$lowest ]]; do lowest=$((lowest + 1)); done
hard=$(prlimit --pid "$SP_PID" --nofile --noheadings --raw -o HARD) || fail "prlimit"
soft=$(prlimit --pid "$SP_PID" --nofile --noheadings --raw -o SOFT)
prlimit --pid "$SP_PID" --nofile="$lowest:$hard" || fail "prlimit --nofile=$lowest"
simple_service web 10.96.0.55 80 8080 TCP 10.244.1.11 | write_manifest web.yaml
wait_for 5 grep -q "web.yaml: cannot read: Too many open files" "$SP_LOG" ||
	fail "no log line says web.yaml cannot be read"
sleep 3 # retries at 0.1, 0.3, 0.7, 1.5 s ...
n=$(grep -c "web.yaml: cannot read" "$SP_LOG")
assert_eq 1 "$n" "log lines about the failing read after 3 s of retries"
http_ok pod-b http://10.96.0.52/ || fail "web's last good Service lost while its file cannot be read"
prlimit --pid "$SP_PID" --nofile="$soft:$hard" || fail "prlimit restore"
wait_for 15 http_ok pod-b http://10.96.0.55/ || fail "web.yaml not read again within 15 s of the limit's restore"
log "ok: read again ${WAITED_MS} ms after the limit was restored"
kill -0 "$SP_PID" 2>/dev/null || fail "svcproxy died"
pass "editor save, directory swap, EMFILE: nothing removed in between, watch kept, read retried"
